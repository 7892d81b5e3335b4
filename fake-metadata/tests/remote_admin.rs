//! `RemoteAdmin` (feature `client`) against an in-process fake: every admin operation over HTTP,
//! and errors that name the URL and status but never a secret.

use std::time::Duration;

use fake_metadata::settings::{AccountSecret, REDACTED};
use fake_metadata::{
    FakeMetadata, FaultKind, FaultRule, HardenedMode, RemoteAdmin, Running, Settings,
};

const SECRET: &str = "remote-admin-secret-0001";

async fn start() -> (Running, RemoteAdmin) {
    let fake = FakeMetadata::start(Settings::default())
        .await
        .expect("fake-metadata starts");
    // A trailing slash is fine.
    let remote = RemoteAdmin::new(format!("{}/", fake.admin_url()));
    (fake, remote)
}

async fn get(fake: &Running, path: &str) -> u16 {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}{path}", fake.base_url()))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn wait_ready_answers_at_once_and_times_out_on_a_closed_port() {
    let (fake, remote) = start().await;
    assert_eq!(remote.base_url(), fake.admin_url());
    let state = remote.wait_ready(Duration::from_secs(5)).await.unwrap();
    assert_eq!(state.region_id, "cn-hangzhou");

    let probe = |url: String| async move {
        let nobody = RemoteAdmin::new(url);
        let ready = nobody.wait_ready(Duration::from_millis(500)).await;
        (ready.map(drop), nobody.state().await.map(drop))
    };
    fake_server_kit::testing::assert_gives_up(probe, "/state").await;
}

#[tokio::test]
async fn faults_requests_and_rotation() {
    let (fake, remote) = start().await;
    let rule = FaultRule::new(
        "/latest/meta-data/mac",
        FaultKind::Status {
            status: 500,
            body: "x".into(),
        },
    )
    .method("GET")
    .times(1);
    let id = remote.add_fault(&rule).await.unwrap();
    let faults = remote.faults().await.unwrap();
    assert_eq!(faults.len(), 1);
    assert_eq!((faults[0].id, &faults[0].rule), (id, &rule));
    assert_eq!(get(&fake, "/latest/meta-data/mac").await, 500);
    assert_eq!(remote.faults().await.unwrap()[0].fired, 1);
    assert!(remote.remove_fault(id).await.unwrap());
    assert!(!remote.remove_fault(id).await.unwrap(), "already gone");
    remote
        .add_fault(&FaultRule::new("*", FaultKind::Latency { millis: 1 }).probability(0.5))
        .await
        .unwrap();
    remote.clear_faults().await.unwrap();
    assert!(remote.faults().await.unwrap().is_empty());
    let err = remote
        .add_fault(&FaultRule::new("*", FaultKind::MissingCode).probability(3.0))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");

    let log = remote.requests().await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].path.as_str(), log[0].status),
        ("/latest/meta-data/mac", Some(500))
    );
    assert_eq!(log[0].faults, vec!["status"]);
    remote.clear_requests().await.unwrap();
    assert!(remote.requests().await.unwrap().is_empty());

    let first = remote.rotate().await.unwrap().expect("a role is attached");
    let second = remote.rotate().await.unwrap().unwrap();
    assert!(second.serial > first.serial);
    let state = remote.state().await.unwrap();
    assert_eq!(state.current.unwrap().access_key_id, second.access_key_id);
    assert_eq!(state.previous.unwrap().access_key_id, first.access_key_id);
    let state = remote.set_role(None).await.unwrap();
    assert_eq!(state.role, None);
    assert_eq!(
        remote.rotate().await.unwrap(),
        None,
        "no role: nothing to rotate"
    );
    let state = remote.set_role(Some("OtherRole")).await.unwrap();
    assert_eq!(state.role.as_deref(), Some("OtherRole"));
}

#[tokio::test]
async fn clock_mode_spot_and_reset() {
    let (fake, remote) = start().await;
    let state = remote
        .set_clock_offset(jiff::SignedDuration::from_hours(-2))
        .await
        .unwrap();
    assert_eq!(state.clock_offset_seconds, -7200);
    let state = remote.set_hardened(HardenedMode::Required).await.unwrap();
    assert_eq!(state.hardened, HardenedMode::Required);
    assert_eq!(get(&fake, "/latest/meta-data/mac").await, 401);
    remote.set_hardened(HardenedMode::Optional).await.unwrap();
    let path = "/latest/meta-data/instance/spot/termination-time";
    let state = remote
        .set_spot_termination(Some("2026-11-28T20:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        state.spot_termination_time.as_deref(),
        Some("2026-11-28T20:00:00Z")
    );
    assert_eq!(get(&fake, path).await, 200);
    remote.set_spot_termination(None).await.unwrap();
    assert_eq!(get(&fake, path).await, 404);
    remote.set_hardened(HardenedMode::Required).await.unwrap();
    let state = remote.reset().await.unwrap();
    assert_eq!(state.clock_offset_seconds, 0);
    assert_eq!(state.hardened, HardenedMode::Optional);
    assert_eq!(state.requests_logged, 0);
}

#[tokio::test]
async fn put_and_get_settings() {
    let (fake, remote) = start().await;
    let mut settings = Settings {
        account_secret: AccountSecret(SECRET.into()),
        role: Some("ScenarioRole".into()),
        credential_lifetime: Duration::from_secs(900),
        rotation_lead_time: Duration::from_secs(60),
        hardened: HardenedMode::Required,
        // Listener addresses are not sent: these would be refused.
        listen: "127.0.0.1:1".parse().unwrap(),
        admin_listen: "127.0.0.1:2".parse().unwrap(),
        faults: vec![FaultRule::new("/x", FaultKind::DropConnection)],
        ..Settings::default()
    };
    settings.instance.region_id = "cn-shenzhen".into();
    remote
        .set_clock_offset(jiff::SignedDuration::from_hours(1))
        .await
        .unwrap();
    let state = remote.put_settings(&settings).await.unwrap();
    assert_eq!(state.region_id, "cn-shenzhen");
    assert_eq!(state.clock_offset_seconds, 0);
    assert_eq!(state.faults.len(), 1);
    assert_eq!(fake.admin().settings().account_secret.0, SECRET);

    let running = remote.get_settings().await.unwrap();
    assert_eq!(running.account_secret.0, REDACTED);
    assert_eq!(running.listen, fake.local_addr());
    assert_eq!(running.admin_listen, fake.admin_addr());
    assert_eq!(running.credential_lifetime, Duration::from_secs(900));
    assert_eq!(running.faults, settings.faults);
    assert_eq!(running.instance, settings.instance);

    // A refusal names the URL, the status and the field, never the secret.
    settings.faults[0].probability = Some(7.0);
    let err = remote.put_settings(&settings).await.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.status(), Some(400));
    assert!(
        text.contains(&format!("PUT {}/settings", fake.admin_url())),
        "{text}"
    );
    assert!(text.contains("faults[0].probability"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(!format!("{err:?}").contains(SECRET));
    // The answer sent back (placeholder included) keeps the running secret.
    remote.put_settings(&running).await.unwrap();
    assert_eq!(fake.admin().settings().account_secret.0, SECRET);
}
