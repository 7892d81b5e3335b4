//! The context a scenario runs in: what every scenario of a run shares ([`Setup`]) and what
//! one scenario owns ([`Ctx`]: its cluster, fakes, implementation and what it has seen), made
//! fresh for each scenario. The context's methods live beside it by concern: `lifecycle`,
//! `fakes`, `objects`, `pulls`, `events`, `writes`, `end` and `figures`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::{NODE_REGION, Outcome, Stop};
use crate::adapter::{AdapterKind, CredentialSource, Implementation, RunningProcess};
use crate::catalogue::{Level, ScenarioInfo};
use crate::clouds::{Clouds, FakesSource};
use crate::deployment::DeployedImplementation;
use crate::environment::Environment;
use crate::probe::ProbeMode;
use crate::report::Figure;

/// What every scenario of a run shares besides the cluster and the implementation: where the
/// fakes come from, who judges pulls, and the deployed implementation (adapter `deployment`).
#[derive(Default)]
pub struct Setup {
    /// In-process or external fakes.
    pub fakes: FakesSource,
    /// The suite's own pulls, or confirmed by a real kubelet.
    pub probe: ProbeMode,
    /// The Deployment under test (adapter `deployment`).
    pub deployed: Option<DeployedImplementation>,
    /// Netns mode: the run's network namespace.
    pub netns: Option<Arc<crate::netns::Netns>>,
    /// kubelet's own keyring code, judging pulls (absent: the Rust port judges).
    pub keyring: Option<Arc<crate::kubelet_keyring::KubeletKeyring>>,
}

/// Everything a scenario works with.
pub struct Ctx<'e> {
    /// The scenario being run.
    pub info: &'static ScenarioInfo,
    pub(super) env: &'e mut Environment,
    pub(super) implementation: &'e Implementation,
    pub(super) setup: &'e Setup,
    pub(super) work_dir: PathBuf,
    /// fake-acr settings, editable until `start`.
    pub acr: fake_acr::Settings,
    /// fake-metadata settings, editable until `start`.
    pub metadata: fake_metadata::Settings,
    pub(super) clouds: Option<Clouds>,
    pub(super) process: Option<RunningProcess>,
    /// True while the deployed implementation is scaled up.
    pub(super) deployed_up: bool,
    /// When the deployed implementation's Pods were last checked for crashes.
    pub(super) crash_checked: Option<Instant>,
    pub(super) source: Option<CredentialSource>,
    /// When each credential-source request ran (UTC), for "no ACR call without a request".
    pub(super) requests: Vec<(jiff::Timestamp, jiff::Timestamp)>,
    pub(super) figures: Vec<Figure>,
    /// Probe Pods a real kubelet judged (probe mode `kubelet`).
    pub(super) kubelet_pulls: usize,
    /// The `expiring-threshold` last configured, for credential sources.
    pub(super) expiring_threshold: Option<String>,
    /// When the scenario started (Events older than this are ignored).
    pub started_at: jiff::Timestamp,
    /// What the configuration last written selects (the end-of-scenario sweep judges by it).
    pub(super) selection: crate::sweep::Selection,
    /// `imagePullSecrets` entries the suite itself wrote (not judged by the sweep).
    pub(super) suite_entries: std::collections::BTreeSet<crate::sweep::Entry>,
    /// Whether every key the implementation wrote must still pull at the end (off where a fault
    /// leaves expired credentials in place on purpose).
    pub judge_keys_at_end: bool,
    /// Mode `local`: the audit log's length when the scenario began.
    pub(super) audit_mark: u64,
}

impl<'e> Ctx<'e> {
    /// A context with the default fake world; `work_dir` receives the scenario's logs, state
    /// directory and CA files, all named by its ID.
    pub fn new(
        info: &'static ScenarioInfo,
        env: &'e mut Environment,
        implementation: &'e Implementation,
        setup: &'e Setup,
        work_dir: PathBuf,
    ) -> Self {
        let (acr, metadata) = crate::clouds::default_plan(NODE_REGION);
        // Implementations append to the scenario's log: start it empty.
        let _ = std::fs::remove_file(work_dir.join(format!("{}.implementation.log", info.id)));
        let audit_mark = env.audit_log().map_or(0, |log| log.mark());
        Self {
            audit_mark,
            info,
            env,
            implementation,
            setup,
            work_dir,
            acr,
            metadata,
            clouds: None,
            process: None,
            deployed_up: false,
            crash_checked: None,
            source: None,
            requests: Vec::new(),
            figures: Vec::new(),
            kubelet_pulls: 0,
            expiring_threshold: None,
            started_at: jiff::Timestamp::now(),
            selection: crate::sweep::Selection::default(),
            suite_entries: Default::default(),
            judge_keys_at_end: true,
        }
    }

    /// The adapter the implementation is judged through.
    pub fn implementation_kind(&self) -> AdapterKind {
        self.implementation.kind
    }

    /// True when the implementation writes Secrets (adapter `process`).
    pub fn is_cluster_level(&self) -> bool {
        self.implementation.kind.level() == Level::Cluster
    }

    /// Stops the scenario as not applicable unless the implementation is cluster-level.
    pub fn require_cluster(&self, what: &str) -> Outcome {
        if self.is_cluster_level() {
            Ok(())
        } else {
            Err(Stop::NotApplicable(format!(
                "{what} needs an implementation that writes Secrets; {} only returns credentials",
                self.implementation.kind.name()
            )))
        }
    }

    /// The environment (cluster access).
    pub fn env(&mut self) -> &mut Environment {
        self.env
    }
}
