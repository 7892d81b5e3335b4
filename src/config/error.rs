//! Configuration errors and warnings: each names the ConfigMap, the key, where inside the value,
//! the offending text and the reason.

use std::fmt;

use super::pattern::PatternError;
use super::{CONFIGMAP_NAME, CONFIGMAP_NAMESPACE};
use crate::duration::DurationError;

/// One problem that makes the configuration invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The ConfigMap key.
    pub key: String,
    /// Where inside the value, e.g. `item 2 field regionId`; `None` for the whole value.
    pub location: Option<String>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    pub(super) fn new(key: &str, kind: ConfigErrorKind) -> Self {
        Self {
            key: key.to_owned(),
            location: None,
            kind,
        }
    }

    pub(super) fn at(key: &str, location: String, kind: ConfigErrorKind) -> Self {
        Self {
            key: key.to_owned(),
            location: Some(location),
            kind,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} key {}",
            self.key
        )?;
        if let Some(location) = &self.location {
            write!(f, " {location}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for ConfigError {}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    /// `expiring-threshold` (or a duration field) is not a Go duration.
    #[error("'{value}' is not a duration like 15m ({})", .reason.detail())]
    NotADuration {
        /// The text.
        value: String,
        /// Why Go would refuse it.
        reason: DurationError,
    },
    /// A duration or count that must be positive is zero.
    #[error("'{value}' must be greater than 0")]
    NotPositive {
        /// The text.
        value: String,
    },
    /// An `acr-api-version` this implementation does not speak.
    #[error("'{value}' is not a supported ACR API version (2018-12-01 or 2016-06-07)")]
    UnsupportedApiVersion {
        /// The text.
        value: String,
    },
    /// A present key with an empty value where the default is not empty.
    #[error("is empty; remove the key to get the default '{default}'")]
    Empty {
        /// The default the user probably wants.
        default: &'static str,
    },
    /// A comma list with an empty item.
    #[error(
        "'{value}' has an empty item at position {position} (two commas in a row or a comma at an end)"
    )]
    EmptyItem {
        /// The whole list.
        value: String,
        /// 1-based position of the empty item.
        position: usize,
    },
    /// A name that Kubernetes would refuse.
    #[error("'{name}' is not a valid {what} ({rule})")]
    BadName {
        /// The name.
        name: String,
        /// Namespace or ServiceAccount.
        what: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// An `acr-registry` item that is not a registry host pattern.
    #[error("'{pattern}' is not a registry host pattern: {reason}")]
    BadPattern {
        /// The item.
        pattern: String,
        /// Why.
        reason: PatternError,
    },
    /// A YAML-valued key that is not YAML.
    #[error("is not valid YAML ({reason})")]
    Yaml {
        /// The parser's message (positions, never the value).
        reason: String,
    },
    /// A YAML value of the wrong type (`must be a list of maps`, found a string).
    #[error("must be {expected}, found {found}")]
    WrongType {
        /// What the docs specify.
        expected: &'static str,
        /// What was found (a YAML type name, never the value: it may be secret).
        found: &'static str,
    },
    /// A value outside what the docs specify.
    #[error("'{value}' is not {expected}")]
    BadValue {
        /// The text.
        value: String,
        /// What the docs specify.
        expected: &'static str,
    },
}

/// Every problem found in one configuration, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Something accepted but worth telling the user: unknown keys, duplicates, unsupported fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The ConfigMap key.
    pub key: String,
    /// Where inside the value, if not the whole value.
    pub location: Option<String>,
    /// What the user should know.
    pub message: String,
}

impl ConfigWarning {
    pub(super) fn new(key: &str, location: Option<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            location,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} key {}",
            self.key
        )?;
        if let Some(location) = &self.location {
            write!(f, " {location}")?;
        }
        write!(f, ": {}", self.message)
    }
}
