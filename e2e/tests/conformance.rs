//! The conformance catalogue as cargo tests: one test per group runs every scenario of the
//! group against the reference refresher (mode local: the real control plane and the fakes)
//! and asserts that all of them passed. Groups run one at a time: the scenarios measure
//! latencies on a 2-core machine. Reports go to `target/conformance/cargo-test/<group>/`.

use acr_conformance::catalogue::{CATALOGUE, Group};
use acr_conformance::report::Verdict;
use acr_conformance::runner::{RunOptions, run};

/// One group at a time, across the tests of this binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn group_passes(group: Group) {
    let _serial = SERIAL.lock().await;
    let report_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/conformance/cargo-test")
        .join(group.prefix().to_ascii_lowercase());
    let options = RunOptions {
        scenarios: group.prefix().to_string(),
        report_dir: report_dir.clone(),
        ..RunOptions::default()
    };
    let report = run(&options)
        .await
        .unwrap_or_else(|e| panic!("{} could not run: {e}", group.prefix()));
    let expected: Vec<&str> = CATALOGUE
        .iter()
        .filter(|s| s.group == group)
        .map(|s| s.id)
        .collect();
    let passed = report.ids_with(Verdict::Passed);
    assert_eq!(
        passed,
        expected,
        "not every {} scenario passed against the reference refresher (report in {}):\n{}",
        group.prefix(),
        report_dir.display(),
        report.markdown()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ns_namespace_watching_passes() {
    group_passes(Group::Ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mr_multi_registry_matching_passes() {
    group_passes(Group::Mr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cr_cross_region_pulls_pass() {
    group_passes(Group::Cr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tr_threshold_based_refresh_passes() {
    group_passes(Group::Tr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ft_faults_pass() {
    group_passes(Group::Ft).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bi_bad_input_passes() {
    group_passes(Group::Bi).await;
}
