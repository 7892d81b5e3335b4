//! ConfigMap data → [`Config`]: pure, total (never panics), and reports every problem at once.
//!
//! Tolerance, as documented in the README's "Configuration" section: whole values and list
//! items are trimmed; duplicates are dropped with a warning; `all` in `watch-namespace` is
//! case-insensitive; empty list items, wrong names, unknown units and wrong YAML types are errors.
//!
//! One file per key family, each adding its methods to the shared [`context::Parser`]:
//! `registries` (`acr-api-version`, `acr-registry`), `selection` (`watch-namespace`,
//! `service-account`), `timing` (`expiring-threshold`), `instances` (`acr-registry-info` items),
//! `credentials` (the per-instance RAM role and AccessKey fields, `rrsa`), `accepted` (keys read
//! but not acted on: `webhook-configuration`, `notify-email`). This file walks the keys and warns
//! about unknown ones.

mod accepted;
mod context;
mod credentials;
mod instances;
mod registries;
mod selection;
mod timing;

use std::collections::BTreeMap;

use super::error::{ConfigErrors, ConfigWarning};
use super::{Config, keys};
use context::Parser;

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

#[cfg(test)]
pub(super) mod test_support {
    //! Helpers shared by the key families' unit tests.
    use std::collections::BTreeMap;

    use super::parse;
    use crate::config::{Config, ConfigWarning};

    pub(crate) fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    pub(crate) fn ok(pairs: &[(&str, &str)]) -> (Config, Vec<ConfigWarning>) {
        parse(&data(pairs)).unwrap_or_else(|e| panic!("{e}"))
    }

    pub(crate) fn errors(pairs: &[(&str, &str)]) -> Vec<String> {
        parse(&data(pairs))
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{errors, ok};
    use crate::config::Config;

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
}
