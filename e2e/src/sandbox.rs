//! `acr-conformance sandbox`: the local control plane and both fakes (the default world, or one
//! scenario's setup) kept running for a person developing an implementation, optionally with the
//! reference refresher; an env file says how to reach everything, a status line on a terminal
//! shows what is up, and SIGINT/SIGTERM stop everything and remove what the sandbox created.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};

use crate::adapter::{AdapterKind, Endpoints, Implementation, RunningProcess, reference_refresher};
use crate::clouds::{Clouds, FakesSource, default_plan};
use crate::environment::Environment;
use crate::netns::{ACR_ADDR, METADATA_ADDR, Netns};
use crate::runner::{NetworkMode, reference_command};
use crate::sandbox_env::{Facts, write_whole};
use crate::sandbox_scenario::{Prepared, prepare};
use crate::scenarios::NODE_REGION;

/// Options of `acr-conformance sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxOptions {
    /// Also run the reference refresher against the sandbox (its output goes to the file the env
    /// file names as ACR_SANDBOX_REFERENCE_LOG).
    #[arg(long)]
    pub with_reference: bool,
    /// Prepare the fakes, the ConfigMap and the namespaces as this scenario does before it starts
    /// the implementation (an ID of `acr-conformance list`, e.g. TR1). Default: the default world
    /// and no ConfigMap.
    #[arg(long, value_name = "ID")]
    pub scenario: Option<String>,
    /// Where to write the env file (`set -a; . FILE; set +a`); removed when the sandbox stops.
    #[arg(long, value_name = "FILE", default_value = "target/sandbox.env")]
    pub env_file: PathBuf,
    /// How an implementation reaches the fakes: `netns` (a network namespace where they answer at
    /// the real addresses; needs root) or `override` (loopback ports, CA file, --resolve lines).
    /// Default: netns as root, override otherwise. Loopback ports work in both.
    #[arg(long, value_enum)]
    pub network: Option<NetworkMode>,
    /// No live status line, even on a terminal.
    #[arg(long)]
    pub no_status: bool,
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The options contradict the machine.
    #[error("{0}")]
    Options(String),
    /// The control plane or the cluster calls failed.
    #[error(transparent)]
    Environment(#[from] crate::environment::EnvironmentError),
    /// The fakes did not start.
    #[error(transparent)]
    Clouds(#[from] crate::clouds::CloudsError),
    /// The network namespace could not be set up.
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    /// The scenario's setup could not be prepared.
    #[error(transparent)]
    Scenario(#[from] crate::sandbox_scenario::PrepareError),
    /// The reference refresher could not be built or started.
    #[error("--with-reference: {0}")]
    Reference(#[from] crate::adapter::AdapterError),
    /// A file or directory could not be written.
    #[error("{action}: {source}")]
    Io {
        /// What the sandbox tried.
        action: String,
        /// I/O error.
        source: std::io::Error,
    },
    /// A signal arrived before everything was up; what had started is stopped and removed.
    #[error("interrupted while starting; everything started so far is stopped and removed")]
    Interrupted,
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let action = action.into();
    move |source| SandboxError::Io { action, source }
}

/// Everything the sandbox started, in the order it is stopped.
struct Sandbox {
    reference: Option<RunningProcess>,
    clouds: Clouds,
    netns: Option<Netns>,
    env: Environment,
    prepared: Option<Prepared>,
    facts: Facts,
    /// Holds the CA files, hosts file and logs; removed on drop.
    work: tempfile::TempDir,
}

/// Runs the sandbox until SIGINT or SIGTERM, then stops and removes everything it created.
pub async fn run(options: SandboxOptions) -> Result<(), SandboxError> {
    let root = rustix::process::geteuid().is_root();
    let network = match options.network {
        Some(NetworkMode::Netns) if !root => {
            return Err(SandboxError::Options(
                "--network netns needs root (it creates a network namespace); run as root or use --network override"
                    .into(),
            ));
        }
        Some(mode) => mode,
        None if root => NetworkMode::Netns,
        None => NetworkMode::Override,
    };
    if let Some(id) = &options.scenario {
        crate::sandbox_scenario::find(id)?;
    }
    // Installed first, so a signal while starting still stops what has started.
    let mut sigint = signal(SignalKind::interrupt()).map_err(io("installing a SIGINT handler"))?;
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(io("installing a SIGTERM handler"))?;
    let env_file = options.env_file.clone();
    // A parent directory the sandbox makes is removed with the env file.
    let made_parent = match env_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) if !parent.exists() => {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
            Some(parent.to_path_buf())
        }
        _ => None,
    };
    let sandbox = tokio::select! {
        started = start(&options, network) => started,
        _ = sigint.recv() => Err(SandboxError::Interrupted),
        _ = sigterm.recv() => Err(SandboxError::Interrupted),
    };
    let mut sandbox = match sandbox {
        Ok(s) => s,
        Err(e) => {
            remove_parent(made_parent.as_deref());
            return Err(e);
        }
    };
    let text = sandbox.facts.env_file();
    if let Err(e) = write_whole(&env_file, &text) {
        sandbox.shutdown().await;
        remove_parent(made_parent.as_deref());
        return Err(e);
    }
    print!("{text}");
    println!("# env file: {}", env_file.display());
    let _ = std::io::stdout().flush();
    sandbox.announce(&env_file);

    let status = !options.no_status && std::io::stderr().is_terminal();
    let up_since = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let why = loop {
        tokio::select! {
            _ = sigint.recv() => break "SIGINT",
            _ = sigterm.recv() => break "SIGTERM",
            _ = tick.tick(), if status => {
                let line = sandbox.status_line(up_since.elapsed()).await;
                eprint!("\r\x1b[K{line}");
            }
        }
    };
    if status {
        eprintln!();
    }
    eprintln!("sandbox: {why}: stopping");
    sandbox.shutdown().await;
    match std::fs::remove_file(&env_file) {
        Ok(()) => eprintln!("sandbox: removed {}", env_file.display()),
        Err(e) => eprintln!("sandbox: removing {}: {e}", env_file.display()),
    }
    remove_parent(made_parent.as_deref());
    Ok(())
}

fn remove_parent(dir: Option<&Path>) {
    if let Some(dir) = dir {
        // Only when empty: someone may have put files there meanwhile.
        let _ = std::fs::remove_dir(dir);
    }
}

async fn start(options: &SandboxOptions, network: NetworkMode) -> Result<Sandbox, SandboxError> {
    let work = tempfile::Builder::new()
        .prefix("acr-sandbox-")
        .tempdir()
        .map_err(io("creating the sandbox's temp dir"))?;
    eprintln!("sandbox: starting the local control plane (built once, then cached)…");
    let t = Instant::now();
    let mut env = Environment::local().await?;
    eprintln!(
        "sandbox: control plane ready at {} in {:.1} s",
        env.server_url(),
        t.elapsed().as_secs_f64()
    );
    let prepared = match &options.scenario {
        Some(id) => {
            let dir = work.path().join("scenario");
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            let prepared = prepare(id, &mut env, &dir).await?;
            eprintln!(
                "sandbox: scenario {} ({}) prepared",
                prepared.info.id, prepared.info.title
            );
            Some(prepared)
        }
        None => None,
    };
    let (acr, metadata) = match &prepared {
        Some(p) => (p.acr.clone(), p.metadata.clone()),
        None => default_plan(NODE_REGION),
    };
    let role = metadata.role.clone();
    let netns = match network {
        NetworkMode::Netns => {
            let server = env.server_url();
            let apiserver = crate::netns::server_address(&server);
            Some(Netns::create(apiserver).await?)
        }
        NetworkMode::Override => None,
    };
    let clouds = Clouds::start_for(
        &FakesSource::InProcess,
        acr,
        metadata,
        work.path(),
        netns.as_ref(),
    )
    .await?;
    let (metadata_admin, acr_admin) = clouds.admin_urls().unwrap_or_default();
    let acr_address: SocketAddr = clouds.acr_address().parse().map_err(|e| {
        SandboxError::Options(format!(
            "fake-acr's address {} is not IP:PORT: {e}",
            clouds.acr_address()
        ))
    })?;
    let hosts = clouds.acr_hosts();
    let hosts_file = work.path().join("hosts");
    let hosts_text: String = hosts
        .iter()
        .map(|h| format!("{}\t{h}\n", acr_address.ip()))
        .collect();
    write_whole(&hosts_file, &hosts_text)?;
    let mut facts = Facts {
        kubeconfig: env.kubeconfig(),
        apiserver: env.server_url(),
        metadata_url: clouds.metadata_url(),
        metadata_admin,
        acr_address,
        acr_admin,
        ca_file: clouds.ca_file().to_path_buf(),
        ca_bundle: clouds.ca_bundle().to_path_buf(),
        hosts,
        hosts_file,
        proxy_url: clouds.proxy_url(),
        region: NODE_REGION.to_string(),
        role,
        netns: netns.as_ref().map(|n| n.name().to_string()),
        scenario: prepared.as_ref().map(|p| p.info.id.to_string()),
        reference_log: None,
    };
    let reference = if options.with_reference {
        let log_file = work.path().join("reference.log");
        let endpoints = endpoints(&facts, &clouds, log_file.clone(), work.path());
        let implementation = Implementation {
            kind: AdapterKind::Process,
            command: reference_command(&reference_refresher().await?),
            default_cache_duration: Duration::from_secs(3600),
            provider_config: None,
        };
        implementation.check_program()?;
        std::fs::create_dir_all(&endpoints.state_dir)
            .map_err(io(format!("creating {}", endpoints.state_dir.display())))?;
        let process = implementation.start(&endpoints).await?;
        facts.reference_log = Some(log_file);
        Some(process)
    } else {
        None
    };
    Ok(Sandbox {
        reference,
        clouds,
        netns,
        env,
        prepared,
        facts,
        work,
    })
}

/// Where the reference refresher finds the sandbox, as a scenario would give it.
fn endpoints(facts: &Facts, clouds: &Clouds, log_file: PathBuf, work: &Path) -> Endpoints {
    let (metadata, metadata_proxy, acr, proxy) = match &facts.netns {
        Some(_) => (
            format!("http://{}", METADATA_ADDR.ip()),
            String::new(),
            ACR_ADDR.to_string(),
            String::new(),
        ),
        None => (
            facts.metadata_url.clone(),
            facts.metadata_url.clone(),
            facts.acr_address.to_string(),
            facts.proxy_url.clone(),
        ),
    };
    Endpoints {
        kubeconfig: facts.kubeconfig.clone(),
        metadata,
        metadata_proxy,
        acr,
        acr_hosts: clouds.acr_hosts(),
        ca_file: facts.ca_file.clone(),
        ca_bundle: facts.ca_bundle.clone(),
        proxy,
        region: facts.region.clone(),
        role: facts.role.clone(),
        netns: facts.netns.clone(),
        log_file,
        expiring_threshold: "15m".to_string(),
        state_dir: work.join("reference.state"),
    }
}

impl Sandbox {
    /// What is where, on stderr (stdout has the env file).
    fn announce(&self, env_file: &Path) {
        let f = &self.facts;
        eprintln!(
            "sandbox: up. Use it from a shell with: set -a; . {}; set +a",
            env_file.display()
        );
        eprintln!("  API server     {}  (KUBECONFIG)", f.apiserver);
        eprintln!(
            "  fake-metadata  {}  admin {}",
            f.metadata_url, f.metadata_admin
        );
        eprintln!(
            "  fake-acr       {} for {} host names  admin {}",
            f.acr_address,
            f.hosts.len(),
            f.acr_admin
        );
        if let Some(ns) = &f.netns {
            eprintln!(
                "  netns          ip netns exec {ns} …  ({} is fake-metadata, the host names resolve to fake-acr on :443)",
                METADATA_ADDR.ip()
            );
        }
        if let Some(p) = &self.prepared {
            match &p.configuration {
                Some(data) => {
                    eprintln!(
                        "  ConfigMap kube-system/acr-configuration as {}:",
                        p.info.id
                    );
                    for (k, v) in data {
                        eprintln!("    {k}: {v}");
                    }
                }
                None => eprintln!("  no ConfigMap ({} writes none)", p.info.id),
            }
            if !p.namespaces.is_empty() {
                eprintln!("  namespaces     {}", p.namespaces.join(", "));
            }
            eprintln!(
                "  fake-acr token lifetime {} s, {} fault rule(s); fake-metadata credential lifetime {} s, rotation lead {} s, {} fault rule(s) (faults a scenario adds after its start are not set up)",
                p.acr.token_lifetime_secs,
                p.acr.faults.len(),
                p.metadata.credential_lifetime.as_secs(),
                p.metadata.rotation_lead_time.as_secs(),
                p.metadata.faults.len()
            );
        }
        if let Some(log) = &f.reference_log {
            eprintln!(
                "  reference      acr-refresher running, output in {}",
                log.display()
            );
        }
        eprintln!("  Ctrl-C stops everything and removes what the sandbox created.");
    }

    /// One line: uptime, what is up, requests served.
    async fn status_line(&mut self, up: Duration) -> String {
        let mut parts = vec![format!("sandbox {}", clock(up))];
        if let Some(plane) = self.env.control_plane() {
            let pids = plane.pids();
            let down: Vec<String> = pids
                .iter()
                .filter(|(_, pid)| !alive(*pid))
                .map(|(c, _)| c.to_string())
                .collect();
            parts.push(if down.is_empty() {
                format!("control plane up ({} processes)", pids.len())
            } else {
                format!("control plane: {} DOWN", down.join(", "))
            });
        }
        let metadata = self.clouds.metadata().requests().await.map(|r| r.len());
        let acr = self.clouds.acr().log().await.map(|l| l.len());
        parts.push(match metadata {
            Ok(n) => format!("fake-metadata {n} req"),
            Err(_) => "fake-metadata ?".into(),
        });
        parts.push(match acr {
            Ok(n) => format!("fake-acr {n} req"),
            Err(_) => "fake-acr ?".into(),
        });
        if let Some(reference) = self.reference.as_mut() {
            parts.push(match reference.exited() {
                None => "reference running".into(),
                Some(status) => format!("reference EXITED ({status})"),
            });
        }
        parts.push("Ctrl-C stops".into());
        parts.join(" · ")
    }

    /// Stops everything in reverse start order and removes what was created, saying so.
    async fn shutdown(self) {
        let Sandbox {
            reference,
            clouds,
            netns,
            env,
            prepared: _,
            facts: _,
            work,
        } = self;
        if let Some(process) = reference {
            process.stop().await;
            eprintln!("sandbox: stopped the reference refresher");
        }
        drop(clouds);
        eprintln!("sandbox: stopped fake-metadata, fake-acr and the host proxy");
        if let Some(netns) = netns {
            let name = netns.name().to_string();
            drop(netns);
            eprintln!("sandbox: deleted network namespace {name}");
        }
        let plane_dir = env.control_plane().map(|p| p.dir().to_path_buf());
        // Stopping the components waits for them (blocking): off the async threads.
        let _ = tokio::task::spawn_blocking(move || drop(env)).await;
        if let Some(dir) = plane_dir {
            eprintln!(
                "sandbox: stopped the control plane and removed {}",
                dir.display()
            );
        }
        let work_path = work.path().to_path_buf();
        match work.close() {
            Ok(()) => eprintln!("sandbox: removed {}", work_path.display()),
            Err(e) => eprintln!("sandbox: removing {}: {e}", work_path.display()),
        }
    }
}

/// True while `pid` runs (a zombie does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// `1h02m03s` / `2m03s` / `3s`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_naturally() {
        assert_eq!(clock(Duration::from_secs(5)), "5s");
        assert_eq!(clock(Duration::from_secs(125)), "2m05s");
        assert_eq!(clock(Duration::from_secs(3723)), "1h02m03s");
    }
}
