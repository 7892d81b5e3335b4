//! Fuzz target: both fakes' admin bodies. Any body (raw bytes, or JSON built from the admin
//! fields with boundary values) sent to any admin endpoint never panics, and afterwards a
//! credentials GET and a signed GetAuthorizationToken are still answered without a panic.
#![no_main]

use std::sync::OnceLock;

use acs_wire::sign::{Credentials, SignableRequest, v3};
use acs_wire::sts::EcsRamRoleCredentials;
use axum::body::{Body, Bytes};
use fake_acr::FakeAcr;
use fake_metadata::FakeMetadata;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

struct Fakes {
    rt: tokio::runtime::Runtime,
    metadata: fake_metadata::Running,
    metadata_settings: fake_metadata::Settings,
    acr: fake_acr::Running,
    acr_settings: fake_acr::Settings,
}

fn fakes() -> &'static Fakes {
    static FAKES: OnceLock<Fakes> = OnceLock::new();
    FAKES.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let metadata = rt
            .block_on(FakeMetadata::start(fake_metadata::Settings::default()))
            .expect("fake-metadata starts");
        let acr = rt
            .block_on(FakeAcr::start(fake_acr::Settings {
                plain_http: true,
                ..fake_acr::Settings::default()
            }))
            .expect("fake-acr starts");
        Fakes {
            metadata_settings: metadata.admin().settings(),
            acr_settings: acr.admin().settings(),
            rt,
            metadata,
            acr,
        }
    })
}

/// (fake-acr?, method, path)
const ENDPOINTS: [(bool, &str, &str); 13] = [
    (false, "POST", "/faults"),
    (false, "PUT", "/clock"),
    (false, "PUT", "/hardened"),
    (false, "PUT", "/role"),
    (false, "PUT", "/spot"),
    (false, "PUT", "/settings"),
    (false, "DELETE", "/faults/1"),
    (false, "POST", "/rotate"),
    (true, "POST", "/faults"),
    (true, "PUT", "/clock"),
    (true, "PUT", "/token-lifetime"),
    (true, "PUT", "/settings"),
    (true, "POST", "/reset"),
];

const KEYS: [&str; 52] = [
    "offset_secs",
    "offset_seconds",
    "secs",
    "mode",
    "role",
    "termination_time",
    "path",
    "kind",
    "status",
    "millis",
    "body",
    "count",
    "probability",
    "not_before",
    "not_after",
    "method",
    "action",
    "region",
    "host",
    "latency_ms",
    "code",
    "drop",
    "throttle",
    "malformed",
    "token_lifetime_secs",
    "bearer_lifetime_secs",
    "max_clock_skew_secs",
    "credential-lifetime",
    "rotation-lead-time",
    "request-log-capacity",
    "faults",
    "instance",
    "regions",
    "instances",
    "id",
    "name",
    "repositories",
    "personal_repositories",
    "public",
    "access_keys",
    "policies",
    "principal",
    "actions",
    "listen",
    "admin-listen",
    "admin_listen",
    "plain_http",
    "advertised_port",
    "account_secret",
    "account-secret",
    "hardened",
    "spot-termination-time",
];

fn boundary(i: u8) -> serde_json::Value {
    use serde_json::json;
    match i % 24 {
        0 => json!(i64::MAX),
        1 => json!(i64::MIN),
        2 => json!(u64::MAX),
        3 => json!(0),
        4 => json!(-1),
        5 => json!(1),
        6 => json!(3_155_760_000_i64),
        7 => json!(3_155_760_001_i64),
        8 => json!(-3_155_760_001_i64),
        9 => json!(315_360_000),
        10 => json!(315_360_001),
        11 => json!(600_001),
        12 => json!(599),
        13 => json!(1e308),
        14 => json!(-0.5),
        15 => json!("99999999999999d"),
        16 => json!("18446744073709551615s"),
        17 => json!("required"),
        18 => json!("status"),
        19 => json!("latency"),
        20 => json!("+262143-12-31T23:59:59Z"),
        21 => json!("1970-01-01T00:00:00Z"),
        22 => json!("127.0.0.1:1"),
        _ => json!(99_999_999_999_999_i64),
    }
}

#[derive(Arbitrary, Debug)]
enum J {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Boundary(u8),
    Arr(Vec<J>),
    Obj(Vec<(Result<u8, String>, J)>),
}

impl J {
    fn value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Int(i) => (*i).into(),
            J::UInt(u) => (*u).into(),
            J::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            J::Str(s) => Value::String(s.clone()),
            J::Boundary(i) => boundary(*i),
            J::Arr(items) => Value::Array(items.iter().map(J::value).collect()),
            J::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| {
                        let k = match k {
                            Ok(i) => KEYS[usize::from(*i) % KEYS.len()].to_owned(),
                            Err(s) => s.clone(),
                        };
                        (k, v.value())
                    })
                    .collect(),
            ),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    endpoint: u8,
    body: Result<J, Vec<u8>>,
}

async fn admin_call(f: &Fakes, acr: bool, method: &str, path: &str, body: Vec<u8>) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let router = if acr {
        fake_acr::admin::router(f.acr.admin())
    } else {
        fake_metadata::admin::router(f.metadata.admin())
    };
    let response = router.oneshot(req).await.unwrap_or_else(|e| match e {});
    let _ = axum::body::to_bytes(response.into_body(), 1 << 22).await;
}

/// A credentials GET, then GetAuthorizationToken signed with what it returned.
async fn normal_calls(f: &Fakes) {
    let get = |path: &str| {
        http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("request")
    };
    let creds = match f
        .metadata
        .answer(get(
            "/latest/meta-data/ram/security-credentials/KubernetesWorkerRole-fake",
        ))
        .await
    {
        Some(r) => {
            let body = axum::body::to_bytes(r.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            EcsRamRoleCredentials::parse(&String::from_utf8_lossy(&body)).ok()
        }
        None => None,
    };
    let creds = creds.map_or_else(
        || Credentials {
            access_key_id: "LTAI5tFakeAcrStaticKey01".into(),
            access_key_secret: "fake-acr-static-secret-0123456789".into(),
            security_token: None,
        },
        |c| Credentials {
            access_key_id: c.access_key_id,
            access_key_secret: c.access_key_secret,
            security_token: Some(c.security_token),
        },
    );
    let host = "cr.cn-hangzhou.aliyuncs.com";
    let mut req = SignableRequest::new("POST", host, "/");
    req.query = vec![("InstanceId".into(), "cri-hzdemo0000000001".into())];
    req.set_header("x-acs-action", "GetAuthorizationToken");
    req.set_header("x-acs-version", "2018-12-01");
    v3::sign_request(&mut req, &creds, f.acr.admin().now(), "fuzz-nonce");
    let mut b = http::Request::builder()
        .method("POST")
        .uri(req.path_and_query())
        .header("host", host);
    for (n, v) in &req.headers {
        b = b.header(n.as_str(), v.as_str());
    }
    let signed = b.body(Bytes::new()).expect("signed request");
    let _ = f.acr.answer(signed).await;
}

fuzz_target!(|input: Input| {
    let f = fakes();
    let (acr, method, path) = ENDPOINTS[usize::from(input.endpoint) % ENDPOINTS.len()];
    let body = match &input.body {
        Ok(j) => j.value().to_string().into_bytes(),
        Err(raw) => raw.clone(),
    };
    f.rt.block_on(async {
        admin_call(f, acr, method, path, body).await;
        normal_calls(f).await;
    });
    // Back to the start for the next input.
    f.metadata
        .admin()
        .replace_settings(f.metadata_settings.clone())
        .expect("the start-up settings are accepted again");
    f.acr
        .admin()
        .replace_settings(f.acr_settings.clone())
        .expect("the start-up settings are accepted again");
});
