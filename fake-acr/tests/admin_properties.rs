//! Property: any JSON body (boundary integers included) sent to any admin endpoint of either fake
//! is refused with a 4xx or accepted with a 2xx — never a 5xx or a dropped connection — the fakes
//! keep answering, and once their start-up settings are back a credentials GET and a signed
//! GetAuthorizationToken made with those credentials both succeed.

use std::time::Duration;

use acs_wire::sign::{Credentials, SignableRequest, v3};
use acs_wire::sts::EcsRamRoleCredentials;
use fake_metadata::settings::DEFAULT_ROLE;
use proptest::prelude::*;
use serde_json::{Value, json};

/// (fake-acr?, method, path, the fields its body takes)
const ENDPOINTS: [(bool, &str, &str, &[&str]); 13] = [
    (
        false,
        "POST",
        "/faults",
        &[
            "path",
            "method",
            "kind",
            "status",
            "millis",
            "body",
            "count",
            "probability",
            "not_before",
            "not_after",
        ],
    ),
    (false, "PUT", "/clock", &["offset_seconds"]),
    (false, "PUT", "/hardened", &["mode"]),
    (false, "PUT", "/role", &["role"]),
    (false, "PUT", "/spot", &["termination_time"]),
    (
        false,
        "PUT",
        "/settings",
        &[
            "credential-lifetime",
            "rotation-lead-time",
            "request-log-capacity",
            "hardened",
            "role",
            "faults",
        ],
    ),
    (false, "DELETE", "/faults/1", &[]),
    (false, "POST", "/rotate", &[]),
    (
        true,
        "POST",
        "/faults",
        &[
            "action",
            "region",
            "path",
            "latency_ms",
            "status",
            "code",
            "drop",
            "throttle",
            "malformed",
            "count",
            "probability",
        ],
    ),
    (true, "PUT", "/clock", &["offset_secs"]),
    (true, "PUT", "/token-lifetime", &["secs"]),
    (
        true,
        "PUT",
        "/settings",
        &[
            "token_lifetime_secs",
            "bearer_lifetime_secs",
            "max_clock_skew_secs",
            "advertised_port",
            "regions",
            "instances",
            "faults",
        ],
    ),
    (true, "POST", "/reset", &[]),
];

/// Field names the admin bodies use.
const KEYS: &[&str] = &[
    "offset_secs",
    "offset_seconds",
    "secs",
    "mode",
    "role",
    "termination_time",
    "kind",
    "status",
    "millis",
    "count",
    "probability",
    "not_before",
    "not_after",
    "latency_ms",
    "code",
    "throttle",
    "token_lifetime_secs",
    "bearer_lifetime_secs",
    "max_clock_skew_secs",
    "credential-lifetime",
    "rotation-lead-time",
    "request-log-capacity",
    "faults",
    "regions",
    "instances",
    "hardened",
    "advertised_port",
];

fn boundary() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1)),
        Just(json!(3_155_760_000_i64)),
        Just(json!(3_155_760_001_i64)),
        Just(json!(315_360_001)),
        Just(json!(600_001)),
        Just(json!(99_999_999_999_999_i64)),
        Just(json!(1e308)),
        Just(json!("99999999999999d")),
        Just(json!("required")),
        Just(json!("latency")),
        Just(json!("status")),
        Just(json!("+262143-12-31T23:59:59Z")),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        boundary()
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|fields| {
                Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// A body for an endpoint taking `fields`: an object of its fields (or other admin fields),
/// any JSON value, or bytes that may not be JSON at all.
fn body(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let own = if fields.is_empty() { KEYS } else { fields };
    let key = prop_oneof![3 => prop::sample::select(own), 1 => prop::sample::select(KEYS)];
    prop_oneof![
        4 => prop::collection::vec((key, json_value()), 0..4).prop_map(|fields| {
            Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                .to_string()
                .into_bytes()
        }),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..32),
    ]
}

/// An endpoint and a body for it.
fn case() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (0..ENDPOINTS.len()).prop_flat_map(|e| (Just(e), body(ENDPOINTS[e].3)))
}

struct Fakes {
    metadata: fake_metadata::Running,
    metadata_settings: fake_metadata::Settings,
    acr: fake_acr::Running,
    acr_settings: fake_acr::Settings,
    http: reqwest::Client,
}

async fn start() -> Fakes {
    let metadata = fake_metadata::FakeMetadata::start(fake_metadata::Settings::default())
        .await
        .expect("fake-metadata starts");
    let acr = fake_acr::FakeAcr::start(fake_acr::Settings {
        plain_http: true,
        ..fake_acr::Settings::default()
    })
    .await
    .expect("fake-acr starts");
    let mut http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20));
    for h in acr.hosts() {
        http = http.resolve(&h, acr.addr());
    }
    Fakes {
        metadata_settings: metadata.admin().settings(),
        acr_settings: acr.admin().settings(),
        metadata,
        acr,
        http: http.build().unwrap(),
    }
}

/// The credentials GET: its status and, on 200, the credentials.
async fn credentials(f: &Fakes) -> Result<(u16, Option<Credentials>), reqwest::Error> {
    let r = f
        .http
        .get(format!(
            "{}/latest/meta-data/ram/security-credentials/{DEFAULT_ROLE}",
            f.metadata.base_url()
        ))
        .send()
        .await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    let creds = EcsRamRoleCredentials::parse(&text)
        .ok()
        .map(|c| Credentials {
            access_key_id: c.access_key_id,
            access_key_secret: c.access_key_secret,
            security_token: Some(c.security_token),
        });
    Ok((status, creds.filter(|_| status == 200)))
}

/// A V3-signed Enterprise Edition GetAuthorizationToken: its status.
async fn get_authorization_token(f: &Fakes, creds: &Credentials) -> Result<u16, reqwest::Error> {
    let host = format!("cr.cn-hangzhou.aliyuncs.com:{}", f.acr.addr().port());
    let mut req = SignableRequest::new("POST", &host, "/");
    req.query = vec![("InstanceId".into(), "cri-hzdemo0000000001".into())];
    req.set_header("x-acs-action", "GetAuthorizationToken");
    req.set_header("x-acs-version", "2018-12-01");
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    v3::sign_request(&mut req, creds, jiff::Timestamp::now(), &nonce);
    let mut rb = f
        .http
        .post(format!("http://{host}{}", req.path_and_query()));
    for (n, v) in &req.headers {
        rb = rb.header(n, v);
    }
    Ok(rb.send().await?.status().as_u16())
}

async fn admin_call(f: &Fakes, acr: bool, method: &str, path: &str, body: Vec<u8>) -> u16 {
    let base = if acr {
        f.acr.admin_url()
    } else {
        f.metadata.admin_url()
    };
    f.http
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the admin listener answers")
        .status()
        .as_u16()
}

async fn check(f: &Fakes, endpoint: usize, body: Vec<u8>) -> Result<(), TestCaseError> {
    let (acr, method, path, _) = ENDPOINTS[endpoint];
    let shown = String::from_utf8_lossy(&body).into_owned();
    let status = admin_call(f, acr, method, path, body).await;
    prop_assert!(
        (200..500).contains(&status),
        "{method} {path} {shown}: {status}"
    );
    // Fault rules may legitimately answer 5xx or drop; everything else must keep answering
    // below 500 whatever was accepted.
    if !path.starts_with("/faults") && !path.starts_with("/settings") {
        let (status, creds) = credentials(f).await.map_err(|e| {
            TestCaseError::fail(format!("{path} {shown}: credentials GET failed: {e}"))
        })?;
        prop_assert!(status < 500, "{path} {shown}: credentials GET {status}");
        let creds = creds.unwrap_or_else(|| Credentials {
            access_key_id: fake_acr::settings::DEFAULT_STATIC_ACCESS_KEY_ID.into(),
            access_key_secret: fake_acr::settings::DEFAULT_STATIC_ACCESS_KEY_SECRET.into(),
            security_token: None,
        });
        let status = get_authorization_token(f, &creds).await.map_err(|e| {
            TestCaseError::fail(format!("{path} {shown}: GetAuthorizationToken failed: {e}"))
        })?;
        prop_assert!(
            status < 500,
            "{path} {shown}: GetAuthorizationToken {status}"
        );
    }
    f.metadata
        .admin()
        .replace_settings(f.metadata_settings.clone())
        .expect("fake-metadata takes its start-up settings back");
    f.acr
        .admin()
        .replace_settings(f.acr_settings.clone())
        .expect("fake-acr takes its start-up settings back");
    let (status, creds) = credentials(f).await.expect("credentials GET answered");
    prop_assert_eq!(status, 200, "credentials GET after {} {}", path, shown);
    let creds = creds.expect("a credentials document");
    let status = get_authorization_token(f, &creds)
        .await
        .expect("GetAuthorizationToken answered");
    prop_assert_eq!(
        status,
        200,
        "GetAuthorizationToken after {} {}",
        path,
        shown
    );
    Ok(())
}

#[test]
fn any_admin_body_is_refused_or_accepted_and_the_fakes_keep_serving() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fakes = rt.block_on(start());
    proptest!(ProptestConfig::with_cases(128), |((endpoint, body) in case())| {
        rt.block_on(check(&fakes, endpoint, body))?;
    });
}
