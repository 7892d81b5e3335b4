//! Implementations written elsewhere, judged unchanged in netns mode: the suite must certify
//! clients that only know Alibaba Cloud's real addresses (100.100.100.200 for ECS metadata,
//! `cr.<region>.aliyuncs.com` on 443), with no placeholder and no flag.
//!
//! - `github.com/mozillazg/docker-credential-acr-helper` v0.4.0 (a Go docker credential helper
//!   without a token cache, V3-signed ACR calls, ECS RAM role through Alibaba's credentials-go),
//!   installed with `go install` into `~/.cache/acr-refresher/go-bin-<version>/` once; its exact
//!   verdict table on the source-level scenarios is asserted.
//!
//! Needs root (network namespaces) and Go; reports go to
//! `target/conformance/cargo-test/third-party-<name>/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use acr_conformance::adapter::AdapterKind;
use acr_conformance::report::Verdict;
use acr_conformance::runner::{NetworkMode, RunOptions, run};
use acr_conformance::testing::block_on;
use fake_metadata::testing::{cache_dir, privileged_or_skip};

/// The helper as a Go package path and version.
const MOZILLAZG_HELPER: &str =
    "github.com/mozillazg/docker-credential-acr-helper/cmd/docker-credential-acr-helper";
const MOZILLAZG_VERSION: &str = "v0.4.0";

/// `go install PACKAGE@VERSION` into a cache directory of its own, once (a file lock keeps
/// parallel tests from installing twice; a marker file tells a finished install).
fn go_install(package: &str, version: &str) -> PathBuf {
    let name = package.rsplit('/').next().expect("a package path");
    let dir = cache_dir()
        .expect("the cache directory")
        .join(format!("go-bin-{name}-{version}"));
    std::fs::create_dir_all(&dir).expect("create the Go bin directory");
    let lock = std::fs::File::create(dir.with_extension("lock")).expect("lock file");
    lock.lock().expect("lock the Go bin directory");
    let binary = dir.join(name);
    let marker = dir.join(".complete");
    if !marker.exists() {
        eprintln!("third-party: go install {package}@{version} (first run only)");
        let status = Command::new("go")
            .args(["install", &format!("{package}@{version}")])
            .env("GOBIN", &dir)
            // Outside any module: the version pins the helper's own go.sum.
            .current_dir(&dir)
            .env_remove("GOFLAGS")
            .status()
            .expect("go runs (install Go 1.22 or newer)");
        assert!(status.success(), "go install {package}@{version}: {status}");
        std::fs::write(&marker, b"").expect("write the marker");
    }
    assert!(binary.is_file(), "{} was not installed", binary.display());
    binary
}

fn report_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/conformance/cargo-test")
        .join(format!("third-party-{name}"))
}

#[test]
fn mozillazg_docker_credential_acr_helper_passes_unchanged_in_netns_mode() {
    block_on(async {
        if !privileged_or_skip("netns mode runs the helper in a network namespace") {
            return;
        }
        let helper = go_install(MOZILLAZG_HELPER, MOZILLAZG_VERSION);
        let dir = report_dir("docker-credential-acr-helper");
        let options = RunOptions {
            implementation: AdapterKind::DockerCredentialHelper,
            // The program alone: no placeholder, no flag.
            command: vec![helper.to_string_lossy().into_owned()],
            network: Some(NetworkMode::Netns),
            scenarios: "MR,CR,TR".into(),
            report_dir: dir.clone(),
            quiet: true,
            ..RunOptions::default()
        };
        let report = run(&options).await.expect("the suite runs");
        let context = format!("report in {}:\n{}", dir.display(), report.markdown());
        assert_eq!(
            report.ids_with(Verdict::Passed),
            [
                "MR1", "MR2", "MR3", "MR4", "CR1", "CR2", "CR3", "TR1", "TR2"
            ],
            "{context}"
        );
        assert_eq!(
            report.ids_with(Verdict::NotApplicable),
            ["MR5", "TR3", "TR4"],
            "{context}"
        );
        assert!(report.ids_with(Verdict::Failed).is_empty(), "{context}");
        assert!(report.ids_with(Verdict::Error).is_empty(), "{context}");
    })
}
