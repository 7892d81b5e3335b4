//! Listening: binding a TCP listener (the error names the listener and the address), and the
//! one accept loop both fakes serve with — TLS or plain, each connection in a task owned by the
//! loop (so stopping the loop closes every connection), accept errors survived with a short
//! back-off and logged once per run of errors.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::http1;

/// Pause after a failed accept (usually EMFILE under load) so the loop does not spin.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("{fake}: cannot listen on {addr} ({what}): {source}")]
pub struct BindError {
    /// Which fake.
    pub fake: &'static str,
    /// Which listener (`metadata`, `main`, `admin`).
    pub what: &'static str,
    /// The address asked for.
    pub addr: SocketAddr,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Binds `addr` and reads back the address bound (port 0 picks a free port).
pub async fn bind(
    fake: &'static str,
    what: &'static str,
    addr: SocketAddr,
) -> Result<(TcpListener, SocketAddr), BindError> {
    let error = |source| BindError {
        fake,
        what,
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    Ok((listener, bound))
}

/// Waits for Ctrl-C or SIGTERM: as PID 1 in a container nothing else would stop a fake promptly.
/// An error when SIGTERM cannot be watched.
pub async fn stop_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// Serving tasks (accept loops); dropping this stops them and every open connection.
#[derive(Debug, Default)]
pub struct Serving {
    tasks: Vec<JoinHandle<()>>,
}

impl Serving {
    /// Runs `listener`'s accept loop until this is dropped; `tls` wraps each connection first.
    pub fn spawn<S, B>(
        &mut self,
        fake: &'static str,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        service: S,
    ) where
        S: ConnectionService<B>,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.tasks
            .push(tokio::spawn(accept_loop(fake, listener, tls, service)));
    }

    /// Waits until every accept loop has ended (they end only when stopped).
    pub async fn wait(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A hyper service for one connection, made afresh for each (cheap clones of shared state).
pub trait ConnectionService<B>: Send + 'static {
    /// The service one connection is served with.
    type Service: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error: Into<Box<dyn std::error::Error + Send + Sync>>,
            Future: Send + 'static,
        > + Send
        + 'static;
    /// The service for a new connection.
    fn for_connection(&self) -> Self::Service;
}

impl<F, Svc, B> ConnectionService<B> for F
where
    F: Fn() -> Svc + Send + 'static,
    Svc: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Send
        + 'static,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    Svc::Future: Send + 'static,
{
    type Service = Svc;
    fn for_connection(&self) -> Svc {
        self()
    }
}

/// Where connections come from: a TCP listener, or a scripted source in tests.
trait Accept {
    async fn accept(&self) -> std::io::Result<TcpStream>;
}

impl Accept for TcpListener {
    async fn accept(&self) -> std::io::Result<TcpStream> {
        TcpListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// Remembers whether the current run of accept errors was already logged.
#[derive(Debug, Default)]
struct AcceptErrors {
    in_a_row: u64,
}

impl AcceptErrors {
    /// Counts a failure; true for the first of a run (the one to log).
    fn failed(&mut self) -> bool {
        self.in_a_row += 1;
        self.in_a_row == 1
    }

    /// Ends a run; returns how many accepts had failed in it.
    fn accepted(&mut self) -> u64 {
        std::mem::take(&mut self.in_a_row)
    }
}

async fn accept_loop<L, S, B>(
    fake: &'static str,
    listener: L,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: S,
) where
    L: Accept,
    S: ConnectionService<B>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Connections live in this set so that stopping the loop stops them too.
    let mut connections = JoinSet::new();
    let mut errors = AcceptErrors::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    let failed = errors.accepted();
                    if failed > 0 {
                        tracing::info!(fake, failed, "accepting connections again");
                    }
                    let _ = stream.set_nodelay(true);
                    let service = service.for_connection();
                    let tls = tls.clone();
                    // Errors are clients going away or a fault dropping the connection.
                    connections.spawn(async move {
                        match tls {
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    http1::serve(stream, service).await;
                                }
                            }
                            None => http1::serve(stream, service).await,
                        }
                    });
                }
                Err(error) => {
                    if errors.failed() {
                        tracing::warn!(fake, %error, "accept failed; retrying every {ACCEPT_BACKOFF:?} (logged once until it recovers)");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Fails `errors` times, then hands out connections to a real listener; records when asked.
    struct Flaky {
        errors: Mutex<u32>,
        asked_at: Arc<Mutex<Vec<tokio::time::Instant>>>,
        real: TcpListener,
    }

    impl Accept for Flaky {
        async fn accept(&self) -> std::io::Result<TcpStream> {
            self.asked_at
                .lock()
                .unwrap()
                .push(tokio::time::Instant::now());
            {
                let mut left = self.errors.lock().unwrap();
                if *left > 0 {
                    *left -= 1;
                    return Err(std::io::Error::other("too many open files"));
                }
            }
            Accept::accept(&self.real).await
        }
    }

    #[test]
    fn a_run_of_errors_is_logged_once() {
        let mut errors = AcceptErrors::default();
        assert!(errors.failed());
        assert!(!errors.failed());
        assert!(!errors.failed());
        assert_eq!(errors.accepted(), 3);
        assert!(errors.failed(), "a new run is logged again");
    }

    #[tokio::test]
    async fn accept_errors_back_off_and_the_loop_keeps_serving() {
        let real = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = real.local_addr().unwrap();
        let asked_at = Arc::new(Mutex::new(Vec::new()));
        let flaky = Flaky {
            errors: Mutex::new(3),
            asked_at: asked_at.clone(),
            real,
        };
        let router = axum::Router::new().route("/ok", axum::routing::get(|| async { "fine" }));
        let service = http1::router_service("test-fake", http1::PanicBody::Text, router);
        let task = tokio::spawn(accept_loop("test-fake", flaky, None, service));
        let answer = crate::testing::raw_exchange(
            addr,
            b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("fine"),
            "{answer}"
        );
        let asked_at = asked_at.lock().unwrap().clone();
        assert!(asked_at.len() >= 4, "three failures, then the connection");
        for pair in asked_at[..4].windows(2) {
            assert!(
                pair[1] - pair[0] >= ACCEPT_BACKOFF,
                "after a failed accept the loop waits {ACCEPT_BACKOFF:?}, not {:?}",
                pair[1] - pair[0]
            );
        }
        task.abort();
    }
}
