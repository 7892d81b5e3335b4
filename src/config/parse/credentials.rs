//! Which credentials are used: the per-instance RAM role and AccessKey fields of
//! `acr-registry-info` items (parsed, not supported yet) and the `rrsa` key.

use serde_norway::Value;

use super::context::{Parser, type_name};
use crate::config::error::ConfigErrorKind as Kind;
use crate::config::registry_info::{SecretString, UnsupportedFields};
use crate::config::{RrsaConfiguration, keys};

/// The credential fields of an `acr-registry-info` item.
pub(super) const CREDENTIAL_FIELDS: [&str; 6] = [
    "assumeRoleARN",
    "rrsaRoleARN",
    "rrsaOIDCProviderRoleARN",
    "expireDuration",
    "customAccessKey",
    "customAccessKeySecret",
];

impl Parser {
    /// Reads one of [`CREDENTIAL_FIELDS`] of an item into `fields`; `at` names the field. Values
    /// are checked and kept, with a warning: they are parsed but not supported yet.
    pub(super) fn credential_field(
        &mut self,
        fields: &mut UnsupportedFields,
        at: &str,
        field: &str,
        v: &Value,
    ) {
        let key = keys::ACR_REGISTRY_INFO;
        match field {
            "assumeRoleARN" => {
                fields.assume_role_arn = self.arn_field(at, v, "cross-account pulls by AssumeRole");
            }
            "rrsaRoleARN" => {
                fields.rrsa_role_arn = self.arn_field(at, v, "RRSA");
            }
            "rrsaOIDCProviderRoleARN" => {
                fields.rrsa_oidc_provider_role_arn = self.arn_field(at, v, "RRSA");
            }
            "expireDuration" => match v {
                Value::Null => {}
                Value::Number(n) if n.as_u64().is_some_and(|s| (900..=43200).contains(&s)) => {
                    fields.expire_duration = n.as_u64().and_then(|s| u32::try_from(s).ok());
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
                    fields.custom_access_key = Some(text);
                }
            }
            "customAccessKeySecret" => {
                // Never echo this value, even in an error.
                match v {
                    Value::Null => {}
                    Value::String(s) if s.is_empty() => {}
                    Value::String(s) => {
                        fields.custom_access_key_secret = Some(SecretString::new(s.clone()))
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
            // The caller dispatches only CREDENTIAL_FIELDS here.
            _ => {}
        }
    }

    /// An item's AccessKey comes as a pair; `location` names the item.
    pub(super) fn credential_pair(&mut self, location: &str, fields: &UnsupportedFields) {
        let key = keys::ACR_REGISTRY_INFO;
        match (&fields.custom_access_key, &fields.custom_access_key_secret) {
            (Some(_), None) | (None, Some(_)) => self.error_at(key, location, Kind::BadValue {
                value: "customAccessKey/customAccessKeySecret".to_owned(),
                expected: "set together: one of the pair is missing",
            }),
            (Some(_), Some(_)) => self.warn(key, Some(location), "customAccessKey is parsed but not supported yet: this item uses the node's RAM role credentials"),
            (None, None) => {}
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

    pub(super) fn rrsa(&mut self, value: &str) -> Option<RrsaConfiguration> {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{errors, ok};
    use crate::config::SecretString;

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
}
