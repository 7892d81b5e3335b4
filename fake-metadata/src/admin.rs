//! Control of a running fake: the in-process [`Admin`] handle and the same operations as a JSON
//! HTTP API on a separate listener.

use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::faults::{FaultRule, InstalledFault};
use crate::service::Shared;
use crate::settings::{HardenedMode, Listeners, Replacement, Settings, SettingsError};
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

    /// Installs a fault rule; returns its id.
    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        self.shared.lock().add_fault(rule)
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

    /// Moves the fake's clock by `offset` from the system clock.
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        self.shared.lock().set_clock_offset(offset);
    }

    /// Switches hardened mode.
    pub fn set_hardened(&self, mode: HardenedMode) {
        self.shared.lock().settings.hardened = mode;
    }

    /// Attaches a role (or none: "no role attached").
    pub fn set_role(&self, role: Option<String>) {
        self.shared.lock().settings.role = role;
    }

    /// Schedules a spot termination (`instance/spot/termination-time`), or cancels it.
    pub fn set_spot_termination(&self, time: Option<String>) {
        self.shared.lock().settings.instance.spot_termination_time = time;
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

/// 400 with the message and, when the error is about one setting, its name.
fn settings_error(e: &SettingsError) -> Response {
    let mut body = serde_json::json!({ "error": e.to_string() });
    if let Some(field) = e.field() {
        body["field"] = field.into();
    }
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// The admin HTTP API.
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route(
            "/state",
            get(|AxumState(a): AxumState<Admin>| async move { Json(a.state()) }),
        )
        .route(
            "/faults",
            get(|AxumState(a): AxumState<Admin>| async move { Json(a.faults()) })
                .post(
                    |AxumState(a): AxumState<Admin>, Json(rule): Json<FaultRule>| async move {
                        if rule.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
                            return error(
                                StatusCode::BAD_REQUEST,
                                "probability must be within 0.0..=1.0",
                            );
                        }
                        let id = a.add_fault(rule);
                        (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response()
                    },
                )
                .delete(|AxumState(a): AxumState<Admin>| async move {
                    a.clear_faults();
                    StatusCode::NO_CONTENT
                }),
        )
        .route(
            "/faults/{id}",
            delete(
                |AxumState(a): AxumState<Admin>, Path(id): Path<u64>| async move {
                    if a.remove_fault(id) {
                        StatusCode::NO_CONTENT.into_response()
                    } else {
                        error(
                            StatusCode::NOT_FOUND,
                            &format!("no fault rule with id {id}"),
                        )
                    }
                },
            ),
        )
        .route(
            "/requests",
            get(|AxumState(a): AxumState<Admin>| async move { Json(a.requests()) }).delete(
                |AxumState(a): AxumState<Admin>| async move {
                    a.clear_requests();
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/rotate",
            post(|AxumState(a): AxumState<Admin>| async move {
                match a.rotate() {
                    Some(summary) => Json(summary).into_response(),
                    None => error(StatusCode::CONFLICT, "no role attached: nothing to rotate"),
                }
            }),
        )
        .route(
            "/clock",
            put(
                |AxumState(a): AxumState<Admin>, Json(body): Json<ClockOffset>| async move {
                    a.set_clock_offset(chrono::Duration::seconds(body.offset_seconds));
                    Json(a.state())
                },
            ),
        )
        .route(
            "/hardened",
            put(
                |AxumState(a): AxumState<Admin>, Json(body): Json<HardenedBody>| async move {
                    a.set_hardened(body.mode);
                    Json(a.state())
                },
            ),
        )
        .route(
            "/role",
            put(
                |AxumState(a): AxumState<Admin>, Json(body): Json<RoleBody>| async move {
                    a.set_role(body.role);
                    Json(a.state())
                },
            ),
        )
        .route(
            "/spot",
            put(
                |AxumState(a): AxumState<Admin>, Json(body): Json<SpotBody>| async move {
                    a.set_spot_termination(body.termination_time);
                    Json(a.state())
                },
            ),
        )
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
