//! Fuzz target: acs-wire's signed-request parsing and verification (RPC V1 query, ROA V1 and V3
//! headers, `Authorization` lines) never panics on any request, and a request that acs-wire's
//! own signers signed, with fuzzed parameters, headers, body and secret, verifies.
#![no_main]

use acs_wire::sign::verify::{IncomingRequest, SignedRequest};
use acs_wire::sign::{Credentials, SignableRequest, roa_v1, rpc_v1, v3};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// A request as received: anything at all.
    method: &'a str,
    path: &'a str,
    raw_query: &'a str,
    headers: Vec<(String, String)>,
    body: &'a [u8],
    secret: &'a str,
    /// A request signed by acs-wire with fuzzed pieces.
    scheme: u8,
    params: Vec<(String, String)>,
    extra_headers: Vec<(String, String)>,
    signed_body: Vec<u8>,
    access_key_id: String,
    token: Option<String>,
    nonce: String,
    unix: u32,
}

fn exercise(req: &IncomingRequest<'_>, secret: &str) -> bool {
    match SignedRequest::parse(req) {
        Ok(signed) => {
            let _ = signed.timestamp_utc();
            let _ = signed.string_to_sign_redacted();
            let _ = signed.param("InstanceId");
            let _ = format!("{signed:?}");
            signed.verify(secret).is_ok()
        }
        Err(e) => {
            let _ = (e.code(), e.to_string());
            false
        }
    }
}

fuzz_target!(|input: Input<'_>| {
    let raw = IncomingRequest {
        method: input.method,
        path: input.path,
        raw_query: input.raw_query,
        headers: &input.headers,
        body: input.body,
    };
    exercise(&raw, input.secret);

    // Header names and values a client could send; the signers work on decoded text.
    let header_ok = |(n, v): &&(String, String)| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !n.to_ascii_lowercase().starts_with("x-acs-")
            && ![
                "authorization",
                "host",
                "date",
                "content-type",
                "content-md5",
                "accept",
            ]
            .contains(&n.to_ascii_lowercase().as_str())
            && v.bytes().all(|b| (0x21..0x7f).contains(&b))
    };
    let ascii = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    // A signed request has an AccessKeyId and a nonce (servers refuse an empty one).
    if input.access_key_id.is_empty()
        || input.nonce.is_empty()
        || !ascii(&input.access_key_id)
        || !ascii(&input.nonce)
    {
        return;
    }
    let creds = Credentials {
        access_key_id: input.access_key_id.clone(),
        access_key_secret: input.secret.to_owned(),
        security_token: input.token.clone().filter(|t| ascii(t) && !t.is_empty()),
    };
    let Ok(now) = jiff::Timestamp::from_second(i64::from(input.unix)) else {
        return;
    };
    // Parameters: unique names, none the signers set themselves.
    const RESERVED: [&str; 10] = [
        "Action",
        "Version",
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SecurityToken",
        "Timestamp",
        "Format",
    ];
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in &input.params {
        if !k.is_empty()
            && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(k))
            && !params.iter().any(|(p, _)| p == k)
        {
            params.push((k.clone(), v.clone()));
        }
    }
    let host = "cr.cn-hangzhou.aliyuncs.com";
    let mut req = SignableRequest::new("POST", host, "/");
    match input.scheme % 3 {
        0 => {
            let mut q: Vec<(String, String)> = vec![
                ("Action".into(), "GetAuthorizationToken".into()),
                ("Version".into(), "2018-12-01".into()),
            ];
            q.extend(params);
            rpc_v1::sign_query(&mut q, "POST", &creds, now, &input.nonce);
            req.set_header("host", host);
            req.query = q;
        }
        1 => {
            req = SignableRequest::new("GET", host, "/tokens");
            for h in input.extra_headers.iter().filter(header_ok) {
                req.set_header(&h.0, &h.1);
            }
            req.set_header("x-acs-version", "2016-06-07");
            roa_v1::sign_headers(&mut req, &creds, now, &input.nonce);
        }
        _ => {
            req.query = params;
            for h in input.extra_headers.iter().filter(header_ok) {
                req.set_header(&h.0, &h.1);
            }
            req.body = input.signed_body.clone();
            req.set_header("x-acs-action", "GetAuthorizationToken");
            req.set_header("x-acs-version", "2018-12-01");
            v3::sign_request(&mut req, &creds, now, &input.nonce);
        }
    }
    let path_and_query = req.path_and_query();
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query.as_str(), ""));
    let mut headers = req.headers.clone();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        headers.push(("host".into(), host.into()));
    }
    let received = IncomingRequest {
        method: &req.method,
        path,
        raw_query: query,
        headers: &headers,
        body: &req.body,
    };
    assert!(
        exercise(&received, input.secret),
        "a request acs-wire signed does not verify: {req:?}"
    );
});
