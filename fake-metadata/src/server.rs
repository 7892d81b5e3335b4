//! Starting and stopping the fake: two listeners (metadata, admin) served by the kit's accept
//! loop, which can drop a connection on demand (which `axum::serve` cannot).

use std::net::SocketAddr;

use axum::Router;
use fake_server_kit::http1::{self, PanicBody};
use fake_server_kit::listener::{self, BindError, Serving};

use crate::admin::{self, Admin};
use crate::service::{self, Shared};
use crate::settings::{Listeners, Settings};

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings are not usable ([`Settings::validate`]).
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// A listener could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// How the kit names this fake in logs and errors.
const FAKE: &str = "fake-metadata";

/// The fake ECS metadata server.
pub struct FakeMetadata;

/// A running fake; dropping it shuts both listeners and every open connection down.
pub struct Running {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    admin: Admin,
    metadata_router: Router,
    serving: Serving,
}

impl FakeMetadata {
    /// Binds both listeners (by default 127.0.0.1 with ephemeral ports) and starts serving.
    pub async fn start(settings: Settings) -> Result<Running, Error> {
        settings.validate()?;
        let (listener, addr) = listener::bind(FAKE, "metadata", settings.listen).await?;
        let (admin_listener, admin_addr) =
            listener::bind(FAKE, "admin", settings.admin_listen).await?;
        let listeners = Listeners {
            listen: settings.listen,
            admin_listen: settings.admin_listen,
            bound: addr,
            admin_bound: admin_addr,
        };
        let shared = Shared::new(settings);
        let admin = Admin::new(shared.clone(), listeners);
        let metadata_router = Router::new().fallback(service::handle).with_state(shared);
        let admin_router = admin::router(admin.clone());
        tracing::info!(%addr, %admin_addr, "fake-metadata listening");
        let mut serving = Serving::default();
        let metadata_service =
            http1::router_service(FAKE, PanicBody::Text, metadata_router.clone());
        serving.spawn(FAKE, listener, None, metadata_service);
        let admin_service = http1::router_service(FAKE, PanicBody::Text, admin_router);
        serving.spawn(FAKE, admin_listener, None, admin_service);
        Ok(Running {
            addr,
            admin_addr,
            admin,
            metadata_router,
            serving,
        })
    }
}

impl Running {
    /// Base URL of the metadata service, e.g. `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of the admin API.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// Address of the metadata listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// In-process control of this fake.
    pub fn admin(&self) -> Admin {
        self.admin.clone()
    }

    /// Answers one request as the metadata listener would (hardened mode, faults, log and clock
    /// apply), without a connection; `None` when a fault drops the connection. For embedding
    /// and fuzzing.
    pub async fn answer(
        &self,
        request: axum::extract::Request,
    ) -> Option<axum::response::Response> {
        http1::answer_unless_dropped(self.metadata_router.clone(), request)
            .await
            .ok()
    }

    /// Serves until either accept loop ends (they only end when stopped).
    pub async fn wait(self) {
        self.serving.wait().await;
    }
}
