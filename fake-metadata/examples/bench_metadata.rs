//! Benchmark (not a test): requests/s on the RAM-role credentials path of an in-process fake,
//! driven by a loopback load generator with keep-alive connections for a bounded time.
//!
//! `cargo run --release -p fake-metadata --example bench_metadata -- [SECONDS] [CONNECTIONS]`

use std::time::{Duration, Instant};

use fake_metadata::service::CREDENTIALS_DIR;
use fake_metadata::settings::DEFAULT_ROLE;
use fake_metadata::{FakeMetadata, Settings};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let connections: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4);
    // No request log: the benchmark measures serving, not an ever-growing log.
    let settings = Settings {
        request_log_capacity: 0,
        ..Settings::default()
    };
    let fake = FakeMetadata::start(settings).await?;
    let addr = fake.local_addr();
    let path = format!("{CREDENTIALS_DIR}{DEFAULT_ROLE}");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let path = path.clone();
        workers.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut done: u64 = 0;
            while Instant::now() < deadline {
                let request = hyper::Request::get(path.as_str())
                    .header("host", "100.100.100.200")
                    .body(Empty::<Bytes>::new())?;
                let response = sender.send_request(request).await?;
                if !response.status().is_success() {
                    return Err(format!("status {}", response.status()).into());
                }
                response.into_body().collect().await?;
                done += 1;
            }
            Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(done)
        }));
    }
    let mut total = 0;
    for worker in workers {
        total += worker.await?.map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "bench-metadata: {total} credential requests in {elapsed:.2} s over {connections} connections = {:.0} requests/s",
        total as f64 / elapsed
    );
    Ok(())
}
