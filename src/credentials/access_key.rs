//! A static AccessKey pair, as registered (non-ECS) clusters supply in `kube-system/alibaba-addon-secret`.

use acs_wire::sign::Credentials;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::{CredentialSource, CredentialsError};

/// Secret key holding the AccessKeyId.
pub const ACCESS_KEY_ID_KEY: &str = "access-key-id";
/// Secret key holding the AccessKeySecret.
pub const ACCESS_KEY_SECRET_KEY: &str = "access-key-secret";

/// A fixed AccessKey pair; Debug output redacts the secret.
#[derive(Clone, Debug)]
pub struct StaticAccessKey {
    credentials: Credentials,
}

impl StaticAccessKey {
    /// Wraps an AccessKey pair.
    pub fn new(access_key_id: String, access_key_secret: String) -> Self {
        Self {
            credentials: Credentials {
                access_key_id,
                access_key_secret,
                security_token: None,
            },
        }
    }

    /// Reads `access-key-id` and `access-key-secret` from Secret `namespace/name`.
    pub async fn from_secret(
        client: kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<Self, CredentialsError> {
        let problem = |reason: String| CredentialsError::AccessKeySecret {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            reason,
        };
        let secret = Api::<Secret>::namespaced(client, namespace)
            .get(name)
            .await
            .map_err(|e| problem(format!("cannot read: {e}")))?;
        Self::from_secret_data(&secret).map_err(problem)
    }

    fn from_secret_data(secret: &Secret) -> Result<Self, String> {
        let read = |key: &str| -> Result<String, String> {
            let bytes = secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|b| b.0.clone())
                .or_else(|| {
                    secret
                        .string_data
                        .as_ref()
                        .and_then(|d| d.get(key))
                        .map(|s| s.clone().into())
                })
                .ok_or_else(|| format!("key {key} is missing"))?;
            let text = String::from_utf8(bytes).map_err(|_| format!("key {key} is not UTF-8"))?;
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Err(format!("key {key} is empty"));
            }
            Ok(text)
        };
        Ok(Self::new(
            read(ACCESS_KEY_ID_KEY)?,
            read(ACCESS_KEY_SECRET_KEY)?,
        ))
    }
}

impl CredentialSource for StaticAccessKey {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(async move { Ok(self.credentials.clone()) })
    }

    fn invalidate(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    #[test]
    fn reads_both_keys_and_redacts_the_secret() {
        let secret = Secret {
            data: Some(BTreeMap::from([
                (
                    ACCESS_KEY_ID_KEY.to_owned(),
                    ByteString(b"LTAIexample\n".to_vec()),
                ),
                (
                    ACCESS_KEY_SECRET_KEY.to_owned(),
                    ByteString(b"s3cr3t-value".to_vec()),
                ),
            ])),
            ..Default::default()
        };
        let key = StaticAccessKey::from_secret_data(&secret).unwrap();
        assert_eq!(key.credentials.access_key_id, "LTAIexample");
        assert!(!format!("{key:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn a_missing_key_is_named() {
        let secret = Secret {
            data: Some(BTreeMap::from([(
                ACCESS_KEY_ID_KEY.to_owned(),
                ByteString(b"LTAIexample".to_vec()),
            )])),
            ..Default::default()
        };
        let error = StaticAccessKey::from_secret_data(&secret).unwrap_err();
        assert_eq!(error, "key access-key-secret is missing");
    }
}
