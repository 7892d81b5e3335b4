//! fake-acr: a faithful fake of Alibaba Cloud Container Registry — the ACR OpenAPI with real
//! signature checks, the Registry v2 token service, and Registry v2 itself — on one listener that
//! serves every host by its Host header.
//!
//! Modules:
//! - `settings`: the world (regions, instances, repositories, principals, policies) and defaults.
//! - `hosts`: host names served and what each one designates.
//! - `openapi`: `GetAuthorizationToken` (EE and Personal), `ListInstance`, `ListInstanceEndpoint`.
//! - `registry`: Registry v2 pulls and the token endpoint.
//! - `tokens`: self-validating registry passwords and bearer JWTs.
//! - `policy`: RAM policy evaluation with wildcards.
//! - `images`: deterministic demo images (OCI and Docker schema 2).
//! - `faults`: fake-acr's fault rules (its admin JSON shape) on fake-server-kit's fault model.
//! - `admin`: faults, request log, clock offset, token lifetime, settings replacement; the admin
//!   HTTP API.
//! - `tls`: the generated test CA and serving certificate.
//! - `client` (feature `client`): [`RemoteAdmin`], the admin HTTP API of a fake-acr elsewhere.
//! - `testcontainers` (feature `testcontainers`): the container image as a `testcontainers::Image`.
//! - `world` (private): the served world derived from the settings, swapped whole on replacement.
//! - `server` (private): Host dispatch, faults and the request log around every request; the
//!   listeners are fake-server-kit's.

pub mod admin;
#[cfg(feature = "client")]
mod client;
pub mod faults;
pub mod hosts;
pub mod images;
mod openapi;
pub mod policy;
mod registry;
mod server;
pub mod settings;
#[cfg(feature = "testcontainers")]
pub mod testcontainers;
pub mod tls;
pub mod tokens;
mod world;

use std::net::SocketAddr;

use fake_server_kit::http1::{self, PanicBody};
use fake_server_kit::listener;

pub use admin::{Admin, LogEntry, ReplaceError};
#[cfg(feature = "client")]
pub use client::{RemoteAdmin, RemoteAdminError};
pub use faults::FaultRule;
pub use openapi::KNOWN_ACTIONS;
pub use registry::service_of;
pub use settings::Settings;

/// Why fake-acr could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings are inconsistent.
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    /// A listener could not be bound.
    #[error(transparent)]
    Bind(#[from] fake_server_kit::BindError),
    /// TLS material could not be generated.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Entry point: `FakeAcr::start(Settings::default())`.
pub struct FakeAcr;

/// A running fake-acr; stops serving when dropped.
pub struct Running {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    admin: Admin,
    scheme: &'static str,
    /// The accept loops; dropping them stops serving.
    _serving: fake_server_kit::Serving,
}

impl FakeAcr {
    /// Binds the main and admin listeners and starts serving on the current Tokio runtime.
    pub async fn start(settings: Settings) -> Result<Running, Error> {
        settings.validate()?;
        let (listener, addr) = listener::bind(server::FAKE, "main", settings.listen).await?;
        let (admin_listener, admin_addr) =
            listener::bind(server::FAKE, "admin", settings.admin_listen).await?;
        let host_names: Vec<String> = hosts::all(&settings).into_iter().map(|(h, _)| h).collect();
        let (ca_pem, cert_names, acceptor) = if settings.plain_http {
            (String::new(), None, None)
        } else {
            let ca = tls::ca_from(
                settings.tls_ca_cert.as_deref(),
                settings.tls_ca_key.as_deref(),
            )?;
            let material = ca.serving_material(&host_names)?;
            (
                material.ca_pem,
                Some(material.names),
                Some(tokio_rustls::TlsAcceptor::from(material.server_config)),
            )
        };
        let scheme = if settings.plain_http { "http" } else { "https" };
        let admin = Admin::new(
            settings,
            admin::Fixed {
                ca_pem,
                cert_names,
                bound: settings::BoundAddrs {
                    listen: addr,
                    admin_listen: admin_addr,
                },
            },
        );
        let mut serving = fake_server_kit::Serving::default();
        let main = server::MainService {
            admin: admin.clone(),
        };
        serving.spawn(server::FAKE, listener, acceptor, move || main.clone());
        let router = admin::router(admin.clone());
        let admin_service = http1::router_service(server::FAKE, PanicBody::AlibabaJson, router);
        serving.spawn(server::FAKE, admin_listener, None, admin_service);
        Ok(Running {
            addr,
            admin_addr,
            admin,
            scheme,
            _serving: serving,
        })
    }
}

impl Running {
    /// Address of the main listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for `host` (`https://cr.cn-hangzhou.aliyuncs.com:PORT`); resolve the host name to
    /// [`Running::addr`] (reqwest `resolve`, a hosts file) to reach it.
    pub fn endpoint_for(&self, host: &str) -> String {
        format!("{}://{host}:{}", self.scheme, self.addr.port())
    }

    /// The test CA (PEM) clients must trust; empty in plain-HTTP mode.
    pub fn ca_pem(&self) -> &str {
        self.admin.ca_pem()
    }

    /// Run-time controls: faults, request log, clock, token lifetime, reset.
    pub fn admin(&self) -> Admin {
        self.admin.clone()
    }

    /// Address of the admin API listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Base URL of the admin HTTP API.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// Every host name served.
    pub fn hosts(&self) -> Vec<String> {
        self.admin.hosts()
    }

    /// Answers one request as the main listener would (the Host header picks the service;
    /// faults, log and clock apply), without a connection; `None` when a fault drops the
    /// connection. For embedding and fuzzing.
    pub async fn answer(
        &self,
        req: http::Request<hyper::body::Bytes>,
    ) -> Option<http::Response<hyper::body::Bytes>> {
        use http_body_util::BodyExt as _;
        let app = server::App {
            world: self.admin.world(),
            admin: self.admin.clone(),
        };
        let response = server::handle(app, req.map(http_body_util::Full::new))
            .await
            .ok()?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Some(http::Response::from_parts(parts, body))
    }

    /// Serves `settings` from now on as if freshly started with them ([`Admin::replace_settings`]).
    pub fn replace_settings(&self, settings: Settings) -> Result<(), ReplaceError> {
        self.admin.replace_settings(settings)
    }
}
