//! The kind mode's files (e2e/kind/) and the implementation's manifests (yaml/) are valid without a
//! kind cluster: they parse, agree with each other (ports, addresses, images), and every object is
//! accepted by a real kube-apiserver (the local control plane) in a server-side dry-run apply.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use acr_conformance::cluster::ControlPlane;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use serde::Deserialize as _;
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("invariant: e2e/ is in the workspace")
        .to_owned()
}

/// Every YAML document of every `.yaml`/`.yml` file under `dir` (sorted), with its file name.
fn documents(dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("directory entry").path())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("reading {}: {e}", dir.display()),
    };
    files.retain(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"));
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (i, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} document {i}: {e}", file.display()));
            if !value.is_null() {
                out.push((format!("{} #{i}", file.display()), value));
            }
        }
    }
    out
}

fn kind_manifests() -> Vec<(String, Value)> {
    documents(&root().join("e2e/kind/manifests"))
}

fn find<'a>(docs: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("e2e/kind/manifests has no {kind} {name}"))
}

#[test]
fn kind_cluster_config_publishes_the_fakes_node_ports_on_loopback_and_uses_certs_d() {
    let text = std::fs::read_to_string(root().join("e2e/kind/cluster.yaml"))
        .expect("e2e/kind/cluster.yaml");
    let config: Value = serde_norway::from_str(&text).expect("cluster.yaml parses");
    assert_eq!(config["kind"], "Cluster");
    assert_eq!(config["apiVersion"], "kind.x-k8s.io/v1alpha4");
    let nodes = config["nodes"].as_array().expect("nodes");
    assert!(
        nodes.iter().any(|n| n["role"] == "control-plane"),
        "a control-plane node"
    );
    let mut published = BTreeSet::new();
    for mapping in nodes.iter().flat_map(|n| {
        n["extraPortMappings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }) {
        assert_eq!(
            mapping["listenAddress"], "127.0.0.1",
            "published on loopback only: {mapping}"
        );
        assert_eq!(mapping["containerPort"], mapping["hostPort"], "{mapping}");
        published.insert(mapping["containerPort"].as_u64().expect("port"));
    }
    let docs = kind_manifests();
    let mut node_ports = BTreeSet::new();
    for (_, doc) in docs.iter().filter(|(_, d)| d["kind"] == "Service") {
        for port in doc["spec"]["ports"].as_array().expect("ports") {
            if let Some(p) = port["nodePort"].as_u64() {
                node_ports.insert(p);
            }
        }
    }
    assert_eq!(
        published, node_ports,
        "every NodePort of the fakes is published, and nothing else"
    );
    let patches: String = config["containerdConfigPatches"]
        .as_array()
        .expect("containerdConfigPatches")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        patches.contains(r#"config_path = "/etc/containerd/certs.d""#),
        "containerd reads hosts.toml: {patches}"
    );
}

#[test]
fn kind_manifests_route_the_real_addresses_to_the_fakes() {
    let docs = kind_manifests();
    let metadata = find(&docs, "Service", "fake-metadata");
    assert_eq!(metadata["spec"]["externalIPs"], json!(["100.100.100.200"]));
    let metadata_port = metadata["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["port"] == 80);
    assert_eq!(metadata_port.expect("port 80")["targetPort"], "metadata");
    let acr = find(&docs, "Service", "fake-acr");
    let acr_ip = acr["spec"]["externalIPs"][0]
        .as_str()
        .expect("fake-acr externalIP");
    assert!(
        acr["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["port"] == 443),
        "443"
    );
    let corefile = find(&docs, "ConfigMap", "coredns")["data"]["Corefile"]
        .as_str()
        .expect("Corefile");
    assert!(
        corefile.contains(&format!("IN A {acr_ip}\"")),
        "CoreDNS answers the Alibaba names with fake-acr's externalIP {acr_ip}: {corefile}"
    );
    assert!(
        corefile.contains("kubernetes cluster.local"),
        "cluster DNS kept: {corefile}"
    );
    let run = std::fs::read_to_string(root().join("e2e/kind/run.sh")).expect("run.sh");
    assert!(
        run.contains(&format!("acr_ip={acr_ip}\n")),
        "run.sh writes node /etc/hosts for {acr_ip}"
    );
    let config = find(&docs, "ConfigMap", "fake-acr-config")["data"]["config.yaml"]
        .as_str()
        .expect("config");
    assert!(
        config.contains("advertised_port: 443"),
        "token realms name port 443: {config}"
    );
    for name in ["fake-metadata", "fake-acr"] {
        let spec = &find(&docs, "Deployment", name)["spec"]["template"]["spec"];
        let container = &spec["containers"][0];
        assert_eq!(
            container["image"],
            format!("localhost/acr-refresher/{name}:dev")
        );
        assert_eq!(
            container["imagePullPolicy"], "Never",
            "{name} comes from `kind load`, never a registry"
        );
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{name}");
        for port in container["ports"].as_array().expect("ports") {
            assert!(
                port["containerPort"].as_u64().expect("port") >= 1024,
                "{name} binds unprivileged ports"
            );
        }
    }
}

/// Where the manifests are checked: every document of yaml/ and e2e/kind/manifests/.
fn all_manifests() -> Vec<(String, Value)> {
    let mut docs = documents(&root().join("yaml"));
    docs.extend(kind_manifests());
    docs
}

#[tokio::test]
async fn every_manifest_passes_a_server_side_dry_run_apply() {
    let docs = all_manifests();
    assert!(
        docs.len() >= 6,
        "the kind manifests at least: {}",
        docs.len()
    );
    let plane = ControlPlane::start().await.expect("local control plane");
    let client = plane.client();

    // Dry-run objects are not stored, so namespaces the manifests use must exist first.
    let namespaces: BTreeSet<String> = docs
        .iter()
        .filter_map(|(_, d)| d["metadata"]["namespace"].as_str().map(str::to_owned))
        .chain(
            docs.iter()
                .filter(|(_, d)| d["kind"] == "Namespace")
                .filter_map(|(_, d)| d["metadata"]["name"].as_str().map(str::to_owned)),
        )
        .collect();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    for ns in &namespaces {
        if ns_api
            .get_opt(ns)
            .await
            .expect("reading namespaces")
            .is_none()
        {
            let object: Namespace =
                serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
            ns_api
                .create(&PostParams::default(), &object)
                .await
                .unwrap_or_else(|e| panic!("creating namespace {ns}: {e}"));
        }
    }

    let params = PatchParams::apply("acr-conformance-kind-files")
        .dry_run()
        .force();
    for (origin, doc) in &docs {
        let api_version = doc["apiVersion"]
            .as_str()
            .unwrap_or_else(|| panic!("{origin}: no apiVersion"));
        let kind = doc["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("{origin}: no kind"));
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{origin}: no metadata.name"));
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = discovery::pinned_kind(&client, &gvk)
            .await
            .unwrap_or_else(|e| panic!("{origin}: {api_version} {kind} is not served: {e}"));
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                let ns = doc["metadata"]["namespace"].as_str().unwrap_or("default");
                Api::namespaced_with(client.clone(), ns, &resource)
            }
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let answer = api
            .patch(name, &params, &Patch::Apply(doc))
            .await
            .unwrap_or_else(|e| panic!("{origin}: {kind} {name} refused by the API server: {e}"));
        assert_eq!(answer.metadata.name.as_deref(), Some(name), "{origin}");
    }
    // Dry-run means nothing was stored.
    let deployments: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "acr-fakes",
        &discovery::pinned_kind(&client, &GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .await
            .expect("apps/v1")
            .0,
    );
    assert!(
        deployments
            .get_opt("fake-acr")
            .await
            .expect("reading deployments")
            .is_none(),
        "dry-run stored nothing"
    );
}
