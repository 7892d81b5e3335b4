//! The conformance catalogue as cargo tests: one test per group asserts that every scenario of
//! the group passed against the reference refresher (mode local: real control planes and the
//! fakes). The whole catalogue runs once, on the parallel runner's default lanes, and every group
//! test judges its part of that one report (a test run alone still waits for the whole
//! catalogue, about a minute). The report goes to `target/conformance/cargo-test/all/`.

use acr_conformance::catalogue::{CATALOGUE, Group};
use acr_conformance::report::{Report, Verdict};
use acr_conformance::runner::{RunOptions, run};
use acr_conformance::testing::block_on;

/// The one run of the whole catalogue, made by the first group test that asks for it.
static REPORT: tokio::sync::OnceCell<Report> = tokio::sync::OnceCell::const_new();

fn report_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/conformance/cargo-test/all")
}

async fn whole_catalogue() -> &'static Report {
    REPORT
        .get_or_init(|| async {
            let options = RunOptions {
                report_dir: report_dir(),
                ..RunOptions::default()
            };
            run(&options)
                .await
                .unwrap_or_else(|e| panic!("the catalogue could not run: {e}"))
        })
        .await
}

async fn group_passes(group: Group) {
    let report = whole_catalogue().await;
    let expected: Vec<&str> = CATALOGUE
        .iter()
        .filter(|s| s.group == group)
        .map(|s| s.id)
        .collect();
    let passed: Vec<&str> = report
        .ids_with(Verdict::Passed)
        .into_iter()
        .filter(|id| expected.contains(id))
        .collect();
    assert_eq!(
        passed,
        expected,
        "not every {} scenario passed against the reference refresher (report in {}):\n{}",
        group.prefix(),
        report_dir().display(),
        report.markdown()
    );
}

#[test]
fn ns_namespace_watching_passes() {
    block_on(async {
        group_passes(Group::Ns).await;
    })
}

#[test]
fn mr_multi_registry_matching_passes() {
    block_on(async {
        group_passes(Group::Mr).await;
    })
}

#[test]
fn cr_cross_region_pulls_pass() {
    block_on(async {
        group_passes(Group::Cr).await;
    })
}

#[test]
fn tr_threshold_based_refresh_passes() {
    block_on(async {
        group_passes(Group::Tr).await;
    })
}

#[test]
fn ft_faults_pass() {
    block_on(async {
        group_passes(Group::Ft).await;
    })
}

#[test]
fn bi_bad_input_passes() {
    block_on(async {
        group_passes(Group::Bi).await;
    })
}
