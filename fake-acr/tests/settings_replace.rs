//! Run-time world replacement through the admin API (`PUT /settings`, `GET /settings`): the
//! running fake behaves as if freshly started with the new settings, except for what a live
//! listener cannot change, and secrets never come back out.

mod support;

use acs_wire::sign::Credentials;
use fake_acr::settings::{AccessKey, Policy, Region, Settings};
use serde_json::json;
use support::*;

const NEW_KEY_ID: &str = "LTAI5tReplacedKey0001";
const NEW_KEY_SECRET: &str = "replaced-static-secret-424242";
const NEW_ACCOUNT_SECRET: &str = "replaced-account-secret-171717";

fn new_key() -> Credentials {
    Credentials {
        access_key_id: NEW_KEY_ID.into(),
        access_key_secret: NEW_KEY_SECRET.into(),
        security_token: None,
    }
}

/// One region (cn-hangzhou), one instance, a new key, a new account secret, a short lifetime.
fn scenario_settings() -> Settings {
    let mut s = Settings::default();
    s.regions.retain(|r| r.id == "cn-hangzhou");
    s.instances.retain(|i| i.region == "cn-hangzhou");
    s.account_secret = NEW_ACCOUNT_SECRET.into();
    s.access_keys = vec![AccessKey {
        id: NEW_KEY_ID.into(),
        secret: NEW_KEY_SECRET.into(),
        principal: "user/scenario".into(),
    }];
    s.policies = vec![Policy {
        principal: "user/scenario".into(),
        actions: vec!["cr:GetAuthorizationToken".into()],
    }];
    s.token_lifetime_secs = 120;
    s.faults = vec![fake_acr::FaultRule {
        action: Some("Registry.Ping".into()),
        status: Some(503),
        code: Some("UNAVAILABLE".into()),
        ..Default::default()
    }];
    s
}

async fn list_instance(w: &World, creds: &Credentials) -> Reply {
    send(
        w,
        &v3_request(
            w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            creds,
            w.fake.admin().now(),
            &nonce(),
        ),
    )
    .await
}

/// `PUT /settings` with `body`: the status and the JSON answer.
async fn put(base: &str, body: &str) -> (u16, serde_json::Value) {
    fake_server_kit::testing::admin_call(base, "PUT", "/settings", body).await
}

#[tokio::test]
async fn put_settings_makes_the_fake_serve_the_new_world() {
    let w = start(Settings::default()).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = w.fake.admin_url();
    // State of the first world: a password, a log entry, a clock offset.
    let (user, old_password, _) = personal_token(&w, "cn-hangzhou", &static_credentials()).await;
    w.fake.admin().set_clock_offset_secs(42);
    assert!(!w.fake.admin().log().is_empty());

    let body = serde_json::to_string(&scenario_settings()).unwrap();
    let (status, answer) = put(&base, &body).await;
    assert_eq!(status, 200, "{answer}");
    let hosts: Vec<String> = serde_json::from_value(answer["hosts"].clone()).unwrap();
    assert_eq!(hosts, w.fake.hosts());
    assert!(hosts.contains(&"cr.cn-hangzhou.aliyuncs.com".to_owned()));
    assert!(!hosts.iter().any(|h| h.contains("cn-beijing")), "{hosts:?}");
    assert_eq!(w.fake.admin().clock_offset_secs(), 0);
    assert!(w.fake.admin().log().is_empty(), "the log starts empty");
    assert_eq!(w.fake.admin().token_lifetime_secs(), 120);
    assert_eq!(w.fake.admin().faults(), scenario_settings().faults);

    // The old AccessKey is gone, the new one works with the new policy and lifetime.
    let r = list_instance(&w, &static_credentials()).await;
    assert_eq!((r.status, r.code()), (404, "InvalidAccessKeyId.NotFound"));
    let r = list_instance(&w, &new_key()).await;
    assert_eq!((r.status, r.code()), (403, "Forbidden.RAM"), "{}", r.body);
    let (_, new_password, exp) =
        ee_token(&w, "cn-hangzhou", "cri-hzdemo0000000001", &new_key()).await;
    let lifetime_ms = exp - w.fake.admin().now().as_millisecond();
    assert!((110_000..=120_000).contains(&lifetime_ms), "{lifetime_ms}");
    // STS credentials signed with the old account secret no longer validate.
    let old_sts = sts_credentials("acr-node", w.fake.admin().now().as_second(), 3600);
    let r = list_instance(&w, &old_sts).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidSecurityToken.Malformed")
    );
    // A registry password of the old world is refused: its keys came from the old secret.
    let registry = w.fake.endpoint_for("registry.cn-hangzhou.aliyuncs.com");
    let r = w
        .http
        .get(format!("{registry}/v2/demo/private-app/manifests/latest"))
        .basic_auth(&user, Some(&old_password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let ee = w
        .fake
        .endpoint_for("demo-hz-registry.cn-hangzhou.cr.aliyuncs.com");
    // The new policy has no cr:PullRepository.
    let r = w
        .http
        .get(format!("{ee}/v2/team/private-app/manifests/latest"))
        .basic_auth("cr_temp_user", Some(&new_password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The body's fault is active; cn-beijing is no longer served.
    let r = w.http.get(format!("{registry}/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let r = w
        .http
        .get(format!(
            "{}/v2/",
            w.fake.endpoint_for("registry.cn-beijing.aliyuncs.com")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["Code"], "InvalidHost");

    // GET /settings: the running settings, secrets redacted.
    let text = http
        .get(format!("{base}/settings"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in [NEW_KEY_SECRET, NEW_ACCOUNT_SECRET] {
        assert!(
            !text.contains(secret),
            "GET /settings shows a secret: {text}"
        );
    }
    let shown: Settings = serde_json::from_str(&text).expect("GET /settings parses as Settings");
    assert_eq!(shown.account_secret, "<redacted>");
    assert_eq!(shown.access_keys[0].secret, "<redacted>");
    assert_eq!(shown.access_keys[0].id, NEW_KEY_ID);
    assert_eq!(shown.token_lifetime_secs, 120);
    assert_eq!(shown.listen, w.fake.addr());
    // Round trip: the redacted document PUT back keeps the running secrets.
    let (status, answer) = put(&base, &text).await;
    assert_eq!(status, 200, "{answer}");
    ee_token(&w, "cn-hangzhou", "cri-hzdemo0000000001", &new_key()).await;
}

#[tokio::test]
async fn put_settings_refusals_name_the_reason_and_change_nothing() {
    let w = start(Settings::default()).await;
    let base = w.fake.admin_url();
    let before = w.fake.admin().settings();

    let (status, answer) = put(&base, r#"{"listen": "0.0.0.0:8443"}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "listen");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("listen") && error.contains("live listener"),
        "{error}"
    );
    let (status, answer) = put(&base, r#"{"plain_http": true}"#).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("plain_http"))
    );

    let mut more = Settings::default();
    more.regions.push(Region {
        id: "cn-shanghai".into(),
        personal_repositories: vec![],
    });
    let (status, answer) = put(&base, &serde_json::to_string(&more).unwrap()).await;
    assert_eq!(status, 400, "{answer}");
    let hosts: Vec<String> = serde_json::from_value(answer["hosts"].clone()).unwrap();
    assert!(hosts.contains(&"dockerauth.cn-shanghai.aliyuncs.com".to_owned()));
    assert!(answer["error"].as_str().unwrap().contains("certificate"));

    let (status, answer) = put(&base, r#"{"token_lifetim": 5}"#).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("token_lifetim"),
        "{answer}"
    );
    let (status, answer) = put(&base, r#"{"token_lifetime_secs": 0}"#).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("token_lifetime_secs")
    );
    let (status, answer) = put(&base, "{not json").await;
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("not JSON"));
    // A secret of the wrong type is named by serde in its error; it must not come back.
    let body = json!({"account_secret": 987_654_321, "access_keys": [{"id": "k", "secret": ["s3cr3t-value"], "principal": "user/x"}]});
    let (status, answer) = put(&base, &body.to_string()).await;
    assert_eq!(status, 400);
    let error = answer.to_string();
    assert!(!error.contains("987654321"), "{error}");
    let body = json!({"access_keys": [{"id": "k", "secret": 31337, "principal": "user/x"}]});
    let (status, answer) = put(&base, &body.to_string()).await;
    assert_eq!(status, 400);
    assert!(!answer.to_string().contains("31337"), "{answer}");

    assert!(w.fake.admin().settings() == before, "nothing changed");
    let r = list_instance(&w, &static_credentials()).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn plain_http_fakes_take_new_host_names() {
    let fake = fake_acr::FakeAcr::start(plain_http()).await.unwrap();
    let mut more = Settings::default();
    more.regions.push(Region {
        id: "cn-shanghai".into(),
        personal_repositories: vec![],
    });
    fake.replace_settings(more)
        .expect("no certificate to cover");
    let host = "registry.cn-shanghai.aliyuncs.com";
    assert!(fake.hosts().contains(&host.to_owned()));
    let http = reqwest::Client::builder()
        .no_proxy()
        .resolve(host, fake.addr())
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/v2/", fake.endpoint_for(host)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("dockerauth.cn-shanghai.aliyuncs.com"),
        "{challenge}"
    );
}
