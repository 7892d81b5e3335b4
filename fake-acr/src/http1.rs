//! Serving one HTTP/1.1 connection so that no input breaks it: a handler that panics answers 500
//! (the fake keeps serving), a request head over [`MAX_HEAD_BYTES`] answers 431 and the rest of
//! what the client sends is drained before closing, so the client reads the status instead of a
//! reset.

use std::time::Duration;

use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tower::ServiceExt as _;

/// Largest request line plus headers accepted; beyond it hyper answers 431 (414 for a request
/// target over 64 KiB).
pub const MAX_HEAD_BYTES: usize = 256 * 1024;

/// How long, and how much, a refused connection is drained before it is closed.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 << 20;

/// The 500 answer for a handler that panicked, naming the request and the panic message.
pub(crate) fn panic_response(what: &str, err: tokio::task::JoinError) -> Response<Full<Bytes>> {
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
    tracing::error!(request = what, %message, "fake-acr handler failed; answering 500");
    let body = serde_json::json!({
        "Code": "InternalError",
        "Message": format!("fake-acr failed while handling {what}: {message}"),
    });
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Serves an axum router (the admin API) on `listener`: each connection through [`serve`], each
/// request in its own task so that a panic answers 500.
pub(crate) async fn serve_router(listener: tokio::net::TcpListener, router: axum::Router) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Usually EMFILE under load: back off briefly instead of spinning.
                tracing::warn!(%error, "fake-acr admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let router = router.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let what = format!("admin {} {}", req.method(), req.uri().path());
                    let answer = tokio::spawn(router.clone().oneshot(req));
                    async move {
                        match answer.await {
                            Ok(Ok(r)) => Ok::<_, std::convert::Infallible>(r),
                            Ok(Err(never)) => match never {},
                            Err(e) => Ok(panic_response(&what, e).map(axum::body::Body::new)),
                        }
                    }
                });
            serve(stream, service).await;
        });
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
            .await
            .expect("answered within 10 s")
            .unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    async fn boom() -> &'static str {
        panic!("kaboom in a handler")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_listener_keeps_serving() {
        let router = axum::Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/ok", axum::routing::get(|| async { "fine" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve_router(listener, router));
        let answer = get(addr, "/boom").await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(
            answer.contains("kaboom in a handler") && answer.contains("GET /boom"),
            "{answer}"
        );
        let answer = get(addr, "/ok").await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("fine"),
            "{answer}"
        );
        task.abort();
    }
}
