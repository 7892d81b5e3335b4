//! Keys read and checked but not acted on: `webhook-configuration` and `notify-email`.

use serde_norway::Value;

use super::context::{Parser, type_name};
use crate::config::error::ConfigErrorKind as Kind;
use crate::config::{FailurePolicy, WebhookConfiguration, keys};

impl Parser {
    pub(super) fn webhook(&mut self, value: &str) -> Option<WebhookConfiguration> {
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

    pub(super) fn notify_email(&mut self, value: &str) -> Option<String> {
        let v = value.trim();
        if v.is_empty() {
            return None;
        }
        self.warn(keys::NOTIFY_EMAIL, None, "accepted but not used by this implementation (the docs say no configuration is required)");
        Some(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{errors, ok};
    use crate::config::FailurePolicy;

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
}
