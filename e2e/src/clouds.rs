//! The mock clouds of one scenario: fake-metadata and fake-acr in-process, the CA bundle that
//! trusts fake-acr, and the host-override proxy (override mode).
//!
//! Each scenario gets fresh fakes with its own account secret: credentials an implementation
//! wrote in an earlier scenario are worthless here, so nothing carries over by accident.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::host_proxy::{HostProxy, HostProxyError, HostRoutes};
use crate::probe::RegistryAccess;

/// Errors starting the clouds.
#[derive(Debug, thiserror::Error)]
pub enum CloudsError {
    /// fake-metadata did not start.
    #[error("fake-metadata: {0}")]
    Metadata(#[from] fake_metadata::Error),
    /// fake-acr did not start.
    #[error("fake-acr: {0}")]
    Acr(#[from] fake_acr::Error),
    /// The proxy did not start.
    #[error(transparent)]
    Proxy(#[from] HostProxyError),
    /// The CA bundle could not be written.
    #[error("cannot write the CA bundle {path}: {source}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
}

/// One `GetAuthorizationToken` call (either edition) as fake-acr logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCall {
    /// Server time of the call.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The OpenAPI host called (`cr.<region>.aliyuncs.com`).
    pub host: String,
    /// The region of that host.
    pub region: String,
    /// `role/<name>` or `user/<name>`, when the signature got that far.
    pub principal: String,
    /// `Success` or the error code returned.
    pub result: String,
}

impl TokenCall {
    /// True when a token was issued.
    pub fn succeeded(&self) -> bool {
        self.result == "Success"
    }
}

/// The default world of a scenario: fake-acr's default settings (two regions, instances
/// `demo-hz` and `demo-bj`), fake-metadata reporting `node_region`.
pub fn default_plan(node_region: &str) -> (fake_acr::Settings, fake_metadata::Settings) {
    let acr = fake_acr::Settings::default();
    let mut metadata = fake_metadata::Settings::default();
    metadata.instance.region_id = node_region.to_string();
    (acr, metadata)
}

/// Running fakes plus the proxy and CA file that lead to them.
pub struct Clouds {
    metadata: fake_metadata::Running,
    acr: fake_acr::Running,
    proxy: HostProxy,
    ca_file: PathBuf,
    ca_pem: Vec<u8>,
}

impl Clouds {
    /// Starts both fakes with a fresh shared account secret and writes `<dir>/fake-acr-ca.pem`.
    pub async fn start(
        mut acr: fake_acr::Settings,
        mut metadata: fake_metadata::Settings,
        dir: &Path,
    ) -> Result<Self, CloudsError> {
        let secret = format!("conformance-{}", nonce());
        acr.account_secret = secret.clone();
        metadata.account_secret = fake_metadata::settings::AccountSecret(secret);
        let metadata = fake_metadata::FakeMetadata::start(metadata).await?;
        let acr = fake_acr::FakeAcr::start(acr).await?;
        let ca_pem = acr.ca_pem().as_bytes().to_vec();
        let ca_file = dir.join("fake-acr-ca.pem");
        std::fs::write(&ca_file, &ca_pem).map_err(|source| CloudsError::CaFile {
            path: ca_file.clone(),
            source,
        })?;
        let served: Vec<String> = acr.hosts();
        let target: SocketAddr = acr.addr();
        // Only host names fake-acr serves are tunnelled; on port 443 (what clients use) or the
        // fake's own port (endpoint_for URLs).
        let own_port = target.port();
        let routes: HostRoutes = Arc::new(move |host: &str, port: u16| {
            ((port == 443 || port == own_port) && served.iter().any(|h| h == host))
                .then_some(target)
        });
        let proxy = HostProxy::start(routes).await?;
        Ok(Self {
            metadata,
            acr,
            proxy,
            ca_file,
            ca_pem,
        })
    }

    /// Base URL of fake-metadata.
    pub fn metadata_url(&self) -> String {
        self.metadata.base_url()
    }

    /// `host:port` of fake-acr's listener.
    pub fn acr_address(&self) -> String {
        self.acr.addr().to_string()
    }

    /// Every Alibaba host name fake-acr serves.
    pub fn acr_hosts(&self) -> Vec<String> {
        self.acr.hosts()
    }

    /// The PEM file trusting fake-acr.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// `http://127.0.0.1:<port>` of the host-override proxy.
    pub fn proxy_url(&self) -> String {
        self.proxy.url()
    }

    /// What the pull probe needs to reach the registries.
    pub fn registry_access(&self) -> RegistryAccess {
        RegistryAccess {
            ca_pem: self.ca_pem.clone(),
            https_proxy: Some(self.proxy.url()),
        }
    }

    /// fake-acr's run-time controls.
    pub fn acr(&self) -> fake_acr::Admin {
        self.acr.admin()
    }

    /// fake-metadata's run-time controls.
    pub fn metadata(&self) -> fake_metadata::Admin {
        self.metadata.admin()
    }

    /// Every `GetAuthorizationToken` call so far, oldest first.
    pub fn token_calls(&self) -> Vec<TokenCall> {
        self.acr
            .admin()
            .log()
            .into_iter()
            .filter(|e| e.action == "GetAuthorizationToken")
            .map(|e| TokenCall {
                at: chrono::DateTime::parse_from_rfc3339(&e.time)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .unwrap_or_default(),
                host: e.host,
                region: e.region.unwrap_or_default(),
                principal: e.principal.unwrap_or_default(),
                result: e.result,
            })
            .collect()
    }
}

/// A per-start nonce (time and pid): account secrets only need to differ between scenarios.
fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}{:x}", std::process::id())
}
