//! Run-time control: fault rules, the request log, the clock offset, the token lifetime;
//! in-process through [`Admin`] and over HTTP through [`router`] (separate listener).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A fault: when a request matches every given selector, apply the effect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Action name (`GetAuthorizationToken`, `ListInstance`, `Registry.GetManifest`, `Registry.Token`, …).
    pub action: Option<String>,
    /// Region id.
    pub region: Option<String>,
    /// Host name (without port).
    pub host: Option<String>,
    /// Path prefix.
    pub path: Option<String>,
    /// Delay before answering, milliseconds.
    pub latency_ms: u64,
    /// Answer with this HTTP status …
    pub status: Option<u16>,
    /// … and this error code (POP code for the OpenAPI, registry code for /v2).
    pub code: Option<String>,
    /// Close the connection without answering.
    pub drop: bool,
    /// Answer `Throttling.User` (OpenAPI, 400) or `TOOMANYREQUESTS` (registry, 429).
    pub throttle: bool,
    /// Apply to this many matching requests only, then retire.
    pub count: Option<u32>,
    /// Apply with this probability (0..=1) per matching request.
    pub probability: Option<f64>,
}

/// What a fault asks the server to do after its latency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultEffect {
    /// Close the connection.
    Drop,
    /// Throttle.
    Throttle,
    /// Answer `status` with `code`.
    Error {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
    },
}

/// One request as the log records it.
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
}

#[derive(Debug)]
struct Shared {
    faults: Mutex<Vec<FaultRule>>,
    log: Mutex<Vec<LogEntry>>,
    /// Seen nonces with their expiry, and when expired ones were last pruned (Unix s).
    nonces: Mutex<(HashMap<String, i64>, i64)>,
    clock_offset_secs: AtomicI64,
    token_lifetime_secs: AtomicU64,
    initial_faults: Vec<FaultRule>,
    initial_lifetime: u64,
    ca_pem: String,
    hosts: Vec<String>,
}

/// Handle on a running fake-acr's controls; cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Admin {
    pub(crate) fn new(
        faults: Vec<FaultRule>,
        token_lifetime_secs: u64,
        ca_pem: String,
        hosts: Vec<String>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                faults: Mutex::new(faults.clone()),
                log: Mutex::new(Vec::new()),
                nonces: Mutex::new((HashMap::new(), 0)),
                clock_offset_secs: AtomicI64::new(0),
                token_lifetime_secs: AtomicU64::new(token_lifetime_secs),
                initial_faults: faults,
                initial_lifetime: token_lifetime_secs,
                ca_pem,
                hosts,
            }),
        }
    }

    /// Server time: wall clock plus the offset.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.clock_offset_secs())
    }

    /// Shifts the server clock by `secs` (negative: into the past).
    pub fn set_clock_offset_secs(&self, secs: i64) {
        self.shared.clock_offset_secs.store(secs, Ordering::SeqCst);
    }

    /// Current clock offset, seconds.
    pub fn clock_offset_secs(&self) -> i64 {
        self.shared.clock_offset_secs.load(Ordering::SeqCst)
    }

    /// Lifetime of registry passwords issued from now on, seconds (≥ 1).
    pub fn set_token_lifetime_secs(&self, secs: u64) {
        self.shared
            .token_lifetime_secs
            .store(secs.max(1), Ordering::SeqCst);
    }

    /// Current registry password lifetime, seconds.
    pub fn token_lifetime_secs(&self) -> u64 {
        self.shared.token_lifetime_secs.load(Ordering::SeqCst)
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.shared.faults).push(rule);
    }

    /// Active fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.shared.faults).clone()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
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

    /// Back to start-up state: initial faults and lifetime, no offset, empty log and nonces.
    pub fn reset(&self) {
        *lock(&self.shared.faults) = self.shared.initial_faults.clone();
        self.clear_log();
        lock(&self.shared.nonces).0.clear();
        self.set_clock_offset_secs(0);
        self.set_token_lifetime_secs(self.shared.initial_lifetime);
    }

    pub(crate) fn record(&self, entry: LogEntry) {
        lock(&self.shared.log).push(entry);
    }

    /// Remembers `key` until `expires_at` (Unix s); false if it was already there (replay).
    pub(crate) fn remember_nonce(&self, key: String, expires_at: i64) -> bool {
        let now = self.now().timestamp();
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

    /// The first matching fault: its latency and effect (if any). Consumes one `count`.
    pub(crate) fn match_fault(
        &self,
        action: &str,
        region: Option<&str>,
        host: &str,
        path: &str,
    ) -> Option<(u64, Option<FaultEffect>)> {
        let mut faults = lock(&self.shared.faults);
        let idx = faults.iter().position(|f| {
            f.action.as_deref().is_none_or(|a| a == action)
                && f.region.as_deref().is_none_or(|r| Some(r) == region)
                && f.host
                    .as_deref()
                    .is_none_or(|h| h.eq_ignore_ascii_case(host))
                && f.path.as_deref().is_none_or(|p| path.starts_with(p))
                && f.probability.is_none_or(|p| rand::random::<f64>() < p)
        })?;
        let rule = faults[idx].clone();
        if let Some(n) = faults[idx].count.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                faults.remove(idx);
            }
        }
        let effect = if rule.drop {
            Some(FaultEffect::Drop)
        } else if rule.throttle {
            Some(FaultEffect::Throttle)
        } else {
            rule.status.map(|status| FaultEffect::Error {
                status,
                code: rule.code.clone().unwrap_or_else(|| "InternalError".into()),
            })
        };
        Some((rule.latency_ms, effect))
    }

    /// The test CA certificate (PEM); empty in plain-HTTP mode.
    pub fn ca_pem(&self) -> &str {
        &self.shared.ca_pem
    }

    /// Every host name served.
    pub fn hosts(&self) -> &[String] {
        &self.shared.hosts
    }
}

#[derive(Deserialize)]
struct ClockBody {
    offset_secs: i64,
}

#[derive(Deserialize)]
struct LifetimeBody {
    secs: u64,
}

/// The admin HTTP API:
/// `GET/DELETE /log`, `GET/POST/DELETE /faults`, `PUT /clock {"offset_secs"}`,
/// `PUT /token-lifetime {"secs"}`, `POST /reset`, `GET /ca.pem`, `GET /hosts`, `GET /healthz`.
pub fn router(admin: Admin) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/log",
            get(|State(a): State<Admin>| async move { Json(a.log()) }).delete(
                |State(a): State<Admin>| async move {
                    a.clear_log();
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/faults",
            get(|State(a): State<Admin>| async move { Json(a.faults()) })
                .post(
                    |State(a): State<Admin>, Json(rule): Json<FaultRule>| async move {
                        a.add_fault(rule);
                        StatusCode::CREATED
                    },
                )
                .delete(|State(a): State<Admin>| async move {
                    a.clear_faults();
                    StatusCode::NO_CONTENT
                }),
        )
        .route(
            "/clock",
            put(
                |State(a): State<Admin>, Json(b): Json<ClockBody>| async move {
                    a.set_clock_offset_secs(b.offset_secs);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/token-lifetime",
            put(
                |State(a): State<Admin>, Json(b): Json<LifetimeBody>| async move {
                    a.set_token_lifetime_secs(b.secs);
                    StatusCode::NO_CONTENT
                },
            ),
        )
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
            get(|State(a): State<Admin>| async move { Json(a.hosts().to_vec()) }),
        )
        .with_state(admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_match_selectors_and_retire_after_count() {
        let a = Admin::new(vec![], 3600, String::new(), vec![]);
        a.add_fault(FaultRule {
            action: Some("ListInstance".into()),
            status: Some(503),
            code: Some("ServiceUnavailable".into()),
            count: Some(1),
            ..Default::default()
        });
        assert_eq!(a.match_fault("GetAuthorizationToken", None, "h", "/"), None);
        assert_eq!(
            a.match_fault("ListInstance", None, "h", "/"),
            Some((
                0,
                Some(FaultEffect::Error {
                    status: 503,
                    code: "ServiceUnavailable".into()
                })
            ))
        );
        assert_eq!(a.match_fault("ListInstance", None, "h", "/"), None);
    }

    #[test]
    fn nonces_are_single_use_and_reset_clears_state() {
        let a = Admin::new(vec![], 3600, String::new(), vec![]);
        let exp = a.now().timestamp() + 100;
        assert!(a.remember_nonce("ak/n".into(), exp));
        assert!(!a.remember_nonce("ak/n".into(), exp));
        a.set_clock_offset_secs(30);
        a.set_token_lifetime_secs(5);
        a.reset();
        assert_eq!(a.clock_offset_secs(), 0);
        assert_eq!(a.token_lifetime_secs(), 3600);
        assert!(a.remember_nonce("ak/n".into(), exp));
    }
}
