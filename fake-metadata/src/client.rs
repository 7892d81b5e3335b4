//! [`RemoteAdmin`] (feature `client`): the admin HTTP API of a fake-metadata running elsewhere —
//! another process, a container, a kind cluster — with the operations of the in-process
//! [`Admin`](crate::Admin); the transport is fake-server-kit's `AdminClient`.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::admin::{ClockOffset, HardenedBody, REQUESTS_PATH, RoleBody, SpotBody};
use crate::faults::{FaultRule, InstalledFault};
use crate::settings::{HardenedMode, Settings};
use crate::state::{CredentialsSummary, RequestRecord, StateSnapshot};

/// Why an admin call failed; names the call and the URL, never a secret.
pub use fake_server_kit::admin_client::AdminError as RemoteAdminError;

fake_server_kit::remote_admin!("fake-metadata");

impl RemoteAdmin {
    /// Polls `GET /state` until the admin API answers or `within` has passed.
    pub async fn wait_ready(&self, within: Duration) -> Result<StateSnapshot, RemoteAdminError> {
        let text = self.api.wait_ready("/state", within).await?;
        self.api.parse(&Method::GET, &self.api.url("/state"), &text)
    }

    /// `GET /state`: clock, mode, role, current/previous credentials (no secrets), faults.
    pub async fn state(&self) -> Result<StateSnapshot, RemoteAdminError> {
        self.api.call(Method::GET, "/state", None::<&()>).await
    }

    /// `POST /faults`: installs a fault rule; returns its id.
    pub async fn add_fault(&self, rule: &FaultRule) -> Result<u64, RemoteAdminError> {
        self.api.add_numbered_fault_rule(rule).await
    }

    /// `DELETE /faults/{id}`: removes one rule; false when there is none with that id.
    pub async fn remove_fault(&self, id: u64) -> Result<bool, RemoteAdminError> {
        self.api.remove_fault_rule(id).await
    }

    /// `DELETE /faults`: removes every rule.
    pub async fn clear_faults(&self) -> Result<(), RemoteAdminError> {
        self.api.clear_fault_rules().await
    }

    /// `GET /faults`: the installed rules and how often each fired.
    pub async fn faults(&self) -> Result<Vec<InstalledFault>, RemoteAdminError> {
        self.api.fault_rules().await
    }

    /// `GET /requests`: the request log, oldest first.
    pub async fn requests(&self) -> Result<Vec<RequestRecord>, RemoteAdminError> {
        self.api.request_log(REQUESTS_PATH).await
    }

    /// `DELETE /requests`: empties the request log.
    pub async fn clear_requests(&self) -> Result<(), RemoteAdminError> {
        self.api.clear_request_log(REQUESTS_PATH).await
    }

    /// `POST /rotate`: new credentials now; none when no role is attached.
    pub async fn rotate(&self) -> Result<Option<CredentialsSummary>, RemoteAdminError> {
        self.api
            .call_unless(Method::POST, "/rotate", StatusCode::CONFLICT)
            .await
    }

    /// `PUT /clock`: the fake's clock runs `offset` from the system clock (whole seconds).
    pub async fn set_clock_offset(
        &self,
        offset: jiff::SignedDuration,
    ) -> Result<StateSnapshot, RemoteAdminError> {
        let body = ClockOffset {
            offset_seconds: offset.as_secs(),
        };
        self.api.call(Method::PUT, "/clock", Some(&body)).await
    }

    /// `PUT /hardened`: switches hardened mode.
    pub async fn set_hardened(
        &self,
        mode: HardenedMode,
    ) -> Result<StateSnapshot, RemoteAdminError> {
        self.api
            .call(Method::PUT, "/hardened", Some(&HardenedBody { mode }))
            .await
    }

    /// `PUT /role`: attaches a role, or none ("no role attached").
    pub async fn set_role(&self, role: Option<&str>) -> Result<StateSnapshot, RemoteAdminError> {
        let body = RoleBody {
            role: role.map(str::to_owned),
        };
        self.api.call(Method::PUT, "/role", Some(&body)).await
    }

    /// `PUT /spot`: schedules a spot termination (RFC 3339), or cancels it.
    pub async fn set_spot_termination(
        &self,
        time: Option<&str>,
    ) -> Result<StateSnapshot, RemoteAdminError> {
        let body = SpotBody {
            termination_time: time.map(str::to_owned),
        };
        self.api.call(Method::PUT, "/spot", Some(&body)).await
    }

    /// `POST /reset`: back to the start-up settings and faults, no offset, empty log.
    pub async fn reset(&self) -> Result<StateSnapshot, RemoteAdminError> {
        self.api.call(Method::POST, "/reset", None::<&()>).await
    }

    /// `PUT /settings`: `settings` become the start-up settings and the fake resets to them, as
    /// if freshly started. The listener addresses are left out of the request: a live listener
    /// cannot move, so the fake keeps its own.
    pub async fn put_settings(
        &self,
        settings: &Settings,
    ) -> Result<StateSnapshot, RemoteAdminError> {
        let url = self.api.url("/settings");
        let mut body = serde_json::to_value(settings).map_err(|e| RemoteAdminError::Decode {
            fake: "fake-metadata",
            method: "PUT".into(),
            url,
            reason: format!("settings do not serialize: {e}"),
        })?;
        if let Some(map) = body.as_object_mut() {
            map.remove("listen");
            map.remove("admin-listen");
        }
        self.api.call(Method::PUT, "/settings", Some(&body)).await
    }

    /// `GET /settings`: the settings in force, the account secret shown as `<redacted>`.
    pub async fn get_settings(&self) -> Result<Settings, RemoteAdminError> {
        self.api.call(Method::GET, "/settings", None::<&()>).await
    }
}
