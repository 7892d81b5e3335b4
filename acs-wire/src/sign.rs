//! Alibaba Cloud POP request signing, client side and verifier side (docs/wire.md, "Request
//! signing").
//!
//! Three schemes reach the ACR OpenAPI: RPC V1 (HMAC-SHA1 over the query, [`rpc_v1`]), ROA V1
//! (HMAC-SHA1 over selected headers, [`roa_v1`]) and V3 (`ACS3-HMAC-SHA256`, [`v3`]). Each module
//! exposes the pure canonicalisation and signature functions plus a client-side `sign_*` helper;
//! [`verify`] parses an incoming request, tells which scheme it uses and recomputes its signature.

pub mod encode;
pub mod roa_v1;
pub mod rpc_v1;
pub mod v3;
pub mod verify;

use std::fmt;

/// An AccessKey pair, optionally with the STS SecurityToken that goes with it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AccessKeyId` (`STS.…` for temporary credentials).
    pub access_key_id: String,
    /// `AccessKeySecret`; never logged.
    pub access_key_secret: String,
    /// `SecurityToken` of STS credentials; never logged.
    pub security_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// An HTTP request about to be signed (ROA V1, V3) — the signer adds headers to it.
///
/// `path` is the request path as it goes on the wire (already percent-encoded where needed);
/// `query` holds decoded key/value pairs in sending order; `headers` keep the caller's casing.
#[derive(Clone, PartialEq, Eq)]
pub struct SignableRequest {
    /// HTTP method, upper case (`GET`, `POST`).
    pub method: String,
    /// Host name the request is sent to (signed as the `host` header).
    pub host: String,
    /// Path, e.g. `/` or `/tokens`.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Headers (name, value); the signer appends its own.
    pub headers: Vec<(String, String)>,
    /// Request body bytes (empty for most ACR calls).
    pub body: Vec<u8>,
}

impl fmt::Debug for SignableRequest {
    // Headers may carry x-acs-security-token and the Authorization header: list names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("SignableRequest")
            .field("method", &self.method)
            .field("host", &self.host)
            .field("path", &self.path)
            .field(
                "query_keys",
                &self.query.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl SignableRequest {
    /// A request with no query, headers or body.
    pub fn new(method: &str, host: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            host: host.to_owned(),
            path: path.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every header called `name` (case-insensitive) by one with `value`.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// The path plus the encoded query, as it goes into the request line.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, encode::query_string(&self.query))
        }
    }
}

/// `2006-01-02T15:04:05Z`: the timestamp format of RPC V1 `Timestamp` and V3 `x-acs-date`.
pub const ISO8601_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";
/// RFC 1123 in GMT: the `date` header format of ROA V1.
pub const RFC1123_FORMAT: &str = "%a, %d %b %Y %H:%M:%S GMT";
