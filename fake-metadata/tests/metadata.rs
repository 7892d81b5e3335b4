//! fake-metadata over real HTTP: every path, both hardened modes, rotation, each fault kind,
//! absolute-form targets and the admin API (in-process handle and HTTP).

use std::time::Duration;

use acs_wire::sts::{self, DEFAULT_ACCOUNT_SECRET, EcsRamRoleCredentials};
use fake_metadata::settings::DEFAULT_ROLE;
use fake_metadata::{FakeMetadata, FaultKind, FaultRule, HardenedMode, Running, Settings};

const CREDS: &str = "/latest/meta-data/ram/security-credentials/";

async fn start(settings: Settings) -> Running {
    FakeMetadata::start(settings)
        .await
        .expect("fake-metadata starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get(fake: &Running, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("{}{path}", fake.base_url()))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_with_token(fake: &Running, path: &str, token: &str) -> (u16, String) {
    let r = client()
        .get(format!("{}{path}", fake.base_url()))
        .header("x-aliyun-ecs-metadata-token", token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn put_token(fake: &Running, ttl: Option<&str>) -> (u16, String) {
    let mut req = client().put(format!("{}/latest/api/token", fake.base_url()));
    if let Some(ttl) = ttl {
        // Mixed case on purpose: header names are case-insensitive.
        req = req.header("X-aliyun-ecs-metadata-token-ttl-seconds", ttl);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn credentials(fake: &Running) -> EcsRamRoleCredentials {
    let (status, body) = get(fake, &format!("{CREDS}{DEFAULT_ROLE}")).await;
    assert_eq!(status, 200);
    EcsRamRoleCredentials::parse(&body).unwrap()
}

#[tokio::test]
async fn every_metadata_path_serves_its_configured_value() {
    let mut settings = Settings::default();
    settings.instance.user_data = "#!/bin/sh\necho hi\n".into();
    let fake = start(settings.clone()).await;
    let i = &settings.instance;
    let expected = [
        ("region-id", i.region_id.clone()),
        ("zone-id", "cn-hangzhou-h".to_owned()),
        ("instance-id", i.instance_id.clone()),
        ("owner-account-id", sts::DEFAULT_ACCOUNT_ID.to_owned()),
        ("hostname", i.hostname.clone()),
        ("image-id", i.image_id.clone()),
        ("serial-number", i.serial_number.clone()),
        ("source-address", i.source_address.clone()),
        ("instance/instance-type", i.instance_type.clone()),
        ("instance/instance-name", i.instance_name.clone()),
        ("vpc-id", i.vpc_id.clone()),
        ("vpc-cidr-block", i.vpc_cidr_block.clone()),
        ("vswitch-id", i.vswitch_id.clone()),
        ("vswitch-cidr-block", i.vswitch_cidr_block.clone()),
        ("private-ipv4", i.private_ipv4.clone()),
        ("public-ipv4", i.public_ipv4.clone()),
        ("eipv4", i.eipv4.clone()),
        ("network-type", i.network_type.clone()),
        ("mac", i.mac.clone()),
        ("dns-conf/nameservers", i.nameservers.join("\n")),
        ("ntp-conf/ntp-servers", i.ntp_servers.join("\n")),
    ];
    for (path, value) in expected {
        assert_eq!(
            get(&fake, &format!("/latest/meta-data/{path}")).await,
            (200, value),
            "{path}"
        );
    }
    assert_eq!(
        get(&fake, "/latest/meta-data/region-id").await.1,
        "cn-hangzhou"
    );
    assert_eq!(
        get(&fake, "/latest/user-data").await,
        (200, i.user_data.clone())
    );
    let (status, doc) = get(&fake, "/latest/dynamic/instance-identity/document").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["instance-id"], i.instance_id.as_str());
    assert_eq!(doc["zone-id"], "cn-hangzhou-h");
    assert_eq!(doc["private-ip"], i.private_ipv4.as_str());
    assert_eq!(doc["account-id"], sts::DEFAULT_ACCOUNT_ID);

    // Directories list their children, one per line, subdirectories with a slash.
    let (status, listing) = get(&fake, "/latest/meta-data/").await;
    assert_eq!(status, 200);
    for child in [
        "region-id",
        "instance/",
        "ram/",
        "dns-conf/",
        "ntp-conf/",
        "mac",
    ] {
        assert!(
            listing.lines().any(|l| l == child),
            "{child} missing from {listing}"
        );
    }
    assert_eq!(
        get(&fake, "/latest/").await,
        (200, "dynamic/\nmeta-data/\nuser-data".into())
    );
    assert_eq!(
        get(&fake, "/latest/meta-data/instance/").await.1,
        "instance-name\ninstance-type"
    );
    assert_eq!(get(&fake, CREDS).await, (200, DEFAULT_ROLE.to_owned()));

    // Unknown paths: 404 with the real server's XHTML page.
    let (status, body) = get(&fake, "/latest/meta-data/no-such-thing").await;
    assert_eq!(status, 404);
    assert!(
        body.contains("<title>404 - Not Found</title>")
            && body.contains("<h1>404 - Not Found</h1>")
    );
}

#[tokio::test]
async fn spot_termination_time_is_404_until_scheduled() {
    let fake = start(Settings::default()).await;
    let path = "/latest/meta-data/instance/spot/termination-time";
    assert_eq!(get(&fake, path).await.0, 404);
    fake.admin()
        .set_spot_termination(Some("2026-11-28T20:00:00Z".into()));
    assert_eq!(get(&fake, path).await, (200, "2026-11-28T20:00:00Z".into()));
    assert_eq!(
        get(&fake, "/latest/meta-data/instance/spot/").await.1,
        "termination-time"
    );
}

#[tokio::test]
async fn credentials_document_has_the_real_layout_and_validates() {
    let fake = start(Settings::default()).await;
    let (status, body) = get(&fake, &format!("{CREDS}{DEFAULT_ROLE}")).await;
    assert_eq!(status, 200);
    let doc = EcsRamRoleCredentials::parse(&body).unwrap();
    assert_eq!(body, doc.render(), "exact real layout");
    let keys: Vec<&str> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"').and_then(|l| l.split('"').next()))
        .collect();
    assert_eq!(
        keys,
        [
            "AccessKeyId",
            "AccessKeySecret",
            "Expiration",
            "SecurityToken",
            "LastUpdated",
            "Code"
        ]
    );
    assert_eq!(doc.code.as_deref(), Some("Success"));
    let expiration = sts::parse_ecs_time(&doc.expiration).unwrap();
    let last_updated = sts::parse_ecs_time(&doc.last_updated).unwrap();
    assert_eq!(expiration.as_second() - last_updated.as_second(), 6 * 3600);
    let (claims, secret) = sts::validate(
        DEFAULT_ACCOUNT_SECRET,
        &doc.access_key_id,
        &doc.security_token,
    )
    .unwrap();
    assert_eq!(secret, doc.access_key_secret);
    assert_eq!(claims.role, DEFAULT_ROLE);
    assert_eq!(claims.account_id, sts::DEFAULT_ACCOUNT_ID);
    // Same credentials until rotation is due.
    assert_eq!(credentials(&fake).await, doc);

    let (status, body) = get(&fake, &format!("{CREDS}SomeOtherRole")).await;
    assert_eq!(status, 404);
    assert!(body.contains("404 - Not Found"));
}

#[tokio::test]
async fn no_role_attached_is_404_on_the_listing() {
    let fake = start(Settings {
        role: None,
        ..Settings::default()
    })
    .await;
    assert_eq!(get(&fake, CREDS).await.0, 404);
    assert_eq!(get(&fake, &format!("{CREDS}{DEFAULT_ROLE}")).await.0, 404);
    assert!(fake.admin().rotate().is_none());
}

#[tokio::test]
async fn rotation_by_lead_time_clock_offset_and_force() {
    let settings = Settings {
        credential_lifetime: Duration::from_secs(3600),
        rotation_lead_time: Duration::from_secs(600),
        ..Settings::default()
    };
    let fake = start(settings).await;
    let admin = fake.admin();
    let first = credentials(&fake).await;
    admin.set_clock_offset(jiff::SignedDuration::from_secs(3000 - 5));
    assert_eq!(
        credentials(&fake).await,
        first,
        "not yet within the lead time"
    );
    admin.set_clock_offset(jiff::SignedDuration::from_secs(3000 + 5));
    let second = credentials(&fake).await;
    assert_ne!(second.access_key_id, first.access_key_id);
    assert!(second.expiration > first.expiration);
    // The old credentials stay valid (their own expiry has not passed on the fake's clock).
    assert!(
        sts::validate(
            DEFAULT_ACCOUNT_SECRET,
            &first.access_key_id,
            &first.security_token
        )
        .is_ok()
    );
    let state = admin.state();
    assert_eq!(state.previous.unwrap().access_key_id, first.access_key_id);
    assert_eq!(state.clock_offset_seconds, 3005);

    let forced = admin.rotate().unwrap();
    let third = credentials(&fake).await;
    assert_eq!(third.access_key_id, forced.access_key_id);
    assert_ne!(third.access_key_id, second.access_key_id);
}

#[tokio::test]
async fn hardened_optional_mode() {
    let fake = start(Settings::default()).await;
    // No token: fine in optional mode.
    assert_eq!(get(&fake, "/latest/meta-data/instance-id").await.0, 200);
    let (status, token) = put_token(&fake, Some("21600")).await;
    assert_eq!(status, 200);
    assert_eq!(
        get_with_token(&fake, "/latest/meta-data/instance-id", &token)
            .await
            .0,
        200
    );
    // A bad token is refused even in optional mode.
    assert_eq!(
        get_with_token(&fake, "/latest/meta-data/instance-id", "forged")
            .await
            .0,
        401
    );
    for ttl in [None, Some("0"), Some("21601"), Some("abc")] {
        assert_eq!(put_token(&fake, ttl).await.0, 400, "ttl {ttl:?}");
    }
    assert_eq!(put_token(&fake, Some("1")).await.0, 200);
    let log = fake.admin().requests();
    let tokens: Vec<&str> = log.iter().map(|r| r.token.as_str()).collect();
    assert_eq!(&tokens[..4], ["none", "none", "valid", "invalid"]);
    let serialized = serde_json::to_string(&log).unwrap();
    assert!(
        !serialized.contains(&token),
        "the request log never holds token values"
    );
}

#[tokio::test]
async fn hardened_required_mode() {
    let fake = start(Settings {
        hardened: HardenedMode::Required,
        ..Settings::default()
    })
    .await;
    let path = format!("{CREDS}{DEFAULT_ROLE}");
    assert_eq!(get(&fake, &path).await.0, 401);
    let (status, token) = put_token(&fake, Some("60")).await;
    assert_eq!(status, 200);
    let (status, body) = get_with_token(&fake, &path, &token).await;
    assert_eq!(status, 200);
    assert!(EcsRamRoleCredentials::parse(&body).is_ok());
    // Lower-case header name (credentials-go) works too: reqwest sends lower case already; check
    // the token expires on the fake's clock.
    fake.admin()
        .set_clock_offset(jiff::SignedDuration::from_secs(61));
    assert_eq!(get_with_token(&fake, &path, &token).await.0, 401);
    fake.admin().set_hardened(HardenedMode::Optional);
    assert_eq!(get(&fake, &path).await.0, 200);
}

/// Sends raw bytes and returns the raw answer (connection closed by `Connection: close`).
async fn raw(fake: &Running, request: &str) -> String {
    fake_server_kit::testing::raw_exchange(fake.local_addr(), request.as_bytes()).await
}

#[tokio::test]
async fn absolute_form_targets_are_served_like_a_proxy() {
    let fake = start(Settings::default()).await;
    let answer = raw(
        &fake,
        "GET http://100.100.100.200/latest/meta-data/region-id HTTP/1.1\r\nHost: 100.100.100.200\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\ncn-hangzhou"), "{answer}");
    let answer = raw(
        &fake,
        "PUT http://100.100.100.200/latest/api/token HTTP/1.1\r\nHost: 100.100.100.200\r\nx-aliyun-ecs-metadata-token-ttl-seconds: 30\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        fake.admin().requests()[0].path,
        "/latest/meta-data/region-id"
    );
}

#[tokio::test]
async fn fault_status_latency_count_and_method() {
    let fake = start(Settings::default()).await;
    let admin = fake.admin();
    admin.add_fault(
        FaultRule::new(
            "/latest/meta-data/ram/*",
            FaultKind::Status {
                status: 503,
                body: "busy".into(),
            },
        )
        .times(2),
    );
    admin.add_fault(FaultRule::new("*region*", FaultKind::Latency { millis: 300 }).method("GET"));
    let path = format!("{CREDS}{DEFAULT_ROLE}");
    assert_eq!(get(&fake, &path).await, (503, "busy".into()));
    assert_eq!(get(&fake, CREDS).await, (503, "busy".into()));
    assert_eq!(get(&fake, &path).await.0, 200, "count exhausted");
    let started = std::time::Instant::now();
    assert_eq!(get(&fake, "/latest/meta-data/region-id").await.0, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "latency was added"
    );
    let faults = admin.faults();
    assert_eq!(faults[0].fired, 2);
    assert_eq!(faults[1].fired, 1);
    let log = admin.requests();
    assert_eq!(log[0].faults, vec!["status"]);
    assert_eq!(log[0].status, Some(503));
    admin.clear_faults();
    assert!(admin.faults().is_empty());
}

#[tokio::test]
async fn fault_probability_zero_never_fires_and_window_in_future_waits() {
    let fake = start(Settings::default()).await;
    let admin = fake.admin();
    admin.add_fault(
        FaultRule::new(
            "*",
            FaultKind::Status {
                status: 500,
                body: String::new(),
            },
        )
        .probability(0.0),
    );
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    admin.add_fault(
        FaultRule::new(
            "*",
            FaultKind::Status {
                status: 502,
                body: String::new(),
            },
        )
        .window(Some(future), None),
    );
    assert_eq!(get(&fake, "/latest/meta-data/mac").await.0, 200);
    admin.set_clock_offset(jiff::SignedDuration::from_hours(2));
    assert_eq!(
        get(&fake, "/latest/meta-data/mac").await.0,
        502,
        "window opened on the fake's clock"
    );
    admin.add_fault(FaultRule::new("/only-this", FaultKind::DropConnection).probability(1.0));
    assert_eq!(admin.faults()[0].fired, 0);
}

#[tokio::test]
async fn fault_drop_connection() {
    let fake = start(Settings::default()).await;
    fake.admin()
        .add_fault(FaultRule::new("*", FaultKind::DropConnection).times(1));
    let err = client()
        .get(format!("{}/latest/meta-data/mac", fake.base_url()))
        .send()
        .await;
    assert!(
        err.is_err(),
        "connection dropped without an answer: {err:?}"
    );
    assert_eq!(get(&fake, "/latest/meta-data/mac").await.0, 200);
    assert_eq!(fake.admin().requests()[0].status, None);
}

#[tokio::test]
async fn fault_credential_shapes() {
    let fake = start(Settings::default()).await;
    let admin = fake.admin();
    let path = format!("{CREDS}{DEFAULT_ROLE}");

    admin.add_fault(FaultRule::new(&path, FaultKind::ExpiredCredentials).times(1));
    let (_, body) = get(&fake, &path).await;
    let doc = EcsRamRoleCredentials::parse(&body).unwrap();
    let expiration = sts::parse_ecs_time(&doc.expiration).unwrap();
    assert!(expiration < jiff::Timestamp::now(), "already expired");
    assert!(
        sts::validate(
            DEFAULT_ACCOUNT_SECRET,
            &doc.access_key_id,
            &doc.security_token
        )
        .is_ok()
    );

    admin.add_fault(FaultRule::new(&path, FaultKind::MalformedJson).times(1));
    let (status, body) = get(&fake, &path).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());

    admin.add_fault(FaultRule::new(&path, FaultKind::MissingCode).times(1));
    let (_, body) = get(&fake, &path).await;
    assert!(!body.contains("\"Code\""));
    assert_eq!(EcsRamRoleCredentials::parse(&body).unwrap().code, None);

    let (_, body) = get(&fake, &path).await;
    assert_eq!(
        EcsRamRoleCredentials::parse(&body).unwrap().code.as_deref(),
        Some("Success")
    );
}

#[tokio::test]
async fn startup_faults_come_from_settings_and_reset_restores_them() {
    let settings = Settings {
        faults: vec![FaultRule::new(
            "/latest/meta-data/mac",
            FaultKind::Status {
                status: 500,
                body: "x".into(),
            },
        )],
        ..Settings::default()
    };
    let fake = start(settings).await;
    let admin = fake.admin();
    assert_eq!(get(&fake, "/latest/meta-data/mac").await.0, 500);
    admin.clear_faults();
    admin.set_clock_offset(jiff::SignedDuration::from_hours(1));
    admin.set_hardened(HardenedMode::Required);
    admin.reset();
    let state = admin.state();
    assert_eq!(state.clock_offset_seconds, 0);
    assert_eq!(state.hardened, HardenedMode::Optional);
    assert_eq!(state.faults.len(), 1);
    assert_eq!(state.requests_logged, 0);
    assert_eq!(get(&fake, "/latest/meta-data/mac").await.0, 500);
}

#[tokio::test]
async fn admin_http_api() {
    use fake_server_kit::testing::admin_call;
    let fake = start(Settings::default()).await;
    let admin = fake.admin_url();
    let path = format!("{CREDS}{DEFAULT_ROLE}");
    let first = credentials(&fake).await;

    let rule = serde_json::json!({"path": path, "method": "GET", "kind": "status", "status": 500, "body": "x", "count": 1});
    let (status, created) = admin_call(&admin, "POST", "/faults", &rule.to_string()).await;
    assert_eq!(status, 201);
    let id = created["id"].as_u64().unwrap();
    let (_, faults) = admin_call(&admin, "GET", "/faults", "").await;
    assert_eq!(faults[0]["id"], id);
    assert_eq!(faults[0]["kind"], "status");
    assert_eq!(get(&fake, &path).await.0, 500);
    let bad = r#"{"kind": "status", "status": 500, "probability": 2.0}"#;
    assert_eq!(admin_call(&admin, "POST", "/faults", bad).await.0, 400);
    let one = format!("/faults/{id}");
    assert_eq!(admin_call(&admin, "DELETE", &one, "").await.0, 204);
    assert_eq!(admin_call(&admin, "DELETE", &one, "").await.0, 404);
    admin_call(&admin, "POST", "/faults", r#"{"kind": "missing_code"}"#).await;
    assert_eq!(admin_call(&admin, "DELETE", "/faults", "").await.0, 204);
    assert!(fake.admin().faults().is_empty());

    let (_, rotated) = admin_call(&admin, "POST", "/rotate", "").await;
    assert_ne!(rotated["access_key_id"], first.access_key_id.as_str());
    assert_eq!(
        credentials(&fake).await.access_key_id,
        rotated["access_key_id"].as_str().unwrap()
    );
    assert!(rotated.get("access_key_secret").is_none() && rotated.get("security_token").is_none());

    let (_, state) = admin_call(&admin, "PUT", "/clock", r#"{"offset_seconds": -120}"#).await;
    assert_eq!(state["clock_offset_seconds"], -120);
    let (_, state) = admin_call(&admin, "PUT", "/hardened", r#"{"mode": "required"}"#).await;
    assert_eq!(state["hardened"], "required");
    assert_eq!(get(&fake, "/latest/meta-data/mac").await.0, 401);
    admin_call(&admin, "PUT", "/role", r#"{"role": null}"#).await;
    assert_eq!(fake.admin().state().role, None);

    let (_, log) = admin_call(&admin, "GET", "/requests", "").await;
    let last = log.as_array().unwrap().last().unwrap();
    assert_eq!(last["path"], "/latest/meta-data/mac");
    assert_eq!(last["token"], "none");
    assert_eq!(last["status"], 401);
    let text = log.to_string();
    assert!(!text.contains(&first.security_token) && !text.contains(&first.access_key_secret));

    let (_, state) = admin_call(&admin, "POST", "/reset", "").await;
    assert_eq!(state["hardened"], "optional");
    assert_eq!(state["role"], DEFAULT_ROLE);
    assert_eq!(state["requests_logged"], 0);
    let (_, state) = admin_call(&admin, "GET", "/state", "").await;
    assert_eq!(state["region_id"], "cn-hangzhou");
}

#[tokio::test]
async fn drop_shuts_the_server_down() {
    let fake = start(Settings::default()).await;
    let addr = fake.local_addr();
    assert_eq!(get(&fake, "/latest/meta-data/mac").await.0, 200);
    drop(fake);
    // Poll with a deadline: the accept loop is aborted asynchronously.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still accepting after drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
