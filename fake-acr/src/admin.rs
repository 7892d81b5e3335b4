//! Run-time control: fault rules, the request log, the clock offset, the token lifetime;
//! in-process through [`Admin`] and over HTTP through [`router`] (separate listener).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post, put};
use fake_server_kit::admin_api::{self, FaultOperations, Refusal};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::faults::{FaultEffect, FaultRule, Faults, RequestFacts};
use crate::hosts;
use crate::settings::{
    BoundAddrs, InvalidValue, LiveFieldConflict, MAX_CLOCK_OFFSET_SECS, MAX_LIFETIME_SECS,
    Settings, SettingsError, check_range,
};
use crate::world::World;

/// One request as the log records it (`GET /log`). fake-metadata's `RequestRecord` is another
/// shape on purpose: it records paths and tokens, this one OpenAPI actions, principals, results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Server time (with the clock offset), RFC 3339.
    pub time: String,
    /// Host header, without port.
    pub host: String,
    /// Region the host belongs to.
    pub region: Option<String>,
    /// Action (OpenAPI action or `Registry.*`).
    pub action: String,
    /// Principal (`role/<name>`, `user/<name>`), when known.
    pub principal: Option<String>,
    /// `Success` or the error code returned.
    pub result: String,
    /// HTTP status (0 for a dropped connection).
    pub status: u16,
    /// The Enterprise Edition instance the request concerns, when known: an OpenAPI call's
    /// `InstanceId`, an instance registry host, an EE token service `service`.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// The AccessKeyId that signed an OpenAPI call (an id, never a secret or token).
    #[serde(default)]
    pub access_key_id: Option<String>,
}

/// What a running fake keeps for its whole life: the TLS certificate and the listeners.
pub(crate) struct Fixed {
    /// Test CA certificate, PEM; empty in plain-HTTP mode.
    pub ca_pem: String,
    /// Names the serving certificate covers; `None` in plain-HTTP mode.
    pub cert_names: Option<Vec<String>>,
    /// Where the listeners are bound.
    pub bound: BoundAddrs,
}

struct Shared {
    /// The served world, swapped whole by [`Admin::replace_settings`].
    world: RwLock<Arc<World>>,
    faults: Mutex<Faults>,
    log: Mutex<Vec<LogEntry>>,
    /// Seen nonces with their expiry, and when expired ones were last pruned (Unix s).
    nonces: Mutex<(HashMap<String, i64>, i64)>,
    clock_offset_secs: AtomicI64,
    token_lifetime_secs: AtomicU64,
    fixed: Fixed,
}

/// Handle on a running fake-acr's controls; cheap to clone.
#[derive(Clone)]
pub struct Admin {
    shared: Arc<Shared>,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("bound", &self.shared.fixed.bound)
            .finish_non_exhaustive()
    }
}

/// Why [`Admin::replace_settings`] refused new settings; the running world is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The settings are inconsistent on their own.
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    /// A listener-bound field differs from the running value.
    #[error(
        "fake-acr settings: {} is {} but the running fake has {}; it cannot change on a live listener (leave it out or give the running value)",
        .0.field, .0.requested, .0.running
    )]
    LiveField(LiveFieldConflict),
    /// Host names the running TLS certificate does not cover.
    #[error(
        "fake-acr settings: the running TLS certificate does not cover {}; restart fake-acr with these settings to serve them",
        .hosts.join(", ")
    )]
    HostsNotCovered {
        /// The uncovered host names.
        hosts: Vec<String>,
    },
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Admin {
    pub(crate) fn new(settings: Settings, fixed: Fixed) -> Self {
        let world = World::new(settings, fixed.bound.listen.port(), 0);
        Self {
            shared: Arc::new(Shared {
                faults: Mutex::new(Faults::new(&world.settings.faults)),
                log: Mutex::new(Vec::new()),
                nonces: Mutex::new((HashMap::new(), 0)),
                clock_offset_secs: AtomicI64::new(0),
                token_lifetime_secs: AtomicU64::new(world.settings.token_lifetime_secs),
                world: RwLock::new(Arc::new(world)),
                fixed,
            }),
        }
    }

    /// The world requests are served from now.
    pub(crate) fn world(&self) -> Arc<World> {
        self.shared
            .world
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The running settings (secrets included; `Debug` and [`Settings::redacted`] hide them),
    /// with `listen` and `admin_listen` as bound.
    pub fn settings(&self) -> Settings {
        let mut s = self.world().settings.clone();
        s.listen = self.shared.fixed.bound.listen;
        s.admin_listen = self.shared.fixed.bound.admin_listen;
        s
    }

    /// Serves `settings` from now on as if freshly started with them: world, faults, token
    /// lifetime replaced; log and nonces emptied; clock offset 0. Listener-bound fields must be
    /// left at their defaults or equal the running values ([`Settings::adopt_live_fields`]),
    /// `"<redacted>"` secrets keep the running ones, and over TLS every host name must be covered
    /// by the running certificate.
    pub fn replace_settings(&self, settings: Settings) -> Result<(), ReplaceError> {
        let running = self.world();
        let mut settings = settings;
        settings.restore_redacted(&running.settings)?;
        let settings = settings
            .adopt_live_fields(&running.settings, self.shared.fixed.bound)
            .map_err(ReplaceError::LiveField)?;
        settings.validate()?;
        if let Some(names) = &self.shared.fixed.cert_names {
            let mut missing: Vec<String> = hosts::all(&settings)
                .into_iter()
                .map(|(h, _)| h)
                .filter(|h| !names.contains(h))
                .collect();
            if !missing.is_empty() {
                missing.sort();
                missing.dedup();
                return Err(ReplaceError::HostsNotCovered { hosts: missing });
            }
        }
        let world = World::new(
            settings,
            self.shared.fixed.bound.listen.port(),
            running.generation + 1,
        );
        // The log lock first (as `record` takes it): no entry of the old world lands after
        // the swap.
        let mut log = lock(&self.shared.log);
        *lock(&self.shared.faults) = Faults::new(&world.settings.faults);
        lock(&self.shared.nonces).0.clear();
        self.shared.clock_offset_secs.store(0, Ordering::SeqCst);
        self.shared
            .token_lifetime_secs
            .store(world.settings.token_lifetime_secs.max(1), Ordering::SeqCst);
        *self.shared.world.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(world);
        log.clear();
        Ok(())
    }

    /// Server time: wall clock plus the offset (checked arithmetic: the offset is bounded when
    /// set, and an impossible sum stays at the wall clock rather than panicking).
    pub fn now(&self) -> Timestamp {
        let wall = Timestamp::now();
        wall.checked_add(jiff::SignedDuration::from_secs(self.clock_offset_secs()))
            .unwrap_or(wall)
    }

    /// Shifts the server clock by `secs` (negative: into the past), within
    /// ±[`MAX_CLOCK_OFFSET_SECS`]; otherwise refused and the offset unchanged.
    pub fn try_set_clock_offset_secs(&self, secs: i64) -> Result<(), InvalidValue> {
        check_range(
            "offset_secs",
            secs,
            -MAX_CLOCK_OFFSET_SECS,
            MAX_CLOCK_OFFSET_SECS,
        )?;
        self.shared.clock_offset_secs.store(secs, Ordering::SeqCst);
        Ok(())
    }

    /// Shifts the server clock by `secs` (negative: into the past).
    ///
    /// # Panics
    /// When `secs` is beyond ±[`MAX_CLOCK_OFFSET_SECS`] (100 years); use
    /// [`Admin::try_set_clock_offset_secs`] for values from outside.
    pub fn set_clock_offset_secs(&self, secs: i64) {
        if let Err(e) = self.try_set_clock_offset_secs(secs) {
            panic!("fake-acr set_clock_offset_secs: {e}");
        }
    }

    /// Current clock offset, seconds.
    pub fn clock_offset_secs(&self) -> i64 {
        self.shared.clock_offset_secs.load(Ordering::SeqCst)
    }

    /// Lifetime of registry passwords issued from now on, seconds, within
    /// 1..=[`MAX_LIFETIME_SECS`]; otherwise refused and the lifetime unchanged.
    pub fn try_set_token_lifetime_secs(&self, secs: u64) -> Result<(), InvalidValue> {
        check_range("secs", secs, 1, MAX_LIFETIME_SECS)?;
        self.shared
            .token_lifetime_secs
            .store(secs, Ordering::SeqCst);
        Ok(())
    }

    /// Lifetime of registry passwords issued from now on, seconds, clamped into
    /// 1..=[`MAX_LIFETIME_SECS`].
    pub fn set_token_lifetime_secs(&self, secs: u64) {
        self.shared
            .token_lifetime_secs
            .store(secs.clamp(1, MAX_LIFETIME_SECS), Ordering::SeqCst);
    }

    /// Current registry password lifetime, seconds.
    pub fn token_lifetime_secs(&self) -> u64 {
        self.shared.token_lifetime_secs.load(Ordering::SeqCst)
    }

    /// Adds a fault rule after [`FaultRule::validate`]; a refused rule is not added.
    pub fn try_add_fault(&self, rule: FaultRule) -> Result<(), InvalidValue> {
        rule.validate("fault")?;
        lock(&self.shared.faults).add(rule);
        Ok(())
    }

    /// Adds a fault rule.
    ///
    /// # Panics
    /// When the rule is invalid ([`FaultRule::validate`]); use [`Admin::try_add_fault`] for
    /// rules from outside.
    pub fn add_fault(&self, rule: FaultRule) {
        if let Err(e) = self.try_add_fault(rule) {
            panic!("fake-acr add_fault: {e}");
        }
    }

    /// Active fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.shared.faults).remaining()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    /// Every logged request, oldest first.
    pub fn log(&self) -> Vec<LogEntry> {
        lock(&self.shared.log).clone()
    }

    /// Number of logged requests with `action`.
    pub fn count(&self, action: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.action == action)
            .count()
    }

    /// Empties the request log.
    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Back to the running settings' start state: their faults and lifetime, no offset, empty
    /// log and nonces.
    pub fn reset(&self) {
        let world = self.world();
        *lock(&self.shared.faults) = Faults::new(&world.settings.faults);
        self.clear_log();
        lock(&self.shared.nonces).0.clear();
        self.set_clock_offset_secs(0);
        self.set_token_lifetime_secs(world.settings.token_lifetime_secs);
    }

    /// Logs `entry`, a request served from world `generation` (dropped if since replaced).
    pub(crate) fn record(&self, entry: LogEntry, generation: u64) {
        let mut log = lock(&self.shared.log);
        if self.world().generation == generation {
            log.push(entry);
        }
    }
    /// Remembers `key` until `expires_at` (Unix s); false if it was already there (replay).
    pub(crate) fn remember_nonce(&self, key: String, expires_at: i64) -> bool {
        let now = self.now().as_second();
        let mut guard = lock(&self.shared.nonces);
        let (nonces, last_prune) = &mut *guard;
        // Pruning scans the whole map: at most once per second, or it turns quadratic under load.
        if now > *last_prune {
            nonces.retain(|_, exp| *exp > now);
            *last_prune = now;
        }
        match nonces.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(expires_at);
                true
            }
        }
    }

    /// The faults for one request (fake-server-kit's plan: latencies add up, the first effect
    /// wins): the latency in milliseconds and the effect, if any rule fired. Counts the rules
    /// that fired.
    pub(crate) fn match_fault(
        &self,
        request: &RequestFacts<'_>,
    ) -> Option<(u64, Option<FaultEffect>)> {
        let now = self.now();
        lock(&self.shared.faults).plan(request, now)
    }

    /// The test CA certificate (PEM); empty in plain-HTTP mode.
    pub fn ca_pem(&self) -> &str {
        &self.shared.fixed.ca_pem
    }

    /// Every host name served, in a stable order.
    pub fn hosts(&self) -> Vec<String> {
        hosts::all(&self.world().settings)
            .into_iter()
            .map(|(h, _)| h)
            .collect()
    }
}

/// Answer of a successful `PUT /settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplacedSettings {
    /// Every host name served from now on.
    pub hosts: Vec<String>,
}

/// Error body of the admin API: `{"error": "...", "field"?: "...", "hosts"?: [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminErrorBody {
    /// What went wrong, never with a secret in it.
    pub error: String,
    /// The field or settings key refused (`offset_secs`, `faults[0].status`, `listen`), when
    /// the error is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Host names the running TLS certificate does not cover, if that was the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

fn bad_request(body: AdminErrorBody) -> Response {
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// 400 naming the refused field, its value and what is accepted.
fn invalid(what: &str, e: &InvalidValue) -> Response {
    bad_request(AdminErrorBody {
        error: format!("fake-acr {what}: {e}"),
        field: Some(e.field.clone()),
        hosts: Vec::new(),
    })
}

/// The one integer field of a small admin body (`{"offset_secs": N}`): refuses what is not
/// JSON, not an object, has other keys, or whose value is not an integer in `min..=max`.
fn int_body(
    what: &str,
    body: &[u8],
    field: &str,
    min: i128,
    max: i128,
) -> Result<i128, Box<Response>> {
    let refuse = |error: String, field: Option<&str>| {
        Box::new(bad_request(AdminErrorBody {
            error: format!("fake-acr {what}: {error}"),
            field: field.map(str::to_owned),
            hosts: Vec::new(),
        }))
    };
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        refuse(
            format!("the body is not JSON ({e}); expected {{\"{field}\": {min}..={max}}}"),
            None,
        )
    })?;
    let Some(map) = doc.as_object() else {
        return Err(refuse(
            format!("the body is {doc}, expected {{\"{field}\": {min}..={max}}}"),
            None,
        ));
    };
    if let Some(other) = map.keys().find(|k| *k != field) {
        return Err(refuse(
            format!("unknown field {other:?}; the only field is {field:?}"),
            Some(other),
        ));
    }
    let Some(value) = map.get(field) else {
        return Err(refuse(
            format!("missing field {field:?} ({min}..={max})"),
            Some(field),
        ));
    };
    let n = value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from));
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Box::new(invalid(
            what,
            &InvalidValue::new(field, value, format!("an integer in {min}..={max}")),
        ))),
    }
}

/// `PUT /clock {"offset_secs": N}`.
async fn put_clock(State(a): State<Admin>, body: axum::body::Bytes) -> Response {
    let max = i128::from(MAX_CLOCK_OFFSET_SECS);
    match int_body("clock", &body, "offset_secs", -max, max) {
        Ok(n) => match i64::try_from(n)
            .map_err(|_| InvalidValue::new("offset_secs", n.to_string(), "an i64"))
            .and_then(|n| a.try_set_clock_offset_secs(n))
        {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => invalid("clock", &e),
        },
        Err(r) => *r,
    }
}

/// `PUT /token-lifetime {"secs": N}`.
async fn put_token_lifetime(State(a): State<Admin>, body: axum::body::Bytes) -> Response {
    match int_body(
        "token lifetime",
        &body,
        "secs",
        1,
        i128::from(MAX_LIFETIME_SECS),
    ) {
        Ok(n) => match u64::try_from(n)
            .map_err(|_| InvalidValue::new("secs", n.to_string(), "a u64"))
            .and_then(|n| a.try_set_token_lifetime_secs(n))
        {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => invalid("token lifetime", &e),
        },
        Err(r) => *r,
    }
}

/// Where the request log is served (`GET`/`DELETE`).
pub(crate) const LOG_PATH: &str = "/log";

/// `POST /faults` after the kit parsed the rule: validated before it is added; fake-acr's rules
/// have no id, so the 201 has no body.
fn install_fault(a: &Admin, rule: FaultRule) -> Result<Option<u64>, Refusal> {
    a.try_add_fault(rule)
        .map(|()| None)
        .map_err(|e| Refusal::new(format!("fake-acr fault rule: {e}"), Some(e.field.as_str())))
}

/// Every secret value a settings document carries (as text), to blank out of parser errors.
fn secrets_in(doc: &serde_json::Value) -> Vec<String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out: Vec<String> = doc.get("account_secret").map(text).into_iter().collect();
    if let Some(keys) = doc.get("access_keys").and_then(|k| k.as_array()) {
        out.extend(keys.iter().filter_map(|k| k.get("secret")).map(text));
    }
    out.retain(|s| !s.is_empty());
    out
}

/// `PUT /settings`: a full settings document (the config file's schema, JSON).
async fn put_settings(State(a): State<Admin>, body: axum::body::Bytes) -> Response {
    let doc: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return bad_request(AdminErrorBody {
                error: format!("fake-acr settings: the body is not JSON: {e}"),
                field: None,
                hosts: Vec::new(),
            });
        }
    };
    let secrets = secrets_in(&doc);
    let settings: Settings = match serde_json::from_value(doc) {
        Ok(s) => s,
        Err(e) => {
            // serde names an offending value in type errors; a secret must not come back.
            let mut error = format!("fake-acr settings: {e}");
            for s in &secrets {
                error = error.replace(s.as_str(), crate::settings::REDACTED);
            }
            return bad_request(AdminErrorBody {
                error,
                field: None,
                hosts: Vec::new(),
            });
        }
    };
    match a.replace_settings(settings) {
        Ok(()) => {
            let hosts = a.hosts();
            tracing::info!(hosts = hosts.len(), "fake-acr settings replaced");
            Json(ReplacedSettings { hosts }).into_response()
        }
        Err(e) => {
            let (field, hosts) = match &e {
                ReplaceError::LiveField(c) => (Some(c.field.to_owned()), Vec::new()),
                ReplaceError::HostsNotCovered { hosts } => (None, hosts.clone()),
                ReplaceError::Invalid(e) => (e.field().map(str::to_owned), Vec::new()),
            };
            bad_request(AdminErrorBody {
                error: e.to_string(),
                field,
                hosts,
            })
        }
    }
}

/// The admin HTTP API:
/// `GET/DELETE /log`, `GET/POST/DELETE /faults`, `PUT /clock {"offset_secs"}`,
/// `PUT /token-lifetime {"secs"}`, `POST /reset`, `GET /ca.pem`, `GET /hosts`, `GET /healthz`,
/// `GET /settings` (secrets redacted), `PUT /settings` (replace the world).
pub fn router(admin: Admin) -> axum::Router {
    axum::Router::new()
        .route(
            "/settings",
            get(|State(a): State<Admin>| async move { Json(a.settings().redacted()) })
                .put(put_settings),
        )
        .route("/healthz", get(|| async { "ok" }))
        .merge(admin_api::request_log(
            LOG_PATH,
            Admin::log,
            Admin::clear_log,
        ))
        .merge(admin_api::fault_rules(FaultOperations {
            rule_name: "fake-acr fault rule",
            list: Admin::faults,
            install: install_fault,
            clear: Admin::clear_faults,
        }))
        .route("/clock", put(put_clock))
        .route("/token-lifetime", put(put_token_lifetime))
        .route(
            "/reset",
            post(|State(a): State<Admin>| async move {
                a.reset();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/ca.pem",
            get(|State(a): State<Admin>| async move { a.ca_pem().to_owned() }),
        )
        .route(
            "/hosts",
            get(|State(a): State<Admin>| async move { Json(a.hosts()) }),
        )
        .with_state(admin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{AccessKey, Region};

    fn admin_with_cert_for(settings: &Settings) -> Admin {
        let names = hosts::all(settings).into_iter().map(|(h, _)| h).collect();
        Admin::new(
            settings.clone(),
            Fixed {
                ca_pem: String::new(),
                cert_names: Some(names),
                bound: BoundAddrs {
                    listen: "127.0.0.1:4443".parse().unwrap(),
                    admin_listen: "127.0.0.1:4444".parse().unwrap(),
                },
            },
        )
    }

    fn test_admin() -> Admin {
        admin_with_cert_for(&Settings::default())
    }

    #[test]
    fn log_entries_without_the_newer_fields_still_parse() {
        let old = r#"{"time":"t","host":"h","region":null,"action":"a","principal":null,"result":"Success","status":200}"#;
        let e: LogEntry = serde_json::from_str(old).unwrap();
        assert_eq!((e.instance_id, e.access_key_id), (None, None));
    }

    #[test]
    fn nonces_are_single_use_and_reset_clears_state() {
        let a = test_admin();
        let exp = a.now().as_second() + 100;
        assert!(a.remember_nonce("ak/n".into(), exp));
        assert!(!a.remember_nonce("ak/n".into(), exp));
        a.set_clock_offset_secs(30);
        a.set_token_lifetime_secs(5);
        a.reset();
        assert_eq!(a.clock_offset_secs(), 0);
        assert_eq!(a.token_lifetime_secs(), 3600);
        assert!(a.remember_nonce("ak/n".into(), exp));
    }

    #[test]
    fn replacement_swaps_the_world_and_starts_afresh() {
        let a = test_admin();
        let exp = a.now().as_second() + 100;
        assert!(a.remember_nonce("ak/n".into(), exp));
        a.set_clock_offset_secs(30);
        a.add_fault(FaultRule::default());
        a.record(
            LogEntry {
                time: String::new(),
                host: "h".into(),
                region: None,
                action: "ListInstance".into(),
                principal: None,
                result: "Success".into(),
                status: 200,
                instance_id: None,
                access_key_id: None,
            },
            0,
        );
        let mut next = Settings::default();
        next.regions.truncate(1);
        next.instances.truncate(1);
        next.token_lifetime_secs = 77;
        next.account_secret = "another".into();
        next.faults = vec![FaultRule {
            throttle: true,
            ..Default::default()
        }];
        a.replace_settings(next.clone()).unwrap();
        assert!(a.log().is_empty());
        assert_eq!(a.clock_offset_secs(), 0);
        assert_eq!(a.token_lifetime_secs(), 77);
        assert_eq!(a.faults(), next.faults);
        assert!(a.remember_nonce("ak/n".into(), exp), "nonces emptied");
        assert_eq!(a.world().settings.account_secret, "another");
        assert_eq!(a.world().generation, 1);
        assert_eq!(a.hosts().len(), 8 + 2);
        // A request still holding the old world is not logged.
        let entry = LogEntry {
            time: String::new(),
            host: "h".into(),
            region: None,
            action: "X".into(),
            principal: None,
            result: "Success".into(),
            status: 200,
            instance_id: None,
            access_key_id: None,
        };
        a.record(entry.clone(), 0);
        assert!(a.log().is_empty());
        a.record(entry, 1);
        assert_eq!(a.log().len(), 1);
        // reset goes back to the replacement's start state, not the first one's.
        a.clear_faults();
        a.set_token_lifetime_secs(5);
        a.reset();
        assert_eq!(
            (a.faults(), a.token_lifetime_secs()),
            (next.faults.clone(), 77)
        );
        // Listener values: defaults and the bound ones are accepted and kept.
        let s = a.settings();
        assert_eq!(s.listen, "127.0.0.1:4443".parse().unwrap());
        a.replace_settings(s).unwrap();
    }

    #[test]
    fn replacement_refuses_live_fields_uncovered_hosts_and_bad_settings() {
        let a = test_admin();
        let before = a.settings();
        let err = a
            .replace_settings(Settings {
                listen: "0.0.0.0:8443".parse().unwrap(),
                ..Default::default()
            })
            .unwrap_err();
        assert!(
            matches!(&err, ReplaceError::LiveField(c) if c.field == "listen"),
            "{err}"
        );
        assert!(err.to_string().contains("0.0.0.0:8443"), "{err}");
        for (field, s) in [
            (
                "plain_http",
                Settings {
                    plain_http: true,
                    ..Default::default()
                },
            ),
            (
                "advertised_port",
                Settings {
                    advertised_port: Some(443),
                    ..Default::default()
                },
            ),
            (
                "admin_listen",
                Settings {
                    admin_listen: "127.0.0.1:1".parse().unwrap(),
                    ..Default::default()
                },
            ),
        ] {
            let err = a.replace_settings(s).unwrap_err();
            assert!(
                matches!(&err, ReplaceError::LiveField(c) if c.field == field),
                "{field}: {err}"
            );
        }
        let mut more = Settings::default();
        more.regions.push(Region {
            id: "cn-shanghai".into(),
            personal_repositories: vec![],
        });
        let err = a.replace_settings(more).unwrap_err();
        let ReplaceError::HostsNotCovered { hosts } = &err else {
            panic!("{err}");
        };
        assert!(hosts.contains(&"cr.cn-shanghai.aliyuncs.com".to_owned()));
        assert!(!hosts.iter().any(|h| h.contains("hangzhou")), "{hosts:?}");
        let err = a
            .replace_settings(Settings {
                token_lifetime_secs: 0,
                ..Default::default()
            })
            .unwrap_err();
        assert!(matches!(err, ReplaceError::Invalid(_)), "{err}");
        assert!(a.settings() == before, "refusals leave the world alone");
    }

    #[test]
    fn redacted_secrets_keep_the_running_ones() {
        let a = test_admin();
        let mut s = a.settings().redacted();
        assert_eq!(s.account_secret, crate::settings::REDACTED);
        assert!(
            !serde_json::to_string(&s)
                .unwrap()
                .contains(crate::settings::DEFAULT_STATIC_ACCESS_KEY_SECRET)
        );
        s.token_lifetime_secs = 9;
        a.replace_settings(s.clone()).unwrap();
        let running = a.settings();
        assert_eq!(
            running.account_secret,
            acs_wire::sts::DEFAULT_ACCOUNT_SECRET
        );
        assert_eq!(
            running.access_keys[0].secret,
            crate::settings::DEFAULT_STATIC_ACCESS_KEY_SECRET
        );
        s.access_keys.push(AccessKey {
            id: "LTAI-new".into(),
            secret: crate::settings::REDACTED.into(),
            principal: "user/x".into(),
        });
        let err = a.replace_settings(s).unwrap_err().to_string();
        assert!(err.contains("LTAI-new"), "{err}");
    }
}
