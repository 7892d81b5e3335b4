//! The cluster the suite runs against and how it is reset between scenarios.
//!
//! Mode `local` starts the real local control plane (`cluster::ControlPlane`); mode `existing`
//! uses a kubeconfig (`--kubeconfig`). Scenarios run one after another on one cluster (a run with
//! several `--jobs` has one cluster per lane, see `schedule`); between them the suite removes what a scenario or an implementation left: the namespaces the suite created,
//! the ConfigMap `kube-system/acr-configuration`, pull secrets in `default`, and anywhere else the
//! pull Secrets and ServiceAccount entries that were not there before the first scenario.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};

use crate::cluster::ControlPlane;
use crate::probe::SUITE_LABEL;

/// Namespace of the helper's ConfigMap.
pub const CONFIGMAP_NAMESPACE: &str = "kube-system";
/// Name of the helper's ConfigMap.
pub const CONFIGMAP_NAME: &str = "acr-configuration";
/// Label value marking a namespace as created by this run.
const RUN_LABEL: &str = "acr-conformance.io/run";

/// Errors of the environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    /// The local control plane did not start.
    #[error("local control plane: {0}")]
    ControlPlane(#[from] crate::cluster::Error),
    /// The given kubeconfig could not be used.
    #[error("kubeconfig {path}: {reason}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Api {
        /// What the suite tried to do.
        action: String,
        /// API error.
        source: kube::Error,
    },
    /// The mode does not support the operation.
    #[error("{0} is not possible in mode existing (the suite does not control that cluster)")]
    Unsupported(&'static str),
}

fn api(action: impl Into<String>) -> impl FnOnce(kube::Error) -> EnvironmentError {
    let action = action.into();
    move |source| EnvironmentError::Api { action, source }
}

enum Cluster {
    Local(Box<ControlPlane>),
    Existing { kubeconfig: PathBuf },
}

/// The cluster under test plus a per-run id used to name and find what the suite creates.
pub struct Environment {
    cluster: Cluster,
    kube: kube::Client,
    run_id: String,
    /// Pull Secrets and entries present before the first scenario (see `sweep`).
    baseline: Option<crate::sweep::Baseline>,
    /// Mode `local`: the kubeconfig of the implementation's own user.
    implementation_kubeconfig: Option<PathBuf>,
}

impl Environment {
    /// Mode `local`: starts the local real control plane (building it the first time).
    pub async fn local() -> Result<Self, EnvironmentError> {
        Self::local_with(crate::cluster::StartOptions::default()).await
    }

    /// Mode `local` with chosen start options (e.g. a node: kubelet and containerd).
    pub async fn local_with(
        options: crate::cluster::StartOptions,
    ) -> Result<Self, EnvironmentError> {
        let plane = ControlPlane::start_with(options).await?;
        let kube = plane.client();
        // The implementation gets its own identity, so the audit log tells its writes apart.
        let implementation_kubeconfig =
            plane.kubeconfig_for(crate::audit::IMPLEMENTATION_USER, &["system:masters"])?;
        Ok(Self {
            implementation_kubeconfig: Some(implementation_kubeconfig),
            cluster: Cluster::Local(Box::new(plane)),
            kube,
            run_id: run_id(),
            baseline: None,
        })
    }

    /// Mode `local` on a control plane taken from the pool (reset when it was given back):
    /// a new run id, the plane's first baseline.
    pub(crate) fn from_pooled(pooled: crate::pool::Pooled) -> Self {
        Self {
            kube: pooled.plane.client(),
            cluster: Cluster::Local(Box::new(pooled.plane)),
            implementation_kubeconfig: Some(pooled.implementation_kubeconfig),
            run_id: run_id(),
            baseline: pooled.baseline,
        }
    }

    /// True when the next run of this process may use the cluster (see [`crate::pool`]): a
    /// local control plane without a node.
    pub(crate) fn poolable(&self) -> bool {
        matches!(&self.cluster, Cluster::Local(plane) if plane.node().is_none())
            && self.implementation_kubeconfig.is_some()
    }

    /// The control plane and what the next run on it needs; `Err(self)` unless
    /// [`Environment::poolable`].
    pub(crate) fn into_pooled(self) -> Result<crate::pool::Pooled, Box<Self>> {
        match self {
            Self {
                cluster: Cluster::Local(plane),
                implementation_kubeconfig: Some(implementation_kubeconfig),
                baseline,
                ..
            } if plane.node().is_none() => Ok(crate::pool::Pooled {
                plane: *plane,
                baseline,
                implementation_kubeconfig,
            }),
            env => Err(Box::new(env)),
        }
    }

    /// Mode `existing`: the cluster of `kubeconfig`.
    pub async fn existing(kubeconfig: &Path) -> Result<Self, EnvironmentError> {
        let bad = |reason: String| EnvironmentError::Kubeconfig {
            path: kubeconfig.to_path_buf(),
            reason,
        };
        let file =
            kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| bad(e.to_string()))?;
        let config =
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| bad(e.to_string()))?;
        let kube = kube::Client::try_from(config).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            implementation_kubeconfig: None,
            cluster: Cluster::Existing {
                kubeconfig: kubeconfig.to_path_buf(),
            },
            kube,
            run_id: run_id(),
            baseline: None,
        })
    }

    /// Mode `local`: the control plane the suite started.
    pub fn control_plane(&self) -> Option<&ControlPlane> {
        match &self.cluster {
            Cluster::Local(plane) => Some(plane),
            Cluster::Existing { .. } => None,
        }
    }

    /// `local` or `existing`.
    pub fn mode(&self) -> &'static str {
        match self.cluster {
            Cluster::Local(_) => "local",
            Cluster::Existing { .. } => "existing",
        }
    }

    /// An admin client of the cluster.
    pub fn client(&self) -> kube::Client {
        self.kube.clone()
    }

    /// The kubeconfig handed to implementations (mode `local`: user
    /// [`crate::audit::IMPLEMENTATION_USER`], in `system:masters`).
    pub fn kubeconfig(&self) -> PathBuf {
        if let Some(own) = &self.implementation_kubeconfig {
            return own.clone();
        }
        match &self.cluster {
            Cluster::Local(plane) => plane.kubeconfig_path().to_path_buf(),
            Cluster::Existing { kubeconfig } => kubeconfig.clone(),
        }
    }

    /// The API server's URL as the kubeconfig names it (current context).
    pub fn server_url(&self) -> String {
        match &self.cluster {
            Cluster::Local(plane) => plane.server_url().to_string(),
            Cluster::Existing { kubeconfig } => kube::config::Kubeconfig::read_from(kubeconfig)
                .ok()
                .and_then(|k| {
                    let context = k.current_context.clone()?;
                    let cluster = k
                        .contexts
                        .iter()
                        .find(|c| c.name == context)?
                        .context
                        .as_ref()?
                        .cluster
                        .clone();
                    k.clusters
                        .iter()
                        .find(|c| c.name == cluster)?
                        .cluster
                        .as_ref()?
                        .server
                        .clone()
                })
                .unwrap_or_default(),
        }
    }

    /// Restarts the API server (local mode only).
    pub async fn restart_apiserver(&mut self) -> Result<(), EnvironmentError> {
        match &mut self.cluster {
            Cluster::Local(plane) => Ok(plane.restart_apiserver().await?),
            Cluster::Existing { .. } => {
                Err(EnvironmentError::Unsupported("restarting the API server"))
            }
        }
    }

    /// The local control plane's node, when it runs one.
    pub fn node(&self) -> Option<&crate::cluster::Node> {
        match &self.cluster {
            Cluster::Local(plane) => plane.node(),
            Cluster::Existing { .. } => None,
        }
    }

    /// True when the suite controls the API server's processes.
    pub fn can_restart_apiserver(&self) -> bool {
        matches!(self.cluster, Cluster::Local(_))
    }

    /// The control plane's log tails (local mode), for failure reports.
    pub fn control_plane_logs(&self, lines: usize) -> Option<String> {
        match &self.cluster {
            Cluster::Local(plane) => Some(plane.logs_tail(lines)),
            Cluster::Existing { .. } => None,
        }
    }

    /// A namespace name unique to this run: `<hint>-<run id>`.
    pub fn namespace_name(&self, hint: &str) -> String {
        format!("{hint}-{}", self.run_id)
    }

    /// Creates a namespace labelled as the suite's (deleted by `reset`).
    pub async fn create_namespace(&self, name: &str) -> Result<(), EnvironmentError> {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(BTreeMap::from([
                    (RUN_LABEL.to_string(), self.run_id.clone()),
                    (SUITE_LABEL.to_string(), "scenario".to_string()),
                ])),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(self.kube.clone())
            .create(&PostParams::default(), &ns)
            .await
            .map_err(api(format!("create namespace {name}")))?;
        Ok(())
    }

    /// Writes the helper's ConfigMap with exactly `data` (creating or replacing it).
    pub async fn write_configuration(&self, data: &[(&str, &str)]) -> Result<(), EnvironmentError> {
        let cms: Api<ConfigMap> = Api::namespaced(self.kube.clone(), CONFIGMAP_NAMESPACE);
        let data: BTreeMap<String, String> = data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP_NAME, "namespace": CONFIGMAP_NAMESPACE},
            "data": data,
        });
        // A server-side apply owns every key, so keys left out of `data` are removed.
        cms.patch(
            CONFIGMAP_NAME,
            &PatchParams::apply("acr-conformance").force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(api("write ConfigMap kube-system/acr-configuration"))?;
        Ok(())
    }

    /// Deletes the helper's ConfigMap (absent is fine).
    pub async fn delete_configuration(&self) -> Result<(), EnvironmentError> {
        let cms: Api<ConfigMap> = Api::namespaced(self.kube.clone(), CONFIGMAP_NAMESPACE);
        match cms.delete(CONFIGMAP_NAME, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(api("delete ConfigMap kube-system/acr-configuration")(e)),
        }
    }

    /// Removes what the previous scenario left: its namespaces (not awaited: names are unique),
    /// the ConfigMap, and in `default` the pull secrets and every ServiceAccount's
    /// `imagePullSecrets` (the suite's own baseline there is "none").
    pub async fn reset(&mut self) -> Result<(), EnvironmentError> {
        let namespaces: Api<Namespace> = Api::all(self.kube.clone());
        let ours = namespaces
            .list(&ListParams::default().labels(&format!("{RUN_LABEL}={}", self.run_id)))
            .await
            .map_err(api("list the suite's namespaces"))?;
        for ns in ours.items {
            if let Some(name) = ns.metadata.name
                && ns.metadata.deletion_timestamp.is_none()
            {
                match namespaces.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                    Err(e) => return Err(api(format!("delete namespace {name}"))(e)),
                }
            }
        }
        self.delete_configuration().await?;

        let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), "default");
        for s in secrets
            .list(&ListParams::default())
            .await
            .map_err(api("list Secrets in default"))?
            .items
        {
            let pull = matches!(
                s.type_.as_deref(),
                Some("kubernetes.io/dockerconfigjson" | "kubernetes.io/dockercfg")
            );
            if let (true, Some(name)) = (pull, s.metadata.name) {
                match secrets.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(api(format!("delete Secret default/{name}"))(e)),
                }
            }
        }
        let sas: Api<ServiceAccount> = Api::namespaced(self.kube.clone(), "default");
        for sa in sas
            .list(&ListParams::default())
            .await
            .map_err(api("list ServiceAccounts in default"))?
            .items
        {
            let Some(name) = sa.metadata.name else {
                continue;
            };
            if sa
                .image_pull_secrets
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            {
                let patch = serde_json::json!({"imagePullSecrets": null});
                sas.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(api(format!(
                        "clear imagePullSecrets of ServiceAccount default/{name}"
                    )))?;
            }
            if name != "default" {
                let _ = sas.delete(&name, &DeleteParams::default()).await;
            }
        }
        // Anywhere else (system namespaces included): what an implementation wrote is removed;
        // what was there before the first scenario stays.
        match &self.baseline {
            None => {
                let baseline = crate::sweep::Baseline::take(&self.kube)
                    .await
                    .map_err(api("list pull Secrets and ServiceAccounts"))?;
                self.baseline = Some(baseline);
            }
            Some(baseline) => crate::sweep::remove_leftovers(&self.kube, baseline)
                .await
                .map_err(api("remove what the implementation left"))?,
        }
        Ok(())
    }

    /// Mode `local`: the apiserver's audit log of write requests.
    pub fn audit_log(&self) -> Option<crate::audit::AuditLog> {
        match &self.cluster {
            Cluster::Local(plane) => Some(crate::audit::AuditLog::new(plane.audit_log())),
            Cluster::Existing { .. } => None,
        }
    }

    /// Pull Secrets and entries present before the first scenario (none before the first reset).
    pub fn baseline(&self) -> crate::sweep::Baseline {
        self.baseline.clone().unwrap_or_default()
    }

    /// Waits until a namespace has its `default` ServiceAccount (the controller-manager's job).
    pub async fn wait_for_default_service_account(
        &self,
        namespace: &str,
        within: Duration,
    ) -> Result<(), EnvironmentError> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.kube.clone(), namespace);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match sas.get_opt("default").await {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if tokio::time::Instant::now() < deadline => {}
                Ok(None) => {
                    return Err(EnvironmentError::Api {
                        action: format!("wait for ServiceAccount {namespace}/default"),
                        source: kube::Error::Service(
                            format!("not created within {within:?}").into(),
                        ),
                    });
                }
                Err(e) => return Err(api(format!("get ServiceAccount {namespace}/default"))(e)),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Six lower-case alphanumerics: short enough for namespace names, unique enough per run.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut n = nanos ^ u128::from(std::process::id()) << 40;
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::new();
    for _ in 0..6 {
        s.push(alphabet[(n % 36) as usize] as char);
        n /= 36;
    }
    s
}
