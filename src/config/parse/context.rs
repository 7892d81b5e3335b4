//! The key-walking context every key family reports into, and the plumbing they share: comma
//! lists, duplicate removal, YAML values and their type names.

use std::collections::BTreeSet;

use serde_norway::Value;

use crate::config::error::{ConfigError, ConfigErrorKind as Kind, ConfigWarning};

/// Every error and warning found so far; the key families add to it and carry on, so that every
/// problem shows at once.
#[derive(Default)]
pub(super) struct Parser {
    pub(super) errors: Vec<ConfigError>,
    pub(super) warnings: Vec<ConfigWarning>,
}

impl Parser {
    pub(super) fn error(&mut self, key: &str, kind: Kind) {
        self.errors.push(ConfigError::new(key, kind));
    }

    pub(super) fn error_at(&mut self, key: &str, location: &str, kind: Kind) {
        self.errors
            .push(ConfigError::at(key, location.to_owned(), kind));
    }

    pub(super) fn warn(&mut self, key: &str, location: Option<&str>, message: impl Into<String>) {
        self.warnings.push(ConfigWarning::new(
            key,
            location.map(str::to_owned),
            message,
        ));
    }

    /// A comma list: items trimmed, empty items refused; `None` after reporting.
    pub(super) fn list<'a>(
        &mut self,
        key: &str,
        location: Option<&str>,
        value: &'a str,
        default: &'static str,
    ) -> Option<Vec<&'a str>> {
        let v = value.trim();
        let report = |p: &mut Self, kind| match location {
            Some(l) => p.error_at(key, l, kind),
            None => p.error(key, kind),
        };
        if v.is_empty() {
            report(self, Kind::Empty { default });
            return None;
        }
        let items: Vec<&str> = v.split(',').map(str::trim).collect();
        if let Some(i) = items.iter().position(|item| item.is_empty()) {
            // Reported once per list; the other items are still checked, so that every
            // problem shows at once. Callers see the error count grow and give up the key.
            report(
                self,
                Kind::EmptyItem {
                    value: v.to_owned(),
                    position: i + 1,
                },
            );
        }
        Some(items.into_iter().filter(|i| !i.is_empty()).collect())
    }

    /// Drops repeated items, keeping the first, with a warning naming them.
    pub(super) fn dedup<T: Ord + Clone + std::fmt::Display>(
        &mut self,
        key: &str,
        location: Option<&str>,
        items: Vec<T>,
    ) -> Vec<T> {
        let mut seen = BTreeSet::new();
        let mut repeated = BTreeSet::new();
        let mut out = Vec::new();
        for item in items {
            if seen.insert(item.clone()) {
                out.push(item);
            } else {
                repeated.insert(item.to_string());
            }
        }
        if !repeated.is_empty() {
            let names: Vec<String> = repeated.into_iter().collect();
            self.warn(
                key,
                location,
                format!("repeated items ignored: {}", names.join(", ")),
            );
        }
        out
    }

    /// Parses a YAML-valued key; empty text or `null` gives `None` without error.
    pub(super) fn yaml(&mut self, key: &str, value: &str) -> Result<Option<Value>, ()> {
        if value.trim().is_empty() {
            return Ok(None);
        }
        match serde_norway::from_str::<Value>(value) {
            Ok(Value::Null) => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                self.error(
                    key,
                    Kind::Yaml {
                        reason: yaml_reason(&e),
                    },
                );
                Err(())
            }
        }
    }

    /// A YAML map with text keys (empty or `null` = no fields).
    pub(super) fn yaml_map(&mut self, key: &str, value: &str) -> Option<Vec<(String, Value)>> {
        match self.yaml(key, value).ok()? {
            None => Some(Vec::new()),
            Some(Value::Mapping(map)) => {
                let mut fields = Vec::new();
                for (k, v) in map {
                    match k {
                        Value::String(k) => fields.push((k, v)),
                        other => {
                            self.error(
                                key,
                                Kind::WrongType {
                                    expected: "a map with text field names",
                                    found: type_name(&other),
                                },
                            );
                            return None;
                        }
                    }
                }
                Some(fields)
            }
            Some(other) => {
                self.error(
                    key,
                    Kind::WrongType {
                        expected: "a YAML map (enable: true)",
                        found: type_name(&other),
                    },
                );
                None
            }
        }
    }

    pub(super) fn bool_field(&mut self, key: &str, at: &str, v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::Null => Some(false),
            other => {
                self.error_at(
                    key,
                    at,
                    Kind::WrongType {
                        expected: "true or false",
                        found: type_name(other),
                    },
                );
                None
            }
        }
    }
}

/// serde_norway's message, which names a position and never the offending text.
fn yaml_reason(e: &serde_norway::Error) -> String {
    match e.location() {
        Some(l) => format!("syntax error at line {} column {}", l.line(), l.column()),
        None => "syntax error".to_owned(),
    }
}

/// The YAML type of `v` in words, never its value (it may be secret).
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}
