//! The local control plane's real node: kubelet pulls through containerd, with credentials from
//! the reference refresher's `kubelet-credential-provider` mode, and the suite's verdicts are
//! confirmed by that kubelet (`--probe kubelet --nodes 1`).
//!
//! Needs root (network and mount namespaces, containers) and `runc`: otherwise `SKIPPED`, or a
//! failure when `ACR_REQUIRE_PRIVILEGED_TESTS=1` (CI), the team's policy for root-only tests.
//! The first run builds kubeplane and containerd from Go modules (minutes, then cached).

use std::path::Path;
use std::time::{Duration, Instant};

use acr_conformance::catalogue::{CATALOGUE, Group};
use acr_conformance::clouds::{Clouds, FakesSource, default_plan};
use acr_conformance::cluster::{ControlPlane, NodeOptions, StartOptions};
use acr_conformance::probe::{ProbeMode, kubelet_verdict};
use acr_conformance::report::Verdict;
use acr_conformance::runner::{RunOptions, run};
use fake_metadata::testing::privileged_or_skip;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

/// A private image of fake-acr's default world, in the region fake-metadata reports.
const PRIVATE_IMAGE: &str = "registry.cn-hangzhou.aliyuncs.com/demo/private-app:latest";
const REGION: &str = "cn-hangzhou";
/// How long kubelet may take to pull (plugin call, token, pull, unpack).
const PULL_DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_without_pull_secrets_pulls_a_private_image_with_the_kubelet_plugin() {
    if !privileged_or_skip("a real node runs kubelet and containerd in namespaces") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let refresher = acr_conformance::adapter::reference_refresher()
        .await
        .expect("the reference refresher");
    // Clouds writes fake-acr's CA here once the fakes run; the plugin reads it at each call.
    let ca_file = dir.path().join("fake-acr-ca.pem");
    let provider_config = dir.path().join("credential-provider.json");
    write_provider_config(&provider_config, &refresher, &ca_file);
    let bin_dir = refresher
        .parent()
        .expect("refresher's directory")
        .to_owned();

    let plane = ControlPlane::start_with(StartOptions {
        node: Some(NodeOptions {
            credential_provider: Some((provider_config, bin_dir)),
        }),
        ..StartOptions::default()
    })
    .await
    .expect("control plane with a node");
    let node = plane.node().expect("the node");
    eprintln!(
        "node {} Ready in {:.1} s; kubelet + containerd RSS {} MiB",
        node.name(),
        node.start_time().as_secs_f64(),
        node.rss_kib() / 1024
    );
    let (acr, metadata) = default_plan(REGION);
    let netns = node.netns();
    let clouds = Clouds::start_for(
        &FakesSource::InProcess,
        acr,
        metadata,
        dir.path(),
        Some(netns.as_ref()),
    )
    .await
    .expect("fakes");
    assert_eq!(
        clouds.ca_file(),
        ca_file,
        "the CA where the plugin reads it"
    );

    let pods: Api<Pod> = Api::namespaced(plane.client(), "default");
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("private".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.name().into()),
            containers: vec![Container {
                name: "app".into(),
                image: Some(PRIVATE_IMAGE.into()),
                image_pull_policy: Some("Always".into()),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            termination_grace_period_seconds: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create the Pod");
    let secrets = created
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.clone())
        .unwrap_or_default();
    assert!(
        secrets.is_empty(),
        "the Pod has no pull Secret: {secrets:?}"
    );

    let deadline = Instant::now() + PULL_DEADLINE;
    let verdict = loop {
        let current = pods.get("private").await.expect("read the Pod");
        if let Some(verdict) = kubelet_verdict(&current) {
            break verdict;
        }
        assert!(
            Instant::now() < deadline,
            "kubelet neither pulled nor refused {PRIVATE_IMAGE} within {PULL_DEADLINE:?}: {:?}\n{}",
            current.status,
            node.logs_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        verdict.pulled,
        "kubelet could not pull {PRIVATE_IMAGE} with the plugin's credentials: {}\n{}",
        verdict.explain(),
        node.logs_tail(30)
    );
    let tokens = clouds.token_calls().await.expect("fake-acr's log");
    assert!(
        !tokens.is_empty(),
        "the pull used a token from GetAuthorizationToken (the plugin's), but fake-acr saw none"
    );
    eprintln!(
        "pulled by kubelet: {}; kubelet + containerd RSS {} MiB",
        verdict.explain(),
        node.rss_kib() / 1024
    );
}

/// kubelet's CredentialProviderConfig naming the refresher for every ACR registry domain.
fn write_provider_config(path: &Path, refresher: &Path, ca_file: &Path) {
    let name = refresher
        .file_name()
        .expect("refresher's file name")
        .to_string_lossy();
    let config = serde_json::json!({
        "apiVersion": "kubelet.config.k8s.io/v1",
        "kind": "CredentialProviderConfig",
        "providers": [{
            "name": name,
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "matchImages": ["*.*.aliyuncs.com", "*.*.cr.aliyuncs.com"],
            "defaultCacheDuration": "1m",
            "args": ["kubelet-credential-provider", "--ca-file", ca_file.to_string_lossy()],
        }],
    });
    std::fs::write(path, config.to_string()).expect("write the CredentialProviderConfig");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_with_probe_kubelet_on_the_local_node_confirms_every_ns_verdict() {
    if !privileged_or_skip("--nodes 1 runs kubelet and containerd in namespaces") {
        return;
    }
    let report_dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/conformance/cargo-test/real-node-ns");
    let options = RunOptions {
        scenarios: "NS".into(),
        report_dir: report_dir.clone(),
        probe: ProbeMode::Kubelet,
        nodes: 1,
        quiet: true,
        ..RunOptions::default()
    };
    let report = run(&options).await.expect("the suite runs with a node");
    let expected: Vec<&str> = CATALOGUE
        .iter()
        .filter(|s| s.group == Group::Ns)
        .map(|s| s.id)
        .collect();
    assert_eq!(
        report.ids_with(Verdict::Passed),
        expected,
        "not every NS scenario passed with kubelet's confirmation (report in {}):\n{}",
        report_dir.display(),
        report.markdown()
    );
    for result in &report.results {
        let confirmed = result
            .figures
            .iter()
            .find(|f| f.name == "confirmed-by-kubelet")
            .and_then(|f| f.value.split_whitespace().next()?.parse::<usize>().ok())
            .unwrap_or(0);
        assert!(
            confirmed > 0,
            "{}: no verdict was confirmed by the node's kubelet:\n{}",
            result.id,
            report.markdown()
        );
    }
}

#[tokio::test]
async fn nodes_are_refused_where_they_cannot_work() {
    let cases = [
        (
            RunOptions {
                nodes: 1,
                kubeconfig: Some("/nonexistent/kubeconfig".into()),
                ..RunOptions::default()
            },
            "--nodes is for the local control plane",
        ),
        (
            RunOptions {
                nodes: 1,
                network: Some(acr_conformance::runner::NetworkMode::Override),
                ..RunOptions::default()
            },
            "--nodes 1 needs root and network mode netns",
        ),
    ];
    for (options, expected) in cases {
        let Err(err) = run(&options).await else {
            panic!("options expecting '{expected}' were accepted");
        };
        let err = err.to_string();
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
    }
}
