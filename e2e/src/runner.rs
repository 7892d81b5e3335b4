//! The runner: sets the environment up, runs the selected scenarios serially (reset between
//! them, a fresh implementation and fresh fakes each), prints progress and builds the report.
//! Also the `run` and `list` subcommands of the `acr-conformance` binary.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::adapter::{AdapterKind, Implementation, reference_refresher};
use crate::catalogue::{CATALOGUE, Level, ScenarioInfo, select};
use crate::environment::Environment;
use crate::report::{Report, ScenarioResult, Verdict, progress_line};
use crate::scenarios::{self, Ctx, Stop};

/// Longest a single scenario may run before it is failed.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(150);

/// Options of a run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// Which protocol the implementation under test speaks.
    #[arg(long, value_enum, default_value = "process")]
    pub implementation: AdapterKind,
    /// Its command line (one argument per value, or one quoted string split on spaces).
    /// Placeholders: {kubeconfig} {metadata} {acr} {acr_port} {acr_resolve} {ca} {proxy} {node_region}.
    /// Default for `process`: the reference refresher.
    #[arg(long, num_args = 1.., allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// Scenario IDs or groups, comma-separated (e.g. `NS,MR2`); default all.
    #[arg(long, default_value = "")]
    pub scenarios: String,
    /// Where junit.xml, summary.md, summary.json and implementation logs go.
    #[arg(long, default_value = "target/conformance")]
    pub report_dir: PathBuf,
    /// Use this cluster instead of starting the local control plane (mode `existing`).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// kubelet's defaultCacheDuration for plugin answers without cacheDuration (seconds).
    #[arg(long, default_value_t = 3600)]
    pub default_cache_seconds: u64,
    /// No progress lines (the summary is still printed).
    #[arg(long)]
    pub quiet: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            implementation: AdapterKind::Process,
            command: Vec::new(),
            scenarios: String::new(),
            report_dir: PathBuf::from("target/conformance"),
            kubeconfig: None,
            default_cache_seconds: 3600,
            quiet: false,
        }
    }
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

/// Resolves the implementation from the options (building the reference refresher if needed).
pub async fn implementation(options: &RunOptions) -> Result<Implementation, RunError> {
    let mut command = if options.command.len() == 1 {
        options.command[0]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    } else {
        options.command.clone()
    };
    if command.is_empty() && options.implementation == AdapterKind::Process {
        command = reference_command(&reference_refresher().await?);
    }
    Ok(Implementation {
        kind: options.implementation,
        command,
        default_cache_duration: Duration::from_secs(options.default_cache_seconds),
    })
}

/// Runs the selected scenarios and writes the report; the caller decides the exit code.
pub async fn run(options: &RunOptions) -> Result<Report, RunError> {
    let selected = select(&options.scenarios)?;
    let implementation = implementation(options).await?;
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let work_dir = options.report_dir.join("logs");
    std::fs::create_dir_all(&work_dir).map_err(|source| RunError::Dir {
        path: work_dir.clone(),
        source,
    })?;

    if !options.quiet {
        eprintln!(
            "acr-conformance: {} scenario(s) against {}",
            selected.len(),
            implementation.describe()
        );
    }
    let needs_cluster = selected
        .iter()
        .any(|s| applicability(s, &implementation).is_none());
    let mut env = if !needs_cluster {
        None
    } else if let Some(kubeconfig) = &options.kubeconfig {
        Some(Environment::existing(kubeconfig).await?)
    } else {
        if !options.quiet {
            eprintln!(
                "acr-conformance: starting the local control plane (built once, then cached)…"
            );
        }
        let t = Instant::now();
        let env = Environment::local().await?;
        if !options.quiet {
            eprintln!(
                "acr-conformance: control plane ready in {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        Some(env)
    };
    let mode = match (&env, &options.kubeconfig) {
        (_, Some(_)) => "existing",
        _ => "local",
    };

    let mut results = Vec::new();
    for (i, info) in selected.iter().enumerate() {
        let result = match (applicability(info, &implementation), env.as_mut()) {
            (Some(reason), _) => {
                ScenarioResult::new(info, Verdict::NotApplicable, reason, Duration::ZERO)
            }
            (None, Some(env)) => {
                if !options.quiet {
                    eprintln!(
                        "[{:>2}/{}] {:<4} running… {}",
                        i + 1,
                        selected.len(),
                        info.id,
                        info.title
                    );
                }
                run_one(info, env, &implementation, &work_dir).await
            }
            (None, None) => ScenarioResult::new(info, Verdict::Error, "no cluster", Duration::ZERO),
        };
        if !options.quiet {
            eprintln!("{}", progress_line(i + 1, selected.len(), &result));
        }
        results.push(result);
    }
    let report = Report {
        implementation: implementation.describe(),
        mode: mode.to_string(),
        started_at,
        wall_time: started.elapsed(),
        results,
    };
    report.write_to(&options.report_dir)?;
    Ok(report)
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

/// Runs one scenario: reset, fresh context, body under a timeout, teardown.
pub async fn run_one(
    info: &'static ScenarioInfo,
    env: &mut Environment,
    implementation: &Implementation,
    work_dir: &std::path::Path,
) -> ScenarioResult {
    let t0 = Instant::now();
    if let Err(e) = env.reset().await {
        return ScenarioResult::new(
            info,
            Verdict::Error,
            format!("reset before the scenario: {e}"),
            t0.elapsed(),
        );
    }
    let Some(body) = scenarios::body(info.id) else {
        return ScenarioResult::new(info, Verdict::NotApplicable, "no body", t0.elapsed());
    };
    let scenario_dir = work_dir.to_path_buf();
    let mut ctx = Ctx::new(info, env, implementation, scenario_dir);
    let outcome = match tokio::time::timeout(SCENARIO_TIMEOUT, body(&mut ctx)).await {
        Ok(o) => o,
        Err(_) => Err(Stop::Fail(format!(
            "did not finish within {} s",
            SCENARIO_TIMEOUT.as_secs()
        ))),
    };
    ctx.stop().await;
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
    };
    let mut result = ScenarioResult::new(info, verdict, detail, t0.elapsed());
    result.figures = figures;
    result
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
