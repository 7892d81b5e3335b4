//! Pull secrets as kubelet reads them: `kubernetes.io/dockerconfigjson` and `kubernetes.io/dockercfg`.

use std::fmt;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;

/// One username/password pair from a pull secret or a credential source, with the key it was
/// stored under. The password never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The `auths` key (a host, possibly with globs, port and path).
    pub key: String,
    /// Registry user name.
    pub username: String,
    /// Registry password (a temporary ACR token): never printed.
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("key", &self.key)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The entries of a `kubernetes.io/dockerconfigjson` or `kubernetes.io/dockercfg` Secret, as
/// kubelet reads them; other types and unparsable data yield nothing (kubelet ignores them).
pub fn credentials_of_secret(secret: &Secret) -> Vec<Credential> {
    let data = secret.data.clone().unwrap_or_default();
    let kind = secret.type_.as_deref().unwrap_or_default();
    let entries = match kind {
        "kubernetes.io/dockerconfigjson" => data
            .get(".dockerconfigjson")
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b.0).ok())
            .and_then(|v| v.get("auths").cloned()),
        "kubernetes.io/dockercfg" => data
            .get(".dockercfg")
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b.0).ok()),
        _ => None,
    };
    let Some(serde_json::Value::Object(map)) = entries else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(key, entry)| credential_of_entry(key, &entry))
        .collect()
}

/// Kubelet's `DockerConfigEntry`: `auth` (base64 `user:password`) wins over the plain fields.
fn credential_of_entry(key: String, entry: &serde_json::Value) -> Option<Credential> {
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (mut username, mut password) = (field("username"), field("password"));
    let auth = field("auth");
    if !auth.is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        username = u.to_string();
        password = p.to_string();
    }
    Some(Credential {
        key,
        username,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(kind: &str, key: &str, body: &str) -> Secret {
        Secret {
            type_: Some(kind.into()),
            data: Some(BTreeMap::from([(
                key.to_string(),
                ByteString(body.as_bytes().to_vec()),
            )])),
            ..Default::default()
        }
    }

    #[test]
    fn reads_dockerconfigjson_and_prefers_auth() {
        let auth = base64::engine::general_purpose::STANDARD.encode("u2:p2");
        let body = format!(
            r#"{{"auths":{{"registry.*.aliyuncs.com":{{"username":"u1","password":"p1"}},"x.cr.aliyuncs.com":{{"username":"u","password":"p","auth":"{auth}"}}}}}}"#
        );
        let creds = credentials_of_secret(&secret(
            "kubernetes.io/dockerconfigjson",
            ".dockerconfigjson",
            &body,
        ));
        assert_eq!(creds.len(), 2);
        assert_eq!(creds[0].username, "u1");
        assert_eq!(
            (creds[1].username.as_str(), creds[1].password.as_str()),
            ("u2", "p2")
        );
        assert!(
            !format!("{creds:?}").contains("p1"),
            "password leaked into Debug"
        );
    }

    #[test]
    fn reads_dockercfg_and_ignores_other_types() {
        let body = r#"{"registry.cn-hangzhou.aliyuncs.com":{"username":"u","password":"p"}}"#;
        assert_eq!(
            credentials_of_secret(&secret("kubernetes.io/dockercfg", ".dockercfg", body)).len(),
            1
        );
        assert!(credentials_of_secret(&secret("Opaque", ".dockercfg", body)).is_empty());
        assert!(
            credentials_of_secret(&secret(
                "kubernetes.io/dockerconfigjson",
                ".dockerconfigjson",
                "{"
            ))
            .is_empty()
        );
    }
}
