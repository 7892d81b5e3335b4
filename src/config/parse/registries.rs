//! Generation 1 keys: `acr-api-version` and the `acr-registry` host patterns.

use super::context::Parser;
use crate::config::error::ConfigErrorKind as Kind;
use crate::config::pattern::RegistryPattern;
use crate::config::{AcrApiVersion, keys};

impl Parser {
    pub(super) fn api_version(&mut self, value: &str) -> Option<AcrApiVersion> {
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

    pub(super) fn registry_patterns(&mut self, value: &str) -> Option<Vec<RegistryPattern>> {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::ok;

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
