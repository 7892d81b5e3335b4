//! `acr-refresher config check` and `config match` on the seed's own ConfigMap and on
//! malformed ones, run as the real binary.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config_fixtures")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acr-refresher"))
        .args(args)
        .output()
        .expect("the acr-refresher binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_prints_the_seed_defaults_as_json() {
    let path = fixture("seed-gen1-manifest.yaml");
    let out = run(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = &report["configuration"];
    assert_eq!(config["acr-api-version"], "2018-12-01");
    assert_eq!(config["watch-namespace"], serde_json::json!(["default"]));
    assert_eq!(config["service-account"], serde_json::json!(["default"]));
    assert_eq!(config["expiring-threshold"], "15m0s");
    assert_eq!(
        config["acr-registry"],
        serde_json::json!([
            "registry.*.aliyuncs.com",
            "registry-vpc.*.aliyuncs.com",
            "xxx-registry.*.cr.aliyuncs.com",
            "xxx-registry-vpc.*.cr.aliyuncs.com"
        ])
    );
    assert_eq!(report["warnings"], serde_json::json!([]));
}

#[test]
fn check_reads_generation_two() {
    let path = fixture("gen2-configmap.yaml");
    let out = run(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = &report["configuration"];
    assert_eq!(
        config["watch-namespace"],
        serde_json::json!(["default", "team-a", "team-b"])
    );
    assert_eq!(
        config["service-account"],
        serde_json::json!(["builder", "default"])
    );
    let info = config["acr-registry-info"].as_array().unwrap();
    assert_eq!(info.len(), 3);
    assert_eq!(info[0]["instanceId"], "cri-abc123");
    assert_eq!(info[2]["edition"], "Personal");
}

#[test]
fn check_lists_every_error_and_hides_secrets() {
    let path = fixture("malformed.yaml");
    let out = run(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let expected = [
        "key acr-api-version: '2019-01-01'",
        "key acr-registry: 'https://registry.*.aliyuncs.com' is not a registry host pattern",
        "key watch-namespace: 'Default,,team-a' has an empty item at position 2",
        "key watch-namespace: 'Default' is not a valid namespace name",
        "key expiring-threshold: '15 minutes' is not a duration like 15m",
        "key service-account: 'Bad Name' is not a valid ServiceAccount name",
        "key acr-registry-info item 1 field instanceId: 'my-instance'",
        "key acr-registry-info item 1 field regionId: 'Hangzhou'",
        "key acr-registry-info item 1: 'customAccessKey/customAccessKeySecret'",
    ];
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(
            line.starts_with("ConfigMap kube-system/acr-configuration "),
            "{line}"
        );
        assert!(line.contains(want), "{line} should contain {want}");
    }
    assert!(!stderr.contains("do-not-print-me"));
}

#[test]
fn check_refuses_unreadable_files() {
    let out = run(&["config", "check", "/nonexistent/acr-configuration.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/acr-configuration.yaml"));
}

#[test]
fn match_explains_which_entries_serve_an_image() {
    let seed = fixture("seed-gen1-manifest.yaml");
    let seed = seed.to_str().unwrap();
    let out = run(&[
        "config",
        "match",
        "--config",
        seed,
        "registry.cn-hangzhou.aliyuncs.com/ns/app:v1",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("acr-registry pattern registry.*.aliyuncs.com"),
        "{stdout}"
    );

    let out = run(&[
        "config",
        "match",
        "--config",
        seed,
        "registry-intl.ap-southeast-1.aliyuncs.com/x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("kubelet would pull anonymously"));

    let gen2 = fixture("gen2-configmap.yaml");
    let gen2 = gen2.to_str().unwrap();
    let out = run(&[
        "config",
        "match",
        "--config",
        gen2,
        "shop-registry-vpc.cn-beijing.cr.aliyuncs.com/a/b",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("cri-abc123"));

    let out = run(&["config", "match", "--config", seed, "Not An Image"]);
    assert_eq!(out.status.code(), Some(2));
    let malformed = fixture("malformed.yaml");
    let out = run(&[
        "config",
        "match",
        "--config",
        malformed.to_str().unwrap(),
        "nginx",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn version_is_printed() {
    let out = run(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("acr-refresher {}", env!("CARGO_PKG_VERSION"))
    );
}
