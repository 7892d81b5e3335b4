//! ConfigMap data → [`Config`]: pure, total (never panics), and reports every problem at once.
//!
//! Tolerance, as documented in the README's "Configuration" section: whole values and list
//! items are trimmed; duplicates are dropped with a warning; `all` in `watch-namespace` is
//! case-insensitive; empty list items, wrong names, unknown units and wrong YAML types are errors.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::error::{ConfigError, ConfigErrorKind as Kind, ConfigErrors, ConfigWarning};
use super::names::{LABEL_RULE, SUBDOMAIN_RULE, is_dns1123_label, is_dns1123_subdomain};
use super::pattern::RegistryPattern;
use super::registry_info::{InstanceId, RegistryInfo, SecretString, UnsupportedFields};
use super::{
    AcrApiVersion, Config, FailurePolicy, NamespaceSelector, RrsaConfiguration,
    ServiceAccountSelector, WebhookConfiguration, keys,
};
use crate::duration;

/// The ACR token lifetime; a threshold at least this long refreshes on every cycle.
const TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

/// Parses the ConfigMap's `data` into the effective configuration and its warnings, or every
/// error found.
pub fn parse(
    data: &BTreeMap<String, String>,
) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    let mut p = Parser::default();
    let mut config = Config::default();
    let get = |key: &str| data.get(key).map(String::as_str);

    if let Some(v) = get(keys::ACR_API_VERSION)
        && let Some(x) = p.api_version(v)
    {
        config.acr_api_version = x;
    }
    if let Some(v) = get(keys::ACR_REGISTRY)
        && let Some(x) = p.registry_patterns(v)
    {
        config.registry_patterns = x;
    }
    if let Some(v) = get(keys::WATCH_NAMESPACE)
        && let Some(x) = p.watch_namespace(v)
    {
        config.watch_namespace = x;
    }
    if let Some(v) = get(keys::EXPIRING_THRESHOLD)
        && let Some(x) = p.expiring_threshold(v)
    {
        config.expiring_threshold = x;
    }
    if let Some(v) = get(keys::SERVICE_ACCOUNT)
        && let Some(x) = p.service_accounts(v)
    {
        config.service_accounts = x;
    }
    if let Some(v) = get(keys::ACR_REGISTRY_INFO)
        && let Some(x) = p.registry_info(v)
    {
        config.registry_info = x;
    }
    if let Some(v) = get(keys::WEBHOOK_CONFIGURATION)
        && let Some(x) = p.webhook(v)
    {
        config.webhook = x;
    }
    if let Some(v) = get(keys::RRSA)
        && let Some(x) = p.rrsa(v)
    {
        config.rrsa = x;
    }
    if let Some(v) = get(keys::NOTIFY_EMAIL) {
        config.notify_email = p.notify_email(v);
    }
    for key in data.keys().filter(|k| !keys::ALL.contains(&k.as_str())) {
        let message = match did_you_mean(key) {
            Some(known) => format!("unknown key, ignored; did you mean {known}?"),
            None => format!("unknown key, ignored (known: {})", keys::ALL.join(", ")),
        };
        p.warn(key, None, message);
    }
    if p.errors.is_empty() {
        Ok((config, p.warnings))
    } else {
        Err(ConfigErrors(p.errors))
    }
}

/// The known key a misspelt one (camelCase from the managed console, `_` for `-`) stands for.
fn did_you_mean(key: &str) -> Option<&'static str> {
    let fold = |s: &str| {
        s.chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let folded = fold(key);
    keys::ALL.into_iter().find(|known| fold(known) == folded)
}

#[derive(Default)]
struct Parser {
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
}

impl Parser {
    fn error(&mut self, key: &str, kind: Kind) {
        self.errors.push(ConfigError::new(key, kind));
    }

    fn error_at(&mut self, key: &str, location: &str, kind: Kind) {
        self.errors
            .push(ConfigError::at(key, location.to_owned(), kind));
    }

    fn warn(&mut self, key: &str, location: Option<&str>, message: impl Into<String>) {
        self.warnings.push(ConfigWarning::new(
            key,
            location.map(str::to_owned),
            message,
        ));
    }

    fn api_version(&mut self, value: &str) -> Option<AcrApiVersion> {
        let v = value.trim();
        if v.is_empty() {
            self.error(
                keys::ACR_API_VERSION,
                Kind::Empty {
                    default: "2018-12-01",
                },
            );
            return None;
        }
        let version = AcrApiVersion::parse(v);
        if version.is_none() {
            self.error(
                keys::ACR_API_VERSION,
                Kind::UnsupportedApiVersion {
                    value: v.to_owned(),
                },
            );
        }
        version
    }

    /// A comma list: items trimmed, empty items refused; `None` after reporting.
    fn list<'a>(
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
    fn dedup<T: Ord + Clone + std::fmt::Display>(
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

    fn registry_patterns(&mut self, value: &str) -> Option<Vec<RegistryPattern>> {
        let before = self.errors.len();
        let key = keys::ACR_REGISTRY;
        let items = self.list(key, None, value, "registry.*.aliyuncs.com,...")?;
        let mut patterns = Vec::new();
        let mut ok = true;
        for item in items {
            match RegistryPattern::parse(item) {
                Ok(p) => patterns.push(p),
                Err(reason) => {
                    ok = false;
                    self.error(
                        key,
                        Kind::BadPattern {
                            pattern: item.to_owned(),
                            reason,
                        },
                    );
                }
            }
        }
        if !ok || self.errors.len() != before {
            return None;
        }
        for p in &patterns {
            if p.host().starts_with("xxx-registry") {
                let message = format!(
                    "'{p}' still has the placeholder 'xxx'; put your Enterprise Edition instance name there"
                );
                self.warn(key, None, message);
            }
        }
        Some(self.dedup(key, None, patterns))
    }

    fn watch_namespace(&mut self, value: &str) -> Option<NamespaceSelector> {
        let names = self.name_list(
            value,
            &NameList {
                key: keys::WATCH_NAMESPACE,
                is_every: |item| item.eq_ignore_ascii_case("all"),
                is_valid: is_dns1123_label,
                what: "namespace name",
                rule: LABEL_RULE,
                every_with_others: "'all' is listed with other names; every namespace is served",
            },
        )?;
        Some(names.map_or(NamespaceSelector::All, NamespaceSelector::Names))
    }

    fn service_accounts(&mut self, value: &str) -> Option<ServiceAccountSelector> {
        let names = self.name_list(
            value,
            &NameList {
                key: keys::SERVICE_ACCOUNT,
                is_every: |item| item == "*",
                is_valid: is_dns1123_subdomain,
                what: "ServiceAccount name",
                rule: SUBDOMAIN_RULE,
                every_with_others: "'*' is listed with other names; every ServiceAccount is patched",
            },
        )?;
        Some(names.map_or(ServiceAccountSelector::All, ServiceAccountSelector::Names))
    }

    /// A comma list of names, or the word for "every one": `Some(None)` for every, `Some(names)`
    /// otherwise, `None` when an item is bad (each bad item is reported).
    fn name_list(&mut self, value: &str, rule: &NameList) -> Option<Option<BTreeSet<String>>> {
        let before = self.errors.len();
        let items = self.list(rule.key, None, value, "default")?;
        let mut names = Vec::new();
        let mut every = false;
        for item in &items {
            if (rule.is_every)(item) {
                every = true;
            } else if (rule.is_valid)(item) {
                names.push((*item).to_owned());
            } else {
                self.error(
                    rule.key,
                    Kind::BadName {
                        name: (*item).to_owned(),
                        what: rule.what,
                        rule: rule.rule,
                    },
                );
            }
        }
        if self.errors.len() != before {
            return None;
        }
        if every {
            if items.len() > 1 {
                self.warn(rule.key, None, rule.every_with_others);
            }
            return Some(None);
        }
        let names = self.dedup(rule.key, None, names);
        Some(Some(names.into_iter().collect()))
    }

    fn expiring_threshold(&mut self, value: &str) -> Option<std::time::Duration> {
        let key = keys::EXPIRING_THRESHOLD;
        let v = value.trim();
        if v.is_empty() {
            self.error(key, Kind::Empty { default: "15m" });
            return None;
        }
        match duration::parse(v) {
            Err(reason) => {
                self.error(
                    key,
                    Kind::NotADuration {
                        value: v.to_owned(),
                        reason,
                    },
                );
                None
            }
            Ok(d) if d.is_zero() => {
                self.error(
                    key,
                    Kind::NotPositive {
                        value: v.to_owned(),
                    },
                );
                None
            }
            Ok(d) => {
                if d >= TOKEN_LIFETIME {
                    self.warn(
                        key,
                        None,
                        format!("'{v}' is not shorter than the 1h ACR token lifetime: every token is due for refresh as soon as it is issued"),
                    );
                }
                Some(d)
            }
        }
    }

    /// Parses a YAML-valued key; empty text or `null` gives `None` without error.
    fn yaml(&mut self, key: &str, value: &str) -> Result<Option<Value>, ()> {
        if value.trim().is_empty() {
            return Ok(None);
        }
        match serde_yaml::from_str::<Value>(value) {
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

    fn registry_info(&mut self, value: &str) -> Option<Vec<RegistryInfo>> {
        let key = keys::ACR_REGISTRY_INFO;
        let items = match self.yaml(key, value).ok()? {
            None => return Some(Vec::new()),
            Some(Value::Sequence(items)) => items,
            Some(other) => {
                self.error(
                    key,
                    Kind::WrongType {
                        expected: "a YAML list of maps (- instanceId: ...)",
                        found: type_name(&other),
                    },
                );
                return None;
            }
        };
        let before = self.errors.len();
        let mut infos = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let location = format!("item {}", i + 1);
            if let Some(info) = self.registry_info_item(&location, item) {
                infos.push(info);
            }
        }
        (self.errors.len() == before).then_some(infos)
    }

    fn registry_info_item(&mut self, location: &str, item: &Value) -> Option<RegistryInfo> {
        let key = keys::ACR_REGISTRY_INFO;
        let Value::Mapping(map) = item else {
            self.error_at(
                key,
                location,
                Kind::WrongType {
                    expected: "a map (instanceId, regionId, domains)",
                    found: type_name(item),
                },
            );
            return None;
        };
        let before = self.errors.len();
        let mut info = RegistryInfo {
            instance_id: None,
            region_id: None,
            domains: Vec::new(),
            unsupported: UnsupportedFields::default(),
        };
        for (field, v) in map {
            let Value::String(field) = field else {
                self.error_at(
                    key,
                    location,
                    Kind::WrongType {
                        expected: "a map with text field names",
                        found: type_name(field),
                    },
                );
                continue;
            };
            let at = format!("{location} field {field}");
            let at = at.as_str();
            match field.as_str() {
                "instanceId" => {
                    if let Some(text) = self.string_field(at, v)
                        && !text.is_empty()
                    {
                        match InstanceId::parse(&text) {
                            Some(id) => info.instance_id = Some(id),
                            None => self.error_at(key, at, Kind::BadValue {
                                value: text,
                                expected: "an Enterprise Edition instance id like cri-abc123 (from the ACR console), or \"\" for Personal Edition",
                            }),
                        }
                    }
                }
                "regionId" => {
                    if let Some(text) = self.string_field(at, v)
                        && !text.is_empty()
                    {
                        if is_region_id(&text) {
                            info.region_id = Some(text);
                        } else {
                            self.error_at(
                                key,
                                at,
                                Kind::BadValue {
                                    value: text,
                                    expected: "a region id like cn-hangzhou",
                                },
                            );
                        }
                    }
                }
                "domains" => {
                    if let Some(text) = self.string_field(at, v)
                        && !text.trim().is_empty()
                        && let Some(items) = self.list(key, Some(at), &text, "")
                    {
                        let mut domains = Vec::new();
                        for d in items {
                            if is_registry_host(d) {
                                domains.push(d.to_owned());
                            } else {
                                self.error_at(key, at, Kind::BadValue { value: d.to_owned(), expected: "a registry domain like foo-registry.cn-hangzhou.cr.aliyuncs.com (lower case, no scheme or path)" });
                            }
                        }
                        info.domains = self.dedup(key, Some(at), domains);
                    }
                }
                "assumeRoleARN" => {
                    info.unsupported.assume_role_arn =
                        self.arn_field(at, v, "cross-account pulls by AssumeRole");
                }
                "rrsaRoleARN" => {
                    info.unsupported.rrsa_role_arn = self.arn_field(at, v, "RRSA");
                }
                "rrsaOIDCProviderRoleARN" => {
                    info.unsupported.rrsa_oidc_provider_role_arn = self.arn_field(at, v, "RRSA");
                }
                "expireDuration" => match v {
                    Value::Null => {}
                    Value::Number(n) if n.as_u64().is_some_and(|s| (900..=43200).contains(&s)) => {
                        info.unsupported.expire_duration =
                            n.as_u64().and_then(|s| u32::try_from(s).ok());
                        self.warn(
                            key,
                            Some(at),
                            "parsed but not supported yet (it applies to AssumeRole)",
                        );
                    }
                    Value::Number(n) => self.error_at(
                        key,
                        at,
                        Kind::BadValue {
                            value: n.to_string(),
                            expected: "a number of seconds from 900 to 43200",
                        },
                    ),
                    other => self.error_at(
                        key,
                        at,
                        Kind::WrongType {
                            expected: "a number of seconds (default 3600)",
                            found: type_name(other),
                        },
                    ),
                },
                "customAccessKey" => {
                    if let Some(text) = self.string_field(at, v)
                        && !text.is_empty()
                    {
                        info.unsupported.custom_access_key = Some(text);
                    }
                }
                "customAccessKeySecret" => {
                    // Never echo this value, even in an error.
                    match v {
                        Value::Null => {}
                        Value::String(s) if s.is_empty() => {}
                        Value::String(s) => {
                            info.unsupported.custom_access_key_secret =
                                Some(SecretString::new(s.clone()))
                        }
                        other => self.error_at(
                            key,
                            at,
                            Kind::WrongType {
                                expected: "a string",
                                found: type_name(other),
                            },
                        ),
                    }
                }
                other => {
                    let known = [
                        "instanceId",
                        "regionId",
                        "domains",
                        "assumeRoleARN",
                        "expireDuration",
                        "rrsaRoleARN",
                        "rrsaOIDCProviderRoleARN",
                        "customAccessKey",
                        "customAccessKeySecret",
                    ];
                    let message = match known.iter().find(|k| k.eq_ignore_ascii_case(other)) {
                        Some(k) => format!(
                            "unknown field, ignored; did you mean {k}? (field names are case-sensitive)"
                        ),
                        None => format!("unknown field, ignored (known: {})", known.join(", ")),
                    };
                    self.warn(key, Some(at), message);
                }
            }
        }
        let unsupported = &info.unsupported;
        match (&unsupported.custom_access_key, &unsupported.custom_access_key_secret) {
            (Some(_), None) | (None, Some(_)) => self.error_at(key, location, Kind::BadValue {
                value: "customAccessKey/customAccessKeySecret".to_owned(),
                expected: "set together: one of the pair is missing",
            }),
            (Some(_), Some(_)) => self.warn(key, Some(location), "customAccessKey is parsed but not supported yet: this item uses the node's RAM role credentials"),
            (None, None) => {}
        }
        (self.errors.len() == before).then_some(info)
    }

    /// A YAML string field; `null` reads as empty. Reports other types.
    fn string_field(&mut self, at: &str, v: &Value) -> Option<String> {
        match v {
            Value::Null => Some(String::new()),
            Value::String(s) => Some(s.trim().to_owned()),
            other => {
                self.error_at(
                    keys::ACR_REGISTRY_INFO,
                    at,
                    Kind::WrongType {
                        expected: "a string (quote it)",
                        found: type_name(other),
                    },
                );
                None
            }
        }
    }

    fn arn_field(&mut self, at: &str, v: &Value, feature: &str) -> Option<String> {
        let text = self.string_field(at, v)?;
        if text.is_empty() {
            return None;
        }
        if !text.starts_with("acs:ram::") {
            self.error_at(
                keys::ACR_REGISTRY_INFO,
                at,
                Kind::BadValue {
                    value: text,
                    expected: "a RAM role ARN like acs:ram::123456789012:role/name",
                },
            );
            return None;
        }
        self.warn(keys::ACR_REGISTRY_INFO, Some(at), format!("parsed but not supported yet ({feature}): this item uses the node's RAM role credentials"));
        Some(text)
    }

    fn webhook(&mut self, value: &str) -> Option<WebhookConfiguration> {
        let key = keys::WEBHOOK_CONFIGURATION;
        let map = self.yaml_map(key, value)?;
        let before = self.errors.len();
        let mut webhook = WebhookConfiguration::default();
        for (field, v) in &map {
            let at = format!("field {field}");
            match field.as_str() {
                "enable" => webhook.enable = self.bool_field(key, &at, v).unwrap_or(false),
                "failure-policy" => match v {
                    Value::String(s) if s == "Ignore" => {
                        webhook.failure_policy = FailurePolicy::Ignore
                    }
                    Value::String(s) if s == "Fail" => webhook.failure_policy = FailurePolicy::Fail,
                    Value::String(s) => self.error_at(
                        key,
                        &at,
                        Kind::BadValue {
                            value: s.clone(),
                            expected: "Ignore or Fail",
                        },
                    ),
                    other => self.error_at(
                        key,
                        &at,
                        Kind::WrongType {
                            expected: "Ignore or Fail",
                            found: type_name(other),
                        },
                    ),
                },
                "timeout-seconds" => match v {
                    Value::Number(n) if n.as_u64().is_some_and(|s| (1..=30).contains(&s)) => {
                        webhook.timeout_seconds =
                            n.as_u64().and_then(|s| u32::try_from(s).ok()).unwrap_or(10);
                    }
                    Value::Number(n) => self.error_at(
                        key,
                        &at,
                        Kind::BadValue {
                            value: n.to_string(),
                            expected: "a number of seconds from 1 to 30",
                        },
                    ),
                    other => self.error_at(
                        key,
                        &at,
                        Kind::WrongType {
                            expected: "a number of seconds (default 10)",
                            found: type_name(other),
                        },
                    ),
                },
                _ => self.warn(
                    key,
                    Some(&at),
                    "unknown field, ignored (known: enable, failure-policy, timeout-seconds)",
                ),
            }
        }
        if self.errors.len() != before {
            return None;
        }
        if webhook.enable {
            self.warn(key, None, "the ServiceAccount webhook is not implemented: new ServiceAccounts are patched when the refresher sees them");
        }
        Some(webhook)
    }

    fn rrsa(&mut self, value: &str) -> Option<RrsaConfiguration> {
        let key = keys::RRSA;
        let map = self.yaml_map(key, value)?;
        let before = self.errors.len();
        let mut rrsa = RrsaConfiguration::default();
        for (field, v) in &map {
            let at = format!("field {field}");
            match field.as_str() {
                "enable" => rrsa.enable = self.bool_field(key, &at, v).unwrap_or(false),
                _ => self.warn(key, Some(&at), "unknown field, ignored (known: enable)"),
            }
        }
        if self.errors.len() != before {
            return None;
        }
        if rrsa.enable {
            self.warn(
                key,
                None,
                "RRSA is parsed but not supported yet: the node's RAM role credentials are used",
            );
        }
        Some(rrsa)
    }

    /// A YAML map with text keys (empty or `null` = no fields).
    fn yaml_map(&mut self, key: &str, value: &str) -> Option<Vec<(String, Value)>> {
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

    fn bool_field(&mut self, key: &str, at: &str, v: &Value) -> Option<bool> {
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

    fn notify_email(&mut self, value: &str) -> Option<String> {
        let v = value.trim();
        if v.is_empty() {
            return None;
        }
        self.warn(keys::NOTIFY_EMAIL, None, "accepted but not used by this implementation (the docs say no configuration is required)");
        Some(v.to_owned())
    }
}

/// serde_yaml's message, which names a position and never the offending text.
fn yaml_reason(e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(l) => format!("syntax error at line {} column {}", l.line(), l.column()),
        None => "syntax error".to_owned(),
    }
}

fn type_name(v: &Value) -> &'static str {
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

/// `cn-hangzhou`, `ap-southeast-1`, `cn-shanghai-finance-1`: lower-case words joined by '-'.
fn is_region_id(text: &str) -> bool {
    let mut parts = text.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| p.len() >= 2 && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    first_ok
        && !rest.is_empty()
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// A registry host: a DNS name in lower case with at least one dot, optionally `:port`.
fn is_registry_host(text: &str) -> bool {
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    };
    port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        && host.contains('.')
        && is_dns1123_subdomain(host)
}

/// How one name-list key (`watch-namespace`, `service-account`) is read.
struct NameList {
    key: &'static str,
    is_every: fn(&str) -> bool,
    is_valid: fn(&str) -> bool,
    what: &'static str,
    rule: &'static str,
    every_with_others: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ok(pairs: &[(&str, &str)]) -> (Config, Vec<ConfigWarning>) {
        parse(&data(pairs)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn errors(pairs: &[(&str, &str)]) -> Vec<String> {
        parse(&data(pairs))
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn empty_configmap_means_seed_defaults() {
        let (config, warnings) = ok(&[]);
        assert_eq!(config, Config::default());
        assert!(warnings.is_empty());
        assert_eq!(
            config.expiring_threshold,
            std::time::Duration::from_secs(900)
        );
        assert!(config.watch_namespace.includes("default"));
        assert!(!config.watch_namespace.includes("kube-system"));
    }

    #[test]
    fn the_styleguide_message() {
        assert_eq!(
            errors(&[("expiring-threshold", "15 minutes")]),
            [
                "ConfigMap kube-system/acr-configuration key expiring-threshold: '15 minutes' is not a duration like 15m (unknown unit ' minutes'; known: ns, us, µs, ms, s, m, h)"
            ]
        );
    }

    #[test]
    fn all_errors_at_once() {
        let errs = errors(&[
            ("acr-api-version", "2020-01-01"),
            ("acr-registry", "registry.*.aliyuncs.com,,x"),
            ("watch-namespace", "Default,ok,bad_name"),
            ("expiring-threshold", "0s"),
            ("service-account", "a b"),
            (
                "acr-registry-info",
                "- instanceId: my-registry\n  regionId: Hangzhou\n",
            ),
        ]);
        assert_eq!(errs.len(), 8, "{errs:#?}");
        assert!(errs[0].contains("acr-api-version: '2020-01-01'"));
        assert!(errs[1].contains("empty item at position 2"));
        assert!(errs[2].contains("'Default' is not a valid namespace name"));
        assert!(errs[3].contains("'bad_name'"));
        assert!(errs[4].contains("'0s' must be greater than 0"));
        assert!(errs[5].contains("'a b' is not a valid ServiceAccount name"));
        assert!(errs[6].contains("item 1 field instanceId: 'my-registry'"));
        assert!(errs[7].contains("item 1 field regionId: 'Hangzhou'"));
    }

    #[test]
    fn tolerated_whitespace_case_duplicates() {
        let (config, warnings) = ok(&[
            ("watch-namespace", " a , b,a\n"),
            ("service-account", "sa1, sa2 ,sa1"),
            ("expiring-threshold", " 10m "),
        ]);
        assert_eq!(
            config.watch_namespace,
            NamespaceSelector::Names(BTreeSet::from(["a".into(), "b".into()]))
        );
        assert_eq!(
            config.service_accounts,
            ServiceAccountSelector::Names(BTreeSet::from(["sa1".into(), "sa2".into()]))
        );
        assert_eq!(warnings.len(), 2);
        for all in ["all", "All", "ALL", " aLL "] {
            assert_eq!(
                ok(&[("watch-namespace", all)]).0.watch_namespace,
                NamespaceSelector::All
            );
        }
        assert_eq!(
            ok(&[("service-account", "*")]).0.service_accounts,
            ServiceAccountSelector::All
        );
        // `all` is not a keyword for ServiceAccounts: it is a valid name.
        assert!(
            ok(&[("service-account", "all")])
                .0
                .service_accounts
                .includes("all")
        );
        assert!(
            !ok(&[("service-account", "all")])
                .0
                .service_accounts
                .includes("x")
        );
    }

    #[test]
    fn generation_two_registry_info() {
        let info = "- instanceId: cri-abc123\n  regionId: cn-beijing\n  domains: a-registry.cn-beijing.cr.aliyuncs.com, a-registry-vpc.cn-beijing.cr.aliyuncs.com\n- instanceId: \"\"\n  regionId: cn-hangzhou\n";
        let (config, warnings) = ok(&[("acr-registry-info", info)]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.registry_info.len(), 2);
        assert_eq!(
            config.registry_info[0]
                .instance_id
                .as_ref()
                .map(InstanceId::as_str),
            Some("cri-abc123")
        );
        assert_eq!(config.registry_info[0].domains.len(), 2);
        assert_eq!(config.registry_info[1].instance_id, None);
        assert_eq!(
            config.registry_info[1].region_id.as_deref(),
            Some("cn-hangzhou")
        );
    }

    #[test]
    fn unsupported_fields_warn_and_secrets_stay_hidden() {
        let info = "- instanceId: cri-abc\n  assumeRoleARN: acs:ram::123:role/x\n  expireDuration: 3600\n  customAccessKey: AKID\n  customAccessKeySecret: s3cr3t-value\n  InstanceID: x\n";
        let (config, warnings) = ok(&[("acr-registry-info", info)]);
        let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 4, "{text:#?}");
        assert!(text.iter().any(|w| w.contains("did you mean instanceId")));
        let u = &config.registry_info[0].unsupported;
        assert_eq!(u.expire_duration, Some(3600));
        assert_eq!(
            u.custom_access_key_secret
                .as_ref()
                .map(SecretString::expose),
            Some("s3cr3t-value")
        );
        assert!(!format!("{config:?}{text:?}").contains("s3cr3t-value"));
        let errs = errors(&[("acr-registry-info", "- customAccessKeySecret: 12345\n")]);
        assert!(!errs.concat().contains("12345"), "{errs:?}");
    }

    #[test]
    fn yaml_keys_are_checked() {
        assert!(errors(&[("acr-registry-info", "instanceId: cri-a")])[0].contains("found a map"));
        assert!(errors(&[("acr-registry-info", "- [")])[0].contains("is not valid YAML"));
        assert!(
            errors(&[("webhook-configuration", "enable: yes please")])[0]
                .contains("field enable: must be true or false")
        );
        assert!(
            errors(&[("webhook-configuration", "timeout-seconds: 60")])[0]
                .contains("'60' is not a number of seconds from 1 to 30")
        );
        let (config, warnings) = ok(&[
            (
                "webhook-configuration",
                "enable: true\nfailure-policy: Fail\ntimeout-seconds: 5\n",
            ),
            ("rrsa", "enable: true"),
            ("notify-email", "ops@example.com"),
        ]);
        assert!(config.webhook.enable && config.rrsa.enable);
        assert_eq!(config.webhook.failure_policy, FailurePolicy::Fail);
        assert_eq!(warnings.len(), 3);
        assert_eq!(ok(&[("acr-registry-info", "")]).0.registry_info, []);
    }

    #[test]
    fn unknown_keys_warn_with_a_hint() {
        let (_, warnings) = ok(&[("watchNamespace", "a"), ("colour", "blue")]);
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[1]
                .to_string()
                .contains("did you mean watch-namespace?")
        );
        assert!(warnings[0].to_string().contains("unknown key"));
    }

    #[test]
    fn placeholder_patterns_warn() {
        let (config, warnings) = ok(&[(
            "acr-registry",
            "xxx-registry.*.cr.aliyuncs.com, registry.*.aliyuncs.com",
        )]);
        assert_eq!(config.registry_patterns.len(), 2);
        assert_eq!(warnings.len(), 1);
    }
}
