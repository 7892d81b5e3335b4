//! Test support: start fake-acr in-process, reach it through real host names (reqwest
//! `resolve`, or a loopback CONNECT proxy for clients without a resolver hook), sign calls.
#![allow(dead_code)]

use std::net::SocketAddr;

use acs_wire::sign::{Credentials, SignableRequest, encode, roa_v1, rpc_v1, v3};
use acs_wire::sts::{self, StsClaims};
use fake_acr::{FakeAcr, Running, Settings};
use jiff::Timestamp;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A started fake plus an HTTPS client that resolves every fake host to it.
pub struct World {
    pub fake: Running,
    pub http: reqwest::Client,
}

pub async fn start(settings: Settings) -> World {
    let fake = FakeAcr::start(settings).await.expect("fake-acr starts");
    let mut b = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).unwrap()])
        .no_proxy();
    for h in fake.hosts() {
        b = b.resolve(&h, fake.addr());
    }
    World {
        fake,
        http: b.build().unwrap(),
    }
}

/// The default world, served over plain HTTP.
pub fn plain_http() -> Settings {
    Settings {
        plain_http: true,
        ..Settings::default()
    }
}

/// STS credentials for `role`, valid `secs` from `now`, signed with the default account secret.
pub fn sts_credentials(role: &str, now: i64, secs: i64) -> Credentials {
    let c = sts::issue(
        sts::DEFAULT_ACCOUNT_SECRET,
        &StsClaims {
            account_id: sts::DEFAULT_ACCOUNT_ID.into(),
            role: role.into(),
            issued_at: now,
            expires_at: now + secs,
            serial: 1,
        },
    );
    Credentials {
        access_key_id: c.access_key_id,
        access_key_secret: c.access_key_secret,
        security_token: Some(c.security_token),
    }
}

pub fn static_credentials() -> Credentials {
    Credentials {
        access_key_id: fake_acr::settings::DEFAULT_STATIC_ACCESS_KEY_ID.into(),
        access_key_secret: fake_acr::settings::DEFAULT_STATIC_ACCESS_KEY_SECRET.into(),
        security_token: None,
    }
}

pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A response as status + JSON body + content type.
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub content_type: String,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body
            .get("Code")
            .or_else(|| self.body.get("code"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body
            .get("Message")
            .or_else(|| self.body.get("message"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }
}

pub async fn send(w: &World, req: &SignableRequest) -> Reply {
    let url = format!(
        "{}{}",
        w.fake.endpoint_for(req.host.split(':').next().unwrap()),
        req.path_and_query()
    );
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut rb = w.http.request(method, url).body(req.body.clone());
    for (n, v) in &req.headers {
        rb = rb.header(n, v);
    }
    let resp = rb.send().await.expect("request reaches fake-acr");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Reply {
        status,
        body,
        content_type,
    }
}

/// A V3-signed RPC-style request (darabonba's default) to `cr.<region>.aliyuncs.com`.
pub fn v3_request(
    w: &World,
    region: &str,
    action: &str,
    params: &[(&str, &str)],
    creds: &Credentials,
    now: Timestamp,
    nonce: &str,
) -> SignableRequest {
    let host = format!("cr.{region}.aliyuncs.com:{}", w.fake.addr().port());
    let mut req = SignableRequest::new("POST", &host, "/");
    req.query = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    req.set_header("x-acs-action", action);
    req.set_header("x-acs-version", "2018-12-01");
    v3::sign_request(&mut req, creds, now, nonce);
    req
}

/// An RPC V1 request (pop-core / aliyunsdkcore style).
pub fn rpc_request(
    w: &World,
    region: &str,
    action: &str,
    params: &[(&str, &str)],
    creds: &Credentials,
    now: Timestamp,
    nonce: &str,
) -> SignableRequest {
    let host = format!("cr.{region}.aliyuncs.com:{}", w.fake.addr().port());
    let mut q: Vec<(String, String)> = vec![
        ("Action".into(), action.into()),
        ("Version".into(), "2018-12-01".into()),
        ("RegionId".into(), region.into()),
    ];
    q.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    rpc_v1::sign_query(&mut q, "POST", creds, now, nonce);
    let mut req = SignableRequest::new("POST", &host, "/");
    req.set_header("host", &host);
    req.query = q;
    req
}

/// A ROA V1 `GET /tokens` (Personal Edition).
pub fn roa_tokens_request(
    w: &World,
    region: &str,
    creds: &Credentials,
    now: Timestamp,
    nonce: &str,
) -> SignableRequest {
    let host = format!("cr.{region}.aliyuncs.com:{}", w.fake.addr().port());
    let mut req = SignableRequest::new("GET", &host, "/tokens");
    req.set_header("x-acs-version", "2016-06-07");
    req.set_header("x-acs-action", "GetAuthorizationToken");
    roa_v1::sign_headers(&mut req, creds, now, nonce);
    req
}

/// Registry credentials from the OpenAPI: (username, password, expiry ms).
pub async fn ee_token(
    w: &World,
    region: &str,
    instance: &str,
    creds: &Credentials,
) -> (String, String, i64) {
    let r = send(
        w,
        &v3_request(
            w,
            region,
            "GetAuthorizationToken",
            &[("InstanceId", instance)],
            creds,
            w.fake.admin().now(),
            &nonce(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (
        r.body["TempUsername"].as_str().unwrap().to_owned(),
        r.body["AuthorizationToken"].as_str().unwrap().to_owned(),
        r.body["ExpireTime"].as_i64().unwrap(),
    )
}

pub async fn personal_token(w: &World, region: &str, creds: &Credentials) -> (String, String, i64) {
    let r = send(
        w,
        &roa_tokens_request(w, region, creds, w.fake.admin().now(), &nonce()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    (
        d["tempUserName"].as_str().unwrap().to_owned(),
        d["authorizationToken"].as_str().unwrap().to_owned(),
        d["expireDate"].as_i64().unwrap(),
    )
}

/// A loopback HTTP CONNECT proxy that tunnels every CONNECT for a fake host to `fake`; other
/// hosts are refused, so nothing leaves loopback.
pub async fn connect_proxy(
    fake: SocketAddr,
    hosts: Vec<String>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let hosts = hosts.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                if reader.read_line(&mut line).await.is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    match reader.read_line(&mut h).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if h == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let target = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let host = target.rsplit_once(':').map_or(target.as_str(), |(h, _)| h);
                let mut client = reader.into_inner();
                if !line.starts_with("CONNECT ") || !hosts.iter().any(|h| h == host) {
                    let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
                    return;
                }
                let Ok(mut upstream) = tokio::net::TcpStream::connect(fake).await else {
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, task)
}

/// `encode::query_string` re-exported for tests that build raw URLs.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    encode::query_string(&v)
}
