//! The metadata endpoints (docs/wire.md): paths, directory listings, RAM-role credentials, hardened
//! mode and fault injection. Routes on the path only, so absolute-form (proxy) targets work.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use acs_wire::sts::EcsRamRoleCredentials;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};

use crate::faults::{self, FaultKind};
use crate::settings::{HardenedMode, Settings};
use crate::state::{MAX_TOKEN_TTL_SECONDS, RequestRecord, State, TokenUse};

/// Header carrying the hardened-mode token on GETs (header names are case-insensitive).
pub const TOKEN_HEADER: &str = "x-aliyun-ecs-metadata-token";
/// Header carrying the requested token TTL on `PUT /latest/api/token`.
pub const TOKEN_TTL_HEADER: &str = "x-aliyun-ecs-metadata-token-ttl-seconds";
/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// Directory of the RAM-role credentials.
pub const CREDENTIALS_DIR: &str = "/latest/meta-data/ram/security-credentials/";

/// Shared between the metadata service, the admin API and the in-process admin handle.
#[derive(Clone)]
pub struct Shared {
    state: Arc<Mutex<State>>,
}

impl Shared {
    /// Shared state for these settings.
    pub fn new(settings: Settings) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::new(settings))),
        }
    }

    /// Locks the state; a panic while holding the lock leaves state that is still consistent
    /// (every mutation is a single assignment), so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The marker a response carries to close the connection without an answer.
pub use fake_server_kit::http1::DropConnection;

/// The body of the real server's 404 (an XHTML page, aliyun-cli issue #525).
fn html_error(status: StatusCode) -> Response {
    let title = format!(
        "{} - {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n\
<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\
\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n\
 <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n </body>\n</html>\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body.into()).into_response()
}

/// Every leaf path with its value, for the current settings (credentials excepted: the role's
/// leaf value is a placeholder, served by the credentials branch).
fn leaves(s: &Settings) -> Vec<(String, String)> {
    let i = &s.instance;
    let md = |p: &str| format!("/latest/meta-data/{p}");
    let mut out = vec![
        (md("region-id"), i.region_id.clone()),
        (md("zone-id"), s.zone_id()),
        (md("instance-id"), i.instance_id.clone()),
        (md("owner-account-id"), s.owner_account_id()),
        (md("hostname"), i.hostname.clone()),
        (md("image-id"), i.image_id.clone()),
        (md("serial-number"), i.serial_number.clone()),
        (md("source-address"), i.source_address.clone()),
        (md("instance/instance-type"), i.instance_type.clone()),
        (md("instance/instance-name"), i.instance_name.clone()),
        (md("vpc-id"), i.vpc_id.clone()),
        (md("vpc-cidr-block"), i.vpc_cidr_block.clone()),
        (md("vswitch-id"), i.vswitch_id.clone()),
        (md("vswitch-cidr-block"), i.vswitch_cidr_block.clone()),
        (md("private-ipv4"), i.private_ipv4.clone()),
        (md("public-ipv4"), i.public_ipv4.clone()),
        (md("eipv4"), i.eipv4.clone()),
        (md("network-type"), i.network_type.clone()),
        (md("mac"), i.mac.clone()),
        (md("dns-conf/nameservers"), i.nameservers.join("\n")),
        (md("ntp-conf/ntp-servers"), i.ntp_servers.join("\n")),
        (
            "/latest/dynamic/instance-identity/document".into(),
            identity_document(s),
        ),
        ("/latest/user-data".into(), i.user_data.clone()),
    ];
    if let Some(time) = &i.spot_termination_time {
        out.push((md("instance/spot/termination-time"), time.clone()));
    }
    if let Some(role) = &s.role {
        out.push((format!("{CREDENTIALS_DIR}{role}"), String::new()));
    }
    out
}

/// The instance identity document (field set of ack-ram-tool `dynamic.go`).
fn identity_document(s: &Settings) -> String {
    let i = &s.instance;
    serde_json::json!({
        "account-id": s.owner_account_id(),
        "owner-account-id": s.owner_account_id(),
        "instance-id": i.instance_id,
        "mac": i.mac,
        "region-id": i.region_id,
        "serial-number": i.serial_number,
        "zone-id": s.zone_id(),
        "instance-type": i.instance_type,
        "image-id": i.image_id,
        "private-ip": i.private_ipv4,
    })
    .to_string()
}

/// What a GET of `path` returns from the tree: a leaf's value, or a directory's children.
fn lookup(s: &Settings, path: &str) -> Option<String> {
    let leaves = leaves(s);
    if let Some((_, value)) = leaves.iter().find(|(p, _)| p == path) {
        return Some(value.clone());
    }
    let dir = if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    let children: BTreeSet<String> = leaves
        .iter()
        .filter_map(|(p, _)| p.strip_prefix(&dir))
        .map(|rest| match rest.split_once('/') {
            Some((child, _)) => format!("{child}/"),
            None => rest.to_owned(),
        })
        .collect();
    (!children.is_empty()).then(|| children.into_iter().collect::<Vec<_>>().join("\n"))
}

/// Serves one metadata request (axum fallback handler).
pub async fn handle(AxumState(shared): AxumState<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let token_header = request
        .headers()
        .get(TOKEN_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let (token, plan) = {
        let mut state = shared.lock();
        let token = state.check_token(token_header.as_deref());
        let now = state.now();
        let plan = faults::plan(
            state.faults_mut(),
            method.as_str(),
            &path,
            now,
            rand::random,
        );
        (token, plan)
    };
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    let response = match &plan.action {
        Some(FaultKind::Status { status, body }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            text(status, body.clone())
        }
        Some(FaultKind::DropConnection) => {
            let mut r = Response::new(Body::empty());
            r.extensions_mut().insert(DropConnection);
            r
        }
        action => answer(
            &shared,
            &method,
            &path,
            request.headers(),
            token,
            action.as_ref(),
        ),
    };
    let dropped = response.extensions().get::<DropConnection>().is_some();
    let status = (!dropped).then(|| response.status().as_u16());
    tracing::info!(
        method = %method,
        path = %path,
        token = token.as_str(),
        status = status.map_or_else(|| "dropped".to_owned(), |s| s.to_string()),
        faults = ?plan.fired,
        "metadata request"
    );
    let mut state = shared.lock();
    let record = RequestRecord {
        time: state.now(),
        method: method.to_string(),
        path,
        token,
        status,
        faults: plan.fired.iter().map(|s| (*s).to_owned()).collect(),
    };
    state.log_request(record);
    response
}

fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
    token: TokenUse,
    action: Option<&FaultKind>,
) -> Response {
    if path == TOKEN_PATH {
        if method != Method::PUT {
            return html_error(StatusCode::METHOD_NOT_ALLOWED);
        }
        let ttl = headers
            .get(TOKEN_TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|ttl| (1..=MAX_TOKEN_TTL_SECONDS).contains(ttl));
        let Some(ttl) = ttl else {
            return html_error(StatusCode::BAD_REQUEST);
        };
        let token = shared.lock().issue_token(ttl);
        let mut response = text(StatusCode::OK, token);
        if let Ok(value) = HeaderValue::from_str(&ttl.to_string()) {
            response.headers_mut().insert(TOKEN_TTL_HEADER, value);
        }
        return response;
    }
    if method != Method::GET && method != Method::HEAD {
        return html_error(StatusCode::METHOD_NOT_ALLOWED);
    }
    let mut state = shared.lock();
    // A token that is sent must be good even in optional mode (as AEMM does; real ECS: UNVERIFIED).
    let refused = matches!(
        (state.settings.hardened, token),
        (_, TokenUse::Invalid) | (HardenedMode::Required, TokenUse::None)
    );
    if refused {
        return html_error(StatusCode::UNAUTHORIZED);
    }
    if let Some(name) = path.strip_prefix(CREDENTIALS_DIR).filter(|n| !n.is_empty()) {
        let Some(role) = state.settings.role.clone().filter(|r| r == name) else {
            return html_error(StatusCode::NOT_FOUND);
        };
        let issued = match action {
            Some(FaultKind::ExpiredCredentials) => state.expired_credentials(&role),
            _ => state.credentials(&role),
        };
        drop(state);
        let mut document = EcsRamRoleCredentials::from_sts(&issued.credentials);
        if matches!(action, Some(FaultKind::MissingCode)) {
            document.code = None;
        }
        let mut body = document.render();
        if matches!(action, Some(FaultKind::MalformedJson)) {
            // Cut inside the SecurityToken value: unterminated string, unbalanced brace.
            let cut = body
                .find("\"SecurityToken\"")
                .map_or(body.len() / 2, |i| i + 30);
            body.truncate(cut.min(body.len()));
        }
        return text(StatusCode::OK, body);
    }
    match lookup(&state.settings, path) {
        Some(body) => text(StatusCode::OK, body),
        None => html_error(StatusCode::NOT_FOUND),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_list_children_one_per_line() {
        let s = Settings::default();
        let root = lookup(&s, "/latest/").unwrap();
        assert_eq!(root, "dynamic/\nmeta-data/\nuser-data");
        let md = lookup(&s, "/latest/meta-data/").unwrap();
        assert!(md.lines().any(|l| l == "ram/"));
        assert!(md.lines().any(|l| l == "instance/"));
        assert!(md.lines().any(|l| l == "region-id"));
        assert_eq!(
            lookup(&s, CREDENTIALS_DIR).unwrap(),
            crate::settings::DEFAULT_ROLE
        );
        assert_eq!(
            lookup(&s, "/latest/meta-data/instance/spot/termination-time"),
            None
        );
        assert_eq!(lookup(&s, "/latest/meta-data/nope"), None);
        let no_role = Settings {
            role: None,
            ..Settings::default()
        };
        assert_eq!(lookup(&no_role, CREDENTIALS_DIR), None);
    }
}
