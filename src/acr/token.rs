//! What an ACR token is and which (edition, region, instance) it belongs to.

use std::fmt;

use chrono::{DateTime, Utc};

/// Which ACR product issues a token: the two editions use different APIs and registry hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Edition {
    /// Personal Edition: ROA `GET /tokens` (cr 2016-06-07), hosts `registry[-vpc].<region>.aliyuncs.com`.
    Personal,
    /// Enterprise Edition: RPC `GetAuthorizationToken` (cr 2018-12-01), hosts `<name>-registry[-vpc].<region>.cr.aliyuncs.com`.
    Enterprise,
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Edition::Personal => "personal",
            Edition::Enterprise => "enterprise",
        })
    }
}

/// The identity of one ACR token: one token serves every registry host of that instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKey {
    /// Personal or Enterprise.
    pub edition: Edition,
    /// The region whose ACR endpoint issues the token, e.g. `cn-hangzhou`.
    pub region: String,
    /// The Enterprise Edition instance (`cri-…`); `None` for Personal Edition.
    pub instance_id: Option<String>,
}

impl TokenKey {
    /// The Personal Edition token of `region`.
    pub fn personal(region: impl Into<String>) -> Self {
        Self {
            edition: Edition::Personal,
            region: region.into(),
            instance_id: None,
        }
    }

    /// The Enterprise Edition token of `instance_id` in `region`.
    pub fn enterprise(region: impl Into<String>, instance_id: impl Into<String>) -> Self {
        Self {
            edition: Edition::Enterprise,
            region: region.into(),
            instance_id: Some(instance_id.into()),
        }
    }
}

impl fmt::Display for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.instance_id {
            Some(id) => write!(f, "{}/{}/{}", self.edition, self.region, id),
            None => write!(f, "{}/{}", self.edition, self.region),
        }
    }
}

/// Temporary registry credentials returned by ACR; the password never appears in Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryToken {
    /// The temporary user name (`cr_temp_user` on the real service).
    pub username: String,
    /// The temporary password (`AuthorizationToken`); secret.
    pub password: String,
    /// When ACR stops accepting the password.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for RegistryToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryToken")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_password() {
        let token = RegistryToken {
            username: "cr_temp_user".into(),
            password: "very-secret-password".into(),
            expires_at: Utc::now(),
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("very-secret-password"), "{shown}");
        assert!(shown.contains("cr_temp_user"));
    }

    #[test]
    fn token_keys_display_edition_region_and_instance() {
        assert_eq!(
            TokenKey::personal("cn-hangzhou").to_string(),
            "personal/cn-hangzhou"
        );
        assert_eq!(
            TokenKey::enterprise("cn-beijing", "cri-abc").to_string(),
            "enterprise/cn-beijing/cri-abc"
        );
    }
}
