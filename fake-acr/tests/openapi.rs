//! The ACR OpenAPI over HTTPS through real host names: success shapes and every error code.

mod support;

use acs_wire::sign::Credentials;
use fake_acr::FaultRule;
use fake_acr::settings::{Policy, Settings};
use support::*;

fn now_s(w: &World) -> i64 {
    w.fake.admin().now().as_second()
}

#[tokio::test]
async fn ee_get_authorization_token_v3_with_sts_has_the_documented_shape() {
    let w = start(Settings::default()).await;
    let creds = sts_credentials("acr-node", now_s(&w), 6 * 3600);
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "GetAuthorizationToken",
            &[("InstanceId", "cri-hzdemo0000000001")],
            &creds,
            w.fake.admin().now(),
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["TempUsername"], "cr_temp_user");
    assert_eq!(r.body["Code"], "success");
    assert_eq!(r.body["IsSuccess"], true);
    assert!(r.body["RequestId"].as_str().unwrap().len() >= 32);
    let exp = r.body["ExpireTime"].as_i64().unwrap();
    let lifetime_ms = exp - w.fake.admin().now().as_millisecond();
    assert!(
        (3_590_000..=3_600_000).contains(&lifetime_ms),
        "lifetime {lifetime_ms} ms"
    );
    assert!(r.content_type.starts_with("application/json"));
    let log = w.fake.admin().log();
    let last = log.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.region.as_deref(),
            last.principal.as_deref(),
            last.result.as_str()
        ),
        (
            "GetAuthorizationToken",
            Some("cn-hangzhou"),
            Some("role/acr-node"),
            "Success"
        )
    );
}

#[tokio::test]
async fn token_never_outlives_the_sts_credentials() {
    let w = start(Settings::default()).await;
    let creds = sts_credentials("acr-node", now_s(&w), 600);
    let (_, _, exp) = ee_token(&w, "cn-hangzhou", "cri-hzdemo0000000001", &creds).await;
    let sts_exp_ms = (creds_expiry(&creds)) * 1000;
    assert_eq!(exp, sts_exp_ms);
    w.fake.admin().set_token_lifetime_secs(5);
    let (_, _, exp2) = ee_token(
        &w,
        "cn-hangzhou",
        "cri-hzdemo0000000001",
        &static_credentials(),
    )
    .await;
    assert!(exp2 - w.fake.admin().now().as_millisecond() <= 5_000);
}

fn creds_expiry(c: &Credentials) -> i64 {
    let (claims, _) = acs_wire::sts::validate(
        acs_wire::sts::DEFAULT_ACCOUNT_SECRET,
        &c.access_key_id,
        c.security_token.as_deref().unwrap(),
    )
    .unwrap();
    claims.expires_at
}

#[tokio::test]
async fn rpc_v1_and_personal_roa_succeed() {
    let w = start(Settings::default()).await;
    let now = w.fake.admin().now();
    let r = send(
        &w,
        &rpc_request(
            &w,
            "cn-beijing",
            "GetAuthorizationToken",
            &[("InstanceId", "cri-bjdemo0000000001")],
            &static_credentials(),
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["Code"], "success");
    let creds = sts_credentials("acr-node", now.as_second(), 3600);
    let r = send(
        &w,
        &roa_tokens_request(&w, "cn-beijing", &creds, now, &nonce()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.content_type, "application/json;charset=utf-8");
    assert_eq!(r.body["data"]["tempUserName"], "cr_temp_user");
    assert!(r.body["data"]["expireDate"].as_i64().unwrap() > now.as_millisecond());
}

#[tokio::test]
async fn list_instance_and_endpoints_are_per_region() {
    let w = start(Settings::default()).await;
    let creds = static_credentials();
    let now = w.fake.admin().now();
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &creds,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["TotalCount"], 1);
    assert_eq!(r.body["Instances"][0]["InstanceId"], "cri-hzdemo0000000001");
    assert_eq!(r.body["Instances"][0]["InstanceName"], "demo-hz");
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstanceEndpoint",
            &[("InstanceId", "cri-hzdemo0000000001")],
            &creds,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["Endpoints"][0]["Domains"][0]["Domain"],
        "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com"
    );
    assert_eq!(
        r.body["Endpoints"][1]["Domains"][0]["Domain"],
        "demo-hz-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
    );
    // An instance of another region is not found here.
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstanceEndpoint",
            &[("InstanceId", "cri-bjdemo0000000001")],
            &creds,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "INSTANCE_NOT_EXIST"));
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "GetAuthorizationToken",
            &[("InstanceId", "cri-bjdemo0000000001")],
            &creds,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "INSTANCE_NOT_EXIST"));
}

#[tokio::test]
async fn signature_errors_carry_the_real_codes() {
    let w = start(Settings::default()).await;
    let now = w.fake.admin().now();
    let mut wrong = static_credentials();
    wrong.access_key_secret = "not-the-secret".into();
    // SignatureDoesNotMatch, with the server's string to sign (RPC V1).
    let r = send(
        &w,
        &rpc_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &wrong,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "SignatureDoesNotMatch"));
    assert!(
        r.message()
            .contains("server string to sign is:POST&%2F&AccessKeyId%3D"),
        "{}",
        r.message()
    );
    assert!(
        r.body["RequestId"].as_str().is_some() && r.body["HostId"] == "cr.cn-hangzhou.aliyuncs.com"
    );
    // V3 and ROA too.
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &wrong,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.code(), "SignatureDoesNotMatch");
    let r = send(
        &w,
        &roa_tokens_request(&w, "cn-hangzhou", &wrong, now, &nonce()),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "SignatureDoesNotMatch"));
    assert!(
        r.body.get("requestId").is_some(),
        "ROA errors use lower-case keys: {}",
        r.body
    );
    // SignatureNonceUsed: replay the very same request.
    let req = v3_request(
        &w,
        "cn-hangzhou",
        "ListInstance",
        &[],
        &static_credentials(),
        now,
        "fixed-nonce-1",
    );
    assert_eq!(send(&w, &req).await.status, 200);
    let r = send(&w, &req).await;
    assert_eq!((r.status, r.code()), (400, "SignatureNonceUsed"));
    // InvalidTimeStamp.Expired: 16 minutes of skew either way.
    for skew in [-16, 16] {
        let t = now + jiff::SignedDuration::from_mins(skew);
        let r = send(
            &w,
            &v3_request(
                &w,
                "cn-hangzhou",
                "ListInstance",
                &[],
                &static_credentials(),
                t,
                &nonce(),
            ),
        )
        .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "InvalidTimeStamp.Expired"),
            "skew {skew}"
        );
    }
    // 14 minutes is fine.
    let t = now - jiff::SignedDuration::from_mins(14);
    assert_eq!(
        send(
            &w,
            &v3_request(
                &w,
                "cn-hangzhou",
                "ListInstance",
                &[],
                &static_credentials(),
                t,
                &nonce()
            )
        )
        .await
        .status,
        200
    );
    // InvalidAccessKeyId.NotFound.
    let unknown = Credentials {
        access_key_id: "LTAInobody".into(),
        access_key_secret: "x".into(),
        security_token: None,
    };
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &unknown,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "InvalidAccessKeyId.NotFound"));
    // IncompleteSignature: nothing signed.
    let url = format!(
        "{}/?Action=ListInstance&Version=2018-12-01",
        w.fake.endpoint_for("cr.cn-hangzhou.aliyuncs.com")
    );
    let resp = w.http.post(url).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["Code"], "IncompleteSignature");
    // Missing parameters: an RPC request without SignatureNonce, and EE token without InstanceId.
    let mut req = rpc_request(
        &w,
        "cn-hangzhou",
        "ListInstance",
        &[],
        &static_credentials(),
        now,
        &nonce(),
    );
    req.query.retain(|(k, _)| k != "SignatureNonce");
    assert_eq!(send(&w, &req).await.code(), "MissingSignatureNonce");
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "GetAuthorizationToken",
            &[],
            &static_credentials(),
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "MissingInstanceId"));
    // Unknown action.
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "DeleteInstance",
            &[],
            &static_credentials(),
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "InvalidAction.NotFound"));
    let codes: Vec<String> = w
        .fake
        .admin()
        .log()
        .iter()
        .map(|e| e.result.clone())
        .collect();
    assert!(
        codes.contains(&"SignatureNonceUsed".to_string()),
        "{codes:?}"
    );
}

#[tokio::test]
async fn sts_token_errors() {
    let w = start(Settings::default()).await;
    let now = w.fake.admin().now();
    // Expired by the server's (offset) clock.
    let creds = sts_credentials("acr-node", now.as_second(), 600);
    w.fake.admin().set_clock_offset_secs(601);
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &creds,
            w.fake.admin().now(),
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidSecurityToken.Expired"));
    w.fake.admin().set_clock_offset_secs(0);
    // Malformed.
    let mut bad = creds.clone();
    bad.security_token = Some("CAISnot-a-token".into());
    let r = send(
        &w,
        &v3_request(&w, "cn-hangzhou", "ListInstance", &[], &bad, now, &nonce()),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidSecurityToken.Malformed")
    );
    assert!(!r.message().contains("CAISnot-a-token"));
    // Token from another account secret.
    let foreign = acs_wire::sts::issue(
        "another-account",
        &acs_wire::sts::StsClaims {
            account_id: "1".into(),
            role: "r".into(),
            issued_at: now.as_second(),
            expires_at: now.as_second() + 600,
            serial: 1,
        },
    );
    let foreign = Credentials {
        access_key_id: foreign.access_key_id,
        access_key_secret: foreign.access_key_secret,
        security_token: Some(foreign.security_token),
    };
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &foreign,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.code(), "InvalidSecurityToken.Malformed");
    // AccessKeyId of other credentials with this token.
    let other = sts_credentials("acr-node", now.as_second() + 1, 600);
    let mut mixed = creds.clone();
    mixed.access_key_id = other.access_key_id;
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &mixed,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.code(), "InvalidSecurityToken.MismatchWithAccessKey");
}

#[tokio::test]
async fn ram_policy_denies_missing_actions_by_name() {
    let mut s = Settings::default();
    s.policies.insert(
        0,
        Policy {
            principal: "role/token-only".into(),
            actions: vec!["cr:GetAuthorizationToken".into()],
        },
    );
    let w = start(s).await;
    let now = w.fake.admin().now();
    let creds = sts_credentials("token-only", now.as_second(), 3600);
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstanceEndpoint",
            &[("InstanceId", "cri-hzdemo0000000001")],
            &creds,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "Forbidden.RAM"));
    assert!(
        r.message().contains("cr:ListInstanceEndpoint"),
        "{}",
        r.message()
    );
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "GetAuthorizationToken",
            &[("InstanceId", "cri-hzdemo0000000001")],
            &creds,
            now,
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn faults_throttle_fail_delay_and_drop() {
    let w = start(Settings::default()).await;
    let admin = w.fake.admin();
    let creds = static_credentials();
    admin.add_fault(FaultRule {
        action: Some("ListInstance".into()),
        throttle: true,
        count: Some(1),
        ..Default::default()
    });
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &creds,
            admin.now(),
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "Throttling.User"));
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &creds,
            admin.now(),
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "count 1 retires the rule");
    admin.add_fault(FaultRule {
        region: Some("cn-beijing".into()),
        status: Some(503),
        code: Some("ServiceUnavailable".into()),
        ..Default::default()
    });
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-beijing",
            "ListInstance",
            &[],
            &creds,
            admin.now(),
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (503, "ServiceUnavailable"));
    assert_eq!(
        send(
            &w,
            &v3_request(
                &w,
                "cn-hangzhou",
                "ListInstance",
                &[],
                &creds,
                admin.now(),
                &nonce()
            )
        )
        .await
        .status,
        200
    );
    admin.clear_faults();
    admin.add_fault(FaultRule {
        host: Some("cr.cn-hangzhou.aliyuncs.com".into()),
        drop: true,
        ..Default::default()
    });
    let req = v3_request(
        &w,
        "cn-hangzhou",
        "ListInstance",
        &[],
        &creds,
        admin.now(),
        &nonce(),
    );
    let url = format!("{}/", w.fake.endpoint_for("cr.cn-hangzhou.aliyuncs.com"));
    let mut rb = w.http.post(url).query(&req.query);
    for (n, v) in &req.headers {
        rb = rb.header(n, v);
    }
    assert!(
        rb.send().await.is_err(),
        "dropped connection surfaces as a transport error"
    );
    assert_eq!(admin.log().last().unwrap().result, "Dropped");
    admin.reset();
    assert!(admin.faults().is_empty() && admin.log().is_empty());
}

#[tokio::test]
async fn admin_http_api_controls_the_fake() {
    use fake_server_kit::testing::admin_call;
    let w = start(Settings::default()).await;
    let base = w.fake.admin_url();
    let rule = r#"{"action": "ListInstance", "status": 500, "code": "InternalError"}"#;
    assert_eq!(admin_call(&base, "POST", "/faults", rule).await.0, 201);
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &static_credentials(),
            w.fake.admin().now(),
            &nonce(),
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (500, "InternalError"));
    let (_, log) = admin_call(&base, "GET", "/log", "").await;
    assert_eq!(
        log.as_array().unwrap().last().unwrap()["result"],
        "InternalError"
    );
    admin_call(&base, "PUT", "/clock", r#"{"offset_secs": 3600}"#).await;
    assert_eq!(w.fake.admin().clock_offset_secs(), 3600);
    let (_, ca) = admin_call(&base, "GET", "/ca.pem", "").await;
    assert_eq!(ca, w.fake.ca_pem());
    assert_eq!(admin_call(&base, "POST", "/reset", "").await.0, 204);
    assert_eq!(w.fake.admin().clock_offset_secs(), 0);
}

#[tokio::test]
async fn plain_http_mode_and_fault_probability_and_latency() {
    let fake = fake_acr::FakeAcr::start(plain_http()).await.unwrap();
    assert!(fake.ca_pem().is_empty());
    let base = fake.endpoint_for("registry.cn-beijing.aliyuncs.com");
    assert!(base.starts_with("http://"), "{base}");
    let mut b = reqwest::Client::builder().no_proxy();
    for h in fake.hosts() {
        b = b.resolve(&h, fake.addr());
    }
    let http = b.build().unwrap();
    let admin = fake.admin();
    // probability 0 never fires; a latency-only rule delays but does not change the answer.
    admin.add_fault(FaultRule {
        action: Some("Registry.Ping".into()),
        status: Some(500),
        probability: Some(0.0),
        ..Default::default()
    });
    for _ in 0..5 {
        let r = http.get(format!("{base}/v2/")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        let port = fake.addr().port();
        assert!(
            challenge.starts_with(&format!(
                "Bearer realm=\"http://dockerauth.cn-beijing.aliyuncs.com:{port}/auth\""
            )),
            "{challenge}"
        );
    }
    admin.clear_faults();
    admin.add_fault(FaultRule {
        action: Some("Registry.Ping".into()),
        latency_ms: 20,
        count: Some(1),
        ..Default::default()
    });
    assert_eq!(
        http.get(format!("{base}/v2/"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert!(
        admin.faults().is_empty(),
        "count 1 retires the latency rule"
    );
    assert_eq!(admin.count("Registry.Ping"), 6);
}

#[tokio::test]
async fn log_entries_name_the_instance_and_the_signing_access_key() {
    let w = start(Settings::default()).await;
    let admin = w.fake.admin();
    let creds = sts_credentials("acr-node", now_s(&w), 3600);
    ee_token(&w, "cn-hangzhou", "cri-hzdemo0000000001", &creds).await;
    let e = admin.log().pop().unwrap();
    assert_eq!(e.instance_id.as_deref(), Some("cri-hzdemo0000000001"));
    assert_eq!(
        e.access_key_id.as_deref(),
        Some(creds.access_key_id.as_str())
    );
    let json = serde_json::to_string(&e).unwrap();
    assert!(!json.contains(&creds.access_key_secret), "{json}");
    assert!(
        !json.contains(creds.security_token.as_deref().unwrap()),
        "{json}"
    );
    // ListInstance concerns no instance; a refused call still names its key.
    let mut wrong = static_credentials();
    wrong.access_key_secret = "wrong".into();
    let r = send(
        &w,
        &v3_request(
            &w,
            "cn-hangzhou",
            "ListInstance",
            &[],
            &wrong,
            admin.now(),
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.code(), "SignatureDoesNotMatch");
    let e = admin.log().pop().unwrap();
    assert_eq!(e.instance_id, None);
    assert_eq!(
        e.access_key_id.as_deref(),
        Some(fake_acr::settings::DEFAULT_STATIC_ACCESS_KEY_ID)
    );
    // Fault answers are logged with the same facts.
    admin.add_fault(FaultRule {
        action: Some("GetAuthorizationToken".into()),
        throttle: true,
        count: Some(1),
        ..Default::default()
    });
    let r = send(
        &w,
        &rpc_request(
            &w,
            "cn-beijing",
            "GetAuthorizationToken",
            &[("InstanceId", "cri-bjdemo0000000001")],
            &static_credentials(),
            admin.now(),
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.code(), "Throttling.User");
    let e = admin.log().pop().unwrap();
    assert_eq!(
        (e.instance_id.as_deref(), e.access_key_id.as_deref()),
        (
            Some("cri-bjdemo0000000001"),
            Some(fake_acr::settings::DEFAULT_STATIC_ACCESS_KEY_ID)
        )
    );
    // Registry side: the instance host and the EE token service name the instance.
    let (user, password, _) = ee_token(
        &w,
        "cn-hangzhou",
        "cri-hzdemo0000000001",
        &static_credentials(),
    )
    .await;
    admin.clear_log();
    let token_url = format!(
        "{}/auth?service=registry.aliyuncs.com%3Acn-hangzhou%3Acri-hzdemo0000000001&scope=repository%3Ateam%2Fprivate-app%3Apull",
        w.fake.endpoint_for("dockerauth.cn-hangzhou.aliyuncs.com")
    );
    let r = w
        .http
        .get(token_url)
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = w
        .http
        .get(format!(
            "{}/v2/team/private-app/manifests/docker",
            w.fake
                .endpoint_for("demo-hz-registry.cn-hangzhou.cr.aliyuncs.com")
        ))
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = w
        .http
        .get(format!(
            "{}/v2/",
            w.fake.endpoint_for("registry.cn-hangzhou.aliyuncs.com")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let facts: Vec<(String, Option<String>, Option<String>)> = admin
        .log()
        .into_iter()
        .map(|e| (e.action, e.instance_id, e.access_key_id))
        .collect();
    let hz = Some("cri-hzdemo0000000001".to_owned());
    assert_eq!(
        facts,
        [
            ("Registry.Token".to_owned(), hz.clone(), None),
            ("Registry.GetManifest".to_owned(), hz, None),
            ("Registry.Ping".to_owned(), None, None),
        ]
    );
}

#[tokio::test]
async fn malformed_fault_answers_200_with_a_body_no_json_parser_accepts() {
    let w = start(Settings::default()).await;
    let admin = w.fake.admin();
    admin.add_fault(FaultRule {
        action: Some("GetAuthorizationToken".into()),
        malformed: true,
        count: Some(1),
        ..Default::default()
    });
    let request = || {
        v3_request(
            &w,
            "cn-hangzhou",
            "GetAuthorizationToken",
            &[("InstanceId", "cri-hzdemo0000000001")],
            &static_credentials(),
            admin.now(),
            &nonce(),
        )
    };
    let r = send(&w, &request()).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/json"));
    let text = r.body.as_str().expect("the body did not parse as JSON");
    assert!(text.starts_with('{'), "{text}");
    assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
    let e = admin.log().pop().unwrap();
    assert_eq!((e.result.as_str(), e.status), ("Malformed", 200));
    // count 1: the next call is answered properly.
    let r = send(&w, &request()).await;
    assert_eq!((r.status, r.body["Code"].as_str()), (200, Some("success")));

    // The token service too.
    admin.add_fault(FaultRule {
        action: Some("Registry.Token".into()),
        malformed: true,
        ..Default::default()
    });
    let r = w
        .http
        .get(format!(
            "{}/auth?service=registry.aliyuncs.com%3Acn-hangzhou%3A26842",
            w.fake.endpoint_for("dockerauth.cn-hangzhou.aliyuncs.com")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
}
