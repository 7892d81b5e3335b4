//! The scenarios of docs/conformance.md, one function per ID, and the context they run in.
//!
//! A scenario plans its clouds (edits `ctx.acr` / `ctx.metadata` settings), writes the
//! ConfigMap, starts the implementation with `ctx.start()`, then judges with the pull probe,
//! the cluster's objects and Events, and the fakes' request logs — polling with deadlines.
//! Submodules hold the groups: `ns`, `mr`, `cr`, `tr`, `ft`, `bi`.

mod bi;
mod cr;
mod end;
mod ft;
mod mr;
mod ns;
mod tr;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Event, Secret, ServiceAccount};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

use crate::adapter::{AdapterKind, CredentialSource, Endpoints, Implementation, RunningProcess};
use crate::catalogue::{Level, ScenarioInfo};
use crate::clouds::{Clouds, CloudsError, FakesSource, TokenCall};
use crate::deployment::{DeployedImplementation, DeploymentError};
use crate::environment::{Environment, EnvironmentError};
use crate::probe::{
    Credential, ProbeError, ProbeMode, ProbeOutcome, PullProbe, credentials_of_secret,
};
use crate::report::Figure;

/// Images of the default fake world (fake-acr `Settings::default()`): private repositories, so
/// an anonymous pull fails.
pub mod images {
    /// Personal Edition, cn-hangzhou (the node's region).
    pub const PE_HZ: &str = "registry.cn-hangzhou.aliyuncs.com/demo/private-app:latest";
    /// Personal Edition, cn-hangzhou, VPC domain.
    pub const PE_HZ_VPC: &str = "registry-vpc.cn-hangzhou.aliyuncs.com/demo/private-app:latest";
    /// Personal Edition, cn-hangzhou, international domain: outside the seed patterns.
    pub const PE_HZ_INTL: &str = "registry-intl.cn-hangzhou.aliyuncs.com/demo/private-app:latest";
    /// Personal Edition, cn-beijing.
    pub const PE_BJ: &str = "registry.cn-beijing.aliyuncs.com/demo/private-app:latest";
    /// Enterprise Edition instance `demo-hz` (cn-hangzhou).
    pub const EE_HZ: &str = "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com/team/private-app:latest";
    /// Enterprise Edition instance `demo-hz`, VPC domain.
    pub const EE_HZ_VPC: &str =
        "demo-hz-registry-vpc.cn-hangzhou.cr.aliyuncs.com/team/private-app:latest";
    /// Enterprise Edition instance `demo-bj` (cn-beijing).
    pub const EE_BJ: &str = "demo-bj-registry.cn-beijing.cr.aliyuncs.com/team/private-app:latest";
    /// Instance id of `demo-hz`.
    pub const EE_HZ_ID: &str = "cri-hzdemo0000000001";
    /// Instance id of `demo-bj`.
    pub const EE_BJ_ID: &str = "cri-bjdemo0000000001";
}

/// The node's region in every scenario (what fake-metadata reports).
pub const NODE_REGION: &str = "cn-hangzhou";
/// How long an implementation gets from start to the first working credentials.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long an effect the catalogue gives no figure for may take.
pub const CONVERGE_DEADLINE: Duration = Duration::from_secs(10);
/// The catalogue's "within 2 s".
pub const QUICK_DEADLINE: Duration = Duration::from_secs(2);
/// The RAM-role credentials listing path of the metadata server.
pub const CREDENTIALS_PREFIX: &str = "/latest/meta-data/ram/security-credentials/";
/// Fault-rule glob for the credentials of any role (not the listing).
pub const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/?*";
/// Probe polling interval.
const POLL: Duration = Duration::from_millis(100);
/// How long a "cannot pull" / "no credentials" verdict must hold: the catalogue's 2 s for an
/// effect, plus a margin, so an implementation that acts a little late is still seen.
pub const NEGATIVE_WINDOW: Duration = Duration::from_millis(2500);
/// Probe interval within the negative window.
const NEGATIVE_POLL: Duration = Duration::from_millis(250);

/// Why a scenario stopped before passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The implementation's behaviour broke a rule of the catalogue.
    Fail(String),
    /// The scenario does not apply here (adapter level, mode).
    NotApplicable(String),
    /// The suite could not set the scenario up.
    Error(String),
    /// The implementation cannot be run at all (missing program, exits at once): the run stops
    /// with this one error instead of failing every scenario.
    Abort(String),
}

/// What a scenario returns.
pub type Outcome = Result<(), Stop>;

impl From<EnvironmentError> for Stop {
    fn from(e: EnvironmentError) -> Self {
        Stop::Error(e.to_string())
    }
}

impl From<ProbeError> for Stop {
    fn from(e: ProbeError) -> Self {
        Stop::Error(e.to_string())
    }
}

impl From<CloudsError> for Stop {
    fn from(e: CloudsError) -> Self {
        Stop::Error(e.to_string())
    }
}

impl From<DeploymentError> for Stop {
    fn from(e: DeploymentError) -> Self {
        Stop::Error(e.to_string())
    }
}

impl From<kube::Error> for Stop {
    fn from(e: kube::Error) -> Self {
        Stop::Error(format!("Kubernetes API: {e}"))
    }
}

/// `fail!("…", args)`: stop the scenario with a failure.
macro_rules! fail {
    ($($arg:tt)*) => { return Err($crate::scenarios::Stop::Fail(format!($($arg)*))) };
}
/// `check!(cond, "…", args)`: fail unless `cond`.
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => { if !$cond { $crate::scenarios::fail!($($arg)*); } };
}
pub(crate) use {check, fail};

/// A scenario body.
pub type ScenarioFn = for<'a, 'e> fn(&'a mut Ctx<'e>) -> BoxFuture<'a, Outcome>;

/// Boxes an `async fn(&mut Ctx<'_>) -> Outcome` into a [`ScenarioFn`].
macro_rules! boxed {
    ($f:path) => {{
        fn wrapped<'a, 'e>(
            ctx: &'a mut $crate::scenarios::Ctx<'e>,
        ) -> futures::future::BoxFuture<'a, $crate::scenarios::Outcome> {
            Box::pin($f(ctx))
        }
        wrapped as $crate::scenarios::ScenarioFn
    }};
}
pub(crate) use boxed;

/// The body of a catalogue scenario.
pub fn body(id: &str) -> Option<ScenarioFn> {
    let group = id
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_ascii_uppercase();
    match group.as_str() {
        "NS" => ns::body(id),
        "MR" => mr::body(id),
        "CR" => cr::body(id),
        "TR" => tr::body(id),
        "FT" => ft::body(id),
        "BI" => bi::body(id),
        _ => None,
    }
}

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
    env: &'e mut Environment,
    implementation: &'e Implementation,
    setup: &'e Setup,
    work_dir: PathBuf,
    /// fake-acr settings, editable until `start`.
    pub acr: fake_acr::Settings,
    /// fake-metadata settings, editable until `start`.
    pub metadata: fake_metadata::Settings,
    clouds: Option<Clouds>,
    process: Option<RunningProcess>,
    /// True while the deployed implementation is scaled up.
    deployed_up: bool,
    /// When the deployed implementation's Pods were last checked for crashes.
    crash_checked: Option<Instant>,
    source: Option<CredentialSource>,
    /// When each credential-source request ran (UTC), for "no ACR call without a request".
    requests: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    figures: Vec<Figure>,
    /// Probe Pods a real kubelet judged (probe mode `kubelet`).
    kubelet_pulls: usize,
    /// The `expiring-threshold` last configured, for credential sources.
    expiring_threshold: Option<String>,
    /// When the scenario started (Events older than this are ignored).
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// What the configuration last written selects (the end-of-scenario sweep judges by it).
    selection: crate::sweep::Selection,
    /// `imagePullSecrets` entries the suite itself wrote (not judged by the sweep).
    suite_entries: std::collections::BTreeSet<crate::sweep::Entry>,
    /// Whether every key the implementation wrote must still pull at the end (off where a fault
    /// leaves expired credentials in place on purpose).
    pub judge_keys_at_end: bool,
    /// Mode `local`: the audit log's length when the scenario began.
    audit_mark: u64,
}

impl<'e> Ctx<'e> {
    /// A context with the default fake world; `work_dir` receives logs and the CA bundle.
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
            started_at: chrono::Utc::now(),
            selection: crate::sweep::Selection::default(),
            suite_entries: Default::default(),
            judge_keys_at_end: true,
        }
    }

    /// The figures measured so far (plus, in probe mode `kubelet`, how many real pulls
    /// confirmed the verdicts).
    pub fn take_figures(&mut self) -> Vec<Figure> {
        if self.kubelet_pulls > 0 {
            let n = self.kubelet_pulls;
            self.figure("confirmed-by-kubelet", format!("{n} pull(s)"));
            self.kubelet_pulls = 0;
        }
        std::mem::take(&mut self.figures)
    }

    /// The implementation's state directory in this scenario (`{state_dir}`).
    pub fn state_dir(&self) -> PathBuf {
        self.work_dir.join(format!("{}.state", self.info.id))
    }

    /// Where the implementation's output went.
    pub fn log_file(&self) -> PathBuf {
        self.work_dir
            .join(format!("{}.implementation.log", self.info.id))
    }

    /// Records a measured figure.
    pub fn figure(&mut self, name: &str, value: impl Into<String>) {
        self.figures.push(Figure {
            name: name.into(),
            value: value.into(),
        });
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

    /// The running fakes (after `start`).
    pub fn clouds(&self) -> Result<&Clouds, Stop> {
        self.clouds
            .as_ref()
            .ok_or_else(|| Stop::Error("the clouds are started by ctx.start()".into()))
    }

    /// Writes the helper's ConfigMap with exactly these keys. Credential-only implementations
    /// cannot read it: for them only `expiring-threshold` is kept, for the `{expiring_threshold}`
    /// placeholder of their command (scenarios gate config-only checks).
    pub async fn configure(&mut self, data: &[(&str, &str)]) -> Outcome {
        self.expiring_threshold = data
            .iter()
            .find(|(k, _)| *k == "expiring-threshold")
            .map(|(_, v)| v.to_string());
        if !self.is_cluster_level() {
            return Ok(());
        }
        self.selection = crate::sweep::Selection::from_config(data);
        Ok(self.env.write_configuration(data).await?)
    }

    /// Creates a namespace for this scenario (`<hint>-<run id>`) and waits for its `default`
    /// ServiceAccount; returns its name.
    pub async fn namespace(&self, hint: &str) -> Result<String, Stop> {
        let name = self
            .env
            .namespace_name(&format!("{}-{hint}", self.info.id.to_ascii_lowercase()));
        self.env.create_namespace(&name).await?;
        self.env
            .wait_for_default_service_account(&name, CONVERGE_DEADLINE)
            .await?;
        Ok(name)
    }

    /// The namespace name `namespace(hint)` would create, without creating it.
    pub fn namespace_name(&self, hint: &str) -> String {
        self.env
            .namespace_name(&format!("{}-{hint}", self.info.id.to_ascii_lowercase()))
    }

    /// Creates a ServiceAccount.
    pub async fn service_account(&self, namespace: &str, name: &str) -> Outcome {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<ServiceAccount>::namespaced(self.env.client(), namespace)
            .create(&PostParams::default(), &sa)
            .await?;
        Ok(())
    }

    /// Starts the fakes (with the planned settings) and the implementation.
    pub async fn start(&mut self) -> Outcome {
        self.start_clouds().await?;
        self.start_implementation().await
    }

    /// Starts only the fakes.
    pub async fn start_clouds(&mut self) -> Outcome {
        if self.clouds.is_none() {
            let clouds = Clouds::start_for(
                &self.setup.fakes,
                self.acr.clone(),
                self.metadata.clone(),
                &self.work_dir,
                self.setup.netns.as_deref(),
            )
            .await?;
            self.clouds = Some(clouds);
        }
        Ok(())
    }

    fn endpoints(&self) -> Result<Endpoints, Stop> {
        let clouds = self.clouds()?;
        let netns = self.setup.netns.as_ref().map(|n| n.name().to_string());
        let (metadata, metadata_proxy, acr, proxy) = if netns.is_some() {
            (
                format!("http://{}", crate::netns::METADATA_ADDR.ip()),
                String::new(),
                crate::netns::ACR_ADDR.to_string(),
                String::new(),
            )
        } else {
            (
                clouds.metadata_url(),
                clouds.metadata_url(),
                clouds.acr_address(),
                clouds.proxy_url(),
            )
        };
        Ok(Endpoints {
            kubeconfig: self.env.kubeconfig(),
            metadata,
            metadata_proxy,
            acr,
            acr_hosts: clouds.acr_hosts(),
            ca_file: clouds.ca_file().to_path_buf(),
            ca_bundle: clouds.ca_bundle().to_path_buf(),
            proxy,
            region: NODE_REGION.to_string(),
            role: self.metadata.role.clone(),
            netns,
            log_file: self.log_file(),
            expiring_threshold: self
                .expiring_threshold
                .clone()
                .unwrap_or_else(|| "15m".to_string()),
            state_dir: self.state_dir(),
        })
    }

    /// (Re)starts the implementation process (or prepares the credential source).
    pub async fn start_implementation(&mut self) -> Outcome {
        let endpoints = self.endpoints()?;
        // Empty at the scenario's first start, kept across restarts within it.
        if self.process.is_none() && self.source.is_none() && !self.deployed_up {
            let _ = std::fs::remove_dir_all(&endpoints.state_dir);
        }
        // Owner-only: an implementation may keep credentials there (a helper's token cache).
        std::fs::create_dir_all(&endpoints.state_dir)
            .and_then(|()| {
                std::fs::set_permissions(
                    &endpoints.state_dir,
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                )
            })
            .map_err(|e| {
                Stop::Error(format!(
                    "cannot create {}: {e}",
                    endpoints.state_dir.display()
                ))
            })?;
        if let Some(p) = self.process.take() {
            p.stop().await;
        }
        match self.implementation.kind {
            AdapterKind::Deployment => {
                let deployed = self.deployed()?;
                if self.deployed_up {
                    deployed.stop(&self.log_file()).await?;
                    self.deployed_up = false;
                }
                // Up from the moment it is scaled: a start that fails or times out must still be
                // parked by `stop`, or it would write into the next scenario.
                self.deployed_up = true;
                deployed.start().await?;
            }
            AdapterKind::Process => {
                let p = self
                    .implementation
                    .start(&endpoints)
                    .await
                    .map_err(|e| match e {
                        crate::adapter::AdapterError::Spawn { .. } => Stop::Abort(e.to_string()),
                        e => Stop::Error(e.to_string()),
                    })?;
                self.process = Some(p);
            }
            _ => self.source = Some(self.implementation.credential_source(&endpoints)),
        }
        Ok(())
    }

    fn deployed(&self) -> Result<&'e DeployedImplementation, Stop> {
        self.setup.deployed.as_ref().ok_or_else(|| {
            Stop::Error("adapter deployment needs --deployment NAMESPACE/NAME".into())
        })
    }

    /// Stops the implementation (end of scenario); a deployed one that cannot be scaled down is
    /// an error (it would write into the next scenario).
    pub async fn stop(&mut self) -> Result<(), Stop> {
        if let Some(p) = self.process.take() {
            p.stop().await;
        }
        self.source = None;
        if self.deployed_up {
            self.deployed_up = false;
            self.deployed()?.stop(&self.log_file()).await?;
        }
        Ok(())
    }

    /// Fails if the implementation process has exited, or a container of the deployed one
    /// restarted ("no crash"). Pods are checked at most once a second.
    pub async fn check_alive(&mut self) -> Outcome {
        let log_file = self.log_file();
        if let Some(p) = self.process.as_mut()
            && let Some(status) = p.exited()
        {
            // Within a moment of its start: it cannot run here at all (a bad flag, a missing
            // library), which no scenario can judge.
            if p.age() < EXITS_AT_ONCE {
                let output = std::fs::read_to_string(&log_file).unwrap_or_default();
                return Err(Stop::Abort(format!(
                    "the implementation '{}' exited {:.1} s after it was started ({status}); its output:\n{}",
                    self.implementation.command.join(" "),
                    p.age().as_secs_f64(),
                    tail(&output, 20)
                )));
            }
            fail!(
                "the implementation exited ({status}); its output is in {}",
                self.log_file().display()
            );
        }
        if self.deployed_up
            && self
                .crash_checked
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.crash_checked = Some(Instant::now());
            if let Some(what) = self.deployed()?.crashed().await? {
                fail!(
                    "the implementation crashed: {what}; its logs are saved to {}",
                    self.log_file().display()
                );
            }
        }
        Ok(())
    }

    fn probe_tool(&self) -> Result<PullProbe, Stop> {
        let mut probe = PullProbe::new(self.env.client(), self.clouds()?.registry_access());
        if let Some(node) = self.env.node() {
            probe = probe.on_node(node.name());
        }
        Ok(match &self.setup.keyring {
            Some(keyring) => probe.with_kubelet_keyring(keyring.clone()),
            None => probe,
        })
    }

    /// Pull requests the credential source answered in this scenario so far, and when.
    pub fn source_requests(
        &self,
    ) -> &[(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)] {
        &self.requests
    }

    /// Could a Pod created now in `namespace` under `service_account` pull `image`? For
    /// credential-only adapters: the credentials the implementation returns for `image`.
    pub async fn probe(
        &mut self,
        namespace: &str,
        service_account: &str,
        image: &str,
    ) -> Result<ProbeOutcome, Stop> {
        let probe = self.probe_tool()?;
        if let Some(source) = self.source.as_mut() {
            let from = chrono::Utc::now();
            let answer = source.get(image).await.map_err(|e| match e {
                crate::adapter::AdapterError::Spawn { .. }
                | crate::adapter::AdapterError::Missing { .. }
                | crate::adapter::AdapterError::NoCommand { .. } => Stop::Abort(e.to_string()),
                crate::adapter::AdapterError::Keyring(_)
                | crate::adapter::AdapterError::ProviderConfig { .. } => {
                    let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
                    Stop::Abort(format!("{e}; kubelet's log:\n{}", tail(&log, 10)))
                }
                e => Stop::Fail(e.to_string()),
            })?;
            self.requests.push((from, chrono::Utc::now()));
            // docker hands the helper's answer to the pull as it is; kubelet's answer is already
            // in kubelet's order.
            let keys = answer.credentials.iter().map(|c| c.key.clone()).collect();
            let mut outcome = probe.in_order(image, keys, answer.credentials).await?;
            outcome.source_failure = answer.failure;
            return Ok(outcome);
        }
        let deadline = Instant::now() + CONVERGE_DEADLINE;
        loop {
            match probe.pod(namespace, service_account, image).await {
                Ok(o) => return Ok(o),
                // The ServiceAccount may not exist yet (controller-manager lag, or just created).
                Err(ProbeError::CreatePod {
                    source: kube::Error::Api(s),
                    ..
                }) if Instant::now() < deadline && (s.code == 403 || s.code == 404) => {
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// In probe mode `kubelet`: a real kubelet must agree with the suite's own verdict
    /// (`expect_pull`) for a Pod in `namespace` under `sa`. Nothing to do in mode `api` or for
    /// credential-only implementations.
    pub async fn confirm_with_kubelet(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        expect_pull: bool,
        outcome: &ProbeOutcome,
    ) -> Outcome {
        if self.setup.probe != ProbeMode::Kubelet || self.source.is_some() {
            return Ok(());
        }
        let verdict = self.probe_tool()?.kubelet(namespace, sa, image).await?;
        self.kubelet_pulls += 1;
        if !expect_pull && !verdict.pulled && !verdict.denied {
            return Err(Stop::Error(format!(
                "a real kubelet could not pull {image} in {namespace} for a reason other than credentials, so it cannot confirm the refusal: {}",
                verdict.explain()
            )));
        }
        check!(
            verdict.pulled == expect_pull,
            "the suite's own pull and a real kubelet disagree for a Pod in {namespace} \
             (ServiceAccount {sa}): suite — {}; {}",
            outcome.explain(),
            verdict.explain()
        );
        Ok(())
    }

    /// Pulls `image` with exactly `credential`, ignoring keys (cross-checks such as "a token of
    /// instance A is refused by instance B").
    pub async fn pull_with(&self, image: &str, credential: &Credential) -> Result<bool, Stop> {
        let probe = self.probe_tool()?;
        let forced = Credential {
            key: crate::adapter::registry_host(image),
            ..credential.clone()
        };
        Ok(probe.credentials(image, vec![forced]).await?.pulled())
    }

    /// Polls the probe until a credential pulls `image`; returns the time it took (in probe
    /// mode `kubelet`, a real kubelet then confirms, outside the measured time).
    pub async fn until_pulls(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        within: Duration,
    ) -> Result<Duration, Stop> {
        let (took, outcome) = self.until_pulls_api(namespace, sa, image, within).await?;
        self.confirm_with_kubelet(namespace, sa, image, true, &outcome)
            .await?;
        Ok(took)
    }

    /// As `until_pulls`, without the kubelet's confirmation: for scenarios that count what
    /// happens in a time window and confirm afterwards (`confirm_pulls`).
    pub async fn until_pulls_api(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        within: Duration,
    ) -> Result<(Duration, ProbeOutcome), Stop> {
        let t0 = Instant::now();
        let mut last;
        loop {
            let outcome = self.probe(namespace, sa, image).await?;
            if outcome.pulled_with_credentials() {
                return Ok((t0.elapsed(), outcome));
            }
            last = outcome.explain();
            if t0.elapsed() >= within {
                break;
            }
            self.check_alive().await?;
            tokio::time::sleep(POLL).await;
        }
        fail!(
            "a Pod in {namespace} (ServiceAccount {sa}) could not pull within {:.1} s — {last}",
            within.as_secs_f64()
        )
    }

    /// Fails if a Pod created now could pull `image` with credentials, at any time during
    /// [`NEGATIVE_WINDOW`] from now.
    pub async fn check_cannot_pull(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        why: &str,
    ) -> Outcome {
        self.hold_cannot_pull(&[(namespace, sa, image)], why).await
    }

    /// Fails if a Pod created in any of `targets` (namespace, ServiceAccount, image) could pull
    /// with credentials at any time during [`NEGATIVE_WINDOW`] from now (probed every 250 ms).
    pub async fn hold_cannot_pull(&mut self, targets: &[(&str, &str, &str)], why: &str) -> Outcome {
        self.hold_refused(targets, why, false).await
    }

    /// Fails unless, throughout [`NEGATIVE_WINDOW`] from now, no credential matches `image`
    /// (kubelet would pull anonymously) and the anonymous pull is refused.
    pub async fn check_no_credentials(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        why: &str,
    ) -> Outcome {
        self.hold_refused(&[(namespace, sa, image)], why, true)
            .await
    }

    async fn hold_refused(
        &mut self,
        targets: &[(&str, &str, &str)],
        why: &str,
        no_credentials: bool,
    ) -> Outcome {
        let t0 = Instant::now();
        let mut last = Vec::new();
        loop {
            last.clear();
            for (namespace, sa, image) in targets {
                let outcome = self.probe(namespace, sa, image).await?;
                let at = secs(t0.elapsed());
                if no_credentials {
                    check!(
                        outcome.no_credentials_matched() && !outcome.pulled(),
                        "{why}: expected no matching credentials and a refused anonymous pull, \
                         {at} into the {} s window — {}",
                        NEGATIVE_WINDOW.as_secs_f64(),
                        outcome.explain()
                    );
                } else {
                    check!(
                        !outcome.pulled(),
                        "{why}: a Pod in {namespace} (ServiceAccount {sa}) could pull {at} into \
                         the {} s window — {}",
                        NEGATIVE_WINDOW.as_secs_f64(),
                        outcome.explain()
                    );
                }
                last.push(outcome);
            }
            if t0.elapsed() >= NEGATIVE_WINDOW {
                break;
            }
            self.check_alive().await?;
            tokio::time::sleep(NEGATIVE_POLL).await;
        }
        for ((namespace, sa, image), outcome) in targets.iter().zip(&last) {
            self.confirm_with_kubelet(namespace, sa, image, false, outcome)
                .await?;
        }
        Ok(())
    }

    /// Polls until a Pod created in `namespace` under `sa` can no longer pull `image`; returns
    /// the time it took.
    pub async fn until_cannot_pull(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        within: Duration,
    ) -> Result<Duration, Stop> {
        let t0 = Instant::now();
        loop {
            let outcome = self.probe(namespace, sa, image).await?;
            if !outcome.pulled() {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() >= within {
                fail!(
                    "a Pod in {namespace} (ServiceAccount {sa}) could still pull {:.1} s later — {}",
                    within.as_secs_f64(),
                    outcome.explain()
                );
            }
            self.check_alive().await?;
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every pull credential reachable from a ServiceAccount: `(secret name, credentials)`.
    pub async fn sa_credentials(
        &self,
        namespace: &str,
        sa: &str,
    ) -> Result<Vec<(String, Vec<Credential>)>, Stop> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.env.client(), namespace);
        let secrets: Api<Secret> = Api::namespaced(self.env.client(), namespace);
        let Some(account) = sas.get_opt(sa).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in account.image_pull_secrets.unwrap_or_default() {
            if let Some(s) = secrets.get_opt(&r.name).await? {
                out.push((r.name.clone(), credentials_of_secret(&s)));
            }
        }
        Ok(out)
    }

    /// `imagePullSecrets` names of a ServiceAccount, in order.
    pub async fn sa_pull_secret_names(
        &self,
        namespace: &str,
        sa: &str,
    ) -> Result<Vec<String>, Stop> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.env.client(), namespace);
        Ok(sas
            .get_opt(sa)
            .await?
            .and_then(|a| a.image_pull_secrets)
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .collect())
    }

    /// Warning Events created since the scenario started, in any namespace:
    /// `(namespace, name, reason, message)`.
    pub async fn warnings_since_start(
        &self,
    ) -> Result<Vec<(String, String, String, String)>, Stop> {
        let events: Api<Event> = Api::all(self.env.client());
        let list = events
            .list(&ListParams::default().fields("type=Warning"))
            .await?;
        let since = self.started_at - chrono::Duration::seconds(1);
        Ok(list
            .items
            .into_iter()
            .filter(|e| {
                let at = e
                    .last_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .or_else(|| e.event_time.as_ref().map(|t| t.0))
                    .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
                at.is_some_and(|t| to_chrono(t) >= since)
            })
            .map(|e| {
                (
                    e.metadata.namespace.unwrap_or_default(),
                    e.metadata.name.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Every Warning Event now: uid → resourceVersion (a mark for [`Ctx::warnings_since_mark`]).
    pub async fn warning_mark(&self) -> Result<BTreeMap<String, String>, Stop> {
        let events: Api<Event> = Api::all(self.env.client());
        let list = events
            .list(&ListParams::default().fields("type=Warning"))
            .await?;
        Ok(list
            .items
            .into_iter()
            .map(|e| {
                (
                    e.metadata.uid.unwrap_or_default(),
                    e.metadata.resource_version.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Warning Events created or updated (a repeat counted) since `mark` was taken, in any
    /// namespace: `(namespace, name, reason, message)`.
    pub async fn warnings_since_mark(
        &self,
        mark: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String, String, String)>, Stop> {
        let events: Api<Event> = Api::all(self.env.client());
        let list = events
            .list(&ListParams::default().fields("type=Warning"))
            .await?;
        Ok(list
            .items
            .into_iter()
            .filter(|e| {
                let uid = e.metadata.uid.clone().unwrap_or_default();
                mark.get(&uid) != e.metadata.resource_version.as_ref()
            })
            .map(|e| {
                (
                    e.metadata.namespace.unwrap_or_default(),
                    e.metadata.name.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Polls until a Warning Event (since start) that the implementation wrote (mode `local`:
    /// by the audit log) satisfies `pred`; returns its message.
    pub async fn until_warning(
        &self,
        within: Duration,
        what: &str,
        pred: impl Fn(&str, &str) -> bool,
    ) -> Result<String, Stop> {
        let t0 = Instant::now();
        loop {
            let warnings = self.warnings_since_start().await?;
            for (ns, name, reason, message) in &warnings {
                if pred(reason, message) && self.written_by_implementation(ns, name)? {
                    return Ok(format!("{reason}: {message}"));
                }
            }
            if t0.elapsed() >= within {
                let seen: Vec<String> = warnings
                    .iter()
                    .map(|(ns, _, r, m)| format!("{ns}/{r}: {m}"))
                    .collect();
                fail!(
                    "no Warning Event by the implementation {what} within {:.0} s; Warning Events seen: [{}]",
                    within.as_secs_f64(),
                    seen.join(" | ")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// GetAuthorizationToken calls fake-acr has logged (both editions).
    pub async fn token_calls(&self) -> Result<Vec<TokenCall>, Stop> {
        Ok(self.clouds()?.token_calls().await?)
    }

    /// Polls until fake-acr has logged at least `n` token calls satisfying `pred`.
    pub async fn until_token_calls(
        &mut self,
        n: usize,
        within: Duration,
        what: &str,
        pred: impl Fn(&TokenCall) -> bool,
    ) -> Result<Vec<TokenCall>, Stop> {
        let t0 = Instant::now();
        loop {
            let calls: Vec<TokenCall> = self
                .token_calls()
                .await?
                .into_iter()
                .filter(|c| pred(c))
                .collect();
            if calls.len() >= n {
                return Ok(calls);
            }
            if t0.elapsed() >= within {
                fail!(
                    "expected {n} GetAuthorizationToken calls {what} within {:.0} s, saw {}",
                    within.as_secs_f64(),
                    calls.len()
                );
            }
            self.check_alive().await?;
            tokio::time::sleep(POLL).await;
        }
    }

    /// Snapshot of the pull Secrets in a namespace: name → (resourceVersion, credentials).
    pub async fn pull_secrets(
        &self,
        namespace: &str,
    ) -> Result<BTreeMap<String, (String, Vec<Credential>)>, Stop> {
        let secrets: Api<Secret> = Api::namespaced(self.env.client(), namespace);
        let mut out = BTreeMap::new();
        for s in secrets.list(&ListParams::default()).await?.items {
            let kind = s.type_.as_deref().unwrap_or_default();
            if kind == "kubernetes.io/dockerconfigjson" || kind == "kubernetes.io/dockercfg" {
                let name = s.metadata.name.clone().unwrap_or_default();
                let rv = s.metadata.resource_version.clone().unwrap_or_default();
                out.insert(name, (rv, credentials_of_secret(&s)));
            }
        }
        Ok(out)
    }

    /// Fails if a pull Secret in `namespace` holds an entry with an empty user name or password.
    pub async fn check_no_empty_credentials(&self, namespace: &str) -> Outcome {
        for (name, (_, creds)) in self.pull_secrets(namespace).await? {
            for c in creds {
                check!(
                    !c.username.is_empty() && !c.password.is_empty(),
                    "Secret {namespace}/{name} holds an entry for {} with an empty user name or password",
                    c.key
                );
            }
        }
        Ok(())
    }
}

fn to_chrono(t: k8s_openapi::jiff::Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
        .unwrap_or_default()
}

/// A fingerprint of a credential for "was it replaced?" checks: never the secret itself.
pub fn fingerprint(c: &Credential) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.username.hash(&mut h);
    c.password.hash(&mut h);
    h.finish()
}

/// An implementation that exits sooner than this after its start cannot run here at all.
const EXITS_AT_ONCE: Duration = Duration::from_secs(3);

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Seconds with one decimal, for figures.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
