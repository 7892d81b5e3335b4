//! The POP error envelope (docs/wire.md, "Errors"): what a server sends on failure and what a
//! client reads back. RPC and V3 APIs use `Code`/`Message`/`RequestId`; ROA APIs such as the
//! Personal Edition `GET /tokens` use lower-case keys.

use serde::{Deserialize, Serialize};

/// One POP error as it travels in a JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PopError {
    /// Request id (a UUID in upper case on the real service).
    pub request_id: String,
    /// Host that answered, e.g. `cr.cn-hangzhou.aliyuncs.com`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_id: String,
    /// Error code, e.g. `SignatureDoesNotMatch`, `Forbidden.RAM`.
    pub code: String,
    /// Human-readable message; never carries a secret.
    pub message: String,
    /// Troubleshooting link.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recommend: String,
}

/// Lower-case-keyed form used by ROA APIs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoaError<'a> {
    code: &'a str,
    message: &'a str,
    request_id: &'a str,
}

/// Why a response body is not a POP error envelope.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON.
    #[error("POP error body (HTTP {status}) is not JSON: {source}")]
    NotJson {
        /// HTTP status of the response.
        status: u16,
        /// Parser error.
        source: serde_json::Error,
    },
    /// JSON without a `Code`/`code` string.
    #[error("POP error body (HTTP {status}) has no Code field")]
    NoCode {
        /// HTTP status of the response.
        status: u16,
    },
}

impl PopError {
    /// A new error with an empty `Recommend`.
    pub fn new(request_id: &str, host_id: &str, code: &str, message: &str) -> Self {
        Self {
            request_id: request_id.to_owned(),
            host_id: host_id.to_owned(),
            code: code.to_owned(),
            message: message.to_owned(),
            recommend: format!(
                "https://api.aliyun.com/troubleshoot?q={code}&product=cr&requestId={request_id}"
            ),
        }
    }

    /// The RPC/V3 body: `{"RequestId","HostId","Code","Message","Recommend"}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// The ROA body: `{"code","message","requestId"}`.
    pub fn to_roa_json(&self) -> String {
        serde_json::to_string(&RoaError {
            code: &self.code,
            message: &self.message,
            request_id: &self.request_id,
        })
        .unwrap_or_else(|_| String::from("{}"))
    }

    /// Reads an error body the way darabonba does: `Code|code`, `Message|message`,
    /// `RequestId|requestId`, `HostId`, `Recommend`.
    pub fn parse(status: u16, body: &[u8]) -> Result<Self, ParseError> {
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|source| ParseError::NotJson { status, source })?;
        let field = |upper: &str, lower: &str| {
            v.get(upper)
                .or_else(|| v.get(lower))
                .and_then(|x| x.as_str())
                .map(str::to_owned)
        };
        let code = field("Code", "code").ok_or(ParseError::NoCode { status })?;
        Ok(Self {
            request_id: field("RequestId", "requestId").unwrap_or_default(),
            host_id: field("HostId", "hostId").unwrap_or_default(),
            code,
            message: field("Message", "message").unwrap_or_default(),
            recommend: field("Recommend", "recommend").unwrap_or_default(),
        })
    }

    /// `Throttling`, `Throttling.User`, `Throttling.Api`: darabonba's ThrottlingError set.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_str(),
            "Throttling" | "Throttling.User" | "Throttling.Api"
        )
    }
}

impl std::fmt::Display for PopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} (RequestId {})",
            self.code, self.message, self.request_id
        )
    }
}

impl std::error::Error for PopError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_roundtrips_in_both_casings() {
        let e = PopError::new(
            "RID",
            "cr.cn-hangzhou.aliyuncs.com",
            "Forbidden.RAM",
            "denied",
        );
        let json = e.to_json();
        assert!(json.starts_with(r#"{"RequestId":"RID","HostId":"cr.cn-hangzhou.aliyuncs.com","Code":"Forbidden.RAM""#), "{json}");
        assert_eq!(PopError::parse(403, json.as_bytes()).unwrap(), e);
        let roa = e.to_roa_json();
        assert_eq!(
            roa,
            r#"{"code":"Forbidden.RAM","message":"denied","requestId":"RID"}"#
        );
        let back = PopError::parse(403, roa.as_bytes()).unwrap();
        assert_eq!(back.code, "Forbidden.RAM");
        assert_eq!(back.request_id, "RID");
    }

    #[test]
    fn parse_rejects_non_envelopes_and_spots_throttling() {
        assert!(matches!(
            PopError::parse(500, b"<html>"),
            Err(ParseError::NotJson { status: 500, .. })
        ));
        assert!(matches!(
            PopError::parse(400, b"{}"),
            Err(ParseError::NoCode { status: 400 })
        ));
        let t = PopError::parse(400, br#"{"Code":"Throttling.User","Message":"m"}"#).unwrap();
        assert!(t.is_throttling());
    }
}
