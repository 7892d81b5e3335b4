//! Run-time settings: `PUT /settings` and `Admin::replace_settings` make new start-up settings and
//! reset to them as if freshly started; listeners cannot move; `GET /settings` hides the secret.

use std::time::Duration;

use acs_wire::sts::{self, EcsRamRoleCredentials};
use fake_metadata::settings::{AccountSecret, DEFAULT_ROLE, REDACTED};
use fake_metadata::{FakeMetadata, FaultKind, FaultRule, HardenedMode, Running, Settings};

const CREDS: &str = "/latest/meta-data/ram/security-credentials/";
const SCENARIO_SECRET: &str = "scenario-secret-0001";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn start() -> Running {
    FakeMetadata::start(Settings::default())
        .await
        .expect("fake-metadata starts")
}

async fn get(fake: &Running, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client().get(format!("{}{path}", fake.base_url()));
    if let Some(token) = token {
        request = request.header("x-aliyun-ecs-metadata-token", token);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn token(fake: &Running) -> String {
    let r = client()
        .put(format!("{}/latest/api/token", fake.base_url()))
        .header("x-aliyun-ecs-metadata-token-ttl-seconds", "600")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn put_settings(fake: &Running, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = client()
        .put(format!("{}/settings", fake.admin_url()))
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get_settings(fake: &Running) -> serde_json::Value {
    client()
        .get(format!("{}/settings", fake.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A scenario's settings in the config-file format (listeners left out).
fn scenario() -> serde_json::Value {
    serde_json::json!({
        "account-secret": SCENARIO_SECRET,
        "account-id": "5555666677778888",
        "role": "ScenarioRole",
        "hardened": "required",
        "credential-lifetime": "1h",
        "rotation-lead-time": "10m",
        "instance": { "region-id": "cn-beijing" },
        "faults": [
            { "path": "/latest/meta-data/mac", "kind": "status", "status": 503, "body": "busy", "count": 1 }
        ],
    })
}

#[tokio::test]
async fn put_settings_resets_to_them_as_if_freshly_started() {
    let fake = start().await;
    let admin = fake.admin();
    // Dirty every piece of state first.
    let old_token = token(&fake).await;
    assert_eq!(
        get(&fake, &format!("{CREDS}{DEFAULT_ROLE}"), None).await.0,
        200
    );
    admin.add_fault(FaultRule::new("/nowhere", FaultKind::DropConnection));
    admin.set_clock_offset(jiff::SignedDuration::from_hours(3));
    admin.set_spot_termination(Some("2026-11-28T20:00:00Z".into()));

    let (status, state) = put_settings(&fake, &scenario()).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["clock_offset_seconds"], 0);
    assert_eq!(state["requests_logged"], 0);
    assert_eq!(state["current"], serde_json::Value::Null);
    assert_eq!(state["previous"], serde_json::Value::Null);
    assert_eq!(state["hardened"], "required");
    assert_eq!(state["role"], "ScenarioRole");
    assert_eq!(state["region_id"], "cn-beijing");
    assert_eq!(state["spot_termination_time"], serde_json::Value::Null);
    let faults = state["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 1, "only the scenario's start-up fault");
    assert_eq!(faults[0]["path"], "/latest/meta-data/mac");

    // Hardened mode required, and tokens of before are unknown (new token key).
    assert_eq!(get(&fake, "/latest/meta-data/region-id", None).await.0, 401);
    assert_eq!(
        get(&fake, "/latest/meta-data/region-id", Some(&old_token))
            .await
            .0,
        401
    );
    let token = token(&fake).await;
    let tok = Some(token.as_str());
    assert_eq!(
        get(&fake, "/latest/meta-data/region-id", tok).await,
        (200, "cn-beijing".into())
    );
    assert_eq!(
        get(&fake, "/latest/meta-data/mac", tok).await,
        (503, "busy".into())
    );
    assert_eq!(get(&fake, CREDS, tok).await, (200, "ScenarioRole".into()));
    let (status, body) = get(&fake, &format!("{CREDS}ScenarioRole"), tok).await;
    assert_eq!(status, 200);
    let doc = EcsRamRoleCredentials::parse(&body).unwrap();
    let (claims, _) = sts::validate(SCENARIO_SECRET, &doc.access_key_id, &doc.security_token)
        .expect("signed with the scenario's secret");
    assert_eq!(claims.account_id, "5555666677778888");
    assert_eq!(claims.expires_at - claims.issued_at, 3600);
    assert!(
        sts::validate(
            sts::DEFAULT_ACCOUNT_SECRET,
            &doc.access_key_id,
            &doc.security_token
        )
        .is_err()
    );

    // Reset goes back to the replaced settings, not to the first start-up ones.
    admin.set_hardened(HardenedMode::Optional);
    admin.reset();
    let state = admin.state();
    assert_eq!(state.hardened, HardenedMode::Required);
    assert_eq!(state.region_id, "cn-beijing");
    assert_eq!(state.faults.len(), 1);
}

#[tokio::test]
async fn put_settings_refuses_moving_listeners_and_bad_values_and_changes_nothing() {
    let fake = start().await;
    let mut body = scenario();
    body["listen"] = "127.0.0.1:1".into();
    let (status, error) = put_settings(&fake, &body).await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "listen");
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains(&fake.local_addr().to_string()),
        "{message}"
    );

    let mut body = scenario();
    body["admin-listen"] = "127.0.0.1:1".into();
    assert_eq!(put_settings(&fake, &body).await.1["field"], "admin-listen");

    let mut body = scenario();
    body["faults"][0]["probability"] = 2.0.into();
    assert_eq!(
        put_settings(&fake, &body).await.1["field"],
        "faults[0].probability"
    );

    let mut body = scenario();
    body["region"] = "cn-beijing".into();
    let (status, error) = put_settings(&fake, &body).await;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("region"),
        "{error}"
    );

    let mut body = scenario();
    body["credential-lifetime"] = SCENARIO_SECRET.into();
    let (status, error) = put_settings(&fake, &body).await;
    assert_eq!(status, 400);
    assert!(!error.to_string().contains(SCENARIO_SECRET), "{error}");

    let (status, _) = put_settings(&fake, &serde_json::json!("not settings")).await;
    assert_eq!(status, 400);

    // Nothing changed.
    let state = fake.admin().state();
    assert_eq!(state.region_id, "cn-hangzhou");
    assert_eq!(state.hardened, HardenedMode::Optional);

    // The running addresses, bound or as configured, are accepted.
    for listen in [fake.local_addr().to_string(), "127.0.0.1:0".to_owned()] {
        let mut body = scenario();
        body["listen"] = listen.clone().into();
        body["admin-listen"] = fake.admin_addr().to_string().into();
        assert_eq!(put_settings(&fake, &body).await.0, 200, "{listen}");
    }
}

#[tokio::test]
async fn get_settings_shows_the_settings_in_force_without_the_secret() {
    let fake = start().await;
    assert_eq!(put_settings(&fake, &scenario()).await.0, 200);
    fake.admin().set_role(None);
    let settings = get_settings(&fake).await;
    let text = settings.to_string();
    assert!(!text.contains(SCENARIO_SECRET), "{text}");
    assert_eq!(settings["account-secret"], REDACTED);
    assert_eq!(settings["listen"], fake.local_addr().to_string());
    assert_eq!(settings["admin-listen"], fake.admin_addr().to_string());
    assert_eq!(
        settings["role"],
        serde_json::Value::Null,
        "run-time change shown"
    );
    assert_eq!(settings["credential-lifetime"], "1h");
    assert_eq!(settings["instance"]["region-id"], "cn-beijing");
    // The answer reads back as settings: sent back as is (placeholder included), the running
    // secret is kept and nothing changes.
    assert_eq!(put_settings(&fake, &settings).await.0, 200);
    assert_eq!(get_settings(&fake).await, settings);
    let (status, body) = get(&fake, CREDS, None).await;
    assert_eq!(status, 401, "hardened mode still required: {body}");
    fake.admin().set_role(Some("ScenarioRole".into()));
    fake.admin().set_hardened(HardenedMode::Optional);
    let (_, body) = get(&fake, &format!("{CREDS}ScenarioRole"), None).await;
    let doc = EcsRamRoleCredentials::parse(&body).unwrap();
    assert!(sts::validate(SCENARIO_SECRET, &doc.access_key_id, &doc.security_token).is_ok());
}

#[tokio::test]
async fn in_process_replace_settings() {
    let fake = start().await;
    let admin = fake.admin();
    let mut settings = admin.settings();
    assert_eq!(settings.listen, fake.local_addr());
    settings.instance.region_id = "cn-shanghai".into();
    settings.account_secret = AccountSecret(SCENARIO_SECRET.into());
    admin.set_clock_offset(jiff::SignedDuration::from_mins(5));
    admin.replace_settings(settings.clone()).unwrap();
    let state = admin.state();
    assert_eq!(
        (state.region_id.as_str(), state.clock_offset_seconds),
        ("cn-shanghai", 0)
    );
    assert_eq!(admin.settings().account_secret.0, SCENARIO_SECRET);

    let moved = Settings {
        admin_listen: "127.0.0.1:1".parse().unwrap(),
        ..settings
    };
    let err = admin.replace_settings(moved).unwrap_err();
    assert_eq!(err.field(), Some("admin-listen"));
    assert!(!err.to_string().contains(SCENARIO_SECRET));
    // The library default (127.0.0.1:0) is what this fake was configured with: accepted.
    admin.replace_settings(Settings::default()).unwrap();
    assert_eq!(admin.state().region_id, "cn-hangzhou");
}
