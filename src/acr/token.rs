//! What an ACR token is and which (edition, region, instance) it belongs to.

use std::fmt;

use jiff::Timestamp;

pub use crate::registry_domain::Edition;

/// Lower-case edition name for logs, metrics labels and Events.
pub fn edition_name(edition: Edition) -> &'static str {
    match edition {
        Edition::Personal => "personal",
        Edition::Enterprise => "enterprise",
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
            Some(id) => write!(f, "{}/{}/{}", edition_name(self.edition), self.region, id),
            None => write!(f, "{}/{}", edition_name(self.edition), self.region),
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
    pub expires_at: Timestamp,
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
            expires_at: Timestamp::now(),
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
