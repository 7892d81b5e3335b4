//! [`RemoteAdmin`] (feature `client`): the admin HTTP API of a fake-acr running elsewhere —
//! another process, a container, a kind cluster — with the operations of the in-process
//! [`Admin`](crate::Admin).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::admin::{FaultRule, LogEntry, ReplacedSettings};
use crate::settings::Settings;

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
    #[error("fake-acr admin {method} {url}: no answer: {reason}")]
    Request {
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// An answer with an unexpected status.
    #[error("fake-acr admin {method} {url}: HTTP {status}: {reason}")]
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
    #[error("fake-acr admin {method} {url}: unexpected body: {reason}")]
    Decode {
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// The admin API did not answer `GET /healthz` in time.
    #[error("fake-acr admin {url}: not ready within {waited:?}: {last}")]
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

/// The admin HTTP API of a fake-acr elsewhere, e.g. `RemoteAdmin::new("http://127.0.0.1:30444")`.
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
            .expect("invariant: a reqwest client without custom TLS settings builds (reqwest::Client::new panics alike)");
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

    /// Sends one call and fails unless the answer's status is a success.
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
        let response = request
            .send()
            .await
            .map_err(|e| RemoteAdminError::Request {
                method: method.to_string(),
                url: url.clone(),
                reason: chain(&e),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        // The admin API's errors are `{"error": …}` and never carry a secret.
        let reason = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| {
                let start: String = text.chars().take(300).collect();
                if start.is_empty() {
                    status.canonical_reason().unwrap_or_default().to_owned()
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

    async fn text(
        method: &Method,
        response: reqwest::Response,
    ) -> Result<String, RemoteAdminError> {
        let url = response.url().to_string();
        response.text().await.map_err(|e| RemoteAdminError::Decode {
            method: method.to_string(),
            url,
            reason: chain(&e),
        })
    }

    /// A call whose successful answer is JSON of type `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, RemoteAdminError> {
        let response = self.send(method.clone(), path, body, None).await?;
        let url = response.url().to_string();
        let text = Self::text(&method, response).await?;
        serde_json::from_str(&text).map_err(|e| RemoteAdminError::Decode {
            method: method.to_string(),
            url,
            reason: e.to_string(),
        })
    }

    /// A call whose answer body does not matter.
    async fn call_empty(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<(), RemoteAdminError> {
        self.send(method, path, body, None).await.map(drop)
    }

    /// `GET /healthz` once.
    pub async fn healthz(&self) -> Result<(), RemoteAdminError> {
        self.send(
            Method::GET,
            "/healthz",
            None::<&()>,
            Some(READY_PROBE_TIMEOUT),
        )
        .await
        .map(drop)
    }

    /// Polls `GET /healthz` until it answers 200 or `within` has passed.
    pub async fn wait_ready(&self, within: Duration) -> Result<(), RemoteAdminError> {
        let deadline = Instant::now() + within;
        loop {
            let last = match self.healthz().await {
                Ok(()) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if Instant::now() + READY_POLL >= deadline {
                return Err(RemoteAdminError::NotReady {
                    url: self.url("/healthz"),
                    waited: within,
                    last,
                });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// `POST /faults`.
    pub async fn add_fault(&self, rule: &FaultRule) -> Result<(), RemoteAdminError> {
        self.call_empty(Method::POST, "/faults", Some(rule)).await
    }

    /// `GET /faults`.
    pub async fn faults(&self) -> Result<Vec<FaultRule>, RemoteAdminError> {
        self.call(Method::GET, "/faults", None::<&()>).await
    }

    /// `DELETE /faults`.
    pub async fn clear_faults(&self) -> Result<(), RemoteAdminError> {
        self.call_empty(Method::DELETE, "/faults", None::<&()>)
            .await
    }

    /// `GET /log`.
    pub async fn log(&self) -> Result<Vec<LogEntry>, RemoteAdminError> {
        self.call(Method::GET, "/log", None::<&()>).await
    }

    /// `DELETE /log`.
    pub async fn clear_log(&self) -> Result<(), RemoteAdminError> {
        self.call_empty(Method::DELETE, "/log", None::<&()>).await
    }

    /// `PUT /clock {"offset_secs"}`.
    pub async fn set_clock_offset_secs(&self, secs: i64) -> Result<(), RemoteAdminError> {
        let body = serde_json::json!({ "offset_secs": secs });
        self.call_empty(Method::PUT, "/clock", Some(&body)).await
    }

    /// `PUT /token-lifetime {"secs"}`.
    pub async fn set_token_lifetime_secs(&self, secs: u64) -> Result<(), RemoteAdminError> {
        let body = serde_json::json!({ "secs": secs });
        self.call_empty(Method::PUT, "/token-lifetime", Some(&body))
            .await
    }

    /// `POST /reset`: back to the running settings' start state.
    pub async fn reset(&self) -> Result<(), RemoteAdminError> {
        self.call_empty(Method::POST, "/reset", None::<&()>).await
    }

    /// `GET /ca.pem`: the CA clients must trust (empty in plain-HTTP mode).
    pub async fn ca_pem(&self) -> Result<String, RemoteAdminError> {
        let method = Method::GET;
        let response = self
            .send(method.clone(), "/ca.pem", None::<&()>, None)
            .await?;
        Self::text(&method, response).await
    }

    /// `GET /hosts`: every host name served.
    pub async fn hosts(&self) -> Result<Vec<String>, RemoteAdminError> {
        self.call(Method::GET, "/hosts", None::<&()>).await
    }

    /// `PUT /settings`: serve `settings` as if freshly started with them; the host names
    /// served from now on. A refusal is [`RemoteAdminError::Status`] 400 naming the reason.
    pub async fn put_settings(&self, settings: &Settings) -> Result<Vec<String>, RemoteAdminError> {
        let answer: ReplacedSettings = self.call(Method::PUT, "/settings", Some(settings)).await?;
        Ok(answer.hosts)
    }

    /// `GET /settings`: the running settings, secrets as `"<redacted>"`.
    pub async fn get_settings(&self) -> Result<Settings, RemoteAdminError> {
        self.call(Method::GET, "/settings", None::<&()>).await
    }
}
