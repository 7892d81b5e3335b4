//! Verifier side: recognise which scheme signed an incoming request, extract who signed it and
//! recompute the signature from what the client declares it signed (docs/wire.md, "What
//! fake-acr's verifier requires").
//!
//! Replay (`SignatureNonceUsed`) and clock-skew (`InvalidTimeStamp.Expired`) checks need state and
//! a clock, so they belong to the server; this module only parses and recomputes.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::encode::{parse_query, percent_encode};
use super::{ISO8601_FORMAT, RFC1123_FORMAT, roa_v1, rpc_v1, v3};

/// Which signature scheme a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RPC V1: `Signature` in the query, HMAC-SHA1.
    RpcV1,
    /// ROA V1: `Authorization: acs AK:sig`, HMAC-SHA1.
    RoaV1,
    /// V3: `Authorization: ACS3-HMAC-SHA256 …`.
    V3,
}

/// A request as the server received it.
#[derive(Clone, Copy)]
pub struct IncomingRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as on the wire (still percent-encoded).
    pub path: &'a str,
    /// Raw query string without `?` (still percent-encoded).
    pub raw_query: &'a str,
    /// Every header (name, value); repeated names allowed.
    pub headers: &'a [(String, String)],
    /// Body bytes.
    pub body: &'a [u8],
}

/// Why a request cannot be verified; [`SignatureError::code`] gives the POP error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature at all, or a V3 header that omits a header we require to be signed.
    #[error("The request signature is incomplete: {0}")]
    IncompleteSignature(String),
    /// A required parameter or header is absent.
    #[error("{0} is mandatory for this action.")]
    Missing(&'static str),
    /// `SignatureMethod` / algorithm other than HMAC-SHA1 (V1) or ACS3-HMAC-SHA256 (V3).
    #[error("Specified signature method {0:?} is not supported.")]
    InvalidSignatureMethod(String),
    /// `Timestamp`, `x-acs-date` or `date` does not parse.
    #[error("Specified time stamp or date value {0:?} is not well formatted.")]
    InvalidTimeStampFormat(String),
    /// `x-acs-content-sha256` differs from the body's hash.
    #[error("x-acs-content-sha256 {declared:?} does not match the request body's hash {actual}")]
    ContentSha256Mismatch {
        /// Header value.
        declared: String,
        /// hex(SHA-256(body)).
        actual: String,
    },
    /// The recomputed signature differs. `string_to_sign` is the server's, with any
    /// SecurityToken replaced by `<redacted>`.
    #[error(
        "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
    )]
    DoesNotMatch {
        /// The server's string to sign (redacted).
        string_to_sign: String,
    },
}

impl SignatureError {
    /// The POP error code of this failure (docs/wire.md, "Errors").
    pub fn code(&self) -> String {
        match self {
            Self::IncompleteSignature(_) => "IncompleteSignature".into(),
            Self::Missing(what) => format!("Missing{what}"),
            Self::InvalidSignatureMethod(_) => "InvalidSignatureMethod".into(),
            Self::InvalidTimeStampFormat(_) => "InvalidTimeStamp.Format".into(),
            Self::ContentSha256Mismatch { .. } | Self::DoesNotMatch { .. } => {
                "SignatureDoesNotMatch".into()
            }
        }
    }
}

/// A parsed, not yet verified, signed request.
#[derive(Clone)]
pub struct SignedRequest {
    /// Scheme in use.
    pub scheme: Scheme,
    /// The AccessKeyId that claims to have signed.
    pub access_key_id: String,
    /// STS SecurityToken, if any (redacted in Debug).
    pub security_token: Option<String>,
    /// Raw timestamp (`Timestamp`, `x-acs-date` or `date`).
    pub timestamp: String,
    /// Signature nonce, if the client sent one (aliyunsdkcore's ROA client sends none).
    pub nonce: Option<String>,
    /// API action: `Action`, or `x-acs-action` (ROA/V3); None for ROA clients that omit it.
    pub action: Option<String>,
    /// API version: `Version` or `x-acs-version`.
    pub version: Option<String>,
    /// Decoded request parameters: query ∪ form body, `Signature` excluded.
    pub params: Vec<(String, String)>,
    provided_signature: String,
    string_to_sign: String,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("scheme", &self.scheme)
            .field("access_key_id", &self.access_key_id)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce)
            .field("action", &self.action)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The headers a V3 client must sign (a policy choice).
pub const V3_REQUIRED_SIGNED_HEADERS: &[&str] = &[
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

impl SignedRequest {
    /// Detects the scheme and builds the server's string to sign.
    pub fn parse(req: &IncomingRequest<'_>) -> Result<Self, SignatureError> {
        let mut params = parse_query(req.raw_query);
        let is_form = header(req.headers, "content-type")
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if is_form && !req.body.is_empty() {
            params.extend(parse_query(&String::from_utf8_lossy(req.body)));
        }
        let authorization = header(req.headers, "authorization").unwrap_or("");
        if authorization.starts_with("ACS3-") {
            Self::parse_v3(req, params, authorization)
        } else if let Some(rest) = authorization.strip_prefix("acs ") {
            Self::parse_roa(req, params, rest)
        } else if param(&params, "Signature").is_some() {
            Self::parse_rpc(req, params)
        } else {
            Err(SignatureError::IncompleteSignature(
                "no Authorization header and no Signature parameter".into(),
            ))
        }
    }

    fn parse_rpc(
        req: &IncomingRequest<'_>,
        mut params: Vec<(String, String)>,
    ) -> Result<Self, SignatureError> {
        let provided = param(&params, "Signature").unwrap_or_default().to_owned();
        params.retain(|(k, _)| k != "Signature");
        let need = |name: &'static str| {
            param(&params, name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(SignatureError::Missing(name))
        };
        let access_key_id = need("AccessKeyId")?;
        let method = need("SignatureMethod")?;
        if method != "HMAC-SHA1" {
            return Err(SignatureError::InvalidSignatureMethod(method));
        }
        let timestamp = need("Timestamp")?;
        let nonce = need("SignatureNonce")?;
        let action = need("Action")?;
        let version = need("Version")?;
        let string_to_sign = rpc_v1::string_to_sign(req.method, &params);
        Ok(Self {
            scheme: Scheme::RpcV1,
            access_key_id,
            security_token: param(&params, "SecurityToken").map(str::to_owned),
            timestamp,
            nonce: Some(nonce),
            action: Some(action),
            version: Some(version),
            params,
            provided_signature: provided,
            string_to_sign,
        })
    }

    fn parse_roa(
        req: &IncomingRequest<'_>,
        params: Vec<(String, String)>,
        credential: &str,
    ) -> Result<Self, SignatureError> {
        let (access_key_id, provided) = credential.trim().split_once(':').ok_or_else(|| {
            SignatureError::IncompleteSignature("Authorization is not 'acs AK:signature'".into())
        })?;
        if access_key_id.is_empty() || provided.is_empty() {
            return Err(SignatureError::IncompleteSignature(
                "Authorization is not 'acs AK:signature'".into(),
            ));
        }
        if let Some(m) = header(req.headers, "x-acs-signature-method")
            && m != "HMAC-SHA1"
        {
            return Err(SignatureError::InvalidSignatureMethod(m.to_owned()));
        }
        let timestamp = header(req.headers, "date")
            .ok_or(SignatureError::Missing("Date"))?
            .to_owned();
        let string_to_sign = roa_v1::string_to_sign(req.method, req.path, &params, req.headers);
        Ok(Self {
            scheme: Scheme::RoaV1,
            access_key_id: access_key_id.to_owned(),
            security_token: header(req.headers, "x-acs-security-token").map(str::to_owned),
            timestamp,
            nonce: header(req.headers, "x-acs-signature-nonce").map(str::to_owned),
            action: header(req.headers, "x-acs-action").map(str::to_owned),
            version: header(req.headers, "x-acs-version").map(str::to_owned),
            params,
            provided_signature: provided.to_owned(),
            string_to_sign,
        })
    }

    fn parse_v3(
        req: &IncomingRequest<'_>,
        params: Vec<(String, String)>,
        authorization: &str,
    ) -> Result<Self, SignatureError> {
        let algorithm = authorization.split(' ').next().unwrap_or_default();
        if algorithm != v3::ALGORITHM {
            return Err(SignatureError::InvalidSignatureMethod(algorithm.to_owned()));
        }
        let auth = v3::parse_authorization(authorization)
            .map_err(|e| SignatureError::IncompleteSignature(e.to_string()))?;
        let mut required: Vec<&str> = V3_REQUIRED_SIGNED_HEADERS.to_vec();
        if header(req.headers, "x-acs-security-token").is_some() {
            required.push("x-acs-security-token");
        }
        for name in required {
            if !auth.signed_headers.iter().any(|h| h == name) {
                return Err(SignatureError::IncompleteSignature(format!(
                    "header {name} must be signed (SignedHeaders lacks it)"
                )));
            }
        }
        let need = |name: &'static str| {
            header(req.headers, name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(SignatureError::Missing(name))
        };
        let timestamp = need("x-acs-date")?;
        let nonce = need("x-acs-signature-nonce")?;
        let declared = need("x-acs-content-sha256")?;
        let actual = v3::hashed_payload(req.body);
        if !declared.eq_ignore_ascii_case(&actual) {
            return Err(SignatureError::ContentSha256Mismatch { declared, actual });
        }
        // The query is canonicalised from what arrived; a form body is covered by the hash only.
        let query = parse_query(req.raw_query);
        let canonical = v3::canonical_request(
            req.method,
            req.path,
            &query,
            req.headers,
            &auth.signed_headers,
            &declared,
        );
        Ok(Self {
            scheme: Scheme::V3,
            access_key_id: auth.access_key_id,
            security_token: header(req.headers, "x-acs-security-token").map(str::to_owned),
            timestamp,
            nonce: Some(nonce),
            action: header(req.headers, "x-acs-action").map(str::to_owned),
            version: header(req.headers, "x-acs-version").map(str::to_owned),
            params,
            provided_signature: auth.signature,
            string_to_sign: v3::string_to_sign(&canonical),
        })
    }

    /// The timestamp as UTC: ISO 8601 (`Timestamp`, `x-acs-date`) or RFC 1123 (`date`).
    pub fn timestamp_utc(&self) -> Result<Timestamp, SignatureError> {
        let format = match self.scheme {
            Scheme::RoaV1 => RFC1123_FORMAT,
            Scheme::RpcV1 | Scheme::V3 => ISO8601_FORMAT,
        };
        jiff::civil::DateTime::strptime(format, &self.timestamp)
            .and_then(|civil| civil.to_zoned(TimeZone::UTC))
            .map(|zoned| zoned.timestamp())
            .map_err(|_| SignatureError::InvalidTimeStampFormat(self.timestamp.clone()))
    }

    /// A parameter (query or form) by exact name.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }

    /// The server's string to sign with the SecurityToken (if any) replaced by `<redacted>`.
    pub fn string_to_sign_redacted(&self) -> String {
        let mut s = self.string_to_sign.clone();
        if let Some(token) = self.security_token.as_deref().filter(|t| !t.is_empty()) {
            // RPC encodes the token twice (pair, then the whole canonical string); ROA not at all.
            for form in [percent_encode(&percent_encode(token)), token.to_owned()] {
                s = s.replace(&form, "<redacted>");
            }
        }
        s
    }

    /// Recomputes the signature with `access_key_secret` and compares it in constant time.
    pub fn verify(&self, access_key_secret: &str) -> Result<(), SignatureError> {
        let expected = match self.scheme {
            Scheme::RpcV1 => rpc_v1::signature(access_key_secret, &self.string_to_sign),
            Scheme::RoaV1 => roa_v1::signature(access_key_secret, &self.string_to_sign),
            Scheme::V3 => v3::signature(access_key_secret, &self.string_to_sign),
        };
        if constant_time_eq(expected.as_bytes(), self.provided_signature.as_bytes()) {
            Ok(())
        } else {
            Err(SignatureError::DoesNotMatch {
                string_to_sign: self.string_to_sign_redacted(),
            })
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    //! The three requests captured from Alibaba's official Python SDKs (docs/wire.md,
    //! "Requests captured from the official SDKs"), AccessKeySecret `testSecret`.
    use super::*;

    struct Captured {
        method: &'static str,
        target: &'static str,
        headers: Vec<(String, String)>,
    }

    fn h(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn v3_python() -> Captured {
        Captured {
            method: "POST",
            target: "/?InstanceId=cri-test",
            headers: h(&[
                ("Accept-Encoding", "identity"),
                ("host", "cr.cn-beijing.aliyuncs.com"),
                ("x-acs-version", "2018-12-01"),
                ("x-acs-action", "GetAuthorizationToken"),
                (
                    "user-agent",
                    "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
                ),
                ("x-acs-date", "2026-11-28T19:03:52Z"),
                ("x-acs-signature-nonce", "863258caefaaa831033b57860b6e4f99"),
                ("accept", "application/json"),
                (
                    "x-acs-content-sha256",
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                ),
                ("x-acs-credentials-provider", "static_sts"),
                ("x-acs-accesskey-id", "testAK"),
                ("x-acs-security-token", "testToken"),
                (
                    "Authorization",
                    "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=accept;host;user-agent;\
                     x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;\
                     x-acs-credentials-provider;x-acs-date;x-acs-security-token;\
                     x-acs-signature-nonce;x-acs-version,\
                     Signature=748fb06920fa2ae277fcc75854f26496d476513bd3fa0bb9a66d41b663240315",
                ),
                ("Content-Length", "0"),
            ]),
        }
    }

    fn rpc_python() -> Captured {
        Captured {
            method: "POST",
            target: "/?InstanceId=cri-test&SecurityToken=testToken&Version=2018-12-01\
                     &Action=GetAuthorizationToken&Format=JSON&RegionId=cn-beijing\
                     &Timestamp=2026-11-28T19%3A03%3A52Z&SignatureMethod=HMAC-SHA1\
                     &SignatureType=&SignatureVersion=1.0\
                     &SignatureNonce=2069312678f4c66d057b3a52538a0ce0&AccessKeyId=testAK\
                     &Signature=vk7RAHAh4dkZxhc095DwYIskwWM%3D",
            headers: h(&[
                ("Host", "cr.cn-beijing.aliyuncs.com"),
                ("Accept", "*/*"),
                ("x-acs-action", "GetAuthorizationToken"),
                ("x-acs-version", "2018-12-01"),
                ("Content-Length", "0"),
            ]),
        }
    }

    fn roa_python() -> Captured {
        Captured {
            method: "GET",
            target: "/tokens?RegionId=cn-beijing",
            headers: h(&[
                ("Host", "cr.cn-beijing.aliyuncs.com"),
                ("Accept-Encoding", "identity"),
                ("Accept", "application/json"),
                ("Connection", "keep-alive"),
                ("x-acs-version", "2016-06-07"),
                ("x-sdk-invoke-type", "common"),
                ("x-acs-security-token", "testToken"),
                ("x-acs-region-id", "cn-beijing"),
                ("Date", "Sat, 28 Nov 2026 19:03:52 GMT"),
                ("x-acs-signature-method", "HMAC-SHA1"),
                ("x-acs-signature-version", "1.0"),
                ("Authorization", "acs testAK:RZjrc47Uzcta0DfOih5SPu9GWes="),
                ("x-sdk-client", "python/2.0.0"),
            ]),
        }
    }

    fn parse(c: &Captured) -> Result<SignedRequest, SignatureError> {
        let (path, raw_query) = c.target.split_once('?').unwrap_or((c.target, ""));
        SignedRequest::parse(&IncomingRequest {
            method: c.method,
            path,
            raw_query,
            headers: &c.headers,
            body: b"",
        })
    }

    #[test]
    fn official_python_v3_request_verifies() {
        let s = parse(&v3_python()).unwrap();
        assert_eq!(s.scheme, Scheme::V3);
        assert_eq!(s.access_key_id, "testAK");
        assert_eq!(s.security_token.as_deref(), Some("testToken"));
        assert_eq!(s.action.as_deref(), Some("GetAuthorizationToken"));
        assert_eq!(s.param("InstanceId"), Some("cri-test"));
        s.verify("testSecret").unwrap();
        assert!(matches!(
            s.verify("wrong"),
            Err(SignatureError::DoesNotMatch { .. })
        ));
        assert_eq!(
            s.timestamp_utc().unwrap().to_string(),
            "2026-11-28T19:03:52Z"
        );
    }

    #[test]
    fn official_python_rpc_request_verifies() {
        let s = parse(&rpc_python()).unwrap();
        assert_eq!(s.scheme, Scheme::RpcV1);
        assert_eq!(s.nonce.as_deref(), Some("2069312678f4c66d057b3a52538a0ce0"));
        s.verify("testSecret").unwrap();
        let err = s.verify("wrong").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("server string to sign is:POST&%2F&AccessKeyId%3DtestAK"),
            "{msg}"
        );
        assert!(!msg.contains("testToken"), "token leaked: {msg}");
        assert_eq!(err.code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn official_python_roa_request_verifies() {
        let s = parse(&roa_python()).unwrap();
        assert_eq!(s.scheme, Scheme::RoaV1);
        assert_eq!(s.nonce, None);
        assert_eq!(s.version.as_deref(), Some("2016-06-07"));
        s.verify("testSecret").unwrap();
        let err = s.verify("wrong").unwrap_err().to_string();
        assert!(err.contains("GET\napplication/json\n\n\nSat, 28 Nov 2026 19:03:52 GMT\n"));
        assert!(err.ends_with("/tokens?RegionId=cn-beijing"), "{err}");
        assert!(!err.contains("testToken"));
        assert_eq!(s.timestamp_utc().unwrap().as_second(), 1_795_892_632);
    }

    #[test]
    fn tampered_requests_fail() {
        let mut c = v3_python();
        c.target = "/?InstanceId=cri-other";
        assert!(parse(&c).unwrap().verify("testSecret").is_err());

        let mut c = roa_python();
        c.headers.retain(|(n, _)| n != "x-acs-security-token");
        assert!(parse(&c).unwrap().verify("testSecret").is_err());

        let mut c = rpc_python();
        c.target = "/?Signature=x&AccessKeyId=a";
        assert_eq!(
            parse(&c).unwrap_err(),
            SignatureError::Missing("SignatureMethod")
        );
    }

    #[test]
    fn v3_requires_core_headers_signed_and_body_hash() {
        let mut c = v3_python();
        for (n, v) in c.headers.iter_mut() {
            if n == "Authorization" {
                *v = v.replace(";x-acs-date", "");
            }
        }
        let err = parse(&c).unwrap_err();
        assert_eq!(err.code(), "IncompleteSignature");

        let c = v3_python();
        let err = SignedRequest::parse(&IncomingRequest {
            method: "POST",
            path: "/",
            raw_query: "InstanceId=cri-test",
            headers: &c.headers,
            body: b"x",
        })
        .unwrap_err();
        assert!(matches!(err, SignatureError::ContentSha256Mismatch { .. }));
    }

    #[test]
    fn unsigned_request_is_incomplete() {
        let headers = h(&[("Host", "cr.cn-hangzhou.aliyuncs.com")]);
        let err = SignedRequest::parse(&IncomingRequest {
            method: "GET",
            path: "/",
            raw_query: "Action=ListInstance",
            headers: &headers,
            body: b"",
        })
        .unwrap_err();
        assert_eq!(err.code(), "IncompleteSignature");
    }

    #[test]
    fn client_signers_roundtrip_through_the_verifier() {
        use crate::sign::{Credentials, SignableRequest};
        let creds = Credentials {
            access_key_id: "STS.x".into(),
            access_key_secret: "sk".into(),
            security_token: Some("a token/with+chars".into()),
        };
        let now = Timestamp::now();
        // V3
        let mut req = SignableRequest::new("POST", "cr.cn-hangzhou.aliyuncs.com", "/");
        req.query.push(("InstanceId".into(), "cri-1 *~".into()));
        req.set_header("x-acs-action", "GetAuthorizationToken");
        req.set_header("x-acs-version", "2018-12-01");
        v3::sign_request(&mut req, &creds, now, "n-v3");
        let pq = req.path_and_query();
        let (path, q) = pq.split_once('?').unwrap();
        let s = SignedRequest::parse(&IncomingRequest {
            method: "POST",
            path,
            raw_query: q,
            headers: &req.headers,
            body: b"",
        })
        .unwrap();
        assert_eq!(s.param("InstanceId"), Some("cri-1 *~"));
        s.verify("sk").unwrap();
        // ROA
        let mut req = SignableRequest::new("GET", "cr.cn-hangzhou.aliyuncs.com", "/tokens");
        req.set_header("x-acs-version", "2016-06-07");
        roa_v1::sign_headers(&mut req, &creds, now, "n-roa");
        let s = SignedRequest::parse(&IncomingRequest {
            method: "GET",
            path: "/tokens",
            raw_query: "",
            headers: &req.headers,
            body: b"",
        })
        .unwrap();
        s.verify("sk").unwrap();
        assert!(!format!("{s:?}").contains("a token"));
        // RPC
        let mut params = vec![
            ("Action".to_string(), "ListInstance".to_string()),
            ("Version".to_string(), "2018-12-01".to_string()),
        ];
        rpc_v1::sign_query(&mut params, "POST", &creds, now, "n-rpc");
        let q = crate::sign::encode::query_string(&params);
        let s = SignedRequest::parse(&IncomingRequest {
            method: "POST",
            path: "/",
            raw_query: &q,
            headers: &[],
            body: b"",
        })
        .unwrap();
        s.verify("sk").unwrap();
        let err = s.verify("bad").unwrap_err().to_string();
        assert!(!err.contains("token"), "{err}");
    }
}
