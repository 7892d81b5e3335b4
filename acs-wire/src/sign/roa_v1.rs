//! ROA V1: HMAC-SHA1 over method, content headers, `x-acs-*` headers and the resource
//! (docs/wire.md, "ROA V1"); sent as `Authorization: acs <AccessKeyId>:<Signature>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha1::Sha1;

use super::{Credentials, RFC1123_FORMAT, SignableRequest};

/// The string to sign:
/// `METHOD\nACCEPT\nCONTENT-MD5\nCONTENT-TYPE\nDATE\n` + sorted `x-acs-*:value\n` lines + resource.
///
/// `headers` are (name, value) in any casing; `query` holds decoded pairs. Header values are
/// trimmed and `\t\n\r\f` become spaces, as pop-core does.
pub fn string_to_sign(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
) -> String {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| clean(v))
            .unwrap_or_default()
    };
    let mut acs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), clean(v)))
        .filter(|(n, _)| n.starts_with("x-acs-"))
        .collect();
    acs.sort();
    let mut out = format!(
        "{method}\n{}\n{}\n{}\n{}\n",
        get("accept"),
        get("content-md5"),
        get("content-type"),
        get("date")
    );
    for (n, v) in &acs {
        out.push_str(&format!("{n}:{v}\n"));
    }
    out.push_str(&canonical_resource(path, query));
    out
}

/// `PATH[?k1=v1&k2&…]`: query sorted by key, values not encoded, empty value → key only.
pub fn canonical_resource(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let mut sorted: Vec<&(String, String)> = query.iter().collect();
    sorted.sort();
    let parts: Vec<String> = sorted
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

fn clean(v: &str) -> String {
    v.trim().replace(['\t', '\n', '\r', '\x0c'], " ")
}

/// `base64(HMAC-SHA1(AccessKeySecret, string_to_sign))` — no `&` suffix, unlike RPC.
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(access_key_secret.as_bytes())
        .expect("invariant: HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// Sets `date`, `accept` (unless present), the `x-acs-signature-*` headers, STS headers and
/// `Authorization` on `request`, as darabonba's `DoROARequest` does. The caller sets
/// `x-acs-version` (and `x-acs-action`) first.
pub fn sign_headers(
    request: &mut SignableRequest,
    credentials: &Credentials,
    now: Timestamp,
    nonce: &str,
) {
    request.set_header("date", &now.strftime(RFC1123_FORMAT).to_string());
    if request.header("accept").is_none() {
        request.set_header("accept", "application/json");
    }
    let host = request.host.clone();
    request.set_header("host", &host);
    request.set_header("x-acs-signature-nonce", nonce);
    request.set_header("x-acs-signature-method", "HMAC-SHA1");
    request.set_header("x-acs-signature-version", "1.0");
    match &credentials.security_token {
        Some(token) => {
            request.set_header("x-acs-accesskey-id", &credentials.access_key_id);
            request.set_header("x-acs-security-token", token);
        }
        None => {
            request.headers.retain(|(n, _)| {
                !n.eq_ignore_ascii_case("x-acs-security-token")
                    && !n.eq_ignore_ascii_case("x-acs-accesskey-id")
            });
        }
    }
    request
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
    let sts = string_to_sign(
        &request.method,
        &request.path,
        &request.query,
        &request.headers,
    );
    let sig = signature(&credentials.access_key_secret, &sts);
    request.set_header(
        "authorization",
        &format!("acs {}:{sig}", credentials.access_key_id),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_sorts_and_omits_empty_values() {
        let q = vec![
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), String::new()),
            ("c".to_string(), "x y".to_string()),
        ];
        assert_eq!(canonical_resource("/tokens", &q), "/tokens?a&b=2&c=x y");
        assert_eq!(canonical_resource("/tokens", &[]), "/tokens");
    }

    #[test]
    fn sign_headers_sets_authorization_over_its_own_headers() {
        let creds = Credentials {
            access_key_id: "ak".into(),
            access_key_secret: "sk".into(),
            security_token: Some("tok".into()),
        };
        let mut req = SignableRequest::new("GET", "cr.cn-hangzhou.aliyuncs.com", "/tokens");
        req.set_header("x-acs-version", "2016-06-07");
        let now: Timestamp = "2026-11-28T19:03:52Z".parse().unwrap();
        sign_headers(&mut req, &creds, now, "nonce");
        assert_eq!(req.header("date"), Some("Sat, 28 Nov 2026 19:03:52 GMT"));
        let auth = req.header("authorization").unwrap().to_owned();
        let sts = string_to_sign("GET", "/tokens", &[], &req.headers);
        assert!(sts.contains("x-acs-security-token:tok\n"));
        assert_eq!(auth, format!("acs ak:{}", signature("sk", &sts)));
    }
}
