//! The pull probe: how every scenario decides whether a Pod created now could pull an image.
//!
//! It does what the API server and kubelet do, with the real parts where they exist: the Pod is
//! created on the real API server (ServiceAccount admission fills `imagePullSecrets`), the
//! referenced Secrets are read, kubelet's keyring (`acr_refresher::keyring`, a port of
//! `pkg/credentialprovider/keyring.go`) orders the matching credentials, and each is tried in turn
//! with a real OCI client against fake-acr's registry: the manifest and one blob.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Secret};

pub use crate::pull_secret::{Credential, credentials_of_secret};
use acr_refresher::image_ref::ImageRef;
use acr_refresher::keyring::DockerKeyring;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client as OciClient, Reference};

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
        format!(
            "{}: pod secrets [{}], keys [{}], attempts [{}]",
            self.image,
            self.pod_pull_secrets.join(", "),
            self.keys_found.join(", "),
            attempts.join("; ")
        )
    }
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
}

impl PullProbe {
    /// A probe using `kube` for Pods and Secrets and `access` for registries.
    pub fn new(kube: kube::Client, access: RegistryAccess) -> Self {
        Self { kube, access }
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
        let pod = Pod {
            metadata: ObjectMeta {
                generate_name: Some("pull-probe-".into()),
                labels: Some(BTreeMap::from([(
                    SUITE_LABEL.to_string(),
                    "pull-probe".to_string(),
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
        };
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
        }
        let mut outcome = self.credentials(image, credentials).await?;
        outcome.pod_pull_secrets = names;
        Ok(outcome)
    }

    /// Pulls `image` with the credentials an implementation returned (or that pull secrets held),
    /// matched and ordered by kubelet's keyring; anonymous when none matches.
    pub async fn credentials(
        &self,
        image: &str,
        credentials: Vec<Credential>,
    ) -> Result<ProbeOutcome, ProbeError> {
        let reference: Reference =
            image
                .parse()
                .map_err(|e: oci_client::ParseError| ProbeError::BadImage {
                    image: image.into(),
                    reason: e.to_string(),
                })?;
        let keys_found = credentials.iter().map(|c| c.key.clone()).collect();
        let ordered = kubelet_order(image, &credentials);
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

/// Registry errors can be long HTML or JSON bodies; keep the start.
fn short(s: &str) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
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
