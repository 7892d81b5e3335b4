//! The pull probe: how every scenario decides whether a Pod created now could pull an image.
//!
//! It does what the API server and kubelet do, with the real parts where they exist: the Pod is
//! created on the real API server (ServiceAccount admission fills `imagePullSecrets`), the
//! referenced Secrets are read, kubelet's own keyring code (`kubeplane keyring-server`, see
//! [`crate::kubelet_keyring`]) picks and orders the matching credentials, and each is tried in
//! turn with a real OCI client against fake-acr's registry: the manifest and one blob. A probe
//! built without kubelet's keyring (tests of other crates) orders with `acr_refresher::keyring`,
//! the port of the same code that `src/keyring.rs` is checked against.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Secret};

use crate::kubelet_keyring::{KubeletKeyring, dockerconfigjson_secret};
pub use crate::pull_secret::{Credential, credentials_of_secret};
use acr_refresher::image_ref::ImageRef;
use acr_refresher::keyring::DockerKeyring;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client as OciClient, Reference};

/// Who has the last word on "could a Pod pull this image?".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeMode {
    /// The suite reads the Pod's pull secrets and pulls with a real OCI client (any cluster).
    #[default]
    Api,
    /// As `api`, and every verdict is confirmed by a real kubelet pulling in a Pod (clusters with
    /// nodes: kind, or the local control plane with `--nodes 1`).
    Kubelet,
}

/// How long kubelet may take to pull (or refuse) a probe Pod's image.
pub const KUBELET_DEADLINE: std::time::Duration = std::time::Duration::from_secs(90);

/// Label put on everything the suite creates, so that reset can find it.
pub const SUITE_LABEL: &str = "acr-conformance.io/created-by";

/// How the probe reaches registries: the fake's CA and the host-override proxy.
#[derive(Clone)]
pub struct RegistryAccess {
    /// PEM of the CA that signed fake-acr's certificates.
    pub ca_pem: Vec<u8>,
    /// `HTTPS_PROXY` that routes Alibaba host names to fake-acr; `None` in netns mode.
    pub https_proxy: Option<String>,
}

/// What one pull attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The key of the credential used; `None` for an anonymous pull.
    pub key: Option<String>,
    /// `Ok` when manifest and blob were pulled, else the registry's refusal.
    pub result: Result<(), String>,
}

/// What the probe found for one image.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    /// The image probed.
    pub image: String,
    /// Names of the pull secrets admission put on the Pod (empty for credential sources).
    pub pod_pull_secrets: Vec<String>,
    /// Keys of every credential found (before matching).
    pub keys_found: Vec<String>,
    /// The attempts in kubelet's order; one anonymous attempt when nothing matched.
    pub attempts: Vec<Attempt>,
    /// The credential that pulled, if one did.
    pub used: Option<Credential>,
    /// A credential source's failure for this pull (exit status and its own words).
    pub source_failure: Option<String>,
}

impl ProbeOutcome {
    /// True when some attempt pulled the image.
    pub fn pulled(&self) -> bool {
        self.attempts.iter().any(|a| a.result.is_ok())
    }

    /// True when a *credential* (not an anonymous pull) pulled the image.
    pub fn pulled_with_credentials(&self) -> bool {
        self.attempts
            .iter()
            .any(|a| a.key.is_some() && a.result.is_ok())
    }

    /// True when no credential matched the image (kubelet would pull anonymously).
    pub fn no_credentials_matched(&self) -> bool {
        self.attempts.iter().all(|a| a.key.is_none())
    }

    /// A one-line account for failure messages: keys and refusals, never secrets.
    pub fn explain(&self) -> String {
        let attempts: Vec<String> = self
            .attempts
            .iter()
            .map(|a| {
                let who = a.key.as_deref().unwrap_or("anonymous");
                match &a.result {
                    Ok(()) => format!("{who}: pulled"),
                    Err(e) => format!("{who}: {e}"),
                }
            })
            .collect();
        let mut line = format!(
            "{}: pod secrets [{}], keys [{}], attempts [{}]",
            self.image,
            self.pod_pull_secrets.join(", "),
            self.keys_found.join(", "),
            attempts.join("; ")
        );
        if let Some(failure) = &self.source_failure {
            line.push_str(&format!("; the credential source: {failure}"));
        }
        line
    }
}

/// What a real kubelet did with a probe Pod's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletVerdict {
    /// True when kubelet pulled the image (the container got past the pull).
    pub pulled: bool,
    /// True when the registry refused the credentials (or their absence): 401/403,
    /// "unauthorized", "pull access denied", … — not DNS, TLS or connection errors.
    pub denied: bool,
    /// The container state's reason (`ErrImagePull`, `Running`, `StartError`, …).
    pub reason: String,
    /// kubelet's message (registry refusals), shortened.
    pub message: String,
    /// Node the Pod ran on.
    pub node: String,
}

impl KubeletVerdict {
    /// One line for reports.
    pub fn explain(&self) -> String {
        let what = if self.pulled { "pulled" } else { "refused" };
        let mut s = format!("kubelet on {}: {what} ({})", self.node, self.reason);
        if !self.message.is_empty() {
            s.push_str(&format!(": {}", self.message));
        }
        s
    }
}

/// Container waiting reasons that mean kubelet could not get the image.
const PULL_FAILURES: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
    "SignatureValidationFailed",
];
/// Words of a registry refusing the credentials, as containerd and CRI-O report it through kubelet.
/// (Status codes come with their words, "401 Unauthorized"; bare digits could be in a digest.)
const DENIAL_WORDS: &[&str] = &[
    "unauthorized",
    "authorization failed",
    "failed to authorize",
    "pull access denied",
    "denied",
    "insufficient_scope",
    "forbidden",
];

/// True when a kubelet pull error says the registry refused the credentials.
pub fn is_denial(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    DENIAL_WORDS.iter().any(|w| m.contains(w))
}

/// Waiting reasons kubelet only reaches after the image is there (pull, then config, create, start).
const AFTER_PULL: &[&str] = &[
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "StartError",
    "CrashLoopBackOff",
    "PreStartHookError",
    "PostStartHookError",
];

/// kubelet's verdict on the first container of `pod`, once it has one.
pub fn kubelet_verdict(pod: &Pod) -> Option<KubeletVerdict> {
    let status = pod.status.as_ref()?;
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let c = status.container_statuses.as_ref()?.first()?;
    let state = c.state.as_ref()?;
    let verdict = |pulled: bool, reason: &str, message: Option<&String>| KubeletVerdict {
        pulled,
        denied: !pulled && message.is_some_and(|m| is_denial(m)),
        reason: reason.to_string(),
        // containerd's reason comes last in a long message: keep more of it.
        message: shorten(message.map(String::as_str).unwrap_or_default(), 400),
        node: node.clone(),
    };
    if state.running.is_some() {
        return Some(verdict(true, "Running", None));
    }
    if let Some(t) = &state.terminated {
        return Some(verdict(
            true,
            t.reason.as_deref().unwrap_or("Terminated"),
            t.message.as_ref(),
        ));
    }
    let w = state.waiting.as_ref()?;
    let reason = w.reason.as_deref().unwrap_or_default();
    if PULL_FAILURES.contains(&reason) {
        // A back-off without the error in it says nothing yet: wait for the next attempt's.
        let message = w.message.as_deref().unwrap_or_default();
        if !is_denial(message) && (message.is_empty() || message.ends_with('"')) {
            return None;
        }
        return Some(verdict(false, reason, w.message.as_ref()));
    }
    if AFTER_PULL.contains(&reason) || !c.image_id.is_empty() {
        return Some(verdict(true, reason, w.message.as_ref()));
    }
    None // ContainerCreating, PodInitializing: still pulling
}

/// Errors of the probe itself (not pull refusals, which are results).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The probe Pod could not be created (e.g. its ServiceAccount does not exist yet).
    #[error("pull probe: cannot create a Pod in namespace {namespace} for {image}: {source}")]
    CreatePod {
        /// Namespace of the Pod.
        namespace: String,
        /// Image of the Pod.
        image: String,
        /// API error.
        source: kube::Error,
    },
    /// A referenced Secret could not be read for a reason other than absence.
    #[error("pull probe: cannot read Secret {namespace}/{name}: {source}")]
    ReadSecret {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// kubelet gave no verdict in time.
    #[error(
        "pull probe: kubelet did not pull or refuse {image} in namespace {namespace} within {seconds} s: {state}"
    )]
    KubeletSilent {
        /// Namespace of the Pod.
        namespace: String,
        /// Image of the Pod.
        image: String,
        /// The deadline.
        seconds: u64,
        /// What the Pod was doing.
        state: String,
    },
    /// The probe Pod could not be read back.
    #[error("pull probe: cannot read Pod {namespace}/{name}: {source}")]
    ReadPod {
        /// Namespace of the Pod.
        namespace: String,
        /// Name of the Pod.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// kubelet's keyring could not be asked.
    #[error("pull probe: {0}")]
    Keyring(#[from] crate::kubelet_keyring::KeyringError),
    /// The image string is not a valid reference.
    #[error("pull probe: '{image}' is not an image reference: {reason}")]
    BadImage {
        /// The image.
        image: String,
        /// Parser message.
        reason: String,
    },
}

/// The probe, bound to a cluster and to the registries' access.
#[derive(Clone)]
pub struct PullProbe {
    kube: kube::Client,
    access: RegistryAccess,
    keyring: Option<Arc<KubeletKeyring>>,
    /// The Node kubelet probe Pods are bound to (a cluster without a scheduler).
    node: Option<String>,
}

impl PullProbe {
    /// A probe using `kube` for Pods and Secrets and `access` for registries.
    pub fn new(kube: kube::Client, access: RegistryAccess) -> Self {
        Self {
            kube,
            access,
            keyring: None,
            node: None,
        }
    }

    /// The same probe binding kubelet probe Pods to `node` itself (the local control plane has
    /// no scheduler; kind's does the binding).
    pub fn on_node(mut self, node: &str) -> Self {
        self.node = Some(node.to_owned());
        self
    }

    /// The same probe judging with kubelet's own keyring code.
    pub fn with_kubelet_keyring(mut self, keyring: Arc<KubeletKeyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// Creates a Pod with `image` in `namespace` under `service_account`, reads the pull secrets
    /// admission gave it, and pulls with them in kubelet's order. The Pod is deleted afterwards.
    pub async fn pod(
        &self,
        namespace: &str,
        service_account: &str,
        image: &str,
    ) -> Result<ProbeOutcome, ProbeError> {
        let pods: Api<Pod> = Api::namespaced(self.kube.clone(), namespace);
        let pod = probe_pod("pull-probe", service_account, image);
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .map_err(|source| ProbeError::CreatePod {
                namespace: namespace.into(),
                image: image.into(),
                source,
            })?;
        if let Some(name) = created.metadata.name.as_deref() {
            // Never scheduled (no scheduler), so deletion is immediate; a failure only leaves a
            // harmless Pod behind in a namespace reset deletes anyway.
            let _ = pods
                .delete(
                    name,
                    &DeleteParams {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    },
                )
                .await;
        }
        let names: Vec<String> = created
            .spec
            .and_then(|s| s.image_pull_secrets)
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .filter(|n| !n.is_empty())
            .collect();

        let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), namespace);
        let mut credentials = Vec::new();
        let mut found = Vec::new();
        for name in &names {
            // Kubelet skips a missing Secret (event FailedToRetrieveImagePullSecret) and goes on.
            let secret = match secrets.get_opt(name).await {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(source) => {
                    return Err(ProbeError::ReadSecret {
                        namespace: namespace.into(),
                        name: name.clone(),
                        source,
                    });
                }
            };
            credentials.extend(credentials_of_secret(&secret));
            found.push(secret);
        }
        let mut outcome = match &self.keyring {
            Some(keyring) => {
                let secrets: Vec<serde_json::Value> = found
                    .iter()
                    .filter_map(|s| serde_json::to_value(s).ok())
                    .collect();
                let lookup = keyring.lookup(image, &secrets).await?;
                let ordered = kubelet_credentials(&lookup, &credentials);
                let keys_found = credentials.iter().map(|c| c.key.clone()).collect();
                self.in_order(image, keys_found, ordered).await?
            }
            None => self.credentials(image, credentials).await?,
        };
        outcome.pod_pull_secrets = names;
        Ok(outcome)
    }

    /// Creates a Pod that a real kubelet runs (`imagePullPolicy: Always`, so it pulls whatever
    /// the node has cached) and waits for kubelet to pull or refuse the image; deletes it after.
    /// Only meaningful on a cluster with nodes (kind, or the local control plane's node).
    pub async fn kubelet(
        &self,
        namespace: &str,
        service_account: &str,
        image: &str,
    ) -> Result<KubeletVerdict, ProbeError> {
        let pods: Api<Pod> = Api::namespaced(self.kube.clone(), namespace);
        let mut pod = probe_pod("kubelet-probe", service_account, image);
        if let Some(spec) = pod.spec.as_mut() {
            spec.containers[0].image_pull_policy = Some("Always".into());
            spec.restart_policy = Some("Never".into());
            spec.termination_grace_period_seconds = Some(0);
            spec.node_name = self.node.clone();
        }
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .map_err(|source| ProbeError::CreatePod {
                namespace: namespace.into(),
                image: image.into(),
                source,
            })?;
        let name = created.metadata.name.clone().unwrap_or_default();
        let t0 = std::time::Instant::now();
        let outcome = loop {
            let current = match pods.get(&name).await {
                Ok(p) => p,
                Err(source) => {
                    break Err(ProbeError::ReadPod {
                        namespace: namespace.into(),
                        name: name.clone(),
                        source,
                    });
                }
            };
            if let Some(v) = kubelet_verdict(&current) {
                break Ok(v);
            }
            if t0.elapsed() >= KUBELET_DEADLINE {
                break Err(ProbeError::KubeletSilent {
                    namespace: namespace.into(),
                    image: image.into(),
                    seconds: KUBELET_DEADLINE.as_secs(),
                    state: crate::deployment::describe_pods(std::slice::from_ref(&current)),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let _ = pods
            .delete(
                &name,
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..Default::default()
                },
            )
            .await;
        outcome
    }

    /// Pulls `image` with the credentials an implementation returned (or that pull secrets held),
    /// matched and ordered by kubelet's keyring; anonymous when none matches.
    pub async fn credentials(
        &self,
        image: &str,
        credentials: Vec<Credential>,
    ) -> Result<ProbeOutcome, ProbeError> {
        let keys_found: Vec<String> = credentials.iter().map(|c| c.key.clone()).collect();
        let ordered: Vec<Credential> = match &self.keyring {
            Some(keyring) => {
                // One Secret per credential, in order: kubelet keeps Secrets' order for equal keys.
                let secrets: Vec<serde_json::Value> = credentials
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        dockerconfigjson_secret(
                            &format!("credential-{i}"),
                            [(c.key.as_str(), c.username.as_str(), c.password.as_str())],
                        )
                    })
                    .collect();
                let lookup = keyring.lookup(image, &secrets).await?;
                kubelet_credentials(&lookup, &credentials)
            }
            None => kubelet_order(image, &credentials)
                .into_iter()
                .cloned()
                .collect(),
        };
        self.in_order(image, keys_found, ordered).await
    }

    /// Pulls `image` trying `ordered` in turn until one works (anonymously when it is empty):
    /// what a container runtime does with the credentials its caller handed it.
    pub async fn in_order(
        &self,
        image: &str,
        keys_found: Vec<String>,
        ordered: Vec<Credential>,
    ) -> Result<ProbeOutcome, ProbeError> {
        let reference: Reference =
            image
                .parse()
                .map_err(|e: oci_client::ParseError| ProbeError::BadImage {
                    image: image.into(),
                    reason: e.to_string(),
                })?;
        let mut attempts = Vec::new();
        let mut used = None;
        if ordered.is_empty() {
            let result = self.pull(&reference, RegistryAuth::Anonymous).await;
            attempts.push(Attempt { key: None, result });
        }
        for c in ordered {
            let result = self
                .pull(
                    &reference,
                    RegistryAuth::Basic(c.username.clone(), c.password.clone()),
                )
                .await;
            let done = result.is_ok();
            attempts.push(Attempt {
                key: Some(c.key.clone()),
                result,
            });
            if done {
                used = Some(c.clone());
                break; // kubelet stops at the first credential that works
            }
        }
        Ok(ProbeOutcome {
            image: image.into(),
            pod_pull_secrets: Vec::new(),
            keys_found,
            attempts,
            used,
            source_failure: None,
        })
    }

    /// One pull: the manifest and the config blob, with a fresh client (no token reuse).
    async fn pull(&self, reference: &Reference, auth: RegistryAuth) -> Result<(), String> {
        let config = ClientConfig {
            protocol: ClientProtocol::Https,
            extra_root_certificates: vec![Certificate {
                encoding: CertificateEncoding::Pem,
                data: self.access.ca_pem.clone(),
            }],
            https_proxy: self.access.https_proxy.clone(),
            connect_timeout: Some(std::time::Duration::from_secs(5)),
            read_timeout: Some(std::time::Duration::from_secs(10)),
            ..Default::default()
        };
        let client = OciClient::new(config);
        let (manifest, _digest) = client
            .pull_image_manifest(reference, &auth)
            .await
            .map_err(|e| format!("manifest: {}", short(&e.to_string())))?;
        let mut blob = Vec::new();
        client
            .pull_blob(reference, &manifest.config, &mut blob)
            .await
            .map_err(|e| format!("blob: {}", short(&e.to_string())))?;
        Ok(())
    }
}

/// A Pod named `<kind>-…`, labelled as the suite's, running `image` under `service_account`
/// without a token.
fn probe_pod(kind: &str, service_account: &str, image: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{kind}-")),
            labels: Some(BTreeMap::from([(
                SUITE_LABEL.to_string(),
                kind.to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "probe".into(),
                image: Some(image.to_string()),
                ..Default::default()
            }],
            service_account_name: Some(service_account.to_string()),
            automount_service_account_token: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Registry errors can be long HTML or JSON bodies; keep the start.
fn short(s: &str) -> String {
    shorten(s, 160)
}

/// `s` on one line, at most `max` characters.
fn shorten(s: &str, max: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

/// kubelet's answer as the suite's credentials: each matched back to the first offered credential
/// with the same user name and password (for its key in reports).
fn kubelet_credentials(
    lookup: &crate::kubelet_keyring::KubeletLookup,
    offered: &[Credential],
) -> Vec<Credential> {
    lookup
        .credentials
        .iter()
        .map(|k| {
            offered
                .iter()
                .find(|c| c.username == k.username && c.password == k.password)
                .cloned()
                .unwrap_or_else(|| Credential {
                    key: "(kubelet)".into(),
                    username: k.username.clone(),
                    password: k.password.clone(),
                })
        })
        .collect()
}

/// The credentials kubelet would try for `image`, in kubelet's order (most specific key first);
/// an image kubelet could not parse gets none.
pub fn kubelet_order<'a>(image: &str, credentials: &'a [Credential]) -> Vec<&'a Credential> {
    let Ok(image) = ImageRef::parse(image) else {
        return Vec::new();
    };
    let keyring = DockerKeyring::from_auths(credentials.iter().map(|c| (c.key.as_str(), c)));
    keyring.lookup_image(&image).into_iter().copied().collect()
}

#[cfg(test)]
mod kubelet_tests {
    use super::*;

    fn pod(container_status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kubelet-probe-x"},
            "spec": {"nodeName": "kind-control-plane",
                "containers": [{"name": "probe", "image": "i"}]},
            "status": {"phase": "Pending", "containerStatuses": [container_status]}
        }))
        .expect("pod JSON")
    }

    #[test]
    fn pull_refusals_are_refusals_with_kubelets_message() {
        // As containerd reports a 401 through kubelet.
        let p = pod(
            serde_json::json!({"name": "probe", "ready": false, "restartCount": 0,
            "image": "i", "imageID": "",
            "state": {"waiting": {"reason": "ErrImagePull", "message":
                "failed to pull and unpack image \"registry.example/demo/app:latest\": failed to resolve reference: pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials"}}}),
        );
        let v = kubelet_verdict(&p).expect("a verdict");
        assert!(!v.pulled);
        assert_eq!(v.reason, "ErrImagePull");
        assert!(v.message.contains("authorization failed"), "{}", v.message);
        assert!(v.explain().contains("kind-control-plane"));
        assert!(v.denied);
        // A back-off that does not repeat the error gives no verdict yet; one that does, does.
        let backoff = pod(
            serde_json::json!({"name": "probe", "ready": false, "restartCount": 0,
            "image": "i", "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"registry.example/demo/app:latest\""}}}),
        );
        assert_eq!(kubelet_verdict(&backoff), None);
        let backoff = pod(
            serde_json::json!({"name": "probe", "ready": false, "restartCount": 0,
            "image": "i", "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"x\": ErrImagePull: unexpected status from HEAD request: 401 Unauthorized"}}}),
        );
        let v = kubelet_verdict(&backoff).unwrap();
        assert!(!v.pulled && v.denied);
    }

    #[test]
    fn network_and_tls_failures_are_not_denials() {
        let p = pod(
            serde_json::json!({"name": "probe", "ready": false, "restartCount": 0,
            "image": "i", "imageID": "",
            "state": {"waiting": {"reason": "ErrImagePull", "message":
                "failed to pull and unpack image: failed to resolve reference: failed to do request: Head \"https://registry.example/v2/demo/app/manifests/latest\": tls: failed to verify certificate: x509: certificate signed by unknown authority"}}}),
        );
        let v = kubelet_verdict(&p).expect("a verdict");
        assert!(!v.pulled && !v.denied, "{v:?}");
    }

    #[test]
    fn anything_after_the_pull_means_pulled() {
        // The demo image has no executable: the container fails to start, after the pull.
        for state in [
            serde_json::json!({"running": {}}),
            serde_json::json!({"terminated": {"exitCode": 128, "reason": "StartError"}}),
            serde_json::json!({"waiting": {"reason": "RunContainerError"}}),
            serde_json::json!({"waiting": {"reason": "CreateContainerError"}}),
        ] {
            let p = pod(
                serde_json::json!({"name": "probe", "ready": false, "restartCount": 0,
                "image": "i", "imageID": "", "state": state}),
            );
            assert!(kubelet_verdict(&p).expect("a verdict").pulled, "{p:?}");
        }
    }

    #[test]
    fn no_verdict_while_kubelet_is_still_pulling() {
        let p = pod(
            serde_json::json!({"name": "probe", "ready": false, "restartCount": 0,
            "image": "i", "imageID": "", "state": {"waiting": {"reason": "ContainerCreating"}}}),
        );
        assert_eq!(kubelet_verdict(&p), None);
        let unscheduled: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"}, "spec": {"containers": [{"name": "probe"}]},
            "status": {"phase": "Pending"}
        }))
        .unwrap();
        assert_eq!(kubelet_verdict(&unscheduled), None);
    }
}
