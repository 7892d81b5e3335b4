//! [`AdminClient`] (feature `client`): the HTTP transport of both fakes' `RemoteAdmin` — JSON
//! calls to a fake's admin API elsewhere (another process, a container, a kind cluster), errors
//! that name the call and the URL (never a secret), waiting until the API answers, and the calls
//! of the routes both fakes serve alike (`admin_api`: fault rules, request log).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::admin_api::FAULTS_PATH;

/// Longest wait for one admin call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness probes.
const READY_POLL: Duration = Duration::from_millis(100);
/// Longest wait for one readiness probe.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an admin call failed; names the fake, the call and the URL, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No HTTP answer (connection refused, timeout, …).
    #[error("{fake} admin {method} {url}: no answer: {reason}")]
    Request {
        /// Which fake.
        fake: &'static str,
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// An answer with an unexpected status.
    #[error("{fake} admin {method} {url}: HTTP {status}: {reason}")]
    Status {
        /// Which fake.
        fake: &'static str,
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
    #[error("{fake} admin {method} {url}: unexpected body: {reason}")]
    Decode {
        /// Which fake.
        fake: &'static str,
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// The admin API did not answer in time.
    #[error("{fake} admin {url}: not ready within {waited:?}: {last}")]
    NotReady {
        /// Which fake.
        fake: &'static str,
        /// The URL probed.
        url: String,
        /// How long it was given.
        waited: Duration,
        /// The last failure.
        last: String,
    },
}

impl AdminError {
    /// The HTTP status, when the fake answered with an unexpected one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
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

/// Declares a fake's `RemoteAdmin`: a struct whose field `api` is an [`AdminClient`] for that
/// fake, with `new`, `with_client` and `base_url`; the fake adds its operations.
#[macro_export]
macro_rules! remote_admin {
    ($fake:literal) => {
        #[doc = concat!("The admin HTTP API of a ", $fake, " elsewhere (`RemoteAdmin::new(\"http://host:port\")`).")]
        #[derive(Clone, Debug)]
        pub struct RemoteAdmin {
            api: $crate::admin_client::AdminClient,
        }

        impl RemoteAdmin {
            /// A client for the admin API at `base_url` (`http://host:port`); no proxy is used.
            pub fn new(base_url: impl Into<String>) -> Self {
                Self {
                    api: $crate::admin_client::AdminClient::new($fake, base_url),
                }
            }

            /// A client for the admin API at `base_url` that sends through `http`.
            pub fn with_client(base_url: impl Into<String>, http: reqwest::Client) -> Self {
                Self {
                    api: $crate::admin_client::AdminClient::with_client($fake, base_url, http),
                }
            }

            /// The admin API's base URL.
            pub fn base_url(&self) -> &str {
                self.api.base_url()
            }
        }
    };
}

/// The admin API of one fake at a base URL.
#[derive(Clone, Debug)]
pub struct AdminClient {
    fake: &'static str,
    base: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for `fake`'s admin API at `base_url` (`http://host:port`); no proxy is used.
    pub fn new(fake: &'static str, base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(CALL_TIMEOUT)
            .build()
            .expect("invariant: a reqwest client without custom TLS settings builds (reqwest::Client::new panics alike)");
        Self::with_client(fake, base_url, http)
    }

    /// A client for `fake`'s admin API at `base_url` that sends through `http`.
    pub fn with_client(
        fake: &'static str,
        base_url: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        let base = base_url.into().trim_end_matches('/').to_owned();
        Self { fake, base, http }
    }

    /// The admin API's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The URL of `path` (`/faults`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one call; any answer is returned, only transport failures are errors.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, AdminError> {
        let url = self.url(path);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        request.send().await.map_err(|e| AdminError::Request {
            fake: self.fake,
            method: method.to_string(),
            url,
            reason: chain(&e),
        })
    }

    /// Fails unless the answer's status is a success; the error carries the fake's `error`
    /// message (the admin APIs' errors are `{"error": …}` and never carry a secret).
    pub async fn expect_success(
        &self,
        method: &Method,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, AdminError> {
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
                    status.canonical_reason().unwrap_or_default().to_owned()
                } else {
                    start
                }
            });
        Err(AdminError::Status {
            fake: self.fake,
            method: method.to_string(),
            url,
            status: status.as_u16(),
            reason,
        })
    }

    /// The answer's body as text.
    pub async fn text(
        &self,
        method: &Method,
        response: reqwest::Response,
    ) -> Result<String, AdminError> {
        let url = response.url().to_string();
        response.text().await.map_err(|e| AdminError::Decode {
            fake: self.fake,
            method: method.to_string(),
            url,
            reason: chain(&e),
        })
    }

    /// The answer's body as JSON of type `T`.
    pub async fn decode<T: DeserializeOwned>(
        &self,
        method: &Method,
        response: reqwest::Response,
    ) -> Result<T, AdminError> {
        let url = response.url().to_string();
        let text = self.text(method, response).await?;
        self.parse(method, &url, &text)
    }

    /// `text`, an answer of `method url`, as JSON of type `T`.
    pub fn parse<T: DeserializeOwned>(
        &self,
        method: &Method,
        url: &str,
        text: &str,
    ) -> Result<T, AdminError> {
        serde_json::from_str(text).map_err(|e| AdminError::Decode {
            fake: self.fake,
            method: method.to_string(),
            url: url.to_owned(),
            reason: e.to_string(),
        })
    }

    /// A call whose successful answer is JSON of type `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, AdminError> {
        let response = self.send(method.clone(), path, body, None).await?;
        let response = self.expect_success(&method, response).await?;
        self.decode(&method, response).await
    }

    /// A call whose successful answer has no body of interest.
    pub async fn call_empty(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<(), AdminError> {
        let response = self.send(method.clone(), path, body, None).await?;
        self.expect_success(&method, response).await.map(drop)
    }

    /// A call that answers `absent` (404, 409…) when there is nothing to act on: `None` then.
    pub async fn call_unless<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        absent: StatusCode,
    ) -> Result<Option<T>, AdminError> {
        let response = self.send(method.clone(), path, None::<&()>, None).await?;
        if response.status() == absent {
            return Ok(None);
        }
        let response = self.expect_success(&method, response).await?;
        self.decode(&method, response).await.map(Some)
    }

    /// `GET /faults`: the fault rules as the fake lists them.
    pub async fn fault_rules<T: DeserializeOwned>(&self) -> Result<Vec<T>, AdminError> {
        self.call(Method::GET, FAULTS_PATH, None::<&()>).await
    }

    /// `POST /faults` to a fake whose rules have no id: installs `rule`.
    pub async fn add_fault_rule(&self, rule: &impl Serialize) -> Result<(), AdminError> {
        self.call_empty(Method::POST, FAULTS_PATH, Some(rule)).await
    }

    /// `POST /faults` to a fake that numbers its rules: installs `rule`; its id.
    pub async fn add_numbered_fault_rule(&self, rule: &impl Serialize) -> Result<u64, AdminError> {
        #[derive(serde::Deserialize)]
        struct Created {
            id: u64,
        }
        let created: Created = self.call(Method::POST, FAULTS_PATH, Some(rule)).await?;
        Ok(created.id)
    }

    /// `DELETE /faults/{id}`: removes one numbered rule; false when there is none with that id.
    pub async fn remove_fault_rule(&self, id: u64) -> Result<bool, AdminError> {
        let method = Method::DELETE;
        let path = format!("{FAULTS_PATH}/{id}");
        let response = self.send(method.clone(), &path, None::<&()>, None).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.expect_success(&method, response).await.map(|_| true)
    }

    /// `DELETE /faults`: removes every rule.
    pub async fn clear_fault_rules(&self) -> Result<(), AdminError> {
        self.call_empty(Method::DELETE, FAULTS_PATH, None::<&()>)
            .await
    }

    /// `GET path`: the fake's request log (at its own path), oldest first.
    pub async fn request_log<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, AdminError> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// `DELETE path`: empties the fake's request log (at its own path).
    pub async fn clear_request_log(&self, path: &str) -> Result<(), AdminError> {
        self.call_empty(Method::DELETE, path, None::<&()>).await
    }

    /// Polls `GET path` until it answers with a success, or `within` has passed; the answer's
    /// body.
    pub async fn wait_ready(&self, path: &str, within: Duration) -> Result<String, AdminError> {
        let start = Instant::now();
        loop {
            let left = within.saturating_sub(start.elapsed());
            let probe = async {
                let timeout = left.clamp(Duration::from_millis(100), READY_PROBE_TIMEOUT);
                let response = self
                    .send(Method::GET, path, None::<&()>, Some(timeout))
                    .await?;
                let response = self.expect_success(&Method::GET, response).await?;
                self.text(&Method::GET, response).await
            };
            match probe.await {
                Ok(answer) => return Ok(answer),
                Err(e) if start.elapsed() + READY_POLL >= within => {
                    return Err(AdminError::NotReady {
                        fake: self.fake,
                        url: self.url(path),
                        waited: within,
                        last: e.to_string(),
                    });
                }
                Err(_) => tokio::time::sleep(READY_POLL).await,
            }
        }
    }
}
