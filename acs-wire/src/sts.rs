//! Self-validating STS credentials shared by fake-metadata (which issues them) and fake-acr (which
//! checks them), plus the ECS RAM-role credentials document (docs/wire.md, "The credentials
//! document").
//!
//! Scheme, so two fakes agree from configuration alone (no shared runtime state):
//! - `payload` = base64url (no padding) of the claims as compact JSON
//!   (`{"account_id":…,"role":…,"issued_at":…,"expires_at":…,"serial":…}`).
//! - `SecurityToken` = `"CAIS" + payload + "." + base64url(HMAC-SHA256(account_secret, "sts-token\n" + payload))`.
//! - `AccessKeyId` = `"STS." +` 25 base-62 characters of `HMAC-SHA256(account_secret, "access-key-id\n" + payload)`.
//! - `AccessKeySecret` = 43 base-62 characters of `HMAC-SHA256(account_secret, "access-key-secret\n" + payload)`.
//!
//! Base-62 characters are the low-order digits of the MAC read as a big-endian integer, alphabet
//! `0-9A-Za-z`; 43 digits cover all 256 bits, 25 digits keep about 149 of them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The documented default account secret both fakes use, so they interoperate out of the box.
pub const DEFAULT_ACCOUNT_SECRET: &str = "fake-account-secret-change-me";
/// The documented default Alibaba Cloud account id of the fakes.
pub const DEFAULT_ACCOUNT_ID: &str = "1234567890123456";

/// Prefix of every SecurityToken; real tokens start with `CAIS` too.
const TOKEN_PREFIX: &str = "CAIS";
/// Prefix of every STS AccessKeyId, as with the real STS.
const ACCESS_KEY_ID_PREFIX: &str = "STS.";
const ACCESS_KEY_ID_CHARS: usize = 25;
const ACCESS_KEY_SECRET_CHARS: usize = 43;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Time format of `Expiration` and `LastUpdated` in the ECS credentials document.
pub const ECS_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

type HmacSha256 = Hmac<Sha256>;

/// What a SecurityToken asserts: who, which role, and when it is valid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsClaims {
    /// Alibaba Cloud account id that owns the role.
    pub account_id: String,
    /// RAM role name the credentials were issued for.
    pub role: String,
    /// Issue time, Unix seconds.
    pub issued_at: i64,
    /// Expiry time, Unix seconds.
    pub expires_at: i64,
    /// Issue counter; distinguishes credentials issued in the same second.
    pub serial: u64,
}

/// A set of STS credentials as handed to a client.
#[derive(Clone, PartialEq, Eq)]
pub struct StsCredentials {
    /// `STS.`-prefixed AccessKeyId.
    pub access_key_id: String,
    /// AccessKeySecret (secret).
    pub access_key_secret: String,
    /// SecurityToken (secret).
    pub security_token: String,
    /// When the credentials stop being valid.
    pub expiration: Timestamp,
    /// When the credentials were issued.
    pub last_updated: Timestamp,
}

impl std::fmt::Debug for StsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("security_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .field("last_updated", &self.last_updated)
            .finish()
    }
}

/// Why a SecurityToken or AccessKeyId was rejected. Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    /// The token does not have the `CAIS<payload>.<mac>` shape or its claims do not decode.
    #[error("SecurityToken is malformed: {0}")]
    Malformed(String),
    /// The token's MAC does not match: tampered, or issued with another account secret.
    #[error("SecurityToken signature does not match the account secret")]
    BadMac,
    /// The AccessKeyId was not issued together with this SecurityToken.
    #[error("AccessKeyId does not belong to the SecurityToken")]
    AccessKeyMismatch,
}

fn mac(account_secret: &str, label: &str, payload: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(account_secret.as_bytes())
        .expect("invariant: HMAC-SHA256 accepts keys of any length");
    mac.update(label.as_bytes());
    mac.update(b"\n");
    mac.update(payload.as_bytes());
    mac
}

/// The `digits` low-order base-62 digits of `bytes` read as a big-endian integer.
fn base62_digits(bytes: &[u8], digits: usize) -> String {
    let mut number = bytes.to_vec();
    let mut out = Vec::with_capacity(digits);
    for _ in 0..digits {
        // Long division of the whole number by 62; the remainder is the next digit.
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            remainder = acc % 62;
        }
        out.push(BASE62[remainder as usize]);
    }
    out.reverse();
    String::from_utf8(out).expect("invariant: base-62 alphabet is ASCII")
}

fn access_key_id_for(account_secret: &str, payload: &str) -> String {
    let tag = mac(account_secret, "access-key-id", payload)
        .finalize()
        .into_bytes();
    format!(
        "{ACCESS_KEY_ID_PREFIX}{}",
        base62_digits(&tag, ACCESS_KEY_ID_CHARS)
    )
}

fn access_key_secret_for(account_secret: &str, payload: &str) -> String {
    let tag = mac(account_secret, "access-key-secret", payload)
        .finalize()
        .into_bytes();
    base62_digits(&tag, ACCESS_KEY_SECRET_CHARS)
}

fn unix_to_utc(seconds: i64) -> Timestamp {
    // Out-of-range times only come from absurd claims; clamp instead of panicking.
    Timestamp::from_second(seconds).unwrap_or(if seconds < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// Issues the credentials for `claims`, signed with `account_secret`.
pub fn issue(account_secret: &str, claims: &StsClaims) -> StsCredentials {
    let json = serde_json::to_vec(claims).expect("invariant: StsClaims serialises to JSON");
    let payload = URL_SAFE_NO_PAD.encode(json);
    let token_mac = mac(account_secret, "sts-token", &payload)
        .finalize()
        .into_bytes();
    StsCredentials {
        access_key_id: access_key_id_for(account_secret, &payload),
        access_key_secret: access_key_secret_for(account_secret, &payload),
        security_token: format!(
            "{TOKEN_PREFIX}{payload}.{}",
            URL_SAFE_NO_PAD.encode(token_mac)
        ),
        expiration: unix_to_utc(claims.expires_at),
        last_updated: unix_to_utc(claims.issued_at),
    }
}

/// Checks the token's MAC and that access_key_id belongs to it; returns the claims and the derived AccessKeySecret.
/// Does NOT check expiry (the caller compares claims.expires_at with its own, possibly offset, clock).
pub fn validate(
    account_secret: &str,
    access_key_id: &str,
    security_token: &str,
) -> Result<(StsClaims, String), StsError> {
    let body = security_token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(|| StsError::Malformed(format!("does not start with {TOKEN_PREFIX}")))?;
    let (payload, mac_b64) = body
        .split_once('.')
        .ok_or_else(|| StsError::Malformed("no '.' between claims and signature".into()))?;
    let given_mac = URL_SAFE_NO_PAD
        .decode(mac_b64)
        .map_err(|e| StsError::Malformed(format!("signature is not base64url: {e}")))?;
    // Constant-time comparison, so a verifier does not leak how much of a forged MAC matched.
    mac(account_secret, "sts-token", payload)
        .verify_slice(&given_mac)
        .map_err(|_| StsError::BadMac)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| StsError::Malformed(format!("claims are not base64url: {e}")))?;
    let claims: StsClaims = serde_json::from_slice(&json)
        .map_err(|e| StsError::Malformed(format!("claims are not valid JSON: {e}")))?;
    let expected_id = access_key_id_for(account_secret, payload);
    let same = expected_id.len() == access_key_id.len()
        && expected_id
            .bytes()
            .zip(access_key_id.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(StsError::AccessKeyMismatch);
    }
    Ok((claims, access_key_secret_for(account_secret, payload)))
}

/// Why an ECS RAM-role credentials document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("ECS RAM-role credentials document is not valid: {reason}")]
pub struct EcsDocumentError {
    /// What was wrong (never contains field values).
    pub reason: String,
}

/// The ECS RAM-role credentials document, same fields and order; Code optional when parsing.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsRamRoleCredentials {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `AccessKeySecret` (secret).
    pub access_key_secret: String,
    /// `Expiration`, `YYYY-MM-DDTHH:MM:SSZ`.
    pub expiration: String,
    /// `SecurityToken` (secret).
    pub security_token: String,
    /// `LastUpdated`, `YYYY-MM-DDTHH:MM:SSZ`.
    pub last_updated: String,
    /// `Code`, `Success` on the real server; absent in some faulty answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl std::fmt::Debug for EcsRamRoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsRamRoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("expiration", &self.expiration)
            .field("security_token", &"<redacted>")
            .field("last_updated", &self.last_updated)
            .field("code", &self.code)
            .finish()
    }
}

/// Formats a time as the ECS document does: `2021-09-28T14:00:11Z`.
pub fn format_ecs_time(time: Timestamp) -> String {
    time.strftime(ECS_TIME_FORMAT).to_string()
}

/// Parses an ECS document time (`2021-09-28T14:00:11Z`).
pub fn parse_ecs_time(text: &str) -> Result<Timestamp, EcsDocumentError> {
    jiff::civil::DateTime::strptime(ECS_TIME_FORMAT, text)
        .and_then(|civil| civil.to_zoned(TimeZone::UTC))
        .map(|zoned| zoned.timestamp())
        .map_err(|e| EcsDocumentError {
            reason: format!("time {text:?} is not YYYY-MM-DDTHH:MM:SSZ: {e}"),
        })
}

impl EcsRamRoleCredentials {
    /// The document the real server returns for these credentials, with `"Code" : "Success"`.
    pub fn from_sts(credentials: &StsCredentials) -> Self {
        Self {
            access_key_id: credentials.access_key_id.clone(),
            access_key_secret: credentials.access_key_secret.clone(),
            expiration: format_ecs_time(credentials.expiration),
            security_token: credentials.security_token.clone(),
            last_updated: format_ecs_time(credentials.last_updated),
            code: Some("Success".to_owned()),
        }
    }

    /// Parses a document; `Code` may be missing. Errors never quote secret fields.
    pub fn parse(body: &str) -> Result<Self, EcsDocumentError> {
        serde_json::from_str(body).map_err(|e| EcsDocumentError {
            // serde_json's messages name the field and position, not the value, for missing or
            // mistyped fields; keep only the category and position to be safe.
            reason: format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })
    }

    /// Renders the exact real layout: two-space indent, `" : "` separators, fields in order.
    pub fn render(&self) -> String {
        let quote = |s: &str| serde_json::to_string(s).expect("invariant: a str serialises");
        let mut fields = vec![
            ("AccessKeyId", quote(&self.access_key_id)),
            ("AccessKeySecret", quote(&self.access_key_secret)),
            ("Expiration", quote(&self.expiration)),
            ("SecurityToken", quote(&self.security_token)),
            ("LastUpdated", quote(&self.last_updated)),
        ];
        if let Some(code) = &self.code {
            fields.push(("Code", quote(code)));
        }
        let body = fields
            .iter()
            .map(|(name, value)| format!("  \"{name}\" : {value}"))
            .collect::<Vec<_>>()
            .join(",\n");
        format!("{{\n{body}\n}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> StsClaims {
        StsClaims {
            account_id: DEFAULT_ACCOUNT_ID.into(),
            role: "KubernetesWorkerRole-fake".into(),
            issued_at: 1_632_816_011,
            expires_at: 1_632_837_611,
            serial: 7,
        }
    }

    #[test]
    fn issue_then_validate_round_trips() {
        let creds = issue(DEFAULT_ACCOUNT_SECRET, &claims());
        assert!(creds.access_key_id.starts_with("STS."));
        assert_eq!(creds.access_key_id.len(), 4 + 25);
        assert_eq!(creds.access_key_secret.len(), 43);
        assert!(
            creds
                .access_key_secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        );
        assert!(creds.security_token.starts_with("CAIS"));
        assert_eq!(format_ecs_time(creds.expiration), "2021-09-28T14:00:11Z");
        assert_eq!(format_ecs_time(creds.last_updated), "2021-09-28T08:00:11Z");
        let (got, secret) = validate(
            DEFAULT_ACCOUNT_SECRET,
            &creds.access_key_id,
            &creds.security_token,
        )
        .unwrap();
        assert_eq!(got, claims());
        assert_eq!(secret, creds.access_key_secret);
    }

    #[test]
    fn issue_is_deterministic_and_serial_changes_everything() {
        let a = issue(DEFAULT_ACCOUNT_SECRET, &claims());
        assert_eq!(a, issue(DEFAULT_ACCOUNT_SECRET, &claims()));
        let b = issue(
            DEFAULT_ACCOUNT_SECRET,
            &StsClaims {
                serial: 8,
                ..claims()
            },
        );
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_ne!(a.access_key_secret, b.access_key_secret);
        assert_ne!(a.security_token, b.security_token);
    }

    #[test]
    fn tampered_claims_are_rejected() {
        let creds = issue(DEFAULT_ACCOUNT_SECRET, &claims());
        let forged = issue(
            DEFAULT_ACCOUNT_SECRET,
            &StsClaims {
                expires_at: i64::MAX / 2,
                ..claims()
            },
        );
        // Splice the forged payload with the genuine MAC.
        let genuine_mac = creds.security_token.split_once('.').unwrap().1;
        let forged_payload = forged.security_token.split_once('.').unwrap().0;
        let spliced = format!("{forged_payload}.{genuine_mac}");
        assert_eq!(
            validate(DEFAULT_ACCOUNT_SECRET, &creds.access_key_id, &spliced),
            Err(StsError::BadMac)
        );
        let mut flipped = creds.security_token.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        assert!(validate(DEFAULT_ACCOUNT_SECRET, &creds.access_key_id, &flipped).is_err());
    }

    #[test]
    fn wrong_account_secret_is_rejected() {
        let creds = issue(DEFAULT_ACCOUNT_SECRET, &claims());
        assert_eq!(
            validate(
                "another-secret",
                &creds.access_key_id,
                &creds.security_token
            ),
            Err(StsError::BadMac)
        );
    }

    #[test]
    fn access_key_from_other_credentials_is_rejected() {
        let a = issue(DEFAULT_ACCOUNT_SECRET, &claims());
        let b = issue(
            DEFAULT_ACCOUNT_SECRET,
            &StsClaims {
                serial: 8,
                ..claims()
            },
        );
        assert_eq!(
            validate(DEFAULT_ACCOUNT_SECRET, &b.access_key_id, &a.security_token),
            Err(StsError::AccessKeyMismatch)
        );
    }

    #[test]
    fn malformed_tokens_are_named_without_secrets() {
        for token in ["", "XXXXabc.def", "CAISnodot", "CAIS!!!.abc"] {
            let err = validate(DEFAULT_ACCOUNT_SECRET, "STS.x", token).unwrap_err();
            assert!(
                matches!(err, StsError::Malformed(_) | StsError::BadMac),
                "{token}: {err}"
            );
            assert!(!err.to_string().contains(DEFAULT_ACCOUNT_SECRET));
        }
    }

    #[test]
    fn debug_redacts_secret_and_token() {
        let creds = issue(DEFAULT_ACCOUNT_SECRET, &claims());
        let doc = EcsRamRoleCredentials::from_sts(&creds);
        for text in [format!("{creds:?}"), format!("{doc:?}")] {
            assert!(!text.contains(&creds.access_key_secret), "{text}");
            assert!(!text.contains(&creds.security_token), "{text}");
            assert!(text.contains(&creds.access_key_id));
        }
    }

    #[test]
    fn render_matches_the_real_layout() {
        let doc = EcsRamRoleCredentials {
            access_key_id: "STS.NTdivWd4drUxehU3HuLRHGXbC".into(),
            access_key_secret: "ZvpNNRVQNspQNTytiR5TdBm4pH74PXhTUy52x9HFSix".into(),
            expiration: "2021-09-28T14:00:11Z".into(),
            security_token: "token".into(),
            last_updated: "2021-09-28T08:00:11Z".into(),
            code: Some("Success".into()),
        };
        let expected = "{\n  \"AccessKeyId\" : \"STS.NTdivWd4drUxehU3HuLRHGXbC\",\n  \"AccessKeySecret\" : \"ZvpNNRVQNspQNTytiR5TdBm4pH74PXhTUy52x9HFSix\",\n  \"Expiration\" : \"2021-09-28T14:00:11Z\",\n  \"SecurityToken\" : \"token\",\n  \"LastUpdated\" : \"2021-09-28T08:00:11Z\",\n  \"Code\" : \"Success\"\n}";
        assert_eq!(doc.render(), expected);
        assert_eq!(EcsRamRoleCredentials::parse(expected).unwrap(), doc);
        let without_code = EcsRamRoleCredentials {
            code: None,
            ..doc.clone()
        };
        assert!(!without_code.render().contains("Code"));
        assert_eq!(
            EcsRamRoleCredentials::parse(&without_code.render())
                .unwrap()
                .code,
            None
        );
    }

    #[test]
    fn parse_errors_do_not_quote_values() {
        let err = EcsRamRoleCredentials::parse("{\"AccessKeySecret\" : 424242}").unwrap_err();
        assert!(!err.to_string().contains("424242"), "{err}");
        assert!(parse_ecs_time("2021-09-28 14:00:11").is_err());
        assert_eq!(
            format_ecs_time(parse_ecs_time("2021-09-28T14:00:11Z").unwrap()),
            "2021-09-28T14:00:11Z"
        );
    }
}
