//! The suite can fail — its mutation catalogue: run against a deliberately simple implementation
//! (`examples/naive_refresher.rs`) with one flaw planted (chosen by argument), exactly the
//! scenarios meant to catch that flaw fail, for the reason named, and the others of the run pass;
//! without a flaw, every scenario of every run passes. Each flaw runs only the scenarios it
//! targets plus a cheap one it must pass. The runs go side by side (as cargo runs the tests),
//! each on the parallel runner, whose lanes stay within what the machine holds across all of
//! them (`--jobs`' default).

use std::path::{Path, PathBuf};

use acr_conformance::report::Verdict;
use acr_conformance::runner::{RunOptions, run};
use acr_conformance::testing::block_on;

/// The mutation table: flaw, the scenarios run, the ones that must fail, and a phrase each
/// failure's detail must contain (the check meant to catch the flaw, not another one).
const FLAWS: &[(&str, &[&str], &[&str], &str)] = &[
    ("never-renews", &["TR1", "NS1"], &["TR1"], ""),
    (
        "overwrites-foreign",
        &["NS7", "NS1"],
        &["NS7"],
        "foreign imagePullSecrets entry",
    ),
    ("wrong-region", &["CR1", "CR2", "MR1"], &["CR1", "CR2"], ""),
    (
        "serves-late",
        &["NS1", "NS2", "BI2"],
        &["NS1", "NS2", "BI2"],
        "window",
    ),
    (
        "writes-system-namespace",
        &["NS1", "MR1"],
        &["NS1", "MR1"],
        "kube-public",
    ),
    (
        "keeps-deselected",
        &["NS5", "NS1"],
        &["NS5"],
        "removed from watch-namespace",
    ),
    (
        "glob-key",
        &["MR1", "CR2", "FT3"],
        &["MR1", "CR2"],
        "is a pattern",
    ),
    (
        "rewrites-unchanged",
        &["NS1", "CR2"],
        &["NS1"],
        "write request",
    ),
    (
        "takes-over-named",
        &["NS7", "NS1"],
        &["NS7"],
        "naive-acr-credential",
    ),
    ("no-backoff", &["FT2", "NS1"], &["FT2"], "back off"),
    (
        "vague-event",
        &["FT3", "NS1"],
        &["FT3"],
        "missing permission",
    ),
    (
        "deletes-by-name",
        &["NS7", "NS1"],
        &["NS7"],
        "naive-acr-credential was deleted",
    ),
    ("no-config-serves-all", &["BI2", "NS1"], &["BI2"], ""),
];

/// `target/<profile>/examples/naive_refresher`, built if `cargo test` did not build examples.
fn naive_refresher() -> PathBuf {
    let profile_dir = acr_conformance::adapter::profile_dir()
        .expect("the test binary lives under target/<profile>");
    let binary = profile_dir.join("examples").join("naive_refresher");
    if !binary.exists() {
        let status = acr_conformance::cargo_env::command()
            .args(["build", "--quiet"])
            .args(acr_conformance::adapter::WORKSPACE_TEST_BUILD)
            .args(profile_dir.ends_with("release").then_some("--release"))
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

async fn exactly_these_fail(flaw: &str, scenarios: &[&str], expected: &[&str], phrase: &str) {
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
        scenarios: scenarios.join(","),
        report_dir,
        quiet: true,
        ..RunOptions::default()
    };
    let report = run(&options).await.expect("the suite runs");
    let mut failed = report.ids_with(Verdict::Failed);
    failed.sort();
    let mut want: Vec<&str> = expected.to_vec();
    want.sort();
    assert_eq!(failed, want, "flaw {flaw}:\n{}", report.markdown());
    assert!(
        report.ids_with(Verdict::Error).is_empty(),
        "flaw {flaw}:\n{}",
        report.markdown()
    );
    assert_eq!(
        report.ids_with(Verdict::Passed).len(),
        scenarios.len() - expected.len(),
        "flaw {flaw}:\n{}",
        report.markdown()
    );
    for r in &report.results {
        if r.verdict == Verdict::Failed {
            assert!(
                r.detail.contains(phrase),
                "flaw {flaw}: {} failed for another reason than the check meant to catch it ({phrase:?}): {}",
                r.id,
                r.detail
            );
        }
    }
    // The exit code follows: 0 only when every applicable scenario passed.
    assert_eq!(report.all_applicable_passed(), expected.is_empty());
}

/// The flaw named by a test function: its row of [`FLAWS`].
async fn flaw(name: &str) {
    let (_, scenarios, expected, phrase) = FLAWS
        .iter()
        .find(|(n, ..)| *n == name)
        .expect("the flaw is in the table");
    exactly_these_fail(name, scenarios, expected, phrase).await;
}

macro_rules! flaw_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                block_on(flaw($name));
            }
        )*

        #[test]
        fn every_flaw_of_the_table_has_a_test() {
            let tested = [$($name),*];
            for (name, ..) in FLAWS {
                assert!(tested.contains(name), "flaw {name} has no test");
            }
        }
    };
}

flaw_tests! {
    never_renewing_fails_tr1 => "never-renews",
    overwriting_foreign_entries_fails_ns7 => "overwrites-foreign",
    a_wrong_region_token_fails_cr1_and_cr2 => "wrong-region",
    serving_other_namespaces_late_fails_the_negative_windows => "serves-late",
    writing_into_a_system_namespace_fails_the_sweep => "writes-system-namespace",
    keeping_a_deselected_namespace_fails_ns5 => "keeps-deselected",
    a_glob_key_fails_key_justification => "glob-key",
    rewriting_unchanged_secrets_fails_the_write_count => "rewrites-unchanged",
    taking_over_a_named_secret_fails_ns7 => "takes-over-named",
    retrying_without_backoff_fails_ft2 => "no-backoff",
    a_vague_or_early_event_fails_ft3 => "vague-event",
    deleting_by_name_fails_ns7 => "deletes-by-name",
    serving_all_without_a_configmap_fails_bi2 => "no-config-serves-all",
}

#[test]
fn the_same_refresher_without_a_flaw_passes_every_scenario_of_the_table() {
    block_on(async {
        let mut all: Vec<&str> = FLAWS
            .iter()
            .flat_map(|(_, s, ..)| s.iter().copied())
            .collect();
        all.sort();
        all.dedup();
        exactly_these_fail("none", &all, &[], "").await;
    })
}
