//! `acr-registry-info` items (generation 2): which ACR instance, in which region, for which
//! domains, plus the cross-account fields that are parsed and reported but not supported yet.

use std::fmt;

/// One `acr-registry-info` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryInfo {
    /// `instanceId`: the Enterprise Edition instance (`cri-…`); `None` (or `""`) = Personal Edition.
    pub instance_id: Option<InstanceId>,
    /// `regionId`: the instance's region; `None` = the cluster's region.
    pub region_id: Option<String>,
    /// `domains`: the registry hosts to serve; empty = all the instance's domains (public + VPC).
    pub domains: Vec<String>,
    /// Fields the docs define that this implementation does not act on yet.
    pub unsupported: UnsupportedFields,
}

/// An Enterprise Edition instance id, `cri-` followed by lower-case letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(String);

impl InstanceId {
    /// Accepts `cri-[a-z0-9]+`.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("cri-")?;
        let ok = !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then(|| Self(text.to_owned()))
    }

    /// The id as sent in `InstanceId`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Cross-account and custom-credential fields: kept so nothing is silently dropped, each
/// reported with a warning when set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsupportedFields {
    /// `assumeRoleARN`: a RAM role to assume for cross-account pulls.
    pub assume_role_arn: Option<String>,
    /// `expireDuration`: lifetime in seconds of the assumed role's credentials (900..=43200).
    pub expire_duration: Option<u32>,
    /// `rrsaRoleARN`: the role for RRSA.
    pub rrsa_role_arn: Option<String>,
    /// `rrsaOIDCProviderRoleARN`: the OIDC provider for RRSA.
    pub rrsa_oidc_provider_role_arn: Option<String>,
    /// `customAccessKey`: an AccessKey id to use instead of the node's role.
    pub custom_access_key: Option<String>,
    /// `customAccessKeySecret`: its secret (never printed).
    pub custom_access_key_secret: Option<SecretString>,
}

impl UnsupportedFields {
    /// Whether any field is set.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// A secret string: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids() {
        assert!(InstanceId::parse("cri-abc123").is_some());
        assert!(InstanceId::parse("cri-").is_none());
        assert!(InstanceId::parse("my-registry").is_none());
        assert!(InstanceId::parse("cri-ABC").is_none());
    }

    #[test]
    fn secrets_are_redacted() {
        let secret = SecretString::new("hunter2");
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
        let fields = UnsupportedFields {
            custom_access_key_secret: Some(secret),
            ..Default::default()
        };
        assert!(!format!("{fields:?}").contains("hunter2"));
    }
}
