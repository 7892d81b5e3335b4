//! V3 `ACS3-HMAC-SHA256` (docs/wire.md, "V3"): a canonical request hashed with SHA-256 and signed
//! with HMAC-SHA256, sent as
//! `Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`.

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::encode::percent_encode;
use super::{Credentials, ISO8601_FORMAT, SignableRequest};

/// The algorithm name that starts the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// hex(SHA-256(body)); the empty body gives `e3b0c442…b855`.
pub fn hashed_payload(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// CanonicalURI: the path or `/`, with `+`→`%20`, `*`→`%2A`, `%7E`→`~`.
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    path.replace('+', "%20")
        .replace('*', "%2A")
        .replace("%7E", "~")
}

/// CanonicalQueryString: decoded pairs sorted by key, `k=percentEncode(v)`, joined by `&`.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut sorted: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The names a client signs by default: `host`, `content-type` and every `x-acs-*` header,
/// lower-cased, sorted, de-duplicated (the Go SDK's rule).
pub fn default_signed_headers(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| n == "host" || n == "content-type" || n.starts_with("x-acs-"))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// CanonicalHeaders for the given (lower-case) signed names: `name:v1,v2\n` per name, values
/// trimmed and sorted. A signed name with no header gets an empty value, so the signature
/// then fails instead of the verifier guessing.
pub fn canonical_headers(headers: &[(String, String)], signed: &[String]) -> String {
    let mut out = String::new();
    let mut names: Vec<&String> = signed.iter().collect();
    names.sort();
    names.dedup();
    for name in names {
        let mut values: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect();
        values.sort();
        out.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    out
}

/// `METHOD\nURI\nQUERY\nHEADERS\nSIGNED_HEADERS\nHASHED_PAYLOAD`.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    signed: &[String],
    hashed_payload: &str,
) -> String {
    let mut names: Vec<String> = signed.iter().map(|n| n.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    format!(
        "{method}\n{}\n{}\n{}\n{}\n{hashed_payload}",
        canonical_uri(path),
        canonical_query(query),
        canonical_headers(headers, &names),
        names.join(";"),
    )
}

/// `ACS3-HMAC-SHA256\n` + hex(SHA-256(canonical_request)).
pub fn string_to_sign(canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// hex(HMAC-SHA256(AccessKeySecret, string_to_sign)).
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(access_key_secret.as_bytes())
        .expect("invariant: HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value for the given parts.
pub fn authorization(access_key_id: &str, signed: &[String], signature: &str) -> String {
    format!(
        "{ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={signature}",
        signed.join(";")
    )
}

/// The parsed parts of an `ACS3-HMAC-SHA256` `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `Credential=` — the AccessKeyId.
    pub access_key_id: String,
    /// `SignedHeaders=` split on `;`, lower-cased.
    pub signed_headers: Vec<String>,
    /// `Signature=` — hex, not a secret (it only proves knowledge of one).
    pub signature: String,
}

/// Why an `Authorization` header is not a usable V3 header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    /// It does not start with `ACS3-HMAC-SHA256 `.
    #[error("Authorization header does not start with {ALGORITHM}")]
    NotV3,
    /// A required part is missing or empty.
    #[error("Authorization header lacks {0}")]
    Missing(&'static str),
}

/// Parses `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` (parts in any order,
/// blanks around commas tolerated).
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthorizationError> {
    let rest = value
        .trim()
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or(AuthorizationError::NotV3)?;
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => cred = Some(v.to_owned()),
            Some(("SignedHeaders", v)) => signed = Some(v.to_owned()),
            Some(("Signature", v)) => sig = Some(v.to_owned()),
            _ => {}
        }
    }
    let non_empty = |v: Option<String>, what| v.filter(|s| !s.is_empty()).ok_or(what);
    let access_key_id = non_empty(cred, "Credential").map_err(AuthorizationError::Missing)?;
    let signed = non_empty(signed, "SignedHeaders").map_err(AuthorizationError::Missing)?;
    let signature = non_empty(sig, "Signature").map_err(AuthorizationError::Missing)?;
    Ok(Authorization {
        access_key_id,
        signed_headers: signed
            .split(';')
            .map(|s| s.trim().to_ascii_lowercase())
            .collect(),
        signature,
    })
}

/// Signs `request` as darabonba's `DoRequest` does: sets `host`, `x-acs-date`,
/// `x-acs-signature-nonce`, `x-acs-content-sha256`, `accept` (unless present), the STS headers
/// and `Authorization`. The caller sets `x-acs-action` and `x-acs-version` first.
pub fn sign_request(
    request: &mut SignableRequest,
    credentials: &Credentials,
    now: Timestamp,
    nonce: &str,
) {
    let host = request.host.clone();
    request.set_header("host", &host);
    request.set_header("x-acs-date", &now.strftime(ISO8601_FORMAT).to_string());
    request.set_header("x-acs-signature-nonce", nonce);
    request.set_header("x-acs-content-sha256", &hashed_payload(&request.body));
    if request.header("accept").is_none() {
        request.set_header("accept", "application/json");
    }
    match &credentials.security_token {
        Some(token) => {
            request.set_header("x-acs-accesskey-id", &credentials.access_key_id);
            request.set_header("x-acs-security-token", token);
        }
        None => request.headers.retain(|(n, _)| {
            !n.eq_ignore_ascii_case("x-acs-security-token")
                && !n.eq_ignore_ascii_case("x-acs-accesskey-id")
        }),
    }
    request
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
    let signed = default_signed_headers(&request.headers);
    let canonical = canonical_request(
        &request.method,
        &request.path,
        &request.query,
        &request.headers,
        &signed,
        &hashed_payload(&request.body),
    );
    let sig = signature(&credentials.access_key_secret, &string_to_sign(&canonical));
    let auth = authorization(&credentials.access_key_id, &signed, &sig);
    request.set_header("authorization", &auth);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn published_vector_openapi_util() {
        // openapi-util Test_GetAuthorization.
        let query = pairs(&[("test", "ok"), ("empty", "")]);
        let headers = pairs(&[("x-acs-test", "http"), ("x-acs-TEST", "https")]);
        assert_eq!(canonical_query(&query), "empty=&test=ok");
        let signed = default_signed_headers(&headers);
        assert_eq!(signed, vec!["x-acs-test".to_string()]);
        assert_eq!(
            canonical_headers(&headers, &signed),
            "x-acs-test:http,https\n"
        );
        let canonical = canonical_request(
            "",
            "",
            &query,
            &headers,
            &signed,
            "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23",
        );
        let sig = signature("secret", &string_to_sign(&canonical));
        assert_eq!(
            authorization("acesskey", &signed, &sig),
            "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,\
             Signature=4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3"
        );
    }

    #[test]
    fn empty_body_hash() {
        assert_eq!(
            hashed_payload(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_authorization_roundtrip_and_errors() {
        let a = parse_authorization(
            "ACS3-HMAC-SHA256 Credential=ak, SignedHeaders=host;X-Acs-Date,Signature=ab",
        )
        .unwrap();
        assert_eq!(a.access_key_id, "ak");
        assert_eq!(a.signed_headers, vec!["host", "x-acs-date"]);
        assert_eq!(a.signature, "ab");
        assert_eq!(
            parse_authorization("acs ak:sig"),
            Err(AuthorizationError::NotV3)
        );
        assert_eq!(
            parse_authorization("ACS3-HMAC-SHA256 Credential=ak,Signature=ab"),
            Err(AuthorizationError::Missing("SignedHeaders"))
        );
    }
}
