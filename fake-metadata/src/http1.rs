//! Serving one HTTP/1.1 connection so that no input breaks it: a handler that panics answers 500
//! (the fake keeps serving), a request head over [`MAX_HEAD_BYTES`] answers 431 and the rest of
//! what the client sends is drained before closing, so the client reads the status instead of a
//! reset.

use std::time::Duration;

use http::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Largest request line plus headers accepted; beyond it hyper answers 431 (414 for a request
/// target over 64 KiB).
pub const MAX_HEAD_BYTES: usize = 256 * 1024;

/// How long, and how much, a refused connection is drained before it is closed.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 << 20;

/// The 500 answer for a handler that panicked, naming the request and the panic message.
pub(crate) fn panic_response(what: &str, err: tokio::task::JoinError) -> axum::response::Response {
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
    tracing::error!(request = what, %message, "fake-metadata handler failed; answering 500");
    let mut r = axum::response::Response::new(axum::body::Body::from(format!(
        "fake-metadata failed while handling {what}: {message}\n"
    )));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Serves `stream` with `service` until the client goes away. After a request hyper refused
/// (431, 414, 400: hyper has written the status), drains the input for a while first.
pub(crate) async fn serve<S, Svc, B>(stream: S, service: Svc)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    Svc: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = Response<B>>,
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
