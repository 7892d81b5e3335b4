//! Property: whatever parameters a client signs with acs-wire, the verifier, fed the request as
//! it travels on the wire (percent-encoded query, headers), accepts it with the right secret and
//! rejects it with any other.

use acs_wire::sign::verify::{IncomingRequest, SignedRequest};
use acs_wire::sign::{Credentials, SignableRequest, roa_v1, rpc_v1, v3};
use jiff::Timestamp;
use proptest::prelude::*;

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z][A-Za-z0-9_.]{0,12}", "\\PC{0,16}"), 0..5)
}

fn creds(secret: &str, token: Option<String>) -> Credentials {
    Credentials {
        access_key_id: "STS.ak".into(),
        access_key_secret: secret.into(),
        security_token: token,
    }
}

fn check(req: &SignableRequest, secret: &str) -> Result<(), String> {
    let pq = req.path_and_query();
    let (path, q) = pq.split_once('?').unwrap_or((pq.as_str(), ""));
    let s = SignedRequest::parse(&IncomingRequest {
        method: &req.method,
        path,
        raw_query: q,
        headers: &req.headers,
        body: &req.body,
    })
    .map_err(|e| e.to_string())?;
    s.verify(secret).map_err(|e| e.to_string())?;
    if s.verify(&format!("{secret}x")).is_ok() {
        return Err("accepted a wrong secret".into());
    }
    Ok(())
}

proptest! {
    #[test]
    fn v3_roundtrip(query in params(), secret in "[ -~]{1,20}", token in proptest::option::of("[A-Za-z0-9+/=]{1,30}"), t in 0i64..4_000_000_000) {
        let mut req = SignableRequest::new("POST", "cr.cn-hangzhou.aliyuncs.com", "/");
        req.query = query;
        req.set_header("x-acs-action", "GetAuthorizationToken");
        req.set_header("x-acs-version", "2018-12-01");
        v3::sign_request(&mut req, &creds(&secret, token), Timestamp::from_second(t).unwrap(), "n");
        prop_assert_eq!(check(&req, &secret), Ok(()));
    }

    #[test]
    fn roa_roundtrip(query in params(), secret in "[ -~]{1,20}", token in proptest::option::of("[A-Za-z0-9+/=]{1,30}")) {
        let mut req = SignableRequest::new("GET", "cr.cn-hangzhou.aliyuncs.com", "/tokens");
        req.query = query;
        req.set_header("x-acs-version", "2016-06-07");
        roa_v1::sign_headers(&mut req, &creds(&secret, token), Timestamp::now(), "n");
        prop_assert_eq!(check(&req, &secret), Ok(()));
    }

    #[test]
    fn rpc_roundtrip(extra in params(), secret in "[ -~]{1,20}", token in proptest::option::of("[A-Za-z0-9+/=]{1,30}")) {
        let mut q: Vec<(String, String)> = vec![("Action".into(), "ListInstance".into()), ("Version".into(), "2018-12-01".into())];
        q.extend(extra.into_iter().filter(|(k, _)| !matches!(k.as_str(), "Action" | "Version" | "Signature" | "Format" | "Timestamp" | "SignatureNonce" | "SignatureMethod" | "SignatureVersion" | "AccessKeyId" | "SecurityToken")));
        rpc_v1::sign_query(&mut q, "POST", &creds(&secret, token), Timestamp::now(), "n");
        let mut req = SignableRequest::new("POST", "cr.cn-hangzhou.aliyuncs.com", "/");
        req.query = q;
        prop_assert_eq!(check(&req, &secret), Ok(()));
    }
}
