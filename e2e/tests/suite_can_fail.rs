//! The suite can fail: run against a deliberately broken implementation
//! (`examples/naive_refresher.rs`, flaw chosen by argument), exactly the scenarios that judge
//! that flaw fail and the others pass.

use std::path::{Path, PathBuf};

use acr_conformance::report::Verdict;
use acr_conformance::runner::{RunOptions, run};

/// One run at a time: each starts a control plane and measures latencies.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The scenarios every flaw is run against: each flaw breaks exactly one of them.
const SCENARIOS: &str = "NS1,NS7,MR1,CR1,TR1";

/// `target/<profile>/examples/naive_refresher`, built if `cargo test` did not build examples.
fn naive_refresher() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .ancestors()
        .find(|p| {
            matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("debug" | "release")
            )
        })
        .expect("the test binary lives under target/<profile>")
        .to_path_buf();
    let binary = profile_dir.join("examples").join("naive_refresher");
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "acr-conformance",
                "--example",
                "naive_refresher",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building examples/naive_refresher failed: {status}"
        );
    }
    binary
}

async fn exactly_these_fail(flaw: &str, expected: &[&str]) {
    let _serial = SERIAL.lock().await;
    let naive = naive_refresher();
    let report_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/conformance/suite-can-fail")
        .join(flaw);
    let command = [
        naive.to_string_lossy().as_ref(),
        "--flaw",
        flaw,
        "--kubeconfig",
        "{kubeconfig}",
        "--metadata",
        "{metadata}",
        "--acr-port",
        "{acr_port}",
        "--resolve",
        "{acr_resolve}",
        "--ca",
        "{ca}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let options = RunOptions {
        command,
        scenarios: SCENARIOS.into(),
        report_dir,
        ..RunOptions::default()
    };
    let report = run(&options).await.expect("the suite runs");
    assert_eq!(
        report.ids_with(Verdict::Failed),
        expected,
        "flaw {flaw}:\n{}",
        report.markdown()
    );
    assert!(
        report.ids_with(Verdict::Error).is_empty(),
        "flaw {flaw}:\n{}",
        report.markdown()
    );
    assert_eq!(
        report.ids_with(Verdict::Passed).len(),
        SCENARIOS.split(',').count() - expected.len(),
        "flaw {flaw}:\n{}",
        report.markdown()
    );
    // The exit code follows: 0 only when every applicable scenario passed.
    assert_eq!(report.all_applicable_passed(), expected.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_renewing_fails_exactly_tr1() {
    exactly_these_fail("never-renews", &["TR1"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwriting_foreign_pull_secrets_fails_exactly_ns7() {
    exactly_these_fail("overwrites-foreign", &["NS7"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_a_wrong_region_token_fails_exactly_cr1() {
    exactly_these_fail("wrong-region", &["CR1"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_refresher_without_a_flaw_passes_them_all() {
    exactly_these_fail("none", &[]).await;
}
