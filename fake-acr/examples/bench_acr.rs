//! Benchmark (not a test): signed `GetAuthorizationToken` calls per second (V3, fresh signature
//! and nonce each, full verification on the server) and registry manifest GETs per second
//! (Basic auth with a temporary password, full token validation), over HTTPS on loopback.
//!
//! `just bench-acr [SECONDS] [CONNECTIONS]`; runs each phase for SECONDS with CONNECTIONS
//! concurrent clients, then prints the rates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use acs_wire::sign::{Credentials, SignableRequest, v3};
use fake_acr::{FakeAcr, Settings};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let fake = FakeAcr::start(Settings::default())
        .await
        .expect("fake-acr starts");
    let mut b = reqwest::Client::builder()
        .tls_certs_merge(
            [reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).expect("CA PEM")],
        )
        .no_proxy();
    for h in fake.hosts() {
        b = b.resolve(&h, fake.addr());
    }
    let http = b.build().expect("client");
    let creds = Credentials {
        access_key_id: fake_acr::settings::DEFAULT_STATIC_ACCESS_KEY_ID.into(),
        access_key_secret: fake_acr::settings::DEFAULT_STATIC_ACCESS_KEY_SECRET.into(),
        security_token: None,
    };
    let port = fake.addr().port();
    let admin = fake.admin();
    let sign = move |creds: &Credentials| {
        let mut req =
            SignableRequest::new("POST", &format!("cr.cn-hangzhou.aliyuncs.com:{port}"), "/");
        req.query = vec![("InstanceId".into(), "cri-hzdemo0000000001".into())];
        req.set_header("x-acs-action", "GetAuthorizationToken");
        req.set_header("x-acs-version", "2018-12-01");
        v3::sign_request(
            &mut req,
            creds,
            admin.now(),
            &uuid::Uuid::new_v4().simple().to_string(),
        );
        req
    };
    let base = fake.endpoint_for("cr.cn-hangzhou.aliyuncs.com");

    // Phase 1: signed GetAuthorizationToken.
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (http, creds, count, sign, base) = (
            http.clone(),
            creds.clone(),
            count.clone(),
            sign.clone(),
            base.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let req = sign(&creds);
                let mut rb = http.post(format!("{base}{}", req.path_and_query()));
                for (n, v) in &req.headers {
                    rb = rb.header(n, v);
                }
                let resp = rb.send().await.expect("request");
                assert_eq!(resp.status(), 200, "GetAuthorizationToken failed");
                let _ = resp.bytes().await;
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let tokens = count.load(Ordering::Relaxed);

    // Phase 2: manifest GETs with the temporary password.
    let req = sign(&creds);
    let mut rb = http.post(format!("{base}{}", req.path_and_query()));
    for (n, v) in &req.headers {
        rb = rb.header(n, v);
    }
    let body: serde_json::Value = rb.send().await.expect("token").json().await.expect("json");
    let password = body["AuthorizationToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let url = format!(
        "{}/v2/team/private-app/manifests/latest",
        fake.endpoint_for("demo-hz-registry.cn-hangzhou.cr.aliyuncs.com")
    );
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (http, count, url, password) =
            (http.clone(), count.clone(), url.clone(), password.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let resp = http
                    .get(&url)
                    .basic_auth("cr_temp_user", Some(&password))
                    .send()
                    .await
                    .expect("GET");
                assert_eq!(resp.status(), 200, "manifest GET failed");
                let _ = resp.bytes().await;
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let manifests = count.load(Ordering::Relaxed);
    let s = seconds as f64;
    println!("fake-acr on loopback (HTTPS, {connections} connections, {seconds} s per phase):");
    println!(
        "  signed GetAuthorizationToken (V3, verified): {:.0}/s",
        tokens as f64 / s
    );
    println!(
        "  manifest GET (Basic, token validated):       {:.0}/s",
        manifests as f64 / s
    );
}
