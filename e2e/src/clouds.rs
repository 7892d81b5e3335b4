//! The mock clouds of one scenario: fake-metadata and fake-acr, the CA bundle that trusts
//! fake-acr, and the host-override proxy (override mode).
//!
//! Two sources of fakes:
//! - **in-process** (default): each scenario starts fresh fakes in the suite's process;
//! - **external**: fakes already running elsewhere (a kind cluster's Deployments, containers,
//!   other processes), driven only through their admin HTTP APIs: each scenario replaces their
//!   whole settings (`PUT /settings`), which empties their request logs and faults, so they
//!   behave as if freshly started.
//!
//! In netns mode the run's namespace is pointed at each scenario's fakes (see [`crate::netns`]).
//!
//! Either way each scenario gets its own account secret: credentials an implementation wrote in
//! an earlier scenario are worthless, so nothing carries over by accident.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::host_proxy::{HostProxy, HostProxyError, HostRoutes};
use crate::probe::RegistryAccess;

/// Errors starting or driving the clouds.
#[derive(Debug, thiserror::Error)]
pub enum CloudsError {
    /// fake-metadata did not start.
    #[error("fake-metadata: {0}")]
    Metadata(#[from] fake_metadata::Error),
    /// fake-acr did not start.
    #[error("fake-acr: {0}")]
    Acr(#[from] fake_acr::Error),
    /// An external fake's admin API refused or failed (the reason names the fake and the URL).
    #[error("{reason}")]
    Remote {
        /// `fake-metadata` or `fake-acr`.
        fake: &'static str,
        /// What failed (URL and status; never a secret).
        reason: String,
    },
    /// The proxy did not start.
    #[error(transparent)]
    Proxy(#[from] HostProxyError),
    /// The network namespace could not be pointed at the fakes.
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    /// In netns mode, an external fake-metadata must be reachable at an IP address.
    #[error(
        "netns mode: fake-metadata's URL {0} has no IP address and port to forward 100.100.100.200:80 to (give --metadata-url http://IP:PORT, or use --network override)"
    )]
    MetadataAddress(String),
    /// The CA bundle could not be written.
    #[error("cannot write the CA bundle {path}: {source}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
}

fn remote_acr(e: fake_acr::RemoteAdminError) -> CloudsError {
    CloudsError::Remote {
        fake: "fake-acr",
        reason: e.to_string(),
    }
}

fn remote_metadata(e: fake_metadata::RemoteAdminError) -> CloudsError {
    CloudsError::Remote {
        fake: "fake-metadata",
        reason: e.to_string(),
    }
}

/// Fakes the suite does not start: where their admin APIs and services are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalFakes {
    /// fake-metadata's admin API, e.g. `http://127.0.0.1:30081`.
    pub metadata_admin: String,
    /// fake-acr's admin API, e.g. `http://127.0.0.1:30444`.
    pub acr_admin: String,
    /// Where the suite reaches fake-acr's TLS listener (every Alibaba host name), e.g.
    /// `127.0.0.1:30443`.
    pub acr_address: SocketAddr,
    /// fake-metadata's base URL as a host-process implementation would use it (placeholder
    /// `{metadata}`); irrelevant for an in-cluster implementation.
    pub metadata_url: Option<String>,
}

/// Where a run's fakes come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FakesSource {
    /// Fresh fakes in the suite's process for every scenario.
    #[default]
    InProcess,
    /// Fakes running elsewhere, reset through their admin APIs for every scenario.
    External(ExternalFakes),
}

impl FakesSource {
    /// `in-process` or `external`.
    pub fn name(&self) -> &'static str {
        match self {
            FakesSource::InProcess => "in-process",
            FakesSource::External(_) => "external",
        }
    }
}

/// One `GetAuthorizationToken` call (either edition) as fake-acr logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCall {
    /// Server time of the call.
    pub at: jiff::Timestamp,
    /// The OpenAPI host called (`cr.<region>.aliyuncs.com`).
    pub host: String,
    /// The region of that host.
    pub region: String,
    /// `role/<name>` or `user/<name>`, when the signature got that far.
    pub principal: String,
    /// `Success` or the error code returned.
    pub result: String,
    /// The Enterprise Edition instance asked about (none for Personal Edition).
    pub instance_id: Option<String>,
    /// The AccessKeyId that signed the call (an id, never a secret), when it got that far.
    pub access_key_id: Option<String>,
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

/// fake-metadata's controls, wherever it runs.
#[derive(Clone)]
pub enum MetadataControl {
    /// In the suite's process.
    Local(fake_metadata::Admin),
    /// Through its admin HTTP API.
    Remote(fake_metadata::RemoteAdmin),
}

impl MetadataControl {
    /// Installs a fault rule; returns its id.
    pub async fn add_fault(&self, rule: fake_metadata::FaultRule) -> Result<u64, CloudsError> {
        match self {
            MetadataControl::Local(a) => Ok(a.add_fault(rule)),
            MetadataControl::Remote(r) => r.add_fault(&rule).await.map_err(remote_metadata),
        }
    }

    /// Removes one fault rule (absent is fine).
    pub async fn remove_fault(&self, id: u64) -> Result<(), CloudsError> {
        match self {
            MetadataControl::Local(a) => {
                a.remove_fault(id);
                Ok(())
            }
            MetadataControl::Remote(r) => r
                .remove_fault(id)
                .await
                .map(|_| ())
                .map_err(remote_metadata),
        }
    }

    /// The fake's state (current credentials, faults).
    pub async fn state(&self) -> Result<fake_metadata::StateSnapshot, CloudsError> {
        match self {
            MetadataControl::Local(a) => Ok(a.state()),
            MetadataControl::Remote(r) => r.state().await.map_err(remote_metadata),
        }
    }

    /// Issues new credentials now.
    pub async fn rotate(&self) -> Result<Option<fake_metadata::CredentialsSummary>, CloudsError> {
        match self {
            MetadataControl::Local(a) => Ok(a.rotate()),
            MetadataControl::Remote(r) => r.rotate().await.map_err(remote_metadata),
        }
    }

    /// The request log, oldest first.
    pub async fn requests(&self) -> Result<Vec<fake_metadata::RequestRecord>, CloudsError> {
        match self {
            MetadataControl::Local(a) => Ok(a.requests()),
            MetadataControl::Remote(r) => r.requests().await.map_err(remote_metadata),
        }
    }
}

/// fake-acr's controls, wherever it runs.
#[derive(Clone)]
pub enum AcrControl {
    /// In the suite's process.
    Local(fake_acr::Admin),
    /// Through its admin HTTP API.
    Remote(fake_acr::RemoteAdmin),
}

impl AcrControl {
    /// Adds a fault rule.
    pub async fn add_fault(&self, rule: fake_acr::FaultRule) -> Result<(), CloudsError> {
        match self {
            AcrControl::Local(a) => {
                a.add_fault(rule);
                Ok(())
            }
            AcrControl::Remote(r) => r.add_fault(&rule).await.map_err(remote_acr),
        }
    }

    /// Shifts the fake's clock by `secs`.
    pub async fn set_clock_offset_secs(&self, secs: i64) -> Result<(), CloudsError> {
        match self {
            AcrControl::Local(a) => {
                a.set_clock_offset_secs(secs);
                Ok(())
            }
            AcrControl::Remote(r) => r.set_clock_offset_secs(secs).await.map_err(remote_acr),
        }
    }

    /// Every logged request, oldest first.
    pub async fn log(&self) -> Result<Vec<fake_acr::LogEntry>, CloudsError> {
        match self {
            AcrControl::Local(a) => Ok(a.log()),
            AcrControl::Remote(r) => r.log().await.map_err(remote_acr),
        }
    }
}

enum Fakes {
    InProcess {
        metadata: fake_metadata::Running,
        acr: fake_acr::Running,
    },
    External {
        metadata: fake_metadata::RemoteAdmin,
        acr: fake_acr::RemoteAdmin,
        metadata_url: String,
        acr_address: SocketAddr,
        hosts: Vec<String>,
    },
}

/// Running fakes plus the proxy and CA file that lead to them.
pub struct Clouds {
    fakes: Fakes,
    proxy: HostProxy,
    ca_file: PathBuf,
    ca_bundle: PathBuf,
    ca_pem: Vec<u8>,
}

/// Where the system's CA bundle usually is (Debian/Ubuntu, Fedora/RHEL, Alpine/macOS).
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// How long an external fake's admin API may take to answer at all.
const REMOTE_READY: Duration = Duration::from_secs(30);

impl Clouds {
    /// Starts (in-process) or resets (external) both fakes with `acr` and `metadata` and a
    /// fresh shared account secret, and writes `<dir>/fake-acr-ca.pem`.
    pub async fn start(
        source: &FakesSource,
        acr: fake_acr::Settings,
        metadata: fake_metadata::Settings,
        dir: &Path,
    ) -> Result<Self, CloudsError> {
        Self::start_for(source, acr, metadata, dir, None).await
    }

    /// As [`start`](Self::start), and in netns mode points the run's namespace at these fakes.
    pub async fn start_for(
        source: &FakesSource,
        mut acr: fake_acr::Settings,
        mut metadata: fake_metadata::Settings,
        dir: &Path,
        netns: Option<&crate::netns::Netns>,
    ) -> Result<Self, CloudsError> {
        let secret = format!("conformance-{}", nonce());
        acr.account_secret = secret.clone();
        metadata.account_secret = fake_metadata::settings::AccountSecret(secret);
        let (fakes, ca_pem, hosts, target) = match source {
            FakesSource::InProcess => {
                // Inside the namespace fake-acr answers on :443 only: token realms must say so.
                if netns.is_some() && acr.advertised_port.is_none() {
                    acr.advertised_port = Some(crate::netns::ACR_ADDR.port());
                }
                let metadata = fake_metadata::FakeMetadata::start(metadata).await?;
                let acr = fake_acr::FakeAcr::start(acr).await?;
                let ca_pem = acr.ca_pem().as_bytes().to_vec();
                let hosts = acr.hosts();
                let target = acr.addr();
                (Fakes::InProcess { metadata, acr }, ca_pem, hosts, target)
            }
            FakesSource::External(ext) => {
                let m = fake_metadata::RemoteAdmin::new(&ext.metadata_admin);
                let a = fake_acr::RemoteAdmin::new(&ext.acr_admin);
                m.wait_ready(REMOTE_READY).await.map_err(remote_metadata)?;
                a.wait_ready(REMOTE_READY).await.map_err(remote_acr)?;
                // Listener settings (addresses, TLS, advertised port) are not sent: both fakes
                // keep their running ones when a replacement leaves them at the defaults.
                m.put_settings(&metadata).await.map_err(remote_metadata)?;
                a.put_settings(&acr).await.map_err(remote_acr)?;
                let ca_pem = a.ca_pem().await.map_err(remote_acr)?.into_bytes();
                let hosts = a.hosts().await.map_err(remote_acr)?;
                let metadata_url = ext
                    .metadata_url
                    .clone()
                    .unwrap_or_else(|| "http://100.100.100.200".to_string());
                let fakes = Fakes::External {
                    metadata: m,
                    acr: a,
                    metadata_url,
                    acr_address: ext.acr_address,
                    hosts: hosts.clone(),
                };
                (fakes, ca_pem, hosts, ext.acr_address)
            }
        };
        let ca_file = dir.join("fake-acr-ca.pem");
        std::fs::write(&ca_file, &ca_pem).map_err(|source| CloudsError::CaFile {
            path: ca_file.clone(),
            source,
        })?;
        // Clients that replace the system's trust with a file still reach the real world's hosts.
        let ca_bundle = dir.join("ca-bundle.pem");
        let mut bundle = SYSTEM_CA_BUNDLES
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        if !bundle.is_empty() && !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        bundle.extend_from_slice(&ca_pem);
        std::fs::write(&ca_bundle, &bundle).map_err(|source| CloudsError::CaFile {
            path: ca_bundle.clone(),
            source,
        })?;
        if let Some(netns) = netns {
            let metadata_at = match &fakes {
                Fakes::InProcess { metadata, .. } => metadata.local_addr(),
                Fakes::External { metadata_url, .. } => crate::netns::server_address(metadata_url)
                    .filter(|a| {
                        !a.ip().is_unspecified() && a.ip() != crate::netns::METADATA_ADDR.ip()
                    })
                    .ok_or_else(|| CloudsError::MetadataAddress(metadata_url.clone()))?,
            };
            netns.point_at(metadata_at, target, &hosts)?;
            netns.registry_served(&hosts, &ca_pem)?;
        }
        // Only host names fake-acr serves are tunnelled; on port 443 (what clients use) or the
        // fake's own port (endpoint_for URLs).
        let own_port = target.port();
        let served = hosts;
        let routes: HostRoutes = Arc::new(move |host: &str, port: u16| {
            ((port == 443 || port == own_port) && served.iter().any(|h| h == host))
                .then_some(target)
        });
        let proxy = HostProxy::start(routes).await?;
        Ok(Self {
            fakes,
            proxy,
            ca_file,
            ca_bundle,
            ca_pem,
        })
    }

    /// Base URL of fake-metadata (as a host-process implementation reaches it).
    pub fn metadata_url(&self) -> String {
        match &self.fakes {
            Fakes::InProcess { metadata, .. } => metadata.base_url(),
            Fakes::External { metadata_url, .. } => metadata_url.clone(),
        }
    }

    /// `host:port` of fake-acr's listener.
    pub fn acr_address(&self) -> String {
        match &self.fakes {
            Fakes::InProcess { acr, .. } => acr.addr().to_string(),
            Fakes::External { acr_address, .. } => acr_address.to_string(),
        }
    }

    /// Base URLs of the fakes' admin HTTP APIs (fake-metadata, fake-acr) when the suite started
    /// them; `None` for external fakes, whose admin URLs the caller already has.
    pub fn admin_urls(&self) -> Option<(String, String)> {
        match &self.fakes {
            Fakes::InProcess { metadata, acr } => Some((metadata.admin_url(), acr.admin_url())),
            Fakes::External { .. } => None,
        }
    }

    /// Every Alibaba host name fake-acr serves.
    pub fn acr_hosts(&self) -> Vec<String> {
        match &self.fakes {
            Fakes::InProcess { acr, .. } => acr.hosts(),
            Fakes::External { hosts, .. } => hosts.clone(),
        }
    }

    /// The PEM file trusting fake-acr.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The system CAs plus the test CA.
    pub fn ca_bundle(&self) -> &Path {
        &self.ca_bundle
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
    pub fn acr(&self) -> AcrControl {
        match &self.fakes {
            Fakes::InProcess { acr, .. } => AcrControl::Local(acr.admin()),
            Fakes::External { acr, .. } => AcrControl::Remote(acr.clone()),
        }
    }

    /// fake-metadata's run-time controls.
    pub fn metadata(&self) -> MetadataControl {
        match &self.fakes {
            Fakes::InProcess { metadata, .. } => MetadataControl::Local(metadata.admin()),
            Fakes::External { metadata, .. } => MetadataControl::Remote(metadata.clone()),
        }
    }

    /// Every `GetAuthorizationToken` call so far, oldest first.
    pub async fn token_calls(&self) -> Result<Vec<TokenCall>, CloudsError> {
        Ok(self
            .acr()
            .log()
            .await?
            .into_iter()
            .filter(|e| e.action == "GetAuthorizationToken")
            .map(|e| TokenCall {
                at: e.time.parse().unwrap_or_default(),
                host: e.host,
                region: e.region.unwrap_or_default(),
                principal: e.principal.unwrap_or_default(),
                result: e.result,
                instance_id: e.instance_id,
                access_key_id: e.access_key_id,
            })
            .collect())
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
