//! Serving one HTTP/1.1 connection so that no input breaks it: each request runs in its own
//! task, so a handler that panics answers 500 (the fake keeps serving); a request head over
//! [`MAX_HEAD_BYTES`] answers 431 and the rest of what the client sends is drained before
//! closing, so the client reads the status instead of a reset; a response carrying
//! [`DropConnection`] closes the connection without an answer (the fakes' drop fault).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tower::ServiceExt as _;

/// Largest request line plus headers accepted; beyond it hyper answers 431 (414 for a request
/// target over 64 KiB).
pub const MAX_HEAD_BYTES: usize = 256 * 1024;

/// How long, and how much, a refused connection is drained before it is closed.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 << 20;

/// Response extension: close the connection without sending this response.
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

/// The error that makes hyper drop a connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by a fault rule")]
pub struct Dropped;

/// How a fake words the 500 for a handler that panicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanicBody {
    /// `text/plain`: `<fake> failed while handling <request>: <panic message>`.
    Text,
    /// Alibaba's error envelope: `{"Code": "InternalError", "Message": …}`.
    AlibabaJson,
}

/// The 500 answer for a handler that panicked, naming the request and the panic message.
pub fn panic_response(
    fake: &str,
    body: PanicBody,
    what: &str,
    err: tokio::task::JoinError,
) -> Response<Full<Bytes>> {
    let message = match err.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned()),
        Err(_) => "the handler was cancelled".to_owned(),
    };
    let message: String = message.chars().take(300).collect();
    let what: String = what.chars().take(200).collect();
    tracing::error!(request = what, %message, "{fake} handler failed; answering 500");
    let text = format!("{fake} failed while handling {what}: {message}");
    let (text, content_type) = match body {
        PanicBody::Text => (format!("{text}\n"), "text/plain; charset=utf-8"),
        PanicBody::AlibabaJson => (
            serde_json::json!({"Code": "InternalError", "Message": text}).to_string(),
            "application/json",
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

/// Runs `answer` in its own task: a panic becomes [`panic_response`] (its body made a `B` by
/// `wrap`), not a dead connection.
pub async fn isolated<F, B>(
    fake: &'static str,
    body: PanicBody,
    what: String,
    wrap: fn(Full<Bytes>) -> B,
    answer: F,
) -> Result<Response<B>, Dropped>
where
    F: Future<Output = Result<Response<B>, Dropped>> + Send + 'static,
    B: Send + 'static,
{
    match tokio::spawn(answer).await {
        Ok(answer) => answer,
        Err(e) => Ok(panic_response(fake, body, &what, e).map(wrap)),
    }
}

/// The connection service for an axum router: each request isolated ([`isolated`]), a
/// response carrying [`DropConnection`] drops the connection.
pub fn router_service(
    fake: &'static str,
    body: PanicBody,
    router: axum::Router,
) -> impl Fn() -> RouterService + Send + Sync + 'static {
    move || RouterService {
        fake,
        body,
        router: router.clone(),
    }
}

/// One connection's service from [`router_service`].
#[derive(Clone)]
pub struct RouterService {
    fake: &'static str,
    body: PanicBody,
    router: axum::Router,
}

impl hyper::service::Service<http::Request<Incoming>> for RouterService {
    type Response = axum::response::Response;
    type Error = Dropped;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Dropped>> + Send>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let what = format!("{} {}", request.method(), request.uri().path());
        let answer = answer_unless_dropped(self.router.clone(), request);
        Box::pin(isolated(
            self.fake,
            self.body,
            what,
            axum::body::Body::new,
            answer,
        ))
    }
}

/// The router's answer to `request` in process (no connection); `Err` when it asks to drop
/// the connection.
pub async fn answer_unless_dropped<B>(
    router: axum::Router,
    request: http::Request<B>,
) -> Result<axum::response::Response, Dropped>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = router
        .oneshot(request.map(axum::body::Body::new))
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    if response.extensions().get::<DropConnection>().is_some() {
        return Err(Dropped);
    }
    Ok(response)
}

/// Serves `stream` with `service` until the client goes away. After a request hyper refused
/// (431, 414, 400: hyper has written the status), drains the input for a while first.
pub async fn serve<S, Svc, B>(stream: S, service: Svc)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    Svc: hyper::service::Service<http::Request<Incoming>, Response = Response<B>>,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut io = TokioIo::new(stream);
    let result = hyper::server::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(&mut io, service)
        .await;
    if let Err(e) = result
        && e.is_parse()
    {
        linger(io.into_inner()).await;
    }
}

/// Half-closes and reads what the client still sends (bounded in time and size), so closing
/// with unread input does not reset the connection before the client read our answer.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
    let mut buf = vec![0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER_TIME, async {
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        crate::testing::raw_exchange(addr, request.as_bytes()).await
    }

    async fn boom() -> &'static str {
        panic!("kaboom in a handler")
    }

    async fn dropped() -> axum::response::Response {
        let mut r = axum::response::Response::new(axum::body::Body::empty());
        r.extensions_mut().insert(DropConnection);
        r
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_a_drop_closes_and_the_listener_keeps_serving() {
        let router = axum::Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/drop", axum::routing::get(dropped))
            .route("/ok", axum::routing::get(|| async { "fine" }));
        let (listener, addr) =
            crate::listener::bind("test-fake", "main", "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        let mut serving = crate::listener::Serving::default();
        serving.spawn(
            "test-fake",
            listener,
            None,
            router_service("test-fake", PanicBody::AlibabaJson, router),
        );
        let answer = get(addr, "/boom").await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(
            answer.contains("kaboom in a handler")
                && answer.contains("test-fake failed while handling GET /boom")
                && answer.contains("InternalError"),
            "{answer}"
        );
        assert_eq!(get(addr, "/drop").await, "", "dropped without an answer");
        let answer = get(addr, "/ok").await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("fine"),
            "{answer}"
        );
    }
}
