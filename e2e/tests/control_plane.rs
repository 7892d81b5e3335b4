//! The local control plane is a real Kubernetes: the controller-manager creates `default`
//! ServiceAccounts, the ServiceAccount admission plugin copies imagePullSecrets into Pods, RBAC refuses
//! identities without a grant, and nothing is left running or listening beyond 127.0.0.1.

use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::time::{Duration, Instant};

use acr_conformance::cluster::{Component, ControlPlane};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `probe` every 100 ms until it yields a value or `DEADLINE` passes.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_forbidden(result: Result<impl std::fmt::Debug, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(status)) if status.code == 403)
}

/// Whether a PID names a live (non-zombie) process.
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// The local addresses (hex, as in /proc/net/tcp*) of every TCP socket `pid` listens on.
fn listening_addresses(pid: u32) -> Vec<String> {
    let inodes: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    Some(
                        target
                            .strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut addresses = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Columns: sl local_address rem_address st ... inode (index 9); 0A is LISTEN.
            if fields.len() > 9 && fields[3] == "0A" && inodes.iter().any(|i| i == fields[9]) {
                addresses.push(fields[1].to_owned());
            }
        }
    }
    addresses
}

#[tokio::test]
async fn a_new_namespace_gets_its_default_service_account_pods_inherit_pull_secrets_and_rbac_refuses_strangers()
 {
    let plane = ControlPlane::start().await.expect("control plane starts");
    let pids = plane.pids();
    let dir = plane.dir().to_owned();
    assert_eq!(
        pids.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        Component::ALL.to_vec()
    );

    // Only loopback listeners: 0100007F is 127.0.0.1 in /proc/net/tcp's byte order.
    let mut listeners = 0;
    for &(component, pid) in &pids {
        for address in listening_addresses(pid) {
            listeners += 1;
            assert!(
                address.starts_with("0100007F:"),
                "{component} listens on {address}, not 127.0.0.1"
            );
        }
    }
    assert_eq!(
        listeners, 3,
        "etcd client + peer and the apiserver, nothing else"
    );

    let client = plane.client();
    let ns = "acr-pull-test";
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace"),
        )
        .await
        .expect("create namespace");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    eventually(
        "the controller-manager creates default SA in the new namespace",
        || async { accounts.get_opt("default").await.ok().flatten() },
    )
    .await;

    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let pull_secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("acr-pull".to_owned()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".to_owned()),
        data: Some(BTreeMap::from([(
            ".dockerconfigjson".to_owned(),
            ByteString(br#"{"auths":{}}"#.to_vec()),
        )])),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &pull_secret)
        .await
        .expect("create pull secret");
    accounts
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"imagePullSecrets": [{"name": "acr-pull"}]})),
        )
        .await
        .expect("patch default SA");

    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "probe"},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/acr/probe:1"}]}
    }))
    .expect("pod");
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    let spec = created.spec.expect("pod has a spec");
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    let copied: Vec<String> = spec
        .image_pull_secrets
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(
        copied,
        ["acr-pull"],
        "ServiceAccount admission copies the SA's imagePullSecrets"
    );
    assert!(
        spec.node_name.is_none(),
        "no scheduler: the pod is never bound"
    );

    // A stranger is authenticated but has no grant.
    let stranger = plane
        .client_for("mallory", &[])
        .await
        .expect("client for mallory");
    assert!(
        is_forbidden(
            Api::<Secret>::namespaced(stranger.clone(), ns)
                .list(&Default::default())
                .await
        ),
        "an identity without RBAC grants must be refused"
    );
    // A group grant reaches a member (groups travel in the certificate) and nothing more.
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    }))
    .expect("role");
    Api::<Role>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "team-a-reads-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-a"}]
    }))
    .expect("role binding");
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create role binding");
    let member = plane
        .client_for("bob", &["team-b", "team-a"])
        .await
        .expect("client for bob");
    let listed = eventually("the role binding takes effect", || async {
        Api::<Pod>::namespaced(member.clone(), ns)
            .list(&Default::default())
            .await
            .ok()
    })
    .await;
    assert_eq!(listed.items.len(), 1);
    assert!(
        is_forbidden(
            Api::<Secret>::namespaced(member, ns)
                .list(&Default::default())
                .await
        ),
        "the grant covers pods, not secrets"
    );
    assert!(
        is_forbidden(
            Api::<Pod>::namespaced(stranger, ns)
                .list(&Default::default())
                .await
        ),
        "the grant is to team-a, not to everyone"
    );

    drop(plane);
    for (component, pid) in pids {
        assert!(!alive(pid), "{component} (pid {pid}) still runs after drop");
    }
    assert!(!dir.exists(), "{} is removed on drop", dir.display());
}

#[tokio::test]
async fn control_planes_run_side_by_side_and_the_apiserver_restarts_on_its_port_with_its_data() {
    let (a, b) = tokio::join!(ControlPlane::start(), ControlPlane::start());
    let mut a = a.expect("control plane a starts");
    let b = b.expect("control plane b starts");
    assert_ne!(a.server_url(), b.server_url());

    let namespaces_a: Api<Namespace> = Api::all(a.client());
    namespaces_a
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "kept"}})).expect("namespace"),
        )
        .await
        .expect("create namespace in a");

    let url = a.server_url().to_owned();
    let apiserver_pid = |plane: &ControlPlane| {
        plane
            .pids()
            .into_iter()
            .find(|(c, _)| *c == Component::Apiserver)
            .map(|(_, pid)| pid)
            .expect("an apiserver runs")
    };
    let old_pid = apiserver_pid(&a);
    a.restart_apiserver().await.expect("apiserver restarts");
    assert_ne!(apiserver_pid(&a), old_pid, "a new apiserver process");
    assert!(!alive(old_pid), "the old apiserver is gone");
    assert_eq!(a.server_url(), url, "same port");
    // The client made before the restart reaches the new apiserver, which reads the same etcd.
    namespaces_a
        .get("kept")
        .await
        .expect("namespace survives the restart");

    let namespaces_b: Api<Namespace> = Api::all(b.client());
    assert!(
        namespaces_b
            .get_opt("kept")
            .await
            .expect("list in b")
            .is_none(),
        "b has its own etcd"
    );

    let logs = a.logs_tail(5);
    for component in Component::ALL {
        assert!(
            logs.contains(&format!("{}.log", component.name())),
            "logs_tail names {component}'s log:\n{logs}"
        );
    }

    let pids: Vec<_> = a.pids().into_iter().chain(b.pids()).collect();
    drop(a);
    drop(b);
    for (component, pid) in pids {
        assert!(!alive(pid), "{component} (pid {pid}) still runs after drop");
    }
}

#[tokio::test]
async fn cluster_up_leaves_a_reachable_control_plane_that_cluster_down_stops() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("cluster");
    let cli = |action: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_acr-conformance"))
            .args(["cluster", action, "--dir"])
            .arg(&dir)
            .output()
            .expect("run acr-conformance");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "cluster {action} failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };

    let up = cli("up");
    let pids: Vec<u32> = up
        .lines()
        .filter_map(|l| l.split_once(": pid ")?.1.trim().parse().ok())
        .collect();
    assert_eq!(pids.len(), 3, "one pid per component:\n{up}");
    let kubeconfig = up
        .lines()
        .find_map(|l| l.strip_prefix("export KUBECONFIG="))
        .expect("prints export KUBECONFIG=…");
    // The command has exited; the control plane must still answer.
    assert!(
        pids.iter().all(|&pid| alive(pid)),
        "components outlive `cluster up`"
    );
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig readable"),
        &Default::default(),
    )
    .await
    .expect("kubeconfig valid");
    let client = kube::Client::try_from(config).expect("client");
    Api::<Namespace>::all(client)
        .get("default")
        .await
        .expect("the printed kubeconfig reaches the apiserver as admin");

    let down = cli("down");
    for pid in pids {
        assert!(
            !alive(pid),
            "pid {pid} still runs after `cluster down`:\n{down}"
        );
    }
    assert!(!dir.exists(), "`cluster down` removes {}", dir.display());
}
