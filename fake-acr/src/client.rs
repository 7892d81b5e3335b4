//! [`RemoteAdmin`] (feature `client`): the admin HTTP API of a fake-acr running elsewhere —
//! another process, a container, a kind cluster — with the operations of the in-process
//! [`Admin`](crate::Admin); the transport is fake-server-kit's `AdminClient`.

use std::time::Duration;

use reqwest::Method;

use crate::admin::{LOG_PATH, LogEntry, ReplacedSettings};
use crate::faults::FaultRule;
use crate::settings::Settings;

/// Longest wait for one readiness probe.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an admin call failed; names the call and the URL, never a secret.
pub use fake_server_kit::admin_client::AdminError as RemoteAdminError;

fake_server_kit::remote_admin!("fake-acr");

impl RemoteAdmin {
    /// `GET /healthz` once.
    pub async fn healthz(&self) -> Result<(), RemoteAdminError> {
        let method = Method::GET;
        let response = self
            .api
            .send(
                method.clone(),
                "/healthz",
                None::<&()>,
                Some(READY_PROBE_TIMEOUT),
            )
            .await?;
        self.api.expect_success(&method, response).await.map(drop)
    }

    /// Polls `GET /healthz` until it answers 200 or `within` has passed.
    pub async fn wait_ready(&self, within: Duration) -> Result<(), RemoteAdminError> {
        self.api.wait_ready("/healthz", within).await.map(drop)
    }

    /// `POST /faults`.
    pub async fn add_fault(&self, rule: &FaultRule) -> Result<(), RemoteAdminError> {
        self.api.add_fault_rule(rule).await
    }

    /// `GET /faults`.
    pub async fn faults(&self) -> Result<Vec<FaultRule>, RemoteAdminError> {
        self.api.fault_rules().await
    }

    /// `DELETE /faults`.
    pub async fn clear_faults(&self) -> Result<(), RemoteAdminError> {
        self.api.clear_fault_rules().await
    }

    /// `GET /log`.
    pub async fn log(&self) -> Result<Vec<LogEntry>, RemoteAdminError> {
        self.api.request_log(LOG_PATH).await
    }

    /// `DELETE /log`.
    pub async fn clear_log(&self) -> Result<(), RemoteAdminError> {
        self.api.clear_request_log(LOG_PATH).await
    }

    /// `PUT /clock {"offset_secs"}`.
    pub async fn set_clock_offset_secs(&self, secs: i64) -> Result<(), RemoteAdminError> {
        let body = serde_json::json!({ "offset_secs": secs });
        self.api
            .call_empty(Method::PUT, "/clock", Some(&body))
            .await
    }

    /// `PUT /token-lifetime {"secs"}`.
    pub async fn set_token_lifetime_secs(&self, secs: u64) -> Result<(), RemoteAdminError> {
        let body = serde_json::json!({ "secs": secs });
        self.api
            .call_empty(Method::PUT, "/token-lifetime", Some(&body))
            .await
    }

    /// `POST /reset`: back to the running settings' start state.
    pub async fn reset(&self) -> Result<(), RemoteAdminError> {
        self.api
            .call_empty(Method::POST, "/reset", None::<&()>)
            .await
    }

    /// `GET /ca.pem`: the CA clients must trust (empty in plain-HTTP mode).
    pub async fn ca_pem(&self) -> Result<String, RemoteAdminError> {
        let method = Method::GET;
        let response = self
            .api
            .send(method.clone(), "/ca.pem", None::<&()>, None)
            .await?;
        let response = self.api.expect_success(&method, response).await?;
        self.api.text(&method, response).await
    }

    /// `GET /hosts`: every host name served.
    pub async fn hosts(&self) -> Result<Vec<String>, RemoteAdminError> {
        self.api.call(Method::GET, "/hosts", None::<&()>).await
    }

    /// `PUT /settings`: serve `settings` as if freshly started with them; the host names
    /// served from now on. A refusal is [`RemoteAdminError::Status`] 400 naming the reason.
    pub async fn put_settings(&self, settings: &Settings) -> Result<Vec<String>, RemoteAdminError> {
        let answer: ReplacedSettings = self
            .api
            .call(Method::PUT, "/settings", Some(settings))
            .await?;
        Ok(answer.hosts)
    }

    /// `GET /settings`: the running settings, secrets as `"<redacted>"`.
    pub async fn get_settings(&self) -> Result<Settings, RemoteAdminError> {
        self.api.call(Method::GET, "/settings", None::<&()>).await
    }
}
