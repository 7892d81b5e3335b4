//! Test helpers both fakes' test suites share (feature `testing`): admin calls with raw bodies
//! and the refusals they must meet, raw HTTP exchanges, an oversized request head, a port nobody
//! listens on, the proxy variables an interop client must not see, and (with `testcontainers`)
//! starting a fake's image and reading its environment. The raw exchanges serve the kit's own
//! tests too.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Deadline of one exchange with a fake.
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(20);

/// Proxy variables removed from interop clients' environments: they must reach the fake directly.
pub const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// `method admin_url+path` with `body` as JSON, sent directly (no proxy): the status and the
/// answer (JSON, or the text as a JSON string).
#[cfg(feature = "testing")]
pub async fn admin_call(
    admin_url: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain reqwest client builds")
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method"),
            format!("{admin_url}{path}"),
        )
        .timeout(Duration::from_secs(10))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("the admin listener answers");
    let status = r.status().as_u16();
    let text = r.text().await.expect("the answer's body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Writes `request` to `addr` and reads the whole answer until the fake closes.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the fake accepts");
    stream
        .write_all(request)
        .await
        .expect("the request is sent");
    let mut out = Vec::new();
    tokio::time::timeout(EXCHANGE_DEADLINE, stream.read_to_end(&mut out))
        .await
        .expect("the answer comes within the deadline")
        .expect("the connection is closed cleanly");
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `GET path` with `host` and a header of `size` bytes; the raw answer. The fake may close
/// before it read everything: a failed write is part of the scenario, a reset is not.
pub async fn oversized_head(addr: SocketAddr, host: &str, path: &str, size: usize) -> String {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the fake accepts");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
        "a".repeat(size)
    );
    let writer = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
    });
    let mut answer = Vec::new();
    tokio::time::timeout(EXCHANGE_DEADLINE, read.read_to_end(&mut answer))
        .await
        .expect("the answer comes within the deadline")
        .expect("the connection is closed cleanly, not reset");
    writer.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

/// An oversized head (2 MiB, [`oversized_head`]) sent to each of `addrs` is answered 431.
pub async fn assert_head_too_large(addrs: &[SocketAddr], host: &str, path: &str) {
    for &addr in addrs {
        let answer = oversized_head(addr, host, path, 2 << 20).await;
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "{addr}: {}",
            answer.lines().next().unwrap_or("(no status line)")
        );
    }
}

/// An address nobody listens on (bound, then released).
pub fn closed_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("its address")
}

/// An admin answer ([`admin_call`]) is a 400 naming `field`, and its error mentions each of
/// `mentions` (the value, the accepted range).
pub fn assert_refused(answer: &(u16, serde_json::Value), field: &str, mentions: &[&str]) {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{field}: {body}");
    assert_eq!(body["field"], field, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    for m in mentions {
        assert!(error.contains(m), "names {m:?}: {error}");
    }
}

/// Each admin call `(method, path, body, field, named)` is answered 400, naming `field` (unless
/// it is empty) and, in its error, `named`.
#[cfg(feature = "testing")]
pub async fn assert_admin_refusals(admin_url: &str, calls: &[(&str, &str, &str, &str, &str)]) {
    for &(method, path, body, field, named) in calls {
        let (status, answer) = admin_call(admin_url, method, path, body).await;
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["field"], field, "{path} {body}: {answer}");
        }
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(named), "{path} {body}: {error}");
    }
}

/// Checks how a `RemoteAdmin` gives up on a port nobody listens on: `probe(base_url)` gives what
/// its `wait_ready` (500 ms) and then one call returned; `wait_ready` must end at its deadline
/// with `NotReady` naming the address, the call at once with `Request` naming `path`.
#[cfg(feature = "client")]
pub async fn assert_gives_up<F, Fut>(probe: F, path: &str)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<
            Output = (
                Result<(), crate::admin_client::AdminError>,
                Result<(), crate::admin_client::AdminError>,
            ),
        >,
{
    use crate::admin_client::AdminError;
    let closed = closed_addr();
    let started = std::time::Instant::now();
    let (not_ready, call) = probe(format!("http://{closed}")).await;
    let waited = started.elapsed();
    let not_ready = not_ready.expect_err("nothing listens");
    let call = call.expect_err("nothing listens");
    let (not_ready, call) = (&not_ready, &call);
    assert!(waited < Duration::from_secs(5), "gave up after {waited:?}");
    assert!(
        matches!(not_ready, AdminError::NotReady { .. }),
        "{not_ready}"
    );
    assert!(
        not_ready.to_string().contains(&closed.to_string()),
        "{not_ready}"
    );
    assert!(matches!(call, AdminError::Request { .. }), "{call}");
    let url = format!("http://{closed}{path}");
    assert!(call.to_string().contains(&url), "names {url}: {call}");
}

/// The environment a fake's image gives its container (`testcontainers::Image::env_vars`).
#[cfg(feature = "testcontainers")]
pub fn environment(
    image: &impl ::testcontainers::Image,
) -> std::collections::BTreeMap<String, String> {
    image
        .env_vars()
        .into_iter()
        .map(|(k, v)| (k.into().into_owned(), v.into().into_owned()))
        .collect()
}

/// Starts `image` as `reference` (`NAME:TAG`, as images.sh prints it) through testcontainers,
/// published on loopback ([`FakeImage::on_loopback`](crate::container::FakeImage::on_loopback)).
#[cfg(feature = "testcontainers")]
pub async fn start_on_loopback<I>(image: I, reference: &str) -> ::testcontainers::ContainerAsync<I>
where
    I: ::testcontainers::Image + AsMut<crate::container::FakeImage>,
{
    use ::testcontainers::runners::AsyncRunner as _;
    let (name, tag) = reference
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("an image reference NAME:TAG: {reference}"));
    let mut image = image;
    let fake = image.as_mut();
    *fake = fake.clone().with_image(name, tag);
    crate::container::FakeImage::on_loopback(image)
        .start()
        .await
        .unwrap_or_else(|e| panic!("starting {reference} through testcontainers: {e}"))
}
