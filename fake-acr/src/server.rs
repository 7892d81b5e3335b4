//! The main listener: TLS (or plain HTTP), HTTP/1.1, dispatch by Host header to the OpenAPI,
//! the registries and the token service; faults and the request log wrap every request.

use std::sync::Arc;
use std::time::Duration;

use fake_server_kit::http1::{self, Dropped, PanicBody};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::body::Incoming;

use crate::admin::{Admin, LogEntry};
use crate::faults::{FaultEffect, RequestFacts};
use crate::hosts::{self, Target};
use crate::world::World;

/// How the kit names this fake in logs and errors.
pub(crate) const FAKE: &str = "fake-acr";

/// A fully read request.
pub(crate) struct Req {
    pub method: String,
    pub host: String,
    pub path: String,
    pub raw_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response plus what the log should say about it.
pub(crate) struct Outcome {
    pub response: Response<Full<Bytes>>,
    pub action: String,
    pub principal: Option<String>,
    pub result: String,
}

/// What one request is served with: the world current when it arrived, and the controls.
pub(crate) struct App {
    pub world: Arc<World>,
    pub admin: Admin,
}

impl App {
    /// Logs an entry for this request (unless the world was replaced meanwhile).
    pub fn record(&self, entry: LogEntry) {
        self.admin.record(entry, self.world.generation);
    }
}

pub(crate) fn region_of(target: &Target) -> &str {
    match target {
        Target::OpenApi { region }
        | Target::PersonalRegistry { region }
        | Target::TokenService { region }
        | Target::InstanceRegistry { region, .. } => region,
    }
}

pub(crate) fn json_response(
    status: StatusCode,
    body: String,
    content_type: &str,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// The main listener's service: each request takes the world current when it arrives (a
/// replacement affects the next one) and runs in its own task (a panic answers 500).
#[derive(Clone)]
pub(crate) struct MainService {
    pub admin: Admin,
}

impl hyper::service::Service<Request<Incoming>> for MainService {
    type Response = Response<Full<Bytes>>;
    type Error = Dropped;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Dropped>> + Send>,
    >;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let app = App {
            world: self.admin.world(),
            admin: self.admin.clone(),
        };
        let what = format!("{} {}", req.method(), req.uri().path());
        Box::pin(http1::isolated(
            FAKE,
            PanicBody::AlibabaJson,
            what,
            |body| body,
            handle(app, req),
        ))
    }
}

pub(crate) async fn handle<B>(app: App, req: Request<B>) -> Result<Response<Full<Bytes>>, Dropped>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.host())
        .unwrap_or_default()
        .to_owned();
    let host = hosts::strip_port(&host).to_ascii_lowercase();
    let body = match Limited::new(body, 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                String::new(),
                "text/plain",
            ));
        }
    };
    let req = Req {
        method: parts.method.as_str().to_owned(),
        host: host.clone(),
        path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let Some(target) = hosts::resolve(&app.world.settings, &host) else {
        return Ok(json_response(
            StatusCode::NOT_FOUND,
            serde_json::json!({
                "Code": "InvalidHost",
                "Message": format!("fake-acr does not serve host {host:?}"),
            })
            .to_string(),
            "application/json;charset=utf-8",
        ));
    };
    let region = region_of(&target).to_owned();
    let action = match &target {
        Target::OpenApi { .. } => crate::openapi::action_name(&req),
        _ => crate::registry::action_name(&req, &target),
    };
    let (instance_id, access_key_id) = match &target {
        Target::OpenApi { .. } => crate::openapi::log_facts(&req),
        _ => (crate::registry::instance_of(&app, &req, &target), None),
    };
    let seen = Seen {
        host: &host,
        region: &region,
        instance_id,
        access_key_id,
    };
    let facts = RequestFacts {
        method: &req.method,
        path: &req.path,
        action: &action,
        region: Some(&region),
        host: &host,
    };
    if let Some((latency, effect)) = app.admin.match_fault(&facts) {
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if let Some(effect) = effect {
            let is_openapi = matches!(target, Target::OpenApi { .. });
            let (response, result, status) = match effect {
                FaultEffect::Drop => {
                    app.record(seen.entry(&app, &action, None, "Dropped", 0));
                    return Err(Dropped);
                }
                FaultEffect::Throttle { time_left_ms } if is_openapi => {
                    let mut r = crate::openapi::error_response(
                        &req,
                        StatusCode::BAD_REQUEST,
                        "Throttling.User",
                        "Request was denied due to user flow control.",
                    );
                    if let Some(ms) = time_left_ms {
                        let hint = format!("Limit:1,Remain:0,TimeLeft:{ms},Reset:{}", ms / 1000);
                        if let Ok(value) = hint.parse() {
                            r.headers_mut().insert("x-ratelimit-user-api", value);
                        }
                    }
                    (r, "Throttling.User".to_owned(), 400)
                }
                FaultEffect::Throttle { .. } => {
                    let r = crate::registry::error_response(
                        StatusCode::TOO_MANY_REQUESTS,
                        "TOOMANYREQUESTS",
                        "too many requests",
                    );
                    (r, "TOOMANYREQUESTS".to_owned(), 429)
                }
                FaultEffect::Malformed => {
                    let (body, content_type) = malformed_body(&action, is_openapi);
                    let r = json_response(StatusCode::OK, body.to_owned(), content_type);
                    (r, "Malformed".to_owned(), 200)
                }
                FaultEffect::Error { status, code } => {
                    let st =
                        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let r = if is_openapi {
                        crate::openapi::error_response(
                            &req,
                            st,
                            &code,
                            "injected by a fake-acr fault rule",
                        )
                    } else {
                        crate::registry::error_response(
                            st,
                            &code,
                            "injected by a fake-acr fault rule",
                        )
                    };
                    (r, code, status)
                }
            };
            app.record(seen.entry(&app, &action, None, &result, status));
            return Ok(response);
        }
    }
    let outcome = match &target {
        Target::OpenApi { region } => crate::openapi::handle(&app, &req, region, action),
        _ => crate::registry::handle(&app, &req, &target, action),
    };
    let status = outcome.response.status().as_u16();
    app.record(seen.entry(
        &app,
        &outcome.action,
        outcome.principal.clone(),
        &outcome.result,
        status,
    ));
    Ok(outcome.response)
}

/// The `malformed` fault's body: the start of what the action answers, cut off mid-object so
/// no JSON parser accepts it.
fn malformed_body(action: &str, is_openapi: bool) -> (&'static str, &'static str) {
    if is_openapi {
        (
            r#"{"RequestId":"00000000-0000-0000-0000-000000000000","Code":"success","IsSuccess":true,"AuthorizationToken":"eyJpbnN0YW5jZUlkIjoi"#,
            "application/json;charset=utf-8",
        )
    } else if action == "Registry.Token" {
        (
            r#"{"token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.","expires_in":"#,
            "application/json",
        )
    } else {
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"#,
            "application/json",
        )
    }
}

/// What the log knows of a request before it is answered.
struct Seen<'a> {
    host: &'a str,
    region: &'a str,
    instance_id: Option<String>,
    access_key_id: Option<String>,
}

impl Seen<'_> {
    fn entry(
        &self,
        app: &App,
        action: &str,
        principal: Option<String>,
        result: &str,
        status: u16,
    ) -> LogEntry {
        LogEntry {
            time: app.admin.now().to_string(),
            host: self.host.to_owned(),
            region: Some(self.region.to_owned()),
            action: action.to_owned(),
            principal,
            result: result.to_owned(),
            status,
            instance_id: self.instance_id.clone(),
            access_key_id: self.access_key_id.clone(),
        }
    }
}
