//! The runner: sets the environment up, runs the selected scenarios on `--jobs` lanes at once
//! (each lane its own control plane; on a lane one after another, reset between them, a fresh
//! implementation and fresh fakes each), prints progress and builds the report. Also the `run`
//! and `list` subcommands of the `acr-conformance` binary.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::adapter::{AdapterKind, Implementation, reference_refresher};
use crate::catalogue::{CATALOGUE, Level, ScenarioInfo, select};
use crate::clouds::{ExternalFakes, FakesSource};
use crate::deployment::{DeployedImplementation, DeploymentRef};
use crate::environment::Environment;
use crate::kubelet_keyring::KubeletKeyring;
use crate::probe::ProbeMode;
use crate::report::{Report, ScenarioResult, Verdict, progress_line};
use crate::scenarios::{self, Ctx, Setup, Stop};
use crate::schedule::{self, Lane, LaneSetup};

/// Longest a single scenario may run before it is failed.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(150);

/// Options of a run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// Which protocol the implementation under test speaks.
    #[arg(long, value_enum, default_value = "process")]
    pub implementation: AdapterKind,
    /// Its command line as one shell-quoted string (`--command 'helper --flag "a b"'`); or give
    /// it after `--` as separate words (`-- helper --flag "a b"`), not both.
    /// Placeholders: {kubeconfig} {metadata} {metadata_proxy} {acr} {acr_port} {acr_resolve} {ca}
    /// {proxy} {node_region} {expiring_threshold} (the scenario's, for credential sources)
    /// {state_dir} (an empty directory per scenario for the implementation's own state).
    /// Default for `process`: the reference refresher.
    #[arg(long = "command", value_name = "COMMAND", allow_hyphen_values = true)]
    pub command_line: Option<String>,
    /// The command line as separate words, after `--`.
    #[arg(last = true, value_name = "PROGRAM [ARGS]")]
    pub command: Vec<String>,
    /// How the implementation reaches the fakes: `netns` (run inside a network namespace where
    /// they answer at the real addresses, 100.100.100.200:80 and :443 for every ACR host name;
    /// needs root) or `override` (endpoints, CA and proxies passed explicitly). Default: netns
    /// as root, override otherwise.
    #[arg(long, value_enum)]
    pub network: Option<NetworkMode>,
    /// Adapter `kubelet-credential-provider`: kubelet's CredentialProviderConfig naming the plugin
    /// (as `kubelet --image-credential-provider-config`; placeholders allowed). Without it the
    /// suite writes one for `--command` (apiVersion credentialprovider.kubelet.k8s.io/v1, every
    /// ACR domain in matchImages, --default-cache-seconds).
    #[arg(
        long,
        value_name = "FILE",
        requires = "image_credential_provider_bin_dir"
    )]
    pub credential_provider_config: Option<PathBuf>,
    /// The directory of the plugins the CredentialProviderConfig names (as
    /// `kubelet --image-credential-provider-bin-dir`).
    #[arg(long, value_name = "DIR", requires = "credential_provider_config")]
    pub image_credential_provider_bin_dir: Option<PathBuf>,
    /// Scenario IDs or groups, comma-separated (e.g. `NS,MR2`); default all.
    #[arg(long, default_value = "")]
    pub scenarios: String,
    /// Where junit.xml, summary.md, summary.json and implementation logs go.
    #[arg(long, default_value = "target/conformance")]
    pub report_dir: PathBuf,
    /// Use this cluster instead of starting the local control plane (mode `existing`).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Adapter `deployment`: the implementation's Deployment, NAMESPACE/NAME. The suite scales
    /// it to 0 between scenarios and back up for each; the original count is restored at the end.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub deployment: Option<DeploymentRef>,
    /// Adapter `deployment`: replicas while a scenario runs [default: its current count, ≥ 1].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=10))]
    pub replicas: Option<i32>,
    /// Use fakes that already run elsewhere (e.g. in the kind cluster), driven through their
    /// admin APIs, instead of starting fresh ones in-process: give fake-metadata's admin URL.
    /// Needs --acr-admin and --acr-address too.
    #[arg(long, value_name = "URL", requires_all = ["acr_admin", "acr_address"])]
    pub metadata_admin: Option<String>,
    /// External fakes: fake-acr's admin URL (e.g. http://127.0.0.1:30444).
    #[arg(long, value_name = "URL", requires = "metadata_admin")]
    pub acr_admin: Option<String>,
    /// External fakes: where the suite reaches fake-acr's TLS listener, IP:PORT
    /// (e.g. 127.0.0.1:30443).
    #[arg(long, value_name = "IP:PORT", requires = "metadata_admin")]
    pub acr_address: Option<std::net::SocketAddr>,
    /// External fakes: fake-metadata's URL for a host-process implementation ({metadata})
    /// [default: http://100.100.100.200, the in-cluster address].
    #[arg(long, value_name = "URL", requires = "metadata_admin")]
    pub metadata_url: Option<String>,
    /// Who has the last word on pulls: `api` (the suite pulls with the Pod's secrets) or
    /// `kubelet` (every verdict is confirmed by a real kubelet pulling in a Pod: kind).
    #[arg(long, value_enum, default_value = "api")]
    pub probe: ProbeMode,
    /// Nodes of the local control plane: 1 runs a real kubelet and containerd (built from Go
    /// modules on first use) in the run's network namespace, so `--probe kubelet` works without
    /// kind. Needs root and `runc`; the run then uses one lane.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub nodes: u8,
    /// defaultCacheDuration of the CredentialProviderConfig the suite writes for a plugin given by
    /// `--command` (seconds).
    #[arg(long, default_value_t = 3600)]
    pub default_cache_seconds: u64,
    /// No progress lines (the summary is still printed).
    #[arg(long)]
    pub quiet: bool,
    /// Scenarios run at the same time, each lane with its own local control plane, network
    /// namespace and fakes; 1 runs them one after another in catalogue order. Default: what the
    /// machine can hold, min(3 × available parallelism, MemAvailable ÷ 1 GiB, 8) (a lane's
    /// control plane keeps ~0.5 GiB resident; a scenario mostly waits on timers, about a third
    /// of a core busy). One lane with --kubeconfig or external fakes (shared by every scenario).
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            implementation: AdapterKind::Process,
            command_line: None,
            command: Vec::new(),
            network: None,
            credential_provider_config: None,
            image_credential_provider_bin_dir: None,
            scenarios: String::new(),
            report_dir: PathBuf::from("target/conformance"),
            kubeconfig: None,
            deployment: None,
            replicas: None,
            metadata_admin: None,
            acr_admin: None,
            acr_address: None,
            metadata_url: None,
            probe: ProbeMode::Api,
            nodes: 0,
            default_cache_seconds: 3600,
            quiet: false,
            jobs: None,
        }
    }
}

/// `--jobs N`: a whole number from 1 to 64.
fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ 1..=64) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of jobs from 1 to 64 (1 runs the scenarios one after another)"
        )),
    }
}

/// How the implementation reaches the fakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkMode {
    /// Inside a network namespace where the fakes answer at the real addresses (root).
    Netns,
    /// Endpoints, CA bundle and proxies passed explicitly.
    Override,
}

/// Errors that stop a run before any scenario could be judged.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The `--scenarios` filter is invalid.
    #[error(transparent)]
    Select(#[from] crate::catalogue::SelectError),
    /// The environment could not be set up.
    #[error(transparent)]
    Environment(#[from] crate::environment::EnvironmentError),
    /// The implementation could not be prepared.
    #[error(transparent)]
    Adapter(#[from] crate::adapter::AdapterError),
    /// The report could not be written.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// The implementation cannot be run at all (every scenario would fail the same way).
    #[error("the implementation cannot be judged: {0}")]
    Implementation(String),
    /// Netns mode could not be set up.
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    /// kubelet's keyring (the judge of pulls) could not be started.
    #[error(transparent)]
    Keyring(#[from] crate::kubelet_keyring::KeyringError),
    /// A lane (its network namespace) could not be set up.
    #[error(transparent)]
    Lane(#[from] crate::schedule::LaneError),
    /// Ctrl-C stopped the run before the report was written.
    #[error("interrupted (Ctrl-C): no report written")]
    Interrupted,
    /// The options contradict each other.
    #[error("{0}")]
    Options(String),
    /// The deployed implementation could not be found or parked.
    #[error(transparent)]
    Deployment(#[from] Box<crate::deployment::DeploymentError>),
    /// The report directory could not be created.
    #[error("cannot create {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
}

/// The default `process` command: the reference refresher, pointed at the fakes.
pub fn reference_command(binary: &std::path::Path) -> Vec<String> {
    let mut cmd = vec![binary.to_string_lossy().into_owned()];
    cmd.extend(REFERENCE_ARGS.iter().map(|s| s.to_string()));
    cmd
}

/// Arguments of `acr-refresher run` in override mode (see `acr-refresher run --help`): the
/// metadata endpoint, the test CA, the ACR endpoint on fake-acr's port and every Alibaba host
/// name resolved to fake-acr. One replica outside a cluster: no leader election.
const REFERENCE_ARGS: &[&str] = &[
    "run",
    "--kubeconfig",
    "{kubeconfig}",
    "--metadata-endpoint",
    "{metadata}",
    "--ca-file",
    "{ca}",
    "--endpoint-template",
    "https://cr.{region}.aliyuncs.com:{acr_port}",
    "--resolve",
    "{acr_resolve}",
    "--listen",
    "127.0.0.1:0",
    "--leader-election",
    "false",
    // The suite's time scale: lifetimes of seconds, so renewals may be seconds apart.
    "--min-renewal-interval",
    "2s",
];

/// The command line from `--command '…'` (shell-quoted) or the words after `--`.
pub fn command_words(options: &RunOptions) -> Result<Vec<String>, RunError> {
    match (&options.command_line, options.command.is_empty()) {
        (Some(_), false) => Err(RunError::Options(format!(
            "the command is given twice: --command {:?} and after `--` {:?}; give one",
            options.command_line.as_deref().unwrap_or_default(),
            options.command.join(" ")
        ))),
        (Some(line), true) => {
            let words = shlex::split(line).ok_or_else(|| {
                RunError::Options(format!(
                    "--command {line:?}: unbalanced quotes or a trailing backslash (it is read as a shell would read it)"
                ))
            })?;
            if words.is_empty() {
                return Err(RunError::Options("--command is empty".into()));
            }
            Ok(words)
        }
        (None, _) => Ok(options.command.clone()),
    }
}

/// Resolves the implementation from the options (building the reference refresher if needed).
pub async fn implementation(options: &RunOptions) -> Result<Implementation, RunError> {
    let mut command = command_words(options)?;
    if command.is_empty() && options.implementation == AdapterKind::Process {
        command = reference_command(&reference_refresher().await?);
    }
    let provider_config = match (
        &options.credential_provider_config,
        &options.image_credential_provider_bin_dir,
    ) {
        (Some(config), Some(dir)) => Some((config.clone(), dir.clone())),
        _ => None,
    };
    Ok(Implementation {
        kind: options.implementation,
        command,
        default_cache_duration: Duration::from_secs(options.default_cache_seconds),
        provider_config,
    })
}

/// The network mode of a run, and why it was chosen.
fn network_mode(options: &RunOptions) -> Result<(NetworkMode, &'static str), RunError> {
    let root = is_root();
    match options.network {
        Some(NetworkMode::Netns) if !root => Err(RunError::Options(
            "--network netns needs root (it creates a network namespace); run as root or use --network override".into(),
        )),
        Some(NetworkMode::Netns) if options.implementation == AdapterKind::Deployment => {
            Err(RunError::Options(
                "--network netns runs the implementation as a local process; a deployed one reaches the fakes through its cluster".into(),
            ))
        }
        Some(mode) => Ok((mode, "as asked")),
        None if options.implementation == AdapterKind::Deployment => Ok((
            NetworkMode::Override,
            "the deployed implementation reaches the fakes through its cluster",
        )),
        None if !root => Ok((
            NetworkMode::Override,
            "not root, so no network namespace: the implementation must take the endpoints and CA it is given (placeholders, ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT, SSL_CERT_FILE, HTTPS_PROXY/HTTP_PROXY)",
        )),
        None => Ok((
            NetworkMode::Netns,
            "root: the implementation runs in a network namespace with the fakes at the real addresses",
        )),
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs the selected scenarios and writes the report; the caller decides the exit code.
pub async fn run(options: &RunOptions) -> Result<Report, RunError> {
    let selected = select(&options.scenarios)?;
    check_options(options)?;
    let (network, why) = network_mode(options)?;
    let implementation = implementation(options).await?;
    implementation.check_program()?;
    let started = Instant::now();
    let started_at = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_default()
        .to_string();
    let work_dir = options.report_dir.join("logs");
    std::fs::create_dir_all(&work_dir).map_err(|source| RunError::Dir {
        path: work_dir.clone(),
        source,
    })?;

    let mut results: Vec<Option<ScenarioResult>> = vec![None; selected.len()];
    let mut runnable = Vec::new();
    for (i, info) in selected.iter().enumerate() {
        match applicability(info, &implementation) {
            Some(reason) => {
                results[i] = Some(ScenarioResult::new(
                    info,
                    Verdict::NotApplicable,
                    reason,
                    Duration::ZERO,
                ));
            }
            None => runnable.push(i),
        }
    }
    let (jobs, jobs_why) = jobs(options, runnable.len());
    if !options.quiet {
        eprintln!(
            "acr-conformance: {} scenario(s) against {}",
            selected.len(),
            implementation.describe()
        );
        let mode = match network {
            NetworkMode::Netns => "netns",
            NetworkMode::Override => "override",
        };
        eprintln!("acr-conformance: network mode {mode} ({why})");
        eprintln!("acr-conformance: {jobs} job(s) ({jobs_why})");
        for (n, result) in results.iter().flatten().enumerate() {
            eprintln!("{}", progress_line(n + 1, selected.len(), result));
        }
    }
    let not_applicable = results.iter().flatten().count();
    let mode = if options.kubeconfig.is_some() {
        "existing"
    } else {
        "local"
    };
    // Runs side by side in one process (tests) share the machine's lanes.
    let _lanes = if runnable.is_empty() {
        None
    } else {
        schedule::reserve(jobs).await
    };
    let lane_setup = LaneSetup {
        fakes: fakes_source(options),
        probe: options.probe,
        netns: network == NetworkMode::Netns,
        nodes: options.nodes,
        keyring: if runnable.is_empty() {
            None
        } else {
            KubeletKeyring::judge().await?.map(Arc::new)
        },
    };
    // One lane per job, each started by the first scenario it takes. Mode `existing` has one
    // lane, started now: the deployed implementation is found and parked through it.
    let mut lanes: Vec<Option<Lane>> = (0..jobs).map(|_| None).collect();
    if let (Some(kubeconfig), Some(slot), false) =
        (&options.kubeconfig, lanes.first_mut(), runnable.is_empty())
    {
        let env = Environment::existing(kubeconfig).await?;
        let mut setup = lane_setup.for_env(&env).await?;
        if let Some(target) = &options.deployment {
            let deployed =
                DeployedImplementation::find(env.client(), target.clone(), options.replicas)
                    .await
                    .map_err(Box::new)?;
            if !options.quiet {
                eprintln!(
                    "acr-conformance: scaling Deployment {target} to 0 until a scenario starts it"
                );
            }
            deployed.park().await.map_err(Box::new)?;
            setup.deployed = Some(deployed);
        }
        *slot = Some(Lane { env, setup });
    }

    let queue = std::sync::Mutex::new(schedule::order(
        &selected,
        &runnable,
        jobs,
        &options.report_dir,
    ));
    let shared = schedule::Shared {
        selected: &selected,
        queue: &queue,
        results: std::sync::Mutex::new(results),
        done: std::sync::atomic::AtomicUsize::new(not_applicable),
        implementation: &implementation,
        lane_setup: &lane_setup,
        work_dir: &work_dir,
        quiet: options.quiet,
    };
    let workers = futures::future::try_join_all(
        lanes
            .iter_mut()
            .enumerate()
            .map(|(n, slot)| schedule::worker(n + 1, slot, &shared)),
    );
    // Ctrl-C still gives a deployed implementation its replicas back (and drops running process
    // implementations, which are killed with their handles).
    let outcome = tokio::select! {
        outcome = workers => Some(outcome),
        _ = tokio::signal::ctrl_c() => None,
    };
    if let Some(deployed) = lanes
        .iter()
        .flatten()
        .find_map(|lane| lane.setup.deployed.as_ref())
        && let Err(e) = deployed.restore().await
    {
        eprintln!("acr-conformance: warning: could not restore the replica count: {e}");
    }
    drop(lanes);
    match outcome {
        None => return Err(RunError::Interrupted),
        Some(Err(e)) => return Err(e),
        Some(Ok(_)) => {}
    }
    let results = shared
        .results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(&selected)
        .map(|(r, info)| {
            r.unwrap_or_else(|| {
                ScenarioResult::new(info, Verdict::Error, "not run", Duration::ZERO)
            })
        })
        .collect();
    let report = Report {
        implementation: match &options.deployment {
            Some(target) => format!("deployment: {target}"),
            None => implementation.describe(),
        },
        mode: mode.to_string(),
        started_at,
        wall_time: started.elapsed(),
        jobs,
        results,
    };
    report.write_to(&options.report_dir)?;
    Ok(report)
}

/// Why a run has one lane whatever `--jobs` says (`None`: as many as asked).
fn one_lane_only(options: &RunOptions) -> Option<&'static str> {
    if options.kubeconfig.is_some() {
        Some(
            "one cluster given with --kubeconfig: its ConfigMap, namespaces and implementation are shared by every scenario",
        )
    } else if options.metadata_admin.is_some() {
        Some("external fakes are one pair for every scenario")
    } else if options.nodes > 0 {
        Some("the local node (kubelet + containerd) belongs to one control plane")
    } else {
        None
    }
}

/// How many lanes a run uses (never more than it has scenarios to run), and why.
fn jobs(options: &RunOptions, runnable: usize) -> (usize, String) {
    if let Some(why) = one_lane_only(options) {
        return (1, why.to_string());
    }
    match options.jobs {
        Some(n) => (n.min(runnable.max(1)), "as asked".to_string()),
        None => {
            let n = schedule::default_jobs();
            (
                n.min(runnable.max(1)),
                format!(
                    "{n} by default: {} per core of {}, one per GiB available, at most {}; each with its own control plane",
                    schedule::LANES_PER_CORE,
                    std::thread::available_parallelism().map_or(1, |n| n.get()),
                    schedule::MAX_LANES
                ),
            )
        }
    }
}

/// Refuses option combinations that cannot work, naming the options.
fn check_options(options: &RunOptions) -> Result<(), RunError> {
    if let (Some(why), Some(n @ 2..)) = (one_lane_only(options), options.jobs) {
        return Err(RunError::Options(format!(
            "--jobs {n}: scenarios run one at a time here ({why}); leave --jobs out or give 1"
        )));
    }
    let deployment = options.implementation == AdapterKind::Deployment;
    if deployment && options.deployment.is_none() {
        return Err(RunError::Options(
            "--implementation deployment needs --deployment NAMESPACE/NAME".into(),
        ));
    }
    if !deployment && options.deployment.is_some() {
        return Err(RunError::Options(
            "--deployment is only used with --implementation deployment".into(),
        ));
    }
    if deployment && options.kubeconfig.is_none() {
        return Err(RunError::Options(
            "--implementation deployment judges a deployed implementation: give its cluster with --kubeconfig".into(),
        ));
    }
    if deployment && (!options.command.is_empty() || options.command_line.is_some()) {
        return Err(RunError::Options(
            "--command is not used with --implementation deployment (the Deployment runs it)"
                .into(),
        ));
    }
    if options.credential_provider_config.is_some()
        && options.implementation != AdapterKind::KubeletCredentialProvider
    {
        return Err(RunError::Options(
            "--credential-provider-config is only used with --implementation kubelet-credential-provider".into(),
        ));
    }
    if options.nodes > 0 && options.kubeconfig.is_some() {
        return Err(RunError::Options(
            "--nodes is for the local control plane; the cluster of --kubeconfig has its own nodes"
                .into(),
        ));
    }
    if options.nodes > 0 && (options.network == Some(NetworkMode::Override) || !is_root()) {
        return Err(RunError::Options(
            "--nodes 1 needs root and network mode netns (the node's kubelet and containerd run in the run's network namespace, where the fakes are)".into(),
        ));
    }
    if options.probe == ProbeMode::Kubelet && options.kubeconfig.is_none() && options.nodes == 0 {
        return Err(RunError::Options(
            "--probe kubelet needs a cluster with nodes (--kubeconfig, e.g. kind); the local control plane has no kubelet".into(),
        ));
    }
    // In-process fakes are only reachable from this machine's processes, not from Pods.
    let external = options.metadata_admin.is_some();
    if deployment && !external {
        return Err(RunError::Options(
            "--implementation deployment needs the fakes it reaches: give them with --metadata-admin, --acr-admin and --acr-address (in-process fakes are not reachable from Pods)".into(),
        ));
    }
    if options.probe == ProbeMode::Kubelet && !external && options.nodes == 0 {
        return Err(RunError::Options(
            "--probe kubelet needs the fakes the node reaches: give them with --metadata-admin, --acr-admin and --acr-address (in-process fakes are not reachable from a kubelet)".into(),
        ));
    }
    Ok(())
}

/// In-process fakes unless `--metadata-admin` and friends name external ones.
fn fakes_source(options: &RunOptions) -> FakesSource {
    match (
        &options.metadata_admin,
        &options.acr_admin,
        options.acr_address,
    ) {
        (Some(metadata_admin), Some(acr_admin), Some(acr_address)) => {
            FakesSource::External(ExternalFakes {
                metadata_admin: metadata_admin.clone(),
                acr_admin: acr_admin.clone(),
                acr_address,
                metadata_url: options.metadata_url.clone(),
            })
        }
        _ => FakesSource::InProcess,
    }
}

/// `Some(reason)` when the scenario cannot judge this implementation.
fn applicability(info: &ScenarioInfo, implementation: &Implementation) -> Option<String> {
    if info.level == Level::Cluster && implementation.kind.level() == Level::Source {
        return Some(format!(
            "level cluster: needs an implementation that writes Secrets; {} only returns credentials",
            implementation.kind.name()
        ));
    }
    if scenarios::body(info.id).is_none() {
        return Some("no body for this ID in this version of the suite".into());
    }
    None
}

/// Runs one scenario: reset, fresh context, body under a timeout, teardown. `Err` when the
/// implementation cannot be run at all (the run stops with that one error).
pub async fn run_one(
    info: &'static ScenarioInfo,
    env: &mut Environment,
    implementation: &Implementation,
    setup: &Setup,
    work_dir: &std::path::Path,
) -> Result<ScenarioResult, String> {
    let t0 = Instant::now();
    if let Err(e) = env.reset().await {
        return Ok(ScenarioResult::new(
            info,
            Verdict::Error,
            format!("reset before the scenario: {e}"),
            t0.elapsed(),
        ));
    }
    let Some(body) = scenarios::body(info.id) else {
        return Ok(ScenarioResult::new(
            info,
            Verdict::NotApplicable,
            "no body",
            t0.elapsed(),
        ));
    };
    let scenario_dir = work_dir.to_path_buf();
    let mut ctx = Ctx::new(info, env, implementation, setup, scenario_dir);
    // A body that passed ends with the sweep of every namespace and the written keys judged.
    let judged = async {
        body(&mut ctx).await?;
        ctx.end_checks().await
    };
    let outcome = match tokio::time::timeout(SCENARIO_TIMEOUT, judged).await {
        Ok(o) => o,
        Err(_) => Err(Stop::Fail(format!(
            "did not finish within {} s",
            SCENARIO_TIMEOUT.as_secs()
        ))),
    };
    // A scenario that passed but left an implementation the suite cannot stop is an error: it
    // would go on writing into the next scenario.
    let outcome = match (ctx.stop().await, outcome) {
        (Err(e), Ok(())) => Err(e),
        (_, o) => o,
    };
    let log = ctx.log_file();
    let figures = ctx.take_figures();
    let (verdict, detail) = match outcome {
        Ok(()) => (Verdict::Passed, String::new()),
        Err(Stop::Fail(m)) => (
            Verdict::Failed,
            format!("{m} (implementation log: {})", log.display()),
        ),
        Err(Stop::Error(m)) => (Verdict::Error, m),
        Err(Stop::NotApplicable(m)) => (Verdict::NotApplicable, m),
        Err(Stop::Abort(m)) => return Err(m),
    };
    let mut result = ScenarioResult::new(info, verdict, detail, t0.elapsed());
    result.figures = figures;
    Ok(result)
}

/// `acr-conformance list`: the catalogue as a table.
pub fn list() -> String {
    let mut out = String::from("ID    level    title\n");
    for s in CATALOGUE {
        let level = match s.level {
            Level::Cluster => "cluster",
            Level::Source => "source",
        };
        out.push_str(&format!("{:<5} {:<8} {}\n", s.id, level, s.title));
    }
    out
}
