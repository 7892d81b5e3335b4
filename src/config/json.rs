//! The effective configuration as JSON, for `config check` (secrets redacted).

use serde_json::{Value, json};

use super::{Config, ConfigWarning, NamespaceSelector, ServiceAccountSelector, keys};
use crate::duration;

impl Config {
    /// The effective configuration, keyed by ConfigMap key, with `customAccessKeySecret` shown
    /// as `<redacted>`.
    pub fn to_json(&self) -> Value {
        let names =
            |all: bool, all_text: &str, names: Option<&std::collections::BTreeSet<String>>| {
                if all {
                    json!(all_text)
                } else {
                    json!(
                        names
                            .map(|n| n.iter().collect::<Vec<_>>())
                            .unwrap_or_default()
                    )
                }
            };
        let watch = match &self.watch_namespace {
            NamespaceSelector::All => names(true, "all", None),
            NamespaceSelector::Names(n) => names(false, "", Some(n)),
        };
        let accounts = match &self.service_accounts {
            ServiceAccountSelector::All => names(true, "*", None),
            ServiceAccountSelector::Names(n) => names(false, "", Some(n)),
        };
        let info: Vec<Value> = self
            .registry_info
            .iter()
            .map(|i| {
                let u = &i.unsupported;
                json!({
                    "instanceId": i.instance_id.as_ref().map(|id| id.as_str()),
                    "edition": if i.instance_id.is_some() { "Enterprise" } else { "Personal" },
                    "regionId": i.region_id,
                    "domains": i.domains,
                    "unsupported": {
                        "assumeRoleARN": u.assume_role_arn,
                        "expireDuration": u.expire_duration,
                        "rrsaRoleARN": u.rrsa_role_arn,
                        "rrsaOIDCProviderRoleARN": u.rrsa_oidc_provider_role_arn,
                        "customAccessKey": u.custom_access_key,
                        "customAccessKeySecret": u.custom_access_key_secret.as_ref().map(|_| "<redacted>"),
                    },
                })
            })
            .collect();
        let mut out = serde_json::Map::new();
        out.insert(
            keys::ACR_API_VERSION.into(),
            json!(self.acr_api_version.as_str()),
        );
        out.insert(
            keys::ACR_REGISTRY.into(),
            json!(
                self.registry_patterns
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        out.insert(keys::WATCH_NAMESPACE.into(), watch);
        out.insert(
            keys::EXPIRING_THRESHOLD.into(),
            json!(duration::format(self.expiring_threshold)),
        );
        out.insert(keys::SERVICE_ACCOUNT.into(), accounts);
        out.insert(keys::ACR_REGISTRY_INFO.into(), json!(info));
        out.insert(
            keys::WEBHOOK_CONFIGURATION.into(),
            json!({
                "enable": self.webhook.enable,
                "failure-policy": self.webhook.failure_policy.as_str(),
                "timeout-seconds": self.webhook.timeout_seconds,
            }),
        );
        out.insert(keys::RRSA.into(), json!({ "enable": self.rrsa.enable }));
        out.insert(keys::NOTIFY_EMAIL.into(), json!(self.notify_email));
        Value::Object(out)
    }
}

/// `{"configuration": …, "warnings": […]}` as `config check` prints it.
pub fn check_report(config: &Config, warnings: &[ConfigWarning]) -> Value {
    json!({
        "configuration": config.to_json(),
        "warnings": warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}
