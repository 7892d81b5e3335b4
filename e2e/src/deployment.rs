//! Adapter `deployment`: an implementation already deployed in the cluster under test (the
//! reference from `yaml/`, the official add-on, any image), judged like a process.
//!
//! The suite never builds or configures it: it only scales its Deployment. Between scenarios
//! the Deployment runs 0 replicas (so nothing writes while the cluster is reset); a scenario's
//! `start` scales it back up and waits until the rollout is available, `stop` saves every
//! container's log into the scenario's implementation log and scales to 0 again, waiting until
//! the Pods are gone. At the end of the run the Deployment gets its original replica count back.
//! A container restart during a scenario counts as a crash ("no crash" checks).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};

/// How long a scale-up may take until the Deployment is available (image pulls on a fresh node).
pub const ROLLOUT_DEADLINE: Duration = Duration::from_secs(120);
/// How long a scale-down may take until no Pod of the Deployment is left.
pub const SCALE_DOWN_DEADLINE: Duration = Duration::from_secs(60);

/// `namespace/name` of the Deployment under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl FromStr for DeploymentRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (namespace, name) = s.split_once('/').ok_or_else(|| {
            format!("'{s}' is not NAMESPACE/NAME (e.g. kube-system/aliyun-acr-credential-helper)")
        })?;
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 253
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !valid(namespace) || !valid(name) {
            return Err(format!(
                "'{s}': namespace and name must be non-empty lower-case DNS names"
            ));
        }
        Ok(Self {
            namespace: namespace.into(),
            name: name.into(),
        })
    }
}

impl fmt::Display for DeploymentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Errors driving the Deployment.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// A Kubernetes API call failed.
    #[error("Deployment {target}: {action}: {source}")]
    Api {
        /// The Deployment.
        target: DeploymentRef,
        /// What the suite tried.
        action: &'static str,
        /// API error.
        source: kube::Error,
    },
    /// The Deployment does not exist.
    #[error(
        "Deployment {0} does not exist (deploy the implementation first, e.g. kubectl apply -f yaml/)"
    )]
    Missing(DeploymentRef),
    /// It has no label selector the suite can list its Pods with.
    #[error("Deployment {0} has no spec.selector.matchLabels")]
    NoSelector(DeploymentRef),
    /// The rollout did not become available in time.
    #[error(
        "Deployment {target} is not available {seconds} s after scaling to {replicas}: {state}"
    )]
    NotAvailable {
        /// The Deployment.
        target: DeploymentRef,
        /// Replicas asked for.
        replicas: i32,
        /// The deadline.
        seconds: u64,
        /// What its Pods were doing.
        state: String,
    },
    /// Pods were still there after scaling to 0.
    #[error("Deployment {target}: {count} Pod(s) still exist {seconds} s after scaling to 0")]
    NotGone {
        /// The Deployment.
        target: DeploymentRef,
        /// Pods left.
        count: usize,
        /// The deadline.
        seconds: u64,
    },
}

/// The Deployment under test, bound to a cluster.
#[derive(Clone)]
pub struct DeployedImplementation {
    target: DeploymentRef,
    deployments: Api<Deployment>,
    pods: Api<Pod>,
    selector: String,
    /// Replicas while a scenario runs.
    replicas: i32,
    /// Replicas when the run began (restored by `restore`).
    original: i32,
    rollout_deadline: Duration,
}

impl fmt::Debug for DeployedImplementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeployedImplementation")
            .field("target", &self.target)
            .field("replicas", &self.replicas)
            .field("original", &self.original)
            .finish()
    }
}

impl DeployedImplementation {
    /// Finds the Deployment; `replicas` while a scenario runs defaults to its current count
    /// (at least 1).
    pub async fn find(
        kube: kube::Client,
        target: DeploymentRef,
        replicas: Option<i32>,
    ) -> Result<Self, DeploymentError> {
        let deployments: Api<Deployment> = Api::namespaced(kube.clone(), &target.namespace);
        let d = deployments
            .get_opt(&target.name)
            .await
            .map_err(|source| DeploymentError::Api {
                target: target.clone(),
                action: "get",
                source,
            })?
            .ok_or_else(|| DeploymentError::Missing(target.clone()))?;
        let spec = d.spec.unwrap_or_default();
        let labels = spec.selector.match_labels.unwrap_or_default();
        if labels.is_empty() {
            return Err(DeploymentError::NoSelector(target));
        }
        let selector = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let original = spec.replicas.unwrap_or(1);
        Ok(Self {
            pods: Api::namespaced(kube, &target.namespace),
            deployments,
            selector,
            replicas: replicas.unwrap_or(original).max(1),
            original,
            target,
            rollout_deadline: ROLLOUT_DEADLINE,
        })
    }

    /// Waits at most `deadline` for a scale-up to become available [default: ROLLOUT_DEADLINE].
    pub fn with_rollout_deadline(mut self, deadline: Duration) -> Self {
        self.rollout_deadline = deadline;
        self
    }

    /// Replicas while a scenario runs.
    pub fn replicas(&self) -> i32 {
        self.replicas
    }

    /// `namespace/name`.
    pub fn target(&self) -> &DeploymentRef {
        &self.target
    }

    async fn scale(&self, replicas: i32) -> Result<(), DeploymentError> {
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        self.deployments
            .patch_scale(
                &self.target.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|source| DeploymentError::Api {
                target: self.target.clone(),
                action: "scale",
                source,
            })?;
        Ok(())
    }

    async fn list_pods(&self) -> Result<Vec<Pod>, DeploymentError> {
        Ok(self
            .pods
            .list(&ListParams::default().labels(&self.selector))
            .await
            .map_err(|source| DeploymentError::Api {
                target: self.target.clone(),
                action: "list its Pods",
                source,
            })?
            .items)
    }

    /// Scales up and waits until the new rollout is available.
    pub async fn start(&self) -> Result<(), DeploymentError> {
        self.scale(self.replicas).await?;
        let t0 = Instant::now();
        loop {
            let d = self
                .deployments
                .get(&self.target.name)
                .await
                .map_err(|source| DeploymentError::Api {
                    target: self.target.clone(),
                    action: "get",
                    source,
                })?;
            if rollout_available(&d, self.replicas) {
                return Ok(());
            }
            if t0.elapsed() >= self.rollout_deadline {
                let pods = self.list_pods().await.unwrap_or_default();
                return Err(DeploymentError::NotAvailable {
                    target: self.target.clone(),
                    replicas: self.replicas,
                    seconds: self.rollout_deadline.as_secs(),
                    state: describe_pods(&pods),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Appends every container's log to `log_file` (a restarted one's previous run too), scales to 0 and waits until the Pods are gone.
    pub async fn stop(&self, log_file: &Path) -> Result<(), DeploymentError> {
        self.save_logs(log_file).await;
        self.park().await
    }

    /// Scales to 0 and waits until the Pods are gone (before the first scenario; `stop`).
    pub async fn park(&self) -> Result<(), DeploymentError> {
        self.scale(0).await?;
        let t0 = Instant::now();
        loop {
            let left = self.list_pods().await?.len();
            if left == 0 {
                return Ok(());
            }
            if t0.elapsed() >= SCALE_DOWN_DEADLINE {
                return Err(DeploymentError::NotGone {
                    target: self.target.clone(),
                    count: left,
                    seconds: SCALE_DOWN_DEADLINE.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Gives the Deployment its replica count from before the run.
    pub async fn restore(&self) -> Result<(), DeploymentError> {
        self.scale(self.original).await
    }

    /// `Some(what)` when a container of the Deployment has restarted or terminated.
    pub async fn crashed(&self) -> Result<Option<String>, DeploymentError> {
        Ok(crash_of(&self.list_pods().await?))
    }

    async fn save_logs(&self, log_file: &Path) {
        let mut out = String::new();
        for pod in self.list_pods().await.unwrap_or_default() {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let statuses = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.clone())
                .unwrap_or_default();
            for c in statuses {
                // A restarted container's crash is in its previous instance's log.
                let runs: &[bool] = if c.restart_count > 0 {
                    &[true, false]
                } else {
                    &[false]
                };
                for &previous in runs {
                    let params = LogParams {
                        container: Some(c.name.clone()),
                        previous,
                        ..Default::default()
                    };
                    let which = if previous {
                        "previous run"
                    } else {
                        "current run"
                    };
                    out.push_str(&format!(
                        "===== pod {name}, container {}, {which}\n",
                        c.name
                    ));
                    match self.pods.logs(&name, &params).await {
                        Ok(text) => out.push_str(&text),
                        Err(e) => out.push_str(&format!("(log not available: {e})\n")),
                    }
                }
            }
        }
        if out.is_empty() {
            out = format!("(no Pod of Deployment {} was found)\n", self.target);
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, out.as_bytes()));
        if let Err(e) = written {
            tracing::warn!("cannot write {}: {e}", log_file.display());
        }
    }
}

/// True when the Deployment's controller has seen the latest spec and `replicas` updated Pods
/// are available.
pub fn rollout_available(d: &Deployment, replicas: i32) -> bool {
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(status) = d.status.as_ref() else {
        return false;
    };
    status.observed_generation.unwrap_or(0) >= generation
        && status.updated_replicas.unwrap_or(0) >= replicas
        && status.available_replicas.unwrap_or(0) >= replicas
        && status.replicas.unwrap_or(0) == replicas
}

/// A container of these Pods restarted or terminated: `Some(description)`.
pub fn crash_of(pods: &[Pod]) -> Option<String> {
    for pod in pods {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref());
        for c in statuses.into_iter().flatten() {
            let terminated = c.state.as_ref().and_then(|s| s.terminated.as_ref());
            let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            if let Some(t) = terminated.or(last) {
                return Some(format!(
                    "container {} of Pod {name} terminated (exit code {}, reason {}; restarts {})",
                    c.name,
                    t.exit_code,
                    t.reason.as_deref().unwrap_or("none"),
                    c.restart_count
                ));
            }
            if c.restart_count > 0 {
                return Some(format!(
                    "container {} of Pod {name} restarted {} time(s)",
                    c.name, c.restart_count
                ));
            }
        }
    }
    None
}

/// One line per Pod: phase and each container's waiting/terminated reason.
pub fn describe_pods(pods: &[Pod]) -> String {
    if pods.is_empty() {
        return "no Pod exists (is the ReplicaSet controller running? a quota or admission refusal?)"
            .into();
    }
    pods.iter()
        .map(|p| {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            let status = p.status.clone().unwrap_or_default();
            let phase = status.phase.unwrap_or_else(|| "Unknown".into());
            let mut parts = vec![format!("{name} {phase}")];
            for c in status.container_statuses.unwrap_or_default() {
                let state = c.state.unwrap_or_default();
                if let Some(w) = state.waiting {
                    parts.push(format!(
                        "{} waiting: {} {}",
                        c.name,
                        w.reason.unwrap_or_default(),
                        w.message.unwrap_or_default()
                    ));
                } else if let Some(t) = state.terminated {
                    parts.push(format!(
                        "{} terminated: exit {} {}",
                        c.name,
                        t.exit_code,
                        t.reason.unwrap_or_default()
                    ));
                } else if !c.ready {
                    parts.push(format!("{} not ready", c.name));
                }
            }
            for cond in status.conditions.unwrap_or_default() {
                if cond.type_ == "PodScheduled" && cond.status == "False" {
                    parts.push(format!(
                        "unschedulable: {}",
                        cond.message.unwrap_or_default()
                    ));
                }
            }
            parts.join("; ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_refs_parse_or_say_why() {
        let r: DeploymentRef = "kube-system/acr-refresher".parse().unwrap();
        assert_eq!(r.to_string(), "kube-system/acr-refresher");
        assert!(
            "acr-refresher"
                .parse::<DeploymentRef>()
                .unwrap_err()
                .contains("NAMESPACE/NAME")
        );
        assert!(
            "Kube/x"
                .parse::<DeploymentRef>()
                .unwrap_err()
                .contains("lower-case")
        );
        assert!("ns/".parse::<DeploymentRef>().is_err());
    }

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn restarts_and_terminations_are_crashes() {
        let running = pod(serde_json::json!({
            "metadata": {"name": "a"},
            "status": {"containerStatuses": [{"name": "c", "ready": true, "restartCount": 0,
                "image": "i", "imageID": "", "state": {"running": {}}}]}
        }));
        assert_eq!(crash_of(std::slice::from_ref(&running)), None);
        let restarted = pod(serde_json::json!({
            "metadata": {"name": "a"},
            "status": {"containerStatuses": [{"name": "c", "ready": true, "restartCount": 1,
                "image": "i", "imageID": "", "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 101, "reason": "Error"}}}]}
        }));
        let why = crash_of(&[running, restarted]).unwrap();
        assert!(why.contains("exit code 101"), "{why}");
    }

    #[test]
    fn availability_needs_the_latest_generation() {
        let d = |generation: i64, observed: i64, available: i32| -> Deployment {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "d", "generation": generation},
                "status": {"observedGeneration": observed, "replicas": 1,
                    "updatedReplicas": 1, "availableReplicas": available}
            }))
            .unwrap()
        };
        assert!(rollout_available(&d(3, 3, 1), 1));
        assert!(!rollout_available(&d(4, 3, 1), 1));
        assert!(!rollout_available(&d(3, 3, 0), 1));
    }
}
