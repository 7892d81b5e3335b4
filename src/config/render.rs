//! [`Config`] → ConfigMap data, such that `parse(render(c)) == c` for every valid `c`.

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use super::{Config, NamespaceSelector, ServiceAccountSelector, keys};
use crate::duration;

/// Renders the configuration as ConfigMap data: every key explicit, lists sorted where the
/// order carries no meaning, `acr-registry-info` omitted when empty.
///
/// The result holds `customAccessKeySecret` in clear when one is configured: it is the
/// ConfigMap's own content, not something to log.
pub fn render(config: &Config) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    let mut put = |key: &str, value: String| {
        data.insert(key.to_owned(), value);
    };
    put(
        keys::ACR_API_VERSION,
        config.acr_api_version.as_str().to_owned(),
    );
    let patterns: Vec<&str> = config
        .registry_patterns
        .iter()
        .map(|p| p.as_str())
        .collect();
    put(keys::ACR_REGISTRY, patterns.join(","));
    put(
        keys::WATCH_NAMESPACE,
        match &config.watch_namespace {
            NamespaceSelector::All => "all".to_owned(),
            NamespaceSelector::Names(names) => join(names),
        },
    );
    put(
        keys::EXPIRING_THRESHOLD,
        duration::format(config.expiring_threshold),
    );
    put(
        keys::SERVICE_ACCOUNT,
        match &config.service_accounts {
            ServiceAccountSelector::All => "*".to_owned(),
            ServiceAccountSelector::Names(names) => join(names),
        },
    );
    if !config.registry_info.is_empty() {
        let items: Vec<Value> = config
            .registry_info
            .iter()
            .map(registry_info_item)
            .collect();
        put(keys::ACR_REGISTRY_INFO, yaml(&Value::Sequence(items)));
    }
    let mut webhook = Mapping::new();
    webhook.insert("enable".into(), config.webhook.enable.into());
    webhook.insert(
        "failure-policy".into(),
        config.webhook.failure_policy.as_str().into(),
    );
    webhook.insert(
        "timeout-seconds".into(),
        config.webhook.timeout_seconds.into(),
    );
    put(keys::WEBHOOK_CONFIGURATION, yaml(&Value::Mapping(webhook)));
    let mut rrsa = Mapping::new();
    rrsa.insert("enable".into(), config.rrsa.enable.into());
    put(keys::RRSA, yaml(&Value::Mapping(rrsa)));
    if let Some(email) = &config.notify_email {
        put(keys::NOTIFY_EMAIL, email.clone());
    }
    data
}

fn join(names: &std::collections::BTreeSet<String>) -> String {
    names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn registry_info_item(info: &super::RegistryInfo) -> Value {
    let mut m = Mapping::new();
    let id = info.instance_id.as_ref().map_or("", |id| id.as_str());
    m.insert("instanceId".into(), id.into());
    if let Some(region) = &info.region_id {
        m.insert("regionId".into(), region.as_str().into());
    }
    if !info.domains.is_empty() {
        m.insert("domains".into(), info.domains.join(",").into());
    }
    let u = &info.unsupported;
    let mut text = |field: &str, value: Option<&str>| {
        if let Some(v) = value {
            m.insert(field.into(), v.into());
        }
    };
    text("assumeRoleARN", u.assume_role_arn.as_deref());
    text("rrsaRoleARN", u.rrsa_role_arn.as_deref());
    text(
        "rrsaOIDCProviderRoleARN",
        u.rrsa_oidc_provider_role_arn.as_deref(),
    );
    text("customAccessKey", u.custom_access_key.as_deref());
    text(
        "customAccessKeySecret",
        u.custom_access_key_secret.as_ref().map(|s| s.expose()),
    );
    if let Some(seconds) = u.expire_duration {
        m.insert("expireDuration".into(), seconds.into());
    }
    Value::Mapping(m)
}

fn yaml(value: &Value) -> String {
    // A tree of strings, booleans and integers always serialises.
    serde_norway::to_string(value).expect("YAML of plain scalars, lists and maps serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn defaults_round_trip() {
        let config = Config::default();
        let data = render(&config);
        assert_eq!(data["expiring-threshold"], "15m0s");
        assert_eq!(data["watch-namespace"], "default");
        assert_eq!(parse(&data).unwrap().0, config);
    }
}
