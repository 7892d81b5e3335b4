//! Starting and stopping the fake: two listeners (metadata, admin), each an HTTP/1.1 accept loop
//! that can drop a connection on demand (which `axum::serve` cannot).

use std::net::SocketAddr;

use axum::Router;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt as _;

use crate::admin::{self, Admin};
use crate::http1;
use crate::service::{self, DropConnection, Shared};
use crate::settings::{Listeners, Settings};

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings are not usable ([`Settings::validate`]).
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener: metadata or admin.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The fake ECS metadata server.
pub struct FakeMetadata;

/// A running fake; dropping it shuts both listeners and every open connection down.
pub struct Running {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    admin: Admin,
    metadata_router: Router,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeMetadata {
    /// Binds both listeners (by default 127.0.0.1 with ephemeral ports) and starts serving.
    pub async fn start(settings: Settings) -> Result<Running, Error> {
        settings.validate()?;
        let bind = |what, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { what, addr, source })
        };
        let listener = bind("metadata", settings.listen).await?;
        let admin_listener = bind("admin", settings.admin_listen).await?;
        let local = |l: &TcpListener, what, addr| {
            l.local_addr()
                .map_err(|source| Error::Bind { what, addr, source })
        };
        let addr = local(&listener, "metadata", settings.listen)?;
        let admin_addr = local(&admin_listener, "admin", settings.admin_listen)?;
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
        Ok(Running {
            addr,
            admin_addr,
            admin,
            metadata_router: metadata_router.clone(),
            tasks: vec![
                tokio::spawn(accept_loop(listener, metadata_router)),
                tokio::spawn(accept_loop(admin_listener, admin_router)),
            ],
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
        let response = self
            .metadata_router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {});
        response
            .extensions()
            .get::<DropConnection>()
            .is_none()
            .then_some(response)
    }

    /// Serves until either accept loop ends (they only end when aborted).
    pub async fn wait(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A fault asked for the connection to be closed without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault rule")]
struct DroppedByFault;

async fn accept_loop(listener: TcpListener, router: Router) {
    // Connections live in this set so that aborting the loop aborts them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let router = router.clone();
                    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        let what = format!("{} {}", request.method(), request.uri().path());
                        // Its own task: a panic in a handler becomes a 500, not a dead connection.
                        let answer = tokio::spawn(router.clone().oneshot(request));
                        async move {
                            let response = match answer.await {
                                Ok(r) => r.unwrap_or_else(|e| match e {}),
                                Err(e) => http1::panic_response(&what, e),
                            };
                            if response.extensions().get::<DropConnection>().is_some() {
                                return Err(DroppedByFault);
                            }
                            Ok(response)
                        }
                    });
                    // Errors are clients going away or the drop fault: nothing to report.
                    connections.spawn(http1::serve(stream, service));
                }
                Err(error) => {
                    // Usually EMFILE under load: back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
