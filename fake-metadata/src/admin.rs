//! Control of a running fake: the in-process [`Admin`] handle and the same operations as a JSON
//! HTTP API on a separate listener.

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use fake_server_kit::admin_api::{self, FaultOperations, Refusal};
use serde::{Deserialize, Serialize};

use crate::faults::{FaultRule, InstalledFault};
use crate::service::Shared;
use crate::settings::{
    HardenedMode, Listeners, MAX_CLOCK_OFFSET_SECONDS, Replacement, Settings, SettingsError,
    check_rfc3339, check_role,
};
use crate::state::{CredentialsSummary, RequestRecord, StateSnapshot};

/// In-process control of a running fake (the admin HTTP API does the same).
#[derive(Clone)]
pub struct Admin {
    shared: Shared,
    listeners: Listeners,
}

impl Admin {
    pub(crate) fn new(shared: Shared, listeners: Listeners) -> Self {
        Self { shared, listeners }
    }

    /// The settings in force (start-up settings plus run-time changes of hardened mode, role
    /// and spot time), with the bound listener addresses. Holds the account secret: show
    /// [`Settings::redacted`] instead.
    pub fn settings(&self) -> Settings {
        let mut settings = self.shared.lock().settings.clone();
        settings.listen = self.listeners.bound;
        settings.admin_listen = self.listeners.admin_bound;
        settings
    }

    /// Makes `settings` the start-up settings and resets to them: faults, clock, request log,
    /// credentials and tokens all as after a fresh start. The listener addresses must be the
    /// running ones (configured or bound): a live listener cannot move. An account secret of
    /// `<redacted>` (as `GET /settings` shows it) keeps the running secret.
    pub fn replace_settings(&self, settings: Settings) -> Result<(), SettingsError> {
        let (listen, admin_listen) = (settings.listen, settings.admin_listen);
        self.apply(Replacement {
            settings,
            listen: Some(listen),
            admin_listen: Some(admin_listen),
        })
    }

    fn apply(&self, replacement: Replacement) -> Result<(), SettingsError> {
        let mut settings = self.listeners.accept(
            replacement.settings,
            replacement.listen,
            replacement.admin_listen,
        )?;
        let mut state = self.shared.lock();
        settings.restore_redacted(&state.settings);
        tracing::info!(
            region = %settings.instance.region_id,
            role = settings.role.as_deref().unwrap_or("<none>"),
            hardened = ?settings.hardened,
            faults = settings.faults.len(),
            "settings replaced; state reset to them"
        );
        state.replace(settings);
        Ok(())
    }

    /// Installs a fault rule after [`FaultRule::validate`]; returns its id. A refused rule is
    /// not installed.
    pub fn try_add_fault(&self, rule: FaultRule) -> Result<u64, SettingsError> {
        crate::faults::validate(&rule, "fault")?;
        Ok(self.shared.lock().add_fault(rule))
    }

    /// Installs a fault rule; returns its id.
    ///
    /// # Panics
    /// When the rule is invalid ([`FaultRule::validate`]); use [`Admin::try_add_fault`] for
    /// rules from outside.
    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        self.try_add_fault(rule)
            .unwrap_or_else(|e| panic!("fake-metadata add_fault: {e}"))
    }

    /// Removes one fault rule; false if there is none with that id.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.shared.lock().remove_fault(id)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.lock().clear_faults();
    }

    /// The installed fault rules and how often each fired.
    pub fn faults(&self) -> Vec<InstalledFault> {
        self.shared.lock().faults_mut().clone()
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests()
    }

    /// Clears the request log.
    pub fn clear_requests(&self) {
        self.shared.lock().clear_requests();
    }

    /// Issues new credentials now; none when no role is attached.
    pub fn rotate(&self) -> Option<CredentialsSummary> {
        self.shared.lock().rotate()
    }

    /// Moves the fake's clock by `offset` from the system clock, within
    /// ±[`MAX_CLOCK_OFFSET_SECONDS`](crate::settings::MAX_CLOCK_OFFSET_SECONDS); otherwise
    /// refused and the offset unchanged.
    pub fn try_set_clock_offset(&self, offset: jiff::SignedDuration) -> Result<(), SettingsError> {
        self.shared.lock().set_clock_offset(offset)
    }

    /// Moves the fake's clock by `offset` from the system clock.
    ///
    /// # Panics
    /// When `offset` is beyond ±100 years; use [`Admin::try_set_clock_offset`] for values from
    /// outside.
    pub fn set_clock_offset(&self, offset: jiff::SignedDuration) {
        self.try_set_clock_offset(offset)
            .unwrap_or_else(|e| panic!("fake-metadata set_clock_offset: {e}"));
    }

    /// Switches hardened mode.
    pub fn set_hardened(&self, mode: HardenedMode) {
        self.shared.lock().settings.hardened = mode;
    }

    /// Attaches a role (or none: "no role attached"); a name [`check_role`] refuses changes
    /// nothing.
    pub fn try_set_role(&self, role: Option<String>) -> Result<(), SettingsError> {
        if let Some(r) = &role {
            check_role("role", r)?;
        }
        self.shared.lock().settings.role = role;
        Ok(())
    }

    /// Attaches a role (or none: "no role attached").
    ///
    /// # Panics
    /// When the name is not a role name ([`check_role`]); use [`Admin::try_set_role`] for
    /// values from outside.
    pub fn set_role(&self, role: Option<String>) {
        self.try_set_role(role)
            .unwrap_or_else(|e| panic!("fake-metadata set_role: {e}"));
    }

    /// Schedules a spot termination (`instance/spot/termination-time`, RFC 3339), or cancels
    /// it; a time that is not RFC 3339 changes nothing.
    pub fn try_set_spot_termination(&self, time: Option<String>) -> Result<(), SettingsError> {
        if let Some(t) = &time {
            check_rfc3339("termination_time", t)?;
        }
        self.shared.lock().settings.instance.spot_termination_time = time;
        Ok(())
    }

    /// Schedules a spot termination (`instance/spot/termination-time`), or cancels it.
    ///
    /// # Panics
    /// When the time is not RFC 3339; use [`Admin::try_set_spot_termination`] for values from
    /// outside.
    pub fn set_spot_termination(&self, time: Option<String>) {
        self.try_set_spot_termination(time)
            .unwrap_or_else(|e| panic!("fake-metadata set_spot_termination: {e}"));
    }

    /// Back to the start-up state (settings, faults, clock); empties the request log.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }

    /// The current state.
    pub fn state(&self) -> StateSnapshot {
        self.shared.lock().snapshot()
    }
}

/// Body of `PUT /clock`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClockOffset {
    /// Seconds added to the system clock (negative: the past).
    pub offset_seconds: i64,
}

/// Body of `PUT /hardened`.
#[derive(Debug, Serialize, Deserialize)]
pub struct HardenedBody {
    /// `optional` or `required`.
    pub mode: HardenedMode,
}

/// Body of `PUT /role`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoleBody {
    /// Role name, or null for "no role attached".
    pub role: Option<String>,
}

/// Body of `PUT /spot`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SpotBody {
    /// RFC 3339 termination time, or null to cancel.
    pub termination_time: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// The message and, when the error is about one setting, its name.
fn refusal(e: &SettingsError) -> Refusal {
    Refusal::new(e.to_string(), e.field())
}

/// 400 with the message and, when the error is about one setting, its name.
fn settings_error(e: &SettingsError) -> Response {
    refusal(e).into_response()
}

/// A small admin body: a JSON object whose keys are all in `fields`, each present. Refusals
/// name the body (`what`), the field and what is accepted.
fn object(
    what: &str,
    body: &[u8],
    fields: &[(&str, &str)],
) -> Result<serde_json::Map<String, serde_json::Value>, Box<Response>> {
    let shape = fields
        .iter()
        .map(|(f, accepted)| format!("\"{f}\": {accepted}"))
        .collect::<Vec<_>>()
        .join(", ");
    let refuse = |field: Option<&str>, reason: String| {
        let mut body =
            serde_json::json!({ "error": format!("{what}: {reason}; expected {{{shape}}}") });
        if let Some(f) = field {
            body["field"] = f.into();
        }
        Box::new((StatusCode::BAD_REQUEST, Json(body)).into_response())
    };
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| refuse(None, format!("the body is not JSON ({e})")))?;
    let serde_json::Value::Object(map) = doc else {
        return Err(refuse(None, format!("the body is {doc}, not an object")));
    };
    if let Some(other) = map.keys().find(|k| !fields.iter().any(|(f, _)| f == k)) {
        return Err(refuse(Some(other), format!("unknown field {other:?}")));
    }
    if let Some((missing, _)) = fields.iter().find(|(f, _)| !map.contains_key(*f)) {
        return Err(refuse(Some(missing), format!("missing field {missing:?}")));
    }
    Ok(map)
}

/// 400 naming `field`, the `value` and what is accepted.
fn refused(what: &str, field: &str, value: &serde_json::Value, accepted: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({
            "error": format!("{what}: {field} = {value} is not accepted: {accepted}"),
            "field": field,
        })),
    )
        .into_response()
}

/// `PUT /clock {"offset_seconds": N}`.
async fn put_clock(AxumState(a): AxumState<Admin>, body: Bytes) -> Response {
    let accepted =
        format!("an integer in -{MAX_CLOCK_OFFSET_SECONDS}..={MAX_CLOCK_OFFSET_SECONDS}");
    let map = match object("clock", &body, &[("offset_seconds", &accepted)]) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let value = &map["offset_seconds"];
    match value
        .as_i64()
        .filter(|n| n.unsigned_abs() <= MAX_CLOCK_OFFSET_SECONDS.unsigned_abs())
    {
        Some(n) => match a.try_set_clock_offset(jiff::SignedDuration::from_secs(n)) {
            Ok(()) => Json(a.state()).into_response(),
            Err(e) => settings_error(&e),
        },
        None => refused("clock", "offset_seconds", value, &accepted),
    }
}

/// `PUT /hardened {"mode": "optional"|"required"}`.
async fn put_hardened(AxumState(a): AxumState<Admin>, body: Bytes) -> Response {
    let accepted = "\"optional\" or \"required\"";
    let map = match object("hardened", &body, &[("mode", accepted)]) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let value = &map["mode"];
    match value.as_str().map(str::parse::<HardenedMode>) {
        Some(Ok(mode)) => {
            a.set_hardened(mode);
            Json(a.state()).into_response()
        }
        _ => refused("hardened", "mode", value, accepted),
    }
}

/// `PUT /role {"role": NAME|null}`.
async fn put_role(AxumState(a): AxumState<Admin>, body: Bytes) -> Response {
    let accepted = "a role name (1 to 64 of A-Z a-z 0-9 . - _) or null";
    let map = match object("role", &body, &[("role", accepted)]) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let role = match &map["role"] {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => return refused("role", "role", other, accepted),
    };
    match a.try_set_role(role) {
        Ok(()) => Json(a.state()).into_response(),
        Err(e) => settings_error(&e),
    }
}

/// `PUT /spot {"termination_time": RFC3339|null}`.
async fn put_spot(AxumState(a): AxumState<Admin>, body: Bytes) -> Response {
    let accepted = "an RFC 3339 time like \"2026-11-28T20:00:00Z\" or null";
    let map = match object("spot", &body, &[("termination_time", accepted)]) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let time = match &map["termination_time"] {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => return refused("spot", "termination_time", other, accepted),
    };
    match a.try_set_spot_termination(time) {
        Ok(()) => Json(a.state()).into_response(),
        Err(e) => settings_error(&e),
    }
}

/// Where the request log is served (`GET`/`DELETE`).
pub(crate) const REQUESTS_PATH: &str = "/requests";

/// `POST /faults` after the kit parsed the rule: validated before it is installed; the 201
/// carries the rule's id.
fn install_fault(a: &Admin, rule: FaultRule) -> Result<Option<u64>, Refusal> {
    a.try_add_fault(rule).map(Some).map_err(|e| refusal(&e))
}

/// The admin HTTP API.
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route(
            "/state",
            get(|AxumState(a): AxumState<Admin>| async move { Json(a.state()) }),
        )
        .merge(admin_api::fault_rules(FaultOperations {
            rule_name: "fault rule",
            list: Admin::faults,
            install: install_fault,
            clear: Admin::clear_faults,
        }))
        .merge(admin_api::fault_rule_removal(Admin::remove_fault))
        .merge(admin_api::request_log(
            REQUESTS_PATH,
            Admin::requests,
            Admin::clear_requests,
        ))
        .route(
            "/rotate",
            post(|AxumState(a): AxumState<Admin>| async move {
                match a.rotate() {
                    Some(summary) => Json(summary).into_response(),
                    None => error(StatusCode::CONFLICT, "no role attached: nothing to rotate"),
                }
            }),
        )
        .route("/clock", put(put_clock))
        .route("/hardened", put(put_hardened))
        .route("/role", put(put_role))
        .route("/spot", put(put_spot))
        .route(
            "/settings",
            get(|AxumState(a): AxumState<Admin>| async move { Json(a.settings().redacted()) }).put(
                |AxumState(a): AxumState<Admin>, body: Bytes| async move {
                    match Replacement::parse(&body).and_then(|r| a.apply(r)) {
                        Ok(()) => Json(a.state()).into_response(),
                        Err(e) => settings_error(&e),
                    }
                },
            ),
        )
        .route(
            "/reset",
            post(|AxumState(a): AxumState<Admin>| async move {
                a.reset();
                Json(a.state())
            }),
        )
        .with_state(admin)
}
