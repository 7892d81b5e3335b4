//! What the suite's test binaries share: one async runtime for every test of a binary (a
//! `#[tokio::test]` runtime ends with its test, and every client and task made on it dies with
//! it) and a [`crate::pool`] session around each test, so the control planes one test's run
//! gives back serve the next test's run, and the last test to end stops them.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use crate::pool::Session;

/// How long the last test to end waits for the harness to start another before the pooled
/// control planes are stopped (the harness starts the next test in microseconds when a thread is
/// free; with one test thread the next starts only after this one returns, so none is waited for).
const LINGER: Duration = Duration::from_secs(2);

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("acr-conformance-test")
        .enable_all()
        .build()
        .expect("the tests' async runtime starts")
});

/// Runs a test's body on the binary's shared runtime inside a pool session (from a plain
/// `#[test]` fn). Blocks while the session ends: the last test stops the pooled planes.
pub fn block_on<F: Future>(body: F) -> F::Output {
    let _session = Session::open(if test_threads() > 1 {
        LINGER
    } else {
        Duration::ZERO
    });
    RUNTIME.block_on(body)
}

/// The test harness's thread count: `--test-threads`, else `RUST_TEST_THREADS`, else the
/// available parallelism (libtest's own order).
fn test_threads() -> usize {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args.iter().enumerate().find_map(|(i, arg)| {
        if arg == "--test-threads" {
            args.get(i + 1).cloned()
        } else {
            arg.strip_prefix("--test-threads=").map(str::to_owned)
        }
    });
    from_args
        .or_else(|| std::env::var("RUST_TEST_THREADS").ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
