//! Adapter `deployment` against a real API server (the local control plane): the suite finds the
//! implementation's Deployment, parks it at 0 replicas, scales it up per scenario through the
//! scale subresource, reports why a rollout is not available, sees container restarts as
//! crashes, and gives the Deployment its replica count back at the end. The local control plane
//! has no ReplicaSet controller, scheduler or kubelet, so no Pod ever becomes available here:
//! the available path runs in kind mode (`just e2e-kind`).

use std::collections::BTreeMap;
use std::time::Duration;

use acr_conformance::adapter::AdapterKind;
use acr_conformance::cluster::ControlPlane;
use acr_conformance::deployment::{DeployedImplementation, DeploymentError, DeploymentRef};
use acr_conformance::runner::{RunOptions, run};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ObjectMeta, PostParams};

const NS: &str = "acr-impl";

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_string(), "impl".to_string())])
}

async fn create_deployment(kube: &kube::Client, replicas: i32) {
    Api::<Namespace>::all(kube.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(NS.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("create namespace");
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "impl", "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels()},
            "template": {
                "metadata": {"labels": labels()},
                "spec": {"containers": [{"name": "c", "image": "example.invalid/impl:1"}]}
            }
        }
    }))
    .expect("deployment JSON");
    Api::<Deployment>::namespaced(kube.clone(), NS)
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
}

async fn spec_replicas(kube: &kube::Client) -> i32 {
    Api::<Deployment>::namespaced(kube.clone(), NS)
        .get("impl")
        .await
        .expect("get deployment")
        .spec
        .and_then(|s| s.replicas)
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_scales_the_deployment_and_explains_what_it_sees() {
    let plane = ControlPlane::start().await.expect("control plane");
    let kube = plane.client();
    let target: DeploymentRef = format!("{NS}/impl").parse().unwrap();

    let missing = DeployedImplementation::find(kube.clone(), target.clone(), None)
        .await
        .expect_err("no Deployment yet");
    assert!(
        matches!(missing, DeploymentError::Missing(_))
            && missing.to_string().contains("acr-impl/impl"),
        "{missing}"
    );

    create_deployment(&kube, 2).await;
    let deployed = DeployedImplementation::find(kube.clone(), target.clone(), Some(1))
        .await
        .expect("found")
        .with_rollout_deadline(Duration::from_secs(2));
    assert_eq!(deployed.replicas(), 1);

    deployed.park().await.expect("parked (no Pods to wait for)");
    assert_eq!(spec_replicas(&kube).await, 0, "park scales to 0");

    let err = deployed.start().await.expect_err("nothing runs Pods here");
    assert_eq!(spec_replicas(&kube).await, 1, "start scales to --replicas");
    let text = err.to_string();
    assert!(
        matches!(err, DeploymentError::NotAvailable { .. })
            && text.contains("acr-impl/impl")
            && text.contains("no Pod exists"),
        "{text}"
    );

    // A Pod of the Deployment whose container restarted is a crash.
    assert_eq!(deployed.crashed().await.expect("list pods"), None);
    let pods: Api<Pod> = Api::namespaced(kube.clone(), NS);
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "impl-1", "labels": labels()},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/impl:1"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    let mut current = pods.get("impl-1").await.expect("get pod");
    current.status = Some(
        serde_json::from_value(serde_json::json!({
            "phase": "Running",
            "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2,
                "image": "example.invalid/impl:1", "imageID": "sha256:0",
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]
        }))
        .unwrap(),
    );
    pods.replace_status("impl-1", &PostParams::default(), &current)
        .await
        .expect("write pod status");
    let crash = deployed
        .crashed()
        .await
        .expect("list pods")
        .expect("a restart is a crash");
    assert!(
        crash.contains("OOMKilled") && crash.contains("impl-1"),
        "{crash}"
    );

    deployed.restore().await.expect("restore");
    assert_eq!(spec_replicas(&kube).await, 2, "the original count is back");
}

#[tokio::test]
async fn contradictory_options_are_refused_with_the_option_names() {
    let cases = [
        (
            RunOptions {
                implementation: AdapterKind::Deployment,
                ..RunOptions::default()
            },
            "--deployment NAMESPACE/NAME",
        ),
        (
            RunOptions {
                deployment: Some("kube-system/x".parse().unwrap()),
                ..RunOptions::default()
            },
            "only used with --implementation deployment",
        ),
        (
            RunOptions {
                implementation: AdapterKind::Deployment,
                deployment: Some("kube-system/x".parse().unwrap()),
                ..RunOptions::default()
            },
            "--kubeconfig",
        ),
        (
            RunOptions {
                implementation: AdapterKind::Deployment,
                deployment: Some("kube-system/x".parse().unwrap()),
                kubeconfig: Some("/nonexistent/kubeconfig".into()),
                ..RunOptions::default()
            },
            "--metadata-admin, --acr-admin and --acr-address",
        ),
        (
            RunOptions {
                probe: acr_conformance::probe::ProbeMode::Kubelet,
                kubeconfig: Some("/nonexistent/kubeconfig".into()),
                ..RunOptions::default()
            },
            "not reachable from a kubelet",
        ),
        (
            RunOptions {
                probe: acr_conformance::probe::ProbeMode::Kubelet,
                ..RunOptions::default()
            },
            "--probe kubelet needs a cluster with nodes",
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
