//! Bad input never breaks fake-metadata: admin values out of range, contradictory or unknown are
//! refused with a 400 naming the field, the value and the accepted range, nothing is stored, and
//! the fake keeps serving; oversized request heads get 431 and oversized bodies 413.

use std::time::Duration;

use fake_metadata::settings::DEFAULT_ROLE;
use fake_metadata::{FakeMetadata, Running, Settings};

const CREDS: &str = "/latest/meta-data/ram/security-credentials/";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn start() -> Running {
    FakeMetadata::start(Settings::default())
        .await
        .expect("fake-metadata starts")
}

async fn admin(fake: &Running, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    fake_server_kit::testing::admin_call(&fake.admin_url(), method, path, body).await
}

async fn credentials_status(fake: &Running) -> u16 {
    client()
        .get(format!("{}{CREDS}{DEFAULT_ROLE}", fake.base_url()))
        .send()
        .await
        .expect("the metadata listener answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_absurd_clock_offset_is_refused_and_the_fake_keeps_serving() {
    let fake = start().await;
    for (value, text) in [
        ("99999999999999", "99999999999999"),
        ("9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("1e300", "1e+300"),
    ] {
        let body = format!(r#"{{"offset_seconds": {value}}}"#);
        let answer = admin(&fake, "PUT", "/clock", &body).await;
        fake_server_kit::testing::assert_refused(&answer, "offset_seconds", &[text, "3155760000"]);
        assert_eq!(
            fake.admin().state().clock_offset_seconds,
            0,
            "nothing stored"
        );
        assert_eq!(credentials_status(&fake).await, 200);
    }
    // The limit itself is accepted, and credentials are still served from that far future.
    let (status, body) = admin(&fake, "PUT", "/clock", r#"{"offset_seconds": 3155760000}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(credentials_status(&fake).await, 200);
    let (status, body) = admin(&fake, "PUT", "/clock", r#"{"offset_secs": 1}"#).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["field"], "offset_secs",
        "an unknown field is named: {body}"
    );
}

#[tokio::test]
async fn every_admin_input_is_checked_and_refusals_change_nothing() {
    let fake = start().await;
    let before = fake.admin().settings();
    let refused = [
        (
            "PUT",
            "/hardened",
            r#"{"mode": "sometimes"}"#,
            "mode",
            "sometimes",
        ),
        ("PUT", "/hardened", r#"{}"#, "mode", "missing"),
        ("PUT", "/role", r#"{"role": "a/b"}"#, "role", "a/b"),
        ("PUT", "/role", r#"{"role": ""}"#, "role", "1 to 64"),
        ("PUT", "/role", r#"{"role": 7}"#, "role", "7"),
        (
            "PUT",
            "/spot",
            r#"{"termination_time": "soon"}"#,
            "termination_time",
            "soon",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind": "latency", "millis": 18446744073709551615}"#,
            "fault.millis",
            "600000",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind": "status", "status": 1000}"#,
            "fault.status",
            "100..=599",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind": "drop_connection", "count": 0}"#,
            "fault.count",
            "1..=",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind": "drop_connection", "not_before": "2030-01-01T00:00:00Z", "not_after": "2029-01-01T00:00:00Z"}"#,
            "fault.not_after",
            "not_before",
        ),
        (
            "PUT",
            "/settings",
            r#"{"credential-lifetime": "2562047h"}"#,
            "credential-lifetime",
            "2562047h",
        ),
        (
            "PUT",
            "/settings",
            r#"{"credential-lifetime": "1h", "rotation-lead-time": "2h"}"#,
            "rotation-lead-time",
            "shorter than credential-lifetime",
        ),
        (
            "PUT",
            "/settings",
            r#"{"credential-lifetime": "0"}"#,
            "credential-lifetime",
            "1s..=",
        ),
        (
            "PUT",
            "/settings",
            r#"{"request-log-capacity": 18446744073709551615}"#,
            "request-log-capacity",
            "1000000",
        ),
    ];
    fake_server_kit::testing::assert_admin_refusals(&fake.admin_url(), &refused).await;
    assert_eq!(
        fake.admin().settings(),
        before,
        "no refusal changed a setting"
    );
    assert!(
        fake.admin().faults().is_empty(),
        "no refused rule was installed"
    );
    assert_eq!(credentials_status(&fake).await, 200);
}

#[tokio::test]
async fn an_oversized_head_gets_431_and_an_oversized_body_413_on_both_listeners() {
    let fake = start().await;
    let listeners = [fake.local_addr(), fake.admin_addr()];
    fake_server_kit::testing::assert_head_too_large(&listeners, "x", "/latest/meta-data/").await;
    let big = format!(r#"{{"role": "{}"}}"#, "r".repeat(3 << 20));
    let (status, _) = admin(&fake, "PUT", "/role", &big).await;
    assert_eq!(status, 413);
    assert_eq!(credentials_status(&fake).await, 200, "still serving");
}
