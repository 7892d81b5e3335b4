//! Edge cases of the refresher's cloud clients against wiremock: the ECS metadata client and
//! the ACR OpenAPI client (retries, throttling hints, malformed bodies, missing Code, slow answers).

use std::sync::Arc;
use std::time::Duration;

use acr_refresher::acr::{AcrClient, AcrClientSettings, AcrError, SignatureVersion, TokenKey};
use acr_refresher::credentials::{
    CredentialSource, CredentialsError, EcsMetadataClient, EcsMetadataSettings, StaticAccessKey,
};
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ROLE_PATH: &str = "/latest/meta-data/ram/security-credentials/";

fn credentials_body(code: Option<&str>) -> String {
    let expiration = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1))
        .strftime("%Y-%m-%dT%H:%M:%SZ");
    let code = code
        .map(|c| format!(",\n  \"Code\" : \"{c}\""))
        .unwrap_or_default();
    format!(
        "{{\n  \"AccessKeyId\" : \"STS.testid\",\n  \"AccessKeySecret\" : \"super-secret-value\",\n  \"Expiration\" : \"{expiration}\",\n  \"SecurityToken\" : \"security-token-value\",\n  \"LastUpdated\" : \"2026-01-01T00:00:00Z\"{code}\n}}"
    )
}

fn metadata(server: &MockServer, role: Option<&str>, imdsv1_disabled: bool) -> EcsMetadataClient {
    EcsMetadataClient::new(EcsMetadataSettings {
        endpoint: server.uri(),
        role: role.map(str::to_owned),
        imdsv1_disabled,
        // Generous for a loaded machine; the slow answers below take far longer.
        timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn metadata_hardened_mode_sends_the_token_and_discovers_the_role() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/latest/api/token"))
        .and(header("X-aliyun-ecs-metadata-token-ttl-seconds", "21600"))
        .respond_with(ResponseTemplate::new(200).set_body_string("tok-123"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ROLE_PATH))
        .and(header("X-aliyun-ecs-metadata-token", "tok-123"))
        .respond_with(ResponseTemplate::new(200).set_body_string("NodeRole\n"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROLE_PATH}NodeRole")))
        .and(header("X-aliyun-ecs-metadata-token", "tok-123"))
        .respond_with(ResponseTemplate::new(200).set_body_string(credentials_body(Some("Success"))))
        .expect(1)
        .mount(&server)
        .await;
    let client = metadata(&server, None, false);
    let credentials = client.credentials().await.unwrap();
    assert_eq!(credentials.access_key_id, "STS.testid");
    assert_eq!(
        credentials.security_token.as_deref(),
        Some("security-token-value")
    );
    // Cached: a second call makes no request (the expectations above say exactly once).
    client.credentials().await.unwrap();
    assert!(!format!("{credentials:?}").contains("super-secret-value"));
}

#[tokio::test]
async fn metadata_falls_back_to_plain_mode_unless_imdsv1_is_disabled() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROLE_PATH}NodeRole")))
        .respond_with(ResponseTemplate::new(200).set_body_string(credentials_body(Some("Success"))))
        .mount(&server)
        .await;
    let plain = metadata(&server, Some("NodeRole"), false);
    assert_eq!(
        plain.credentials().await.unwrap().access_key_id,
        "STS.testid"
    );
    let hardened_only = metadata(&server, Some("NodeRole"), true);
    let error = hardened_only.credentials().await.unwrap_err();
    assert!(
        matches!(error, CredentialsError::HardenedModeUnavailable(_)),
        "{error}"
    );
}

#[tokio::test]
async fn metadata_accepts_a_missing_code_but_rejects_malformed_documents_without_leaking() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_string("t"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROLE_PATH}NoCode")))
        .respond_with(ResponseTemplate::new(200).set_body_string(credentials_body(None)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROLE_PATH}Truncated")))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "{\"AccessKeyId\":\"STS.x\",\"AccessKeySecret\":\"leaky-secret\",\"Expira",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROLE_PATH}Failed")))
        .respond_with(ResponseTemplate::new(200).set_body_string(credentials_body(Some("Failed"))))
        .mount(&server)
        .await;
    assert!(
        metadata(&server, Some("NoCode"), false)
            .credentials()
            .await
            .is_ok()
    );
    let error = metadata(&server, Some("Truncated"), false)
        .credentials()
        .await
        .unwrap_err();
    assert!(
        matches!(error, CredentialsError::MetadataDocument { .. }),
        "{error}"
    );
    assert!(!error.to_string().contains("leaky-secret"), "{error}");
    let error = metadata(&server, Some("Failed"), false)
        .credentials()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("\"Failed\""), "{error}");
}

#[tokio::test]
async fn metadata_retries_5xx_and_reports_slow_answers_as_timeouts() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_string("t"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROLE_PATH}Flaky")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROLE_PATH}Flaky")))
        .respond_with(ResponseTemplate::new(200).set_body_string(credentials_body(Some("Success"))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROLE_PATH}Slow")))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    assert!(
        metadata(&server, Some("Flaky"), false)
            .credentials()
            .await
            .is_ok()
    );
    let error = metadata(&server, Some("Slow"), false)
        .credentials()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no answer within"), "{error}");
}

fn acr(server: &MockServer, signature: SignatureVersion) -> AcrClient {
    AcrClient::new(
        AcrClientSettings {
            endpoint_template: server.uri(),
            signature,
            timeout: Duration::from_secs(2),
            attempts: 3,
            retry_base: Duration::from_millis(20),
            retry_max: Duration::from_millis(400),
            ..Default::default()
        },
        Arc::new(StaticAccessKey::new(
            "LTAIkey".into(),
            "access-secret".into(),
        )),
    )
    .unwrap()
}

fn ee_body(password: &str) -> serde_json::Value {
    serde_json::json!({"AuthorizationToken": password, "TempUsername": "cr_temp_user",
        "ExpireTime": 1_900_000_000_000i64, "Code": "success", "IsSuccess": true, "RequestId": "r"})
}

#[tokio::test]
async fn acr_enterprise_token_is_signed_v3_and_5xx_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(query_param("InstanceId", "cri-1"))
        .and(header("x-acs-action", "GetAuthorizationToken"))
        .and(header("x-acs-version", "2018-12-01"))
        .and(header_exists("x-acs-signature-nonce"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            serde_json::json!({"Code": "ServiceUnavailable", "Message": "busy", "RequestId": "r1"}),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ee_body("pw")))
        .expect(1)
        .mount(&server)
        .await;
    let token = acr(&server, SignatureVersion::V3)
        .get_authorization_token(&TokenKey::enterprise("cn-hangzhou", "cri-1"))
        .await
        .unwrap();
    assert_eq!(token.password, "pw");
    assert_eq!(token.expires_at.as_second(), 1_900_000_000);
    let requests = server.received_requests().await.unwrap();
    let auth = requests[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        auth.starts_with("ACS3-HMAC-SHA256 Credential=LTAIkey,SignedHeaders="),
        "{auth}"
    );
}

#[tokio::test]
async fn acr_throttling_waits_at_least_the_time_left_hint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-ratelimit-user-api", "Limit:1,Remain:0,TimeLeft:300,Reset:1")
                .set_body_json(serde_json::json!({"Code": "Throttling.User", "Message": "slow down", "RequestId": "r"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ee_body("pw")))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    acr(&server, SignatureVersion::V3)
        .get_authorization_token(&TokenKey::enterprise("cn-hangzhou", "cri-1"))
        .await
        .unwrap();
    // Correctness, not timing: the retry must not come before the server said it may.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn acr_forbidden_ram_names_the_missing_permission_and_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "Code": "Forbidden.RAM", "Message": "User not authorized to operate on the specified resource.", "RequestId": "r"})))
        .expect(1)
        .mount(&server)
        .await;
    let error = acr(&server, SignatureVersion::V3)
        .get_authorization_token(&TokenKey::enterprise("cn-hangzhou", "cri-1"))
        .await
        .unwrap_err();
    assert_eq!(
        error.missing_permission().as_deref(),
        Some("cr:GetAuthorizationToken")
    );
    assert_eq!(error.code(), Some("Forbidden.RAM"));
}

#[tokio::test]
async fn acr_malformed_and_slow_answers_are_typed_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(query_param("InstanceId", "cri-truncated"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string("{\"AuthorizationToken\":\"pw\",\"Temp"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(query_param("InstanceId", "cri-wrongtype"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "AuthorizationToken": "pw", "TempUsername": "u", "ExpireTime": true})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(query_param("InstanceId", "cri-slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(ee_body("pw"))
                .set_delay(Duration::from_secs(10)),
        )
        .mount(&server)
        .await;
    let client = acr(&server, SignatureVersion::V3);
    for instance in ["cri-truncated", "cri-wrongtype"] {
        let error = client
            .get_authorization_token(&TokenKey::enterprise("cn-hangzhou", instance))
            .await
            .unwrap_err();
        assert!(
            matches!(error, AcrError::Malformed { .. }),
            "{instance}: {error}"
        );
        assert!(!error.to_string().contains("\"pw\""), "{error}");
    }
    let error = client
        .get_authorization_token(&TokenKey::enterprise("cn-hangzhou", "cri-slow"))
        .await
        .unwrap_err();
    assert!(matches!(error, AcrError::Transport { .. }), "{error}");
}

#[tokio::test]
async fn acr_personal_token_uses_roa_get_tokens_with_either_signature() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/tokens"))
        .and(header("x-acs-version", "2016-06-07"))
        .respond_with(|request: &Request| {
            let auth = request
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            let body = serde_json::json!({"data": {"authorizationToken": auth.unwrap_or_default(),
                "expireDate": 1_900_000_000_000i64, "tempUserName": "cr_temp_user"}});
            ResponseTemplate::new(200).set_body_json(body)
        })
        .mount(&server)
        .await;
    let key = TokenKey::personal("cn-hangzhou");
    let v3 = acr(&server, SignatureVersion::V3)
        .get_authorization_token(&key)
        .await
        .unwrap();
    assert!(
        v3.password.starts_with("ACS3-HMAC-SHA256 "),
        "{}",
        v3.username
    );
    let v1 = acr(&server, SignatureVersion::V1)
        .get_authorization_token(&key)
        .await
        .unwrap();
    assert!(v1.password.starts_with("acs LTAIkey:"));
}

#[tokio::test]
async fn acr_is_success_false_in_a_200_answer_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "IsSuccess": false, "Code": "INSTANCE_NOT_EXIST", "Message": "no such instance"})))
        .mount(&server)
        .await;
    let error = acr(&server, SignatureVersion::V1)
        .get_authorization_token(&TokenKey::enterprise("cn-hangzhou", "cri-x"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("INSTANCE_NOT_EXIST"));
}
