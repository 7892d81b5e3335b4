//! `sandbox --scenario ID`: one scenario's setup, read by running its body up to the moment it
//! would start the implementation — its fake settings, ConfigMap and namespaces — so a person can
//! reproduce it by hand. The scenario bodies stay the single place that setup is written.
//!
//! The body runs with adapter `deployment` and no Deployment: everything before `ctx.start()`
//! happens as in a run (namespaces created, the ConfigMap written, settings and faults planned,
//! the fakes started), and starting the implementation then stops the body. The fakes the body
//! started end with it; the sandbox starts its own with the settings the body planned.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams};

use crate::adapter::{AdapterKind, Implementation};
use crate::catalogue::{CATALOGUE, ScenarioInfo};
use crate::environment::{CONFIGMAP_NAME, CONFIGMAP_NAMESPACE, Environment};
use crate::probe::SUITE_LABEL;
use crate::scenarios::{Ctx, Setup, Stop};

/// Why a scenario's setup could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// No scenario has this ID.
    #[error(
        "--scenario {id:?}: no such scenario (known: {known}; `acr-conformance list` shows them)"
    )]
    Unknown {
        /// The ID given.
        id: String,
        /// Every catalogue ID.
        known: String,
    },
    /// The scenario has no body in this version of the suite.
    #[error("--scenario {0}: this version of the suite has no body for it")]
    NoBody(String),
    /// The body stopped before it would start the implementation.
    #[error("--scenario {id}: its setup stopped before the implementation would start: {reason}")]
    Stopped {
        /// The scenario.
        id: String,
        /// What stopped it.
        reason: String,
    },
    /// The environment could not be reset or read.
    #[error("--scenario {id}: {reason}")]
    Cluster {
        /// The scenario.
        id: String,
        /// What failed.
        reason: String,
    },
}

/// What a scenario sets up before its implementation starts.
#[derive(Clone)]
pub struct Prepared {
    /// The scenario.
    pub info: &'static ScenarioInfo,
    /// fake-acr's settings as the scenario planned them.
    pub acr: fake_acr::Settings,
    /// fake-metadata's settings (faults included) as the scenario planned them.
    pub metadata: fake_metadata::Settings,
    /// The ConfigMap `kube-system/acr-configuration` the scenario wrote (none: it wrote none).
    pub configuration: Option<BTreeMap<String, String>>,
    /// Namespaces the scenario created.
    pub namespaces: Vec<String>,
}

/// The catalogue entry of `id` (case-insensitive).
pub fn find(id: &str) -> Result<&'static ScenarioInfo, PrepareError> {
    CATALOGUE
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id.trim()))
        .ok_or_else(|| PrepareError::Unknown {
            id: id.to_string(),
            known: CATALOGUE
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Runs scenario `id`'s body on `env` up to the start of the implementation and returns what it
/// set up; its namespaces and ConfigMap stay in the cluster. `work_dir` receives the body's files.
pub async fn prepare(
    id: &str,
    env: &mut Environment,
    work_dir: &Path,
) -> Result<Prepared, PrepareError> {
    let info = find(id)?;
    let body = crate::scenarios::body(info.id).ok_or(PrepareError::NoBody(info.id.to_string()))?;
    let cluster = |reason: String| PrepareError::Cluster {
        id: info.id.to_string(),
        reason,
    };
    env.reset().await.map_err(|e| cluster(e.to_string()))?;
    // A Deployment that is never there: starting it is where the body stops.
    let halt_at_start = Implementation {
        kind: AdapterKind::Deployment,
        command: Vec::new(),
        default_cache_duration: Duration::from_secs(3600),
        provider_config: None,
    };
    let setup = Setup::default();
    let (outcome, reached_start, acr, metadata) = {
        let mut ctx = Ctx::new(info, env, &halt_at_start, &setup, work_dir.to_path_buf());
        let outcome = body(&mut ctx).await;
        let reached = ctx.clouds().is_ok();
        (outcome, reached, ctx.acr.clone(), ctx.metadata.clone())
    };
    if !reached_start {
        let reason = match outcome {
            Ok(()) => "it ended without starting the fakes".to_string(),
            Err(Stop::NotApplicable(m)) => format!("not applicable: {m}"),
            Err(Stop::Fail(m) | Stop::Error(m) | Stop::Abort(m)) => m,
        };
        return Err(PrepareError::Stopped {
            id: info.id.to_string(),
            reason,
        });
    }
    let client = env.client();
    let configuration = Api::<ConfigMap>::namespaced(client.clone(), CONFIGMAP_NAMESPACE)
        .get_opt(CONFIGMAP_NAME)
        .await
        .map_err(|e| {
            cluster(format!(
                "reading {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}: {e}"
            ))
        })?
        .map(|cm| cm.data.unwrap_or_default());
    let namespaces = Api::<Namespace>::all(client)
        .list(&ListParams::default().labels(&format!("{SUITE_LABEL}=scenario")))
        .await
        .map_err(|e| cluster(format!("listing the scenario's namespaces: {e}")))?
        .items
        .into_iter()
        .filter_map(|ns| ns.metadata.name)
        .collect();
    Ok(Prepared {
        info,
        acr,
        metadata,
        configuration,
        namespaces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_case_insensitively_and_unknown_ones_are_named() {
        assert_eq!(find("tr1").expect("TR1 exists").id, "TR1");
        let Err(err) = find("XX9") else {
            panic!("XX9 does not exist");
        };
        let err = err.to_string();
        assert!(err.contains("\"XX9\"") && err.contains("NS1"), "{err}");
    }
}
