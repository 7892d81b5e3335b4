//! Bad input never breaks fake-acr: admin values out of range, contradictory or unknown are
//! refused with a 400 naming the field, the value and the accepted range, nothing is stored, and
//! every service keeps answering; oversized request heads get 431 and oversized bodies 413.

mod support;

use fake_acr::settings::Settings;
use support::*;

async fn admin(w: &World, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    fake_server_kit::testing::admin_call(&w.fake.admin_url(), method, path, body).await
}

/// A signed GetAuthorizationToken (EE, V3) and a registry ping: (OpenAPI status, registry status).
async fn normal_calls(w: &World) -> (u16, u16) {
    let creds = sts_credentials("acr-node", w.fake.admin().now().as_second(), 3600);
    let r = send(
        w,
        &v3_request(
            w,
            "cn-hangzhou",
            "GetAuthorizationToken",
            &[("InstanceId", "cri-hzdemo0000000001")],
            &creds,
            w.fake.admin().now(),
            &nonce(),
        ),
    )
    .await;
    let ping = w
        .http
        .get(format!(
            "{}/v2/",
            w.fake.endpoint_for("registry.cn-hangzhou.aliyuncs.com")
        ))
        .send()
        .await
        .expect("the registry answers");
    (r.status, ping.status().as_u16())
}

/// The registry host the oversized heads are sent to.
const REGISTRY_HOST: &str = "registry.cn-hangzhou.aliyuncs.com";

#[tokio::test]
async fn an_absurd_clock_offset_is_refused_and_every_service_keeps_answering() {
    let w = start(Settings::default()).await;
    assert_eq!(normal_calls(&w).await, (200, 401));
    for value in [
        "9223372036854775807",
        "-9223372036854775808",
        "3155760001",
        "1.5",
        "\"1\"",
    ] {
        let body = format!(r#"{{"offset_secs": {value}}}"#);
        let answer = admin(&w, "PUT", "/clock", &body).await;
        fake_server_kit::testing::assert_refused(&answer, "offset_secs", &[value, "3155760000"]);
        assert_eq!(w.fake.admin().clock_offset_secs(), 0, "nothing stored");
        assert_eq!(normal_calls(&w).await, (200, 401), "after {value}");
    }
    let (status, body) = admin(&w, "PUT", "/clock", r#"{"offset_secs": -3155760000}"#).await;
    assert_eq!(status, 204, "the limit itself is accepted: {body}");
    assert_eq!(w.fake.admin().clock_offset_secs(), -3_155_760_000);
    assert_eq!(normal_calls(&w).await, (200, 401), "a century back");
}

#[tokio::test]
async fn every_admin_input_is_checked_and_refusals_change_nothing() {
    let w = start(Settings::default()).await;
    let before = w.fake.admin().settings();
    let refused = [
        (
            "PUT",
            "/token-lifetime",
            r#"{"secs": 99999999999999999999}"#,
            "",
            "secs",
        ),
        (
            "PUT",
            "/token-lifetime",
            r#"{"secs": 0}"#,
            "secs",
            "1..=315360000",
        ),
        ("PUT", "/token-lifetime", r#"{"secs": -1}"#, "secs", "-1"),
        (
            "PUT",
            "/token-lifetime",
            r#"{"secs": 5, "extra": 1}"#,
            "extra",
            "extra",
        ),
        (
            "POST",
            "/faults",
            r#"{"latency_ms": 18446744073709551615}"#,
            "fault.latency_ms",
            "600000",
        ),
        (
            "POST",
            "/faults",
            r#"{"status": 42}"#,
            "fault.status",
            "100..=599",
        ),
        (
            "POST",
            "/faults",
            r#"{"throttle": true, "count": 0}"#,
            "fault.count",
            "0",
        ),
        (
            "POST",
            "/faults",
            r#"{"probability": 1.5}"#,
            "fault.probability",
            "0.0..=1.0",
        ),
        (
            "POST",
            "/faults",
            r#"{"code": "X"}"#,
            "fault.code",
            "status",
        ),
        ("POST", "/faults", r#"{"colour": "red"}"#, "", "colour"),
        (
            "PUT",
            "/settings",
            r#"{"bearer_lifetime_secs": 0}"#,
            "bearer_lifetime_secs",
            "1..=",
        ),
        (
            "PUT",
            "/settings",
            r#"{"max_clock_skew_secs": 9223372036854775807}"#,
            "max_clock_skew_secs",
            "9223372036854775807",
        ),
        (
            "PUT",
            "/settings",
            r#"{"regions": [{"id": "cn-hangzhou"}, {"id": "cn-hangzhou"}], "instances": []}"#,
            "regions[1].id",
            "not already listed",
        ),
        (
            "PUT",
            "/settings",
            r#"{"faults": [{"status": 1000}]}"#,
            "faults[0].status",
            "1000",
        ),
        (
            "PUT",
            "/settings",
            r#"{"regions": [{"id": "cn-hangzhou", "personal_repositories": [{"name": "no-namespace"}]}], "instances": []}"#,
            "regions[0].personal_repositories[0].name",
            "namespace/name",
        ),
    ];
    fake_server_kit::testing::assert_admin_refusals(&w.fake.admin_url(), &refused).await;
    assert!(
        w.fake.admin().settings() == before,
        "no refusal changed a setting"
    );
    assert!(
        w.fake.admin().faults().is_empty(),
        "no refused rule was added"
    );
    assert_eq!(w.fake.admin().token_lifetime_secs(), 3600);
    assert_eq!(normal_calls(&w).await, (200, 401));
}

#[tokio::test]
async fn an_oversized_head_gets_431_and_an_oversized_body_413_on_both_listeners() {
    let w = start(plain_http()).await;
    let listeners = [w.fake.addr(), w.fake.admin_addr()];
    fake_server_kit::testing::assert_head_too_large(&listeners, REGISTRY_HOST, "/v2/").await;
    let big = "x".repeat(3 << 20);
    let (status, _) = admin(&w, "PUT", "/settings", &big).await;
    assert_eq!(status, 413, "admin body over the limit");
    let r = w
        .http
        .post(format!(
            "{}/",
            w.fake.endpoint_for("cr.cn-hangzhou.aliyuncs.com")
        ))
        .body(big)
        .send()
        .await
        .expect("the OpenAPI answers");
    assert_eq!(r.status().as_u16(), 413, "OpenAPI body over the limit");
    assert_eq!(normal_calls(&w).await, (200, 401), "still serving");
}
