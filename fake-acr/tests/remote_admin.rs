//! `RemoteAdmin` (feature `client`) against a fake-acr running in-process: every admin call,
//! and errors that name the URL and the reason but never a secret.

mod support;

use std::time::Duration;

use fake_acr::settings::{AccessKey, Settings};
use fake_acr::{FaultRule, RemoteAdmin};
use support::*;

#[tokio::test]
async fn remote_admin_drives_every_admin_call() {
    let w = start(Settings::default()).await;
    let remote = RemoteAdmin::new(format!("{}/", w.fake.admin_url()));
    remote.wait_ready(Duration::from_secs(10)).await.unwrap();
    remote.healthz().await.unwrap();

    let rule = FaultRule {
        action: Some("ListInstance".into()),
        status: Some(500),
        code: Some("InternalError".into()),
        count: Some(1),
        ..Default::default()
    };
    remote.add_fault(&rule).await.unwrap();
    assert_eq!(remote.faults().await.unwrap(), vec![rule.clone()]);
    assert_eq!(w.fake.admin().faults(), vec![rule]);
    remote.clear_faults().await.unwrap();
    assert!(w.fake.admin().faults().is_empty());

    personal_token(&w, "cn-beijing", &static_credentials()).await;
    let log = remote.log().await.unwrap();
    assert_eq!(log, w.fake.admin().log());
    assert_eq!(log.last().unwrap().action, "GetAuthorizationToken");
    remote.clear_log().await.unwrap();
    assert!(remote.log().await.unwrap().is_empty());

    remote.set_clock_offset_secs(-120).await.unwrap();
    assert_eq!(w.fake.admin().clock_offset_secs(), -120);
    remote.set_token_lifetime_secs(33).await.unwrap();
    assert_eq!(w.fake.admin().token_lifetime_secs(), 33);
    remote.reset().await.unwrap();
    assert_eq!(
        (
            w.fake.admin().clock_offset_secs(),
            w.fake.admin().token_lifetime_secs()
        ),
        (0, 3600)
    );

    assert_eq!(remote.ca_pem().await.unwrap(), w.fake.ca_pem());
    assert!(remote.ca_pem().await.unwrap().contains("BEGIN CERTIFICATE"));
    assert_eq!(remote.hosts().await.unwrap(), w.fake.hosts());

    let running = remote.get_settings().await.unwrap();
    assert_eq!(running.account_secret, "<redacted>");
    assert_eq!(running.listen, w.fake.addr());

    // A scenario's settings: kept listener fields, a fresh secret, fewer regions.
    let mut scenario = Settings {
        listen: running.listen,
        admin_listen: running.admin_listen,
        account_secret: "scenario-secret-5150".into(),
        token_lifetime_secs: 90,
        ..Settings::default()
    };
    scenario.regions.retain(|r| r.id == "cn-beijing");
    scenario.instances.retain(|i| i.region == "cn-beijing");
    let hosts = remote.put_settings(&scenario).await.unwrap();
    assert_eq!(hosts, w.fake.hosts());
    assert!(hosts.iter().all(|h| h.contains("cn-beijing")), "{hosts:?}");
    assert_eq!(w.fake.admin().token_lifetime_secs(), 90);
    assert_eq!(
        w.fake.admin().settings().account_secret,
        "scenario-secret-5150"
    );
}

#[tokio::test]
async fn remote_admin_errors_name_the_url_and_reason_not_secrets() {
    let w = start(Settings::default()).await;
    let remote = RemoteAdmin::new(w.fake.admin_url());
    let secret = "never-show-this-secret-8086";
    let refused = Settings {
        plain_http: true,
        access_keys: vec![AccessKey {
            id: "LTAIrefused".into(),
            secret: secret.into(),
            principal: "user/x".into(),
        }],
        ..Settings::default()
    };
    let err = remote.put_settings(&refused).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}/settings", w.fake.admin_url())),
        "{text}"
    );
    assert!(text.contains("plain_http"), "{text}");
    assert!(!text.contains(secret), "{text}");
    assert!(!format!("{err:?}").contains(secret));

    // Nothing listens: wait_ready gives up at its deadline with the last failure.
    let gone = |url: String| async move {
        let remote = RemoteAdmin::new(url);
        let ready = remote.wait_ready(Duration::from_millis(500)).await;
        (ready, remote.log().await.map(drop))
    };
    fake_server_kit::testing::assert_gives_up(gone, "/log").await;
}
