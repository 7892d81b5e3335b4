//! [`RemoteAdmin`] (feature `client`): the admin HTTP API of a fake-metadata running elsewhere —
//! another process, a container, a kind cluster — with the operations of the in-process
//! [`Admin`](crate::Admin).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::admin::{ClockOffset, HardenedBody, RoleBody, SpotBody};
use crate::faults::{FaultRule, InstalledFault};
use crate::settings::{HardenedMode, Settings};
use crate::state::{CredentialsSummary, RequestRecord, StateSnapshot};

/// Longest wait for one admin call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness probes.
const READY_POLL: Duration = Duration::from_millis(100);
/// Longest wait for one readiness probe.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an admin call failed; names the call and the URL, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum RemoteAdminError {
    /// No HTTP answer (connection refused, timeout, …).
    #[error("{method} {url}: no answer: {reason}")]
    Request {
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// An answer with an unexpected status.
    #[error("{method} {url}: {status}: {reason}")]
    Status {
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// The status received.
        status: u16,
        /// The fake's `error` message (or the start of the body).
        reason: String,
    },
    /// An answer whose body is not what the API documents.
    #[error("{method} {url}: unexpected body: {reason}")]
    Decode {
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// What the JSON parser said.
        reason: String,
    },
    /// The admin API did not answer in time.
    #[error("{url}: admin API not ready within {waited:?}: {last}")]
    NotReady {
        /// The URL probed.
        url: String,
        /// How long it was given.
        waited: Duration,
        /// The last failure.
        last: String,
    },
}

impl RemoteAdminError {
    /// The HTTP status, when the fake answered with an unexpected one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The admin HTTP API of a fake-metadata elsewhere, e.g. `RemoteAdmin::new("http://127.0.0.1:8101")`.
#[derive(Clone, Debug)]
pub struct RemoteAdmin {
    base: String,
    http: reqwest::Client,
}

/// An error and its sources, one after the other (reqwest's own message is terse).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

impl RemoteAdmin {
    /// A client for the admin API at `base_url` (`http://host:port`); no proxy is used.
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(CALL_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self::with_client(base_url, http)
    }

    /// A client for the admin API at `base_url` that sends through `http`.
    pub fn with_client(base_url: impl Into<String>, http: reqwest::Client) -> Self {
        let base = base_url.into().trim_end_matches('/').to_owned();
        Self { base, http }
    }

    /// The admin API's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one call; any answer is returned, only transport failures are errors.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, RemoteAdminError> {
        let url = self.url(path);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        request.send().await.map_err(|e| RemoteAdminError::Request {
            method: method.to_string(),
            url,
            reason: chain(&e),
        })
    }

    /// Fails unless the answer's status is a success.
    async fn expect_success(
        method: &Method,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, RemoteAdminError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = response.url().to_string();
        let text = response.text().await.unwrap_or_default();
        let reason = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| {
                let start: String = text.chars().take(300).collect();
                if start.is_empty() {
                    status.canonical_reason().unwrap_or("").to_owned()
                } else {
                    start
                }
            });
        Err(RemoteAdminError::Status {
            method: method.to_string(),
            url,
            status: status.as_u16(),
            reason,
        })
    }

    async fn decode<T: DeserializeOwned>(
        method: &Method,
        response: reqwest::Response,
    ) -> Result<T, RemoteAdminError> {
        let url = response.url().to_string();
        let bad = |reason: String| RemoteAdminError::Decode {
            method: method.to_string(),
            url: url.clone(),
            reason,
        };
        let bytes = response.bytes().await.map_err(|e| bad(chain(&e)))?;
        serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))
    }

    /// A call whose successful answer is JSON of type `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, RemoteAdminError> {
        let response = self.send(method.clone(), path, body, None).await?;
        let response = Self::expect_success(&method, response).await?;
        Self::decode(&method, response).await
    }

    /// A call whose successful answer has no body of interest.
    async fn call_empty(&self, method: Method, path: &str) -> Result<(), RemoteAdminError> {
        let response = self.send(method.clone(), path, None::<&()>, None).await?;
        Self::expect_success(&method, response).await.map(drop)
    }

    /// Polls `GET /state` until the admin API answers or `within` has passed.
    pub async fn wait_ready(&self, within: Duration) -> Result<StateSnapshot, RemoteAdminError> {
        let start = Instant::now();
        loop {
            let left = within.saturating_sub(start.elapsed());
            let probe = async {
                let response = self
                    .send(
                        Method::GET,
                        "/state",
                        None::<&()>,
                        Some(left.clamp(Duration::from_millis(100), READY_PROBE_TIMEOUT)),
                    )
                    .await?;
                let response = Self::expect_success(&Method::GET, response).await?;
                Self::decode(&Method::GET, response).await
            };
            match probe.await {
                Ok(state) => return Ok(state),
                Err(e) if start.elapsed() >= within => {
                    return Err(RemoteAdminError::NotReady {
                        url: self.url("/state"),
                        waited: within,
                        last: e.to_string(),
                    });
                }
                Err(_) => tokio::time::sleep(READY_POLL).await,
            }
        }
    }

    /// `GET /state`: clock, mode, role, current/previous credentials (no secrets), faults.
    pub async fn state(&self) -> Result<StateSnapshot, RemoteAdminError> {
        self.call(Method::GET, "/state", None::<&()>).await
    }

    /// `POST /faults`: installs a fault rule; returns its id.
    pub async fn add_fault(&self, rule: &FaultRule) -> Result<u64, RemoteAdminError> {
        #[derive(serde::Deserialize)]
        struct Created {
            id: u64,
        }
        let created: Created = self.call(Method::POST, "/faults", Some(rule)).await?;
        Ok(created.id)
    }

    /// `DELETE /faults/{id}`: removes one rule; false when there is none with that id.
    pub async fn remove_fault(&self, id: u64) -> Result<bool, RemoteAdminError> {
        let method = Method::DELETE;
        let response = self
            .send(method.clone(), &format!("/faults/{id}"), None::<&()>, None)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        Self::expect_success(&method, response).await.map(|_| true)
    }

    /// `DELETE /faults`: removes every rule.
    pub async fn clear_faults(&self) -> Result<(), RemoteAdminError> {
        self.call_empty(Method::DELETE, "/faults").await
    }

    /// `GET /faults`: the installed rules and how often each fired.
    pub async fn faults(&self) -> Result<Vec<InstalledFault>, RemoteAdminError> {
        self.call(Method::GET, "/faults", None::<&()>).await
    }

    /// `GET /requests`: the request log, oldest first.
    pub async fn requests(&self) -> Result<Vec<RequestRecord>, RemoteAdminError> {
        self.call(Method::GET, "/requests", None::<&()>).await
    }

    /// `DELETE /requests`: empties the request log.
    pub async fn clear_requests(&self) -> Result<(), RemoteAdminError> {
        self.call_empty(Method::DELETE, "/requests").await
    }

    /// `POST /rotate`: new credentials now; none when no role is attached.
    pub async fn rotate(&self) -> Result<Option<CredentialsSummary>, RemoteAdminError> {
        let method = Method::POST;
        let response = self
            .send(method.clone(), "/rotate", None::<&()>, None)
            .await?;
        if response.status() == StatusCode::CONFLICT {
            return Ok(None);
        }
        let response = Self::expect_success(&method, response).await?;
        Self::decode(&method, response).await.map(Some)
    }

    /// `PUT /clock`: the fake's clock runs `offset` from the system clock (whole seconds).
    pub async fn set_clock_offset(
        &self,
        offset: chrono::Duration,
    ) -> Result<StateSnapshot, RemoteAdminError> {
        let body = ClockOffset {
            offset_seconds: offset.num_seconds(),
        };
        self.call(Method::PUT, "/clock", Some(&body)).await
    }

    /// `PUT /hardened`: switches hardened mode.
    pub async fn set_hardened(
        &self,
        mode: HardenedMode,
    ) -> Result<StateSnapshot, RemoteAdminError> {
        self.call(Method::PUT, "/hardened", Some(&HardenedBody { mode }))
            .await
    }

    /// `PUT /role`: attaches a role, or none ("no role attached").
    pub async fn set_role(&self, role: Option<&str>) -> Result<StateSnapshot, RemoteAdminError> {
        let body = RoleBody {
            role: role.map(str::to_owned),
        };
        self.call(Method::PUT, "/role", Some(&body)).await
    }

    /// `PUT /spot`: schedules a spot termination (RFC 3339), or cancels it.
    pub async fn set_spot_termination(
        &self,
        time: Option<&str>,
    ) -> Result<StateSnapshot, RemoteAdminError> {
        let body = SpotBody {
            termination_time: time.map(str::to_owned),
        };
        self.call(Method::PUT, "/spot", Some(&body)).await
    }

    /// `POST /reset`: back to the start-up settings and faults, no offset, empty log.
    pub async fn reset(&self) -> Result<StateSnapshot, RemoteAdminError> {
        self.call(Method::POST, "/reset", None::<&()>).await
    }

    /// `PUT /settings`: `settings` become the start-up settings and the fake resets to them, as
    /// if freshly started. The listener addresses are left out of the request: a live listener
    /// cannot move, so the fake keeps its own.
    pub async fn put_settings(
        &self,
        settings: &Settings,
    ) -> Result<StateSnapshot, RemoteAdminError> {
        let url = self.url("/settings");
        let mut body = serde_json::to_value(settings).map_err(|e| RemoteAdminError::Decode {
            method: "PUT".into(),
            url,
            reason: format!("settings do not serialize: {e}"),
        })?;
        if let Some(map) = body.as_object_mut() {
            map.remove("listen");
            map.remove("admin-listen");
        }
        self.call(Method::PUT, "/settings", Some(&body)).await
    }

    /// `GET /settings`: the settings in force, the account secret shown as `<redacted>`.
    pub async fn get_settings(&self) -> Result<Settings, RemoteAdminError> {
        self.call(Method::GET, "/settings", None::<&()>).await
    }
}
