//! The ACR instances to serve (`acr-registry-info`): instance id, region and domains of each item;
//! the item's credential fields are read in `credentials`.

use serde_norway::Value;

use super::context::{Parser, type_name};
use super::credentials::CREDENTIAL_FIELDS;
use crate::config::error::ConfigErrorKind as Kind;
use crate::config::keys;
use crate::config::names::is_dns1123_subdomain;
use crate::config::registry_info::{InstanceId, RegistryInfo, UnsupportedFields};

impl Parser {
    pub(super) fn registry_info(&mut self, value: &str) -> Option<Vec<RegistryInfo>> {
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
                field if CREDENTIAL_FIELDS.contains(&field) => {
                    self.credential_field(&mut info.unsupported, at, field, v);
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
        self.credential_pair(location, &info.unsupported);
        (self.errors.len() == before).then_some(info)
    }

    /// A YAML string field; `null` reads as empty. Reports other types.
    pub(super) fn string_field(&mut self, at: &str, v: &Value) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::ok;
    use crate::config::InstanceId;

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
}
