//! Self-validating credentials fake-acr issues: registry passwords (the OpenAPI's
//! `AuthorizationToken`) and Registry v2 bearer JWTs. Both are HMACs keyed by values derived
//! from the account secret, so any fake-acr process with the same secret accepts them.
//!
//! Password shape follows the observed EE shape (docs/wire.md): `base64(JSON) + ":" + 40 hex`,
//! the hex being HMAC-SHA1 over the base64 part. JWTs are HS256 (the real service uses RS256 with
//! a `kid`; clients do not verify the signature, the registry does).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Sha256;

/// `TempUsername` the OpenAPI returns and the registry expects.
pub const TEMP_USERNAME: &str = "cr_temp_user";

/// What a registry password is good for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenScope {
    /// Enterprise Edition: one instance.
    Instance {
        /// `cri-…`.
        #[serde(rename = "instanceId")]
        instance_id: String,
    },
    /// Personal Edition: one region.
    Personal {
        /// Region id.
        region: String,
    },
}

/// Claims inside a registry password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordClaims {
    /// Instance or region it is bound to.
    #[serde(flatten)]
    pub scope: TokenScope,
    /// Expiry, Unix milliseconds, as a string like the observed token's `time`.
    pub time: String,
    /// `sub` as observed.
    #[serde(rename = "type")]
    pub kind: String,
    /// Principal (`role/<name>` or `user/<name>`).
    #[serde(rename = "userId")]
    pub user_id: String,
}

impl PasswordClaims {
    /// Expiry in Unix milliseconds (0 if unparsable, i.e. expired).
    pub fn expires_at_ms(&self) -> i64 {
        self.time.parse().unwrap_or(0)
    }
}

/// Why a registry password or bearer token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Wrong shape.
    #[error("registry credential is malformed: {0}")]
    Malformed(&'static str),
    /// HMAC does not match (tampered or another account secret).
    #[error("registry credential signature does not match")]
    BadSignature,
    /// Past its expiry.
    #[error("registry credential expired at {expired_at_ms} ms (now {now_ms} ms)")]
    Expired {
        /// Expiry, ms.
        expired_at_ms: i64,
        /// Server time, ms.
        now_ms: i64,
    },
}

fn derived_key(account_secret: &str, label: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(account_secret.as_bytes())
        .expect("invariant: HMAC takes keys of any length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Issues and validates registry passwords and bearer JWTs with keys from the account secret.
#[derive(Clone)]
pub struct TokenKeys {
    password_key: Vec<u8>,
    jwt_key: Vec<u8>,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

/// One `access` entry of a bearer JWT (distribution token spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name.
    pub name: String,
    /// Granted actions (`pull`).
    pub actions: Vec<String>,
}

/// Claims of a bearer JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BearerClaims {
    /// `dockerauth.aliyuncs.com`.
    pub iss: String,
    /// The registry service the token is for, e.g. `registry.aliyuncs.com:cn-hangzhou:26842`.
    pub aud: String,
    /// Principal, empty for anonymous.
    pub sub: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// Granted access.
    pub access: Vec<Access>,
}

impl TokenKeys {
    /// Keys derived from `account_secret` (HMAC-SHA256 with fixed labels).
    pub fn new(account_secret: &str) -> Self {
        Self {
            password_key: derived_key(account_secret, "fake-acr registry password"),
            jwt_key: derived_key(account_secret, "fake-acr registry bearer jwt"),
        }
    }

    fn password_mac(&self, payload: &str) -> Hmac<Sha1> {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&self.password_key)
            .expect("invariant: HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        mac
    }

    /// A registry password for `claims`.
    pub fn issue_password(&self, claims: &PasswordClaims) -> String {
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let payload = STANDARD.encode(json);
        let tag = hex::encode(self.password_mac(&payload).finalize().into_bytes());
        format!("{payload}:{tag}")
    }

    /// Checks a registry password's HMAC and expiry against `now_ms`.
    pub fn validate_password(
        &self,
        password: &str,
        now_ms: i64,
    ) -> Result<PasswordClaims, TokenError> {
        let (payload, tag) = password
            .rsplit_once(':')
            .ok_or(TokenError::Malformed("no ':'"))?;
        let tag = hex::decode(tag).map_err(|_| TokenError::Malformed("signature is not hex"))?;
        self.password_mac(payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let json = STANDARD
            .decode(payload)
            .map_err(|_| TokenError::Malformed("not base64"))?;
        let claims: PasswordClaims =
            serde_json::from_slice(&json).map_err(|_| TokenError::Malformed("claims not JSON"))?;
        let exp = claims.expires_at_ms();
        if exp <= now_ms {
            return Err(TokenError::Expired {
                expired_at_ms: exp,
                now_ms,
            });
        }
        Ok(claims)
    }

    fn jwt_mac(&self, signing_input: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.jwt_key)
            .expect("invariant: HMAC takes keys of any length");
        mac.update(signing_input.as_bytes());
        mac
    }

    /// An HS256 JWT for `claims`.
    pub fn issue_bearer(&self, claims: &BearerClaims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let input = format!("{header}.{body}");
        let sig = URL_SAFE_NO_PAD.encode(self.jwt_mac(&input).finalize().into_bytes());
        format!("{input}.{sig}")
    }

    /// Checks a JWT's signature and time window against `now` (Unix seconds).
    pub fn validate_bearer(&self, token: &str, now: i64) -> Result<BearerClaims, TokenError> {
        let (input, sig) = token
            .rsplit_once('.')
            .ok_or(TokenError::Malformed("not a JWT"))?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed("signature"))?;
        self.jwt_mac(input)
            .verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let body = input
            .split('.')
            .nth(1)
            .ok_or(TokenError::Malformed("not a JWT"))?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed("claims"))?;
        let claims: BearerClaims =
            serde_json::from_slice(&json).map_err(|_| TokenError::Malformed("claims"))?;
        if claims.exp <= now || claims.nbf > now {
            return Err(TokenError::Expired {
                expired_at_ms: claims.exp.saturating_mul(1000),
                now_ms: now.saturating_mul(1000),
            });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(scope: TokenScope, exp_ms: i64) -> PasswordClaims {
        PasswordClaims {
            scope,
            time: exp_ms.to_string(),
            kind: "sub".into(),
            user_id: "role/r".into(),
        }
    }

    #[test]
    fn passwords_roundtrip_and_reject_tampering_expiry_and_other_secrets() {
        let k = TokenKeys::new("s");
        let c = claims(
            TokenScope::Instance {
                instance_id: "cri-1".into(),
            },
            10_000,
        );
        let p = k.issue_password(&c);
        assert!(p.starts_with("eyJpbnN0YW5jZUlkIjoiY3JpLTEi"), "{p}");
        assert_eq!(p.rsplit_once(':').unwrap().1.len(), 40);
        assert_eq!(k.validate_password(&p, 9_999).unwrap(), c);
        assert!(matches!(
            k.validate_password(&p, 10_000),
            Err(TokenError::Expired { .. })
        ));
        assert_eq!(
            TokenKeys::new("t").validate_password(&p, 0),
            Err(TokenError::BadSignature)
        );
        let personal = claims(
            TokenScope::Personal {
                region: "cn-beijing".into(),
            },
            10,
        );
        let pp = k.issue_password(&personal);
        assert_eq!(k.validate_password(&pp, 0).unwrap().scope, personal.scope);
        let forged = format!(
            "{}:{}",
            STANDARD.encode(br#"{"region":"x","time":"9","type":"sub","userId":"u"}"#),
            &pp[pp.len() - 40..]
        );
        assert_eq!(
            k.validate_password(&forged, 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn bearer_roundtrip_and_expiry() {
        let k = TokenKeys::new("s");
        let c = BearerClaims {
            iss: "dockerauth.aliyuncs.com".into(),
            aud: "svc".into(),
            sub: "u".into(),
            iat: 100,
            nbf: 100,
            exp: 200,
            jti: "j".into(),
            access: vec![Access {
                kind: "repository".into(),
                name: "a/b".into(),
                actions: vec!["pull".into()],
            }],
        };
        let t = k.issue_bearer(&c);
        assert_eq!(k.validate_bearer(&t, 150).unwrap(), c);
        assert!(k.validate_bearer(&t, 200).is_err());
        assert!(TokenKeys::new("x").validate_bearer(&t, 150).is_err());
    }
}
