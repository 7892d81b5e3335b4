//! Implementation adapters: how the suite runs an implementation and obtains what it produces,
//! behaving as the implementation's real caller does.
//!
//! - `process`: a long-running controller started with a kubeconfig (the reference refresher is
//!   the default); it is judged through the cluster (Secrets, ServiceAccounts, Events).
//! - `deployment`: a controller already deployed in the cluster, judged the same way; the suite
//!   only scales its Deployment (see [`crate::deployment`]).
//! - `docker-credential-helper`: as docker runs it: `<helper> get`, server URL on stdin,
//!   `{"Username","Secret"}` out; exit ≠ 0 with `credentials not found in native keychain` on
//!   stdout means "none" (docker pulls anonymously), any other failure fails that pull, quoting the
//!   exit status and the helper's own words.
//! - `kubelet-credential-provider`: as kubelet runs it: kubelet's own plugin code
//!   (`kubeplane keyring-server`, see [`crate::kubelet_keyring`]) execs the plugin named by a
//!   CredentialProviderConfig (`--credential-provider-config`, or one the suite writes for
//!   `--command`), with its `apiVersion`, `matchImages`, `defaultCacheDuration`, `args`, `env`
//!   and kubelet's cache; a failed exec gives no credentials for that pull and is retried on the
//!   next, as on a node.
//!
//! Network: in netns mode (see [`crate::netns`]) every command runs inside the run's network
//! namespace, where the fakes answer at the real addresses; in override mode it gets the
//! metadata endpoint and CA bundle explicitly (and credential sources `HTTPS_PROXY`, and
//! `HTTP_PROXY` = fake-metadata, which serves absolute-form requests for 100.100.100.200).
//! Either way the CA bundle (system CAs + the test CA) is in `SSL_CERT_FILE`,
//! `REQUESTS_CA_BUNDLE`, `ALIBABA_CLOUD_CA_BUNDLE` and `NODE_EXTRA_CA_CERTS`, and the node's RAM
//! role in `ALIBABA_CLOUD_ECS_METADATA`.
//!
//! Placeholders in commands: `{kubeconfig}`, `{metadata}`, `{metadata_proxy}`, `{acr}`
//! (fake-acr's `ip:port`), `{acr_port}`, `{acr_resolve}` (`host=ip,…` for every Alibaba host name
//! fake-acr serves), `{ca}`, `{proxy}`, `{node_region}`, and for credential sources, which cannot
//! read the ConfigMap, `{expiring_threshold}` (the scenario's `expiring-threshold`, `15m` when it
//! sets none); `{state_dir}` is an empty directory of the scenario for an implementation's own
//! state (e.g. a credential helper's token cache). Long-running processes get no proxy variables:
//! Kubernetes clients honour them for the API server too (kube-rs even refuses to start without
//! its proxy feature).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use crate::catalogue::Level;
use crate::kubelet_keyring::{KubeletKeyring, kubeplane};
use crate::pull_secret::Credential;

/// Which protocol the implementation under test speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdapterKind {
    /// A controller process that writes Secrets and patches ServiceAccounts.
    Process,
    /// A controller already deployed in the cluster (`--deployment NAMESPACE/NAME`): the suite
    /// scales it up for each scenario and down between them.
    Deployment,
    /// A docker credential helper (`get` protocol).
    DockerCredentialHelper,
    /// A kubelet CredentialProvider exec plugin.
    KubeletCredentialProvider,
}

impl AdapterKind {
    /// The highest catalogue level this kind of implementation can be judged at.
    pub fn level(self) -> Level {
        match self {
            AdapterKind::Process | AdapterKind::Deployment => Level::Cluster,
            AdapterKind::DockerCredentialHelper | AdapterKind::KubeletCredentialProvider => {
                Level::Source
            }
        }
    }

    /// Name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            AdapterKind::Process => "process",
            AdapterKind::Deployment => "deployment",
            AdapterKind::DockerCredentialHelper => "docker-credential-helper",
            AdapterKind::KubeletCredentialProvider => "kubelet-credential-provider",
        }
    }
}

/// Where the implementation finds the world: filled by the environment for each scenario.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Kubeconfig of the cluster under test.
    pub kubeconfig: PathBuf,
    /// Base URL of fake-metadata as the implementation reaches it (`http://100.100.100.200` in
    /// netns mode).
    pub metadata: String,
    /// `HTTP_PROXY` that answers requests for `http://100.100.100.200/…` (override mode: the
    /// fake itself, which serves absolute-form targets); empty in netns mode.
    pub metadata_proxy: String,
    /// `host:port` where fake-acr serves every Alibaba host name.
    pub acr: String,
    /// Every Alibaba host name fake-acr serves.
    pub acr_hosts: Vec<String>,
    /// PEM file with only the test CA (`{ca}`).
    pub ca_file: PathBuf,
    /// PEM bundle of the system CAs plus the test CA (the CA environment variables).
    pub ca_bundle: PathBuf,
    /// `HTTPS_PROXY` routing Alibaba host names to fake-acr; empty in netns mode.
    pub proxy: String,
    /// The node's region (what fake-metadata reports).
    pub region: String,
    /// The node's RAM role (`ALIBABA_CLOUD_ECS_METADATA`), if it has one.
    pub role: Option<String>,
    /// Netns mode: the namespace every command runs in.
    pub netns: Option<String>,
    /// File that receives the implementation's stdout and stderr (credential sources: stderr,
    /// appended call after call).
    pub log_file: PathBuf,
    /// The scenario's `expiring-threshold` (what the ConfigMap would say; `15m` when the
    /// scenario sets none), for credential sources that cannot read the ConfigMap.
    pub expiring_threshold: String,
    /// An empty directory of this scenario for the implementation's own state (token caches):
    /// nothing carries over from an earlier scenario.
    pub state_dir: PathBuf,
}

impl Endpoints {
    /// `arg` with every placeholder replaced.
    pub fn expand(&self, arg: &str) -> String {
        let (ip, port) = self.acr.rsplit_once(':').unwrap_or((self.acr.as_str(), ""));
        let resolve: Vec<String> = self.acr_hosts.iter().map(|h| format!("{h}={ip}")).collect();
        arg.replace("{kubeconfig}", &self.kubeconfig.to_string_lossy())
            .replace("{acr_port}", port)
            .replace("{acr_resolve}", &resolve.join(","))
            .replace("{metadata_proxy}", &self.metadata_proxy)
            .replace("{metadata}", &self.metadata)
            .replace("{acr}", &self.acr)
            .replace("{ca}", &self.ca_file.to_string_lossy())
            .replace("{proxy}", &self.proxy)
            .replace("{node_region}", &self.region)
            .replace("{expiring_threshold}", &self.expiring_threshold)
            .replace("{state_dir}", &self.state_dir.to_string_lossy())
    }

    /// A command running `program` where the implementation runs: inside the run's network
    /// namespace in netns mode.
    fn command(&self, program: &str) -> Command {
        match &self.netns {
            Some(name) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", name]).arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }

    /// The environment every implementation process gets; `with_proxy` for short-lived
    /// credential sources in override mode.
    pub fn apply(&self, cmd: &mut Command, with_proxy: bool) {
        for var in [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
            "ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT",
            "ALIBABA_CLOUD_IMDS_ENDPOINT",
        ] {
            cmd.env_remove(var);
        }
        if self.netns.is_none() {
            if with_proxy {
                cmd.env("HTTPS_PROXY", &self.proxy)
                    .env("https_proxy", &self.proxy)
                    .env("HTTP_PROXY", &self.metadata_proxy)
                    .env("http_proxy", &self.metadata_proxy)
                    // The fakes' metadata and admin ports are on loopback: never through a proxy.
                    .env("NO_PROXY", "127.0.0.1,localhost,::1")
                    .env("no_proxy", "127.0.0.1,localhost,::1");
            }
            cmd.env(
                "ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT",
                &self.metadata,
            )
            .env("ALIBABA_CLOUD_IMDS_ENDPOINT", &self.metadata);
        }
        if let Some(role) = &self.role {
            cmd.env("ALIBABA_CLOUD_ECS_METADATA", role);
        }
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("SSL_CERT_FILE", &self.ca_bundle)
            .env("REQUESTS_CA_BUNDLE", &self.ca_bundle)
            .env("ALIBABA_CLOUD_CA_BUNDLE", &self.ca_bundle)
            .env("NODE_EXTRA_CA_CERTS", &self.ca_bundle)
            .env("ALIBABA_CLOUD_REGION_ID", &self.region);
    }
}

/// Errors of the adapters.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The command line is empty.
    #[error("{kind}: no command given (use --command '…' or `-- PROGRAM ARGS…`)")]
    NoCommand {
        /// Adapter kind.
        kind: &'static str,
    },
    /// The program does not exist or cannot be run.
    #[error("{kind}: cannot run '{program}': {reason}")]
    Missing {
        /// Adapter kind.
        kind: &'static str,
        /// Program name.
        program: String,
        /// Why.
        reason: String,
    },
    /// The command could not be started.
    #[error("{kind}: cannot start '{program}': {source}")]
    Spawn {
        /// Adapter kind.
        kind: &'static str,
        /// Program name.
        program: String,
        /// I/O error.
        source: std::io::Error,
    },
    /// The implementation's log file could not be created.
    #[error("cannot create log file {path}: {source}")]
    LogFile {
        /// The file.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// A credential source answered something the protocol does not allow.
    #[error("{kind}: bad answer for {image}: {reason}")]
    Protocol {
        /// Adapter kind.
        kind: &'static str,
        /// The image asked about.
        image: String,
        /// What was wrong (never the secret itself).
        reason: String,
    },
    /// A credential source did not answer in time.
    #[error("{kind}: no answer for {image} within {seconds} s")]
    Timeout {
        /// Adapter kind.
        kind: &'static str,
        /// The image asked about.
        image: String,
        /// The deadline.
        seconds: u64,
    },
    /// The CredentialProviderConfig could not be read or written.
    #[error("credential provider config {path}: {reason}")]
    ProviderConfig {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// kubelet's keyring (kubeplane keyring-server) failed.
    #[error(transparent)]
    Keyring(#[from] crate::kubelet_keyring::KeyringError),
    /// The reference refresher binary could not be built.
    #[error("cannot build the reference refresher ({command}): {reason}")]
    Build {
        /// The cargo command line.
        command: String,
        /// Exit status or I/O error.
        reason: String,
    },
}

/// The implementation under test, as chosen on the command line.
#[derive(Debug, Clone)]
pub struct Implementation {
    /// Protocol it speaks.
    pub kind: AdapterKind,
    /// Program and arguments (placeholders allowed).
    pub command: Vec<String>,
    /// kubelet's `defaultCacheDuration` for the CredentialProviderConfig the suite writes for a
    /// plugin given by `--command`.
    pub default_cache_duration: Duration,
    /// A kubelet plugin's CredentialProviderConfig (kubelet's `--image-credential-provider-config`;
    /// placeholders allowed in it) and the directory of the plugin binaries it names.
    pub provider_config: Option<(PathBuf, PathBuf)>,
}

impl Implementation {
    /// A short description for reports.
    pub fn describe(&self) -> String {
        let program = self.command.first().map(|p| {
            Path::new(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.clone())
        });
        let program = match (&self.provider_config, program) {
            (Some((config, _)), _) => format!("CredentialProviderConfig {}", config.display()),
            (None, p) => p.unwrap_or_default(),
        };
        format!("{}: {program}", self.kind.name())
    }

    fn program(&self, endpoints: &Endpoints) -> Result<Command, AdapterError> {
        let (program, args) = self.command.split_first().ok_or(AdapterError::NoCommand {
            kind: self.kind.name(),
        })?;
        let mut cmd = endpoints.command(&endpoints.expand(program));
        cmd.args(args.iter().map(|a| endpoints.expand(a)));
        endpoints.apply(&mut cmd, self.kind != AdapterKind::Process);
        Ok(cmd)
    }

    /// Checks before any scenario that the program exists and may be executed, so a typo is one
    /// clear error rather than a failure in every scenario.
    pub fn check_program(&self) -> Result<(), AdapterError> {
        let kind = self.kind.name();
        if self.kind == AdapterKind::Deployment {
            return Ok(());
        }
        if self.kind == AdapterKind::KubeletCredentialProvider
            && let Some((config, bin_dir)) = &self.provider_config
        {
            for (path, what) in [(config, "file"), (bin_dir, "directory")] {
                std::fs::metadata(path).map_err(|e| AdapterError::ProviderConfig {
                    path: path.clone(),
                    reason: format!("{what} not readable: {e}"),
                })?;
            }
            return Ok(());
        }
        let program = self
            .command
            .first()
            .ok_or(AdapterError::NoCommand { kind })?;
        if program.contains('{') {
            return Ok(()); // known only per scenario
        }
        resolve_program(program)
            .map(drop)
            .map_err(|reason| AdapterError::Missing {
                kind,
                program: program.clone(),
                reason,
            })
    }

    /// Starts a `process` implementation; its output is appended to `endpoints.log_file` (a
    /// restart within a scenario keeps what the first run said).
    pub async fn start(&self, endpoints: &Endpoints) -> Result<RunningProcess, AdapterError> {
        let mut cmd = self.program(endpoints)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&endpoints.log_file)
            .map_err(|source| AdapterError::LogFile {
                path: endpoints.log_file.clone(),
                source,
            })?;
        let log2 = log.try_clone().map_err(|source| AdapterError::LogFile {
            path: endpoints.log_file.clone(),
            source,
        })?;
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true);
        let child = crate::spawn::spawn(&mut cmd)
            .await
            .map_err(|source| AdapterError::Spawn {
                kind: self.kind.name(),
                program: self.command.first().cloned().unwrap_or_default(),
                source,
            })?;
        Ok(RunningProcess {
            child,
            started: Instant::now(),
        })
    }

    /// A credential source for `docker-credential-helper` / `kubelet-credential-provider`.
    pub fn credential_source(&self, endpoints: &Endpoints) -> CredentialSource {
        CredentialSource {
            implementation: self.clone(),
            endpoints: endpoints.clone(),
            kubelet: None,
            requests: 0,
        }
    }

    /// The CredentialProviderConfig kubelet reads for this scenario, written next to the log
    /// file, and its plugin directory: the given config with placeholders expanded, or one
    /// naming the `--command` program.
    async fn provider_config(
        &self,
        endpoints: &Endpoints,
    ) -> Result<(PathBuf, PathBuf), AdapterError> {
        let out = endpoints
            .log_file
            .with_extension("credential-provider-config.yaml");
        let write = |text: String| {
            std::fs::write(&out, text).map_err(|e| AdapterError::ProviderConfig {
                path: out.clone(),
                reason: e.to_string(),
            })
        };
        if let Some((config, bin_dir)) = &self.provider_config {
            let text =
                std::fs::read_to_string(config).map_err(|e| AdapterError::ProviderConfig {
                    path: config.clone(),
                    reason: e.to_string(),
                })?;
            write(endpoints.expand(&text))?;
            return Ok((out.clone(), bin_dir.clone()));
        }
        let (program, args) = self.command.split_first().ok_or(AdapterError::NoCommand {
            kind: self.kind.name(),
        })?;
        let path = resolve_program(&endpoints.expand(program)).map_err(|reason| {
            AdapterError::Missing {
                kind: self.kind.name(),
                program: program.clone(),
                reason,
            }
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bin_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let args: Vec<String> = args.iter().map(|a| endpoints.expand(a)).collect();
        let config = serde_json::json!({
            "apiVersion": "kubelet.config.k8s.io/v1",
            "kind": "CredentialProviderConfig",
            "providers": [{
                "name": name,
                "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                // Every ACR registry domain: registry[-intl][-vpc].<region>.aliyuncs.com and
                // <instance>-registry[-vpc].<region>.cr.aliyuncs.com.
                "matchImages": ["*.*.aliyuncs.com", "*.*.cr.aliyuncs.com"],
                "defaultCacheDuration": format!("{}s", self.default_cache_duration.as_secs()),
                "args": args,
            }],
        });
        write(serde_json::to_string_pretty(&config).unwrap_or_default())?;
        Ok((out.clone(), bin_dir))
    }
}

/// The file `program` names: a path, or a name looked up on `PATH`; it must be an executable file.
pub fn resolve_program(program: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return match std::fs::metadata(&path) {
            Err(e) => Err(format!("{e}")),
            Ok(m) if !m.is_file() => Err("not a file".into()),
            Ok(_) if !executable(&path) => Err("not executable (chmod +x)".into()),
            Ok(_) => Ok(std::path::absolute(&path).unwrap_or(path)),
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
        .ok_or_else(|| "not found on PATH".to_string())
}

/// A running `process` implementation; killed when dropped.
pub struct RunningProcess {
    child: Child,
    started: Instant,
}

impl RunningProcess {
    /// `None` while running, else how it exited (for "no crash" checks).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(status.to_string()),
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// How long ago it was started.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the process and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// How long one credential-source call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// What a credential source offered for one pull.
#[derive(Debug, Clone, Default)]
pub struct SourceAnswer {
    /// The credentials, in the order the caller tries them.
    pub credentials: Vec<Credential>,
    /// Why the source gave none, when it failed (exit status and its own words).
    pub failure: Option<String>,
}

/// Asks a credential-only implementation for credentials, as docker or kubelet would.
pub struct CredentialSource {
    implementation: Implementation,
    endpoints: Endpoints,
    /// kubelet's plugin code with the scenario's CredentialProviderConfig (started on first use).
    kubelet: Option<Arc<KubeletKeyring>>,
    /// Pull requests answered so far (each is one `get` or one kubelet lookup).
    requests: usize,
}

/// Longest stretch of a source's own words quoted in a message.
const QUOTE: usize = 300;

impl CredentialSource {
    /// The credentials the implementation offers for a pull of `image`. An error means the
    /// source cannot be asked at all (missing program, broken keyring), not a failed answer.
    pub async fn get(&mut self, image: &str) -> Result<SourceAnswer, AdapterError> {
        self.requests += 1;
        match self.implementation.kind {
            AdapterKind::KubeletCredentialProvider => self.kubelet_plugin(image).await,
            _ => self.docker_helper(image).await,
        }
    }

    /// Pull requests made so far in this scenario.
    pub fn requests(&self) -> usize {
        self.requests
    }

    /// The scenario's implementation log, opened for appending.
    fn log(&self) -> Option<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.endpoints.log_file)
            .ok()
    }

    async fn docker_helper(&mut self, image: &str) -> Result<SourceAnswer, AdapterError> {
        let kind = self.implementation.kind.name();
        let host = registry_host(image);
        let mut cmd = self.implementation.program(&self.endpoints)?;
        cmd.arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child =
            crate::spawn::spawn(&mut cmd)
                .await
                .map_err(|source| AdapterError::Spawn {
                    kind,
                    program: self
                        .implementation
                        .command
                        .first()
                        .cloned()
                        .unwrap_or_default(),
                    source,
                })?;
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(host.as_bytes()).await;
        }
        let out = tokio::time::timeout(CALL_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| AdapterError::Timeout {
                kind,
                image: image.into(),
                seconds: CALL_TIMEOUT.as_secs(),
            })?
            .map_err(|source| AdapterError::Spawn {
                kind,
                program: "wait".into(),
                source,
            })?;
        if let Some(mut log) = self.log() {
            use std::io::Write as _;
            let _ = log.write_all(&out.stderr);
        }
        if !out.status.success() {
            let stdout = String::from_utf8_lossy(&out.stdout);
            // docker-credential-helpers' client: this message on stdout means "none", docker then
            // pulls anonymously; anything else fails the pull with the helper's output.
            if stdout.trim() == "credentials not found in native keychain" {
                return Ok(SourceAnswer::default());
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let words = [stdout.trim(), stderr.trim()]
                .iter()
                .filter(|w| !w.is_empty())
                .map(|w| quote(w))
                .collect::<Vec<_>>()
                .join(" / stderr: ");
            return Ok(SourceAnswer {
                credentials: Vec::new(),
                failure: Some(format!(
                    "`get` for {host} failed ({}), so docker cannot pull: {}",
                    out.status,
                    if words.is_empty() {
                        "no output"
                    } else {
                        &words
                    }
                )),
            });
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Username")]
            username: String,
            #[serde(rename = "Secret")]
            secret: String,
        }
        let answer: Answer =
            serde_json::from_slice(&out.stdout).map_err(|e| AdapterError::Protocol {
                kind,
                image: image.into(),
                reason: format!(
                    "stdout is not {{\"Username\",\"Secret\"}} JSON ({:?})",
                    e.classify()
                ),
            })?;
        Ok(SourceAnswer {
            credentials: vec![Credential {
                key: host,
                username: answer.username,
                password: answer.secret,
            }],
            failure: None,
        })
    }

    async fn kubelet_plugin(&mut self, image: &str) -> Result<SourceAnswer, AdapterError> {
        let keyring = match &self.kubelet {
            Some(k) => k.clone(),
            None => {
                let (config, bin_dir) =
                    self.implementation.provider_config(&self.endpoints).await?;
                let mut cmd = self
                    .endpoints
                    .command(&kubeplane().await?.to_string_lossy());
                cmd.arg("keyring-server")
                    .arg("--image-credential-provider-config")
                    .arg(&config)
                    .arg("--image-credential-provider-bin-dir")
                    .arg(&bin_dir);
                self.endpoints.apply(&mut cmd, true);
                // kubelet's log lines (a plugin's failure, its stderr) go to the scenario's log.
                cmd.stderr(self.log().map(Stdio::from).unwrap_or_else(Stdio::null));
                let k = Arc::new(KubeletKeyring::spawn(cmd).await?);
                self.kubelet = Some(k.clone());
                k
            }
        };
        let lookup = keyring.lookup(image, &[]).await?;
        let key = format!("plugin ({})", registry_host(image));
        let credentials: Vec<Credential> = lookup
            .credentials
            .into_iter()
            .map(|c| Credential {
                key: key.clone(),
                username: c.username,
                password: c.password,
            })
            .collect();
        let failure = credentials.is_empty().then(|| {
            format!(
                "kubelet got no credentials for {} from the plugin (kubelet's log lines, with the plugin's error, are in {})",
                lookup.repo,
                self.endpoints.log_file.display()
            )
        });
        Ok(SourceAnswer {
            credentials,
            failure,
        })
    }
}

/// `s` on one line, at most [`QUOTE`] characters.
fn quote(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > QUOTE {
        format!("{}…", s.chars().take(QUOTE).collect::<String>())
    } else {
        s
    }
}

/// The registry host (with port) of an image reference, as docker and kubelet cut it.
pub fn registry_host(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    if image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        first.to_string()
    } else {
        "docker.io".to_string()
    }
}

/// `cargo build` arguments that give the reference refresher and the suite's example
/// `naive_refresher` with the features `cargo test --workspace` resolves.
pub const WORKSPACE_TEST_BUILD: [&str; 5] = [
    "--workspace",
    "--bin",
    "acr-refresher",
    "--example",
    "naive_refresher",
];

/// `target/<profile>` holding this executable (`target/<profile>/acr-conformance`, or
/// `target/<profile>/deps/<test>-<hash>` for a test), if it lives in one.
pub fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .find(|p| {
            matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("debug" | "release")
            )
        })
        .map(Path::to_path_buf)
}

/// The reference refresher binary next to this executable (same profile), built from the
/// current source every run (or `ACR_REFRESHER_BIN`).
pub async fn reference_refresher() -> Result<PathBuf, AdapterError> {
    if let Ok(path) = std::env::var("ACR_REFRESHER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let profile_dir = profile_dir();
    let release = profile_dir
        .as_ref()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "release");
    // Always built from the current source (cargo does nothing when the binary is current), so
    // a stale binary is never judged; without the source tree, the binary next to this one.
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    if let Some(dir) = &profile_dir {
        let candidate = dir.join("acr-refresher");
        if candidate.exists() && !sources.is_dir() {
            return Ok(candidate);
        }
    }
    // Called from the `acr-conformance` binary (`cargo run -p acr-conformance`): select the same
    // package plus acr-refresher, without a target filter, so cargo unifies features exactly as
    // that build did; everything but acr-refresher's 20-line `main` is already built then. Built
    // alone (`-p acr-refresher`), its dependencies resolve other features (hyper, reqwest, syn, …)
    // and most of the tree would compile a second time.
    let from_conformance_binary = exe
        .file_stem()
        .is_some_and(|stem| stem == "acr-conformance")
        && exe
            .parent()
            .is_some_and(|dir| Some(dir) == profile_dir.as_deref());
    let mut args = vec!["build", "--quiet"];
    if from_conformance_binary {
        args.extend(["-p", "acr-conformance", "-p", "acr-refresher"]);
    } else {
        // From a test of `cargo test --workspace`: the whole workspace with an example selected
        // (an example makes cargo resolve features with dev-dependencies, as a test build does),
        // so the binary is the very one that test build made and nothing compiles again. The
        // example is the suite's own flawed implementation, which its mutation tests run.
        args.extend(WORKSPACE_TEST_BUILD);
    }
    if release {
        args.push("--release");
    }
    let mut cargo = Command::from(crate::cargo_env::command());
    let command = format!(
        "{} {}",
        cargo.as_std().get_program().to_string_lossy(),
        args.join(" ")
    );
    eprintln!("building the reference refresher from the current source: {command}");
    let started = std::time::Instant::now();
    let status = cargo
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .await
        .map_err(|e| AdapterError::Build {
            command: command.clone(),
            reason: e.to_string(),
        })?;
    if !status.success() {
        return Err(AdapterError::Build {
            command,
            reason: status.to_string(),
        });
    }
    eprintln!(
        "reference refresher current ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let dir = profile_dir.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join(if release { "release" } else { "debug" })
    });
    Ok(dir.join("acr-refresher"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_host_follows_docker_rules() {
        assert_eq!(
            registry_host("registry.cn-hangzhou.aliyuncs.com/ns/app:1"),
            "registry.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            registry_host("x-registry.cn-beijing.cr.aliyuncs.com:5000/a/b"),
            "x-registry.cn-beijing.cr.aliyuncs.com:5000"
        );
        assert_eq!(registry_host("library/nginx"), "docker.io");
        assert_eq!(registry_host("nginx"), "docker.io");
    }

    #[test]
    fn placeholders_expand() {
        let e = endpoints(Path::new("/d"));
        assert_eq!(
            e.expand("--kubeconfig={kubeconfig}"),
            "--kubeconfig=/d/kubeconfig"
        );
        assert_eq!(
            e.expand("https://cr.{region}.aliyuncs.com:{acr_port}"),
            // `{region}` is the implementation's own placeholder: left alone.
            "https://cr.{region}.aliyuncs.com:2"
        );
        assert_eq!(
            e.expand("{acr_resolve}"),
            "cr.cn-hangzhou.aliyuncs.com=127.0.0.1,registry.cn-hangzhou.aliyuncs.com=127.0.0.1"
        );
        assert_eq!(
            e.expand("{metadata}|{metadata_proxy}|{acr}|{ca}|{proxy}|{node_region}"),
            "http://127.0.0.1:1|http://127.0.0.1:1|127.0.0.1:2|/d/ca.pem|http://127.0.0.1:3|cn-hangzhou"
        );
    }

    fn endpoints(dir: &Path) -> Endpoints {
        Endpoints {
            kubeconfig: dir.join("kubeconfig"),
            metadata: "http://127.0.0.1:1".into(),
            metadata_proxy: "http://127.0.0.1:1".into(),
            acr: "127.0.0.1:2".into(),
            acr_hosts: vec![
                "cr.cn-hangzhou.aliyuncs.com".into(),
                "registry.cn-hangzhou.aliyuncs.com".into(),
            ],
            ca_file: dir.join("ca.pem"),
            ca_bundle: dir.join("ca-bundle.pem"),
            proxy: "http://127.0.0.1:3".into(),
            region: "cn-hangzhou".into(),
            role: Some("KubernetesWorkerRole-fake".into()),
            netns: None,
            log_file: dir.join("log"),
            expiring_threshold: "15m".into(),
            state_dir: dir.join("state"),
        }
    }

    fn script(dir: &Path, name: &str, body: &str) -> String {
        let path = dir.join(name);
        crate::spawn::write_executable(&path, &format!("#!/bin/sh\n{body}\n")).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn implementation(kind: AdapterKind, program: String) -> Implementation {
        Implementation {
            kind,
            command: vec![program],
            default_cache_duration: Duration::from_secs(60),
            provider_config: None,
        }
    }

    #[tokio::test]
    async fn docker_credential_helper_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let helper = script(
            dir.path(),
            "helper",
            r#"[ "$1" = get ] || exit 3
read host
case "$host" in
  registry.*) printf '{"ServerURL":"%s","Username":"u","Secret":"s"}' "$host";;
  broken.*) echo "no RAM role: metadata unreachable"; echo "dial tcp: network is unreachable" >&2; exit 4;;
  *) echo "credentials not found in native keychain"; exit 1;;
esac"#,
        );
        let implementation = implementation(AdapterKind::DockerCredentialHelper, helper);
        let mut source = implementation.credential_source(&endpoints(dir.path()));
        let answer = source
            .get("registry.cn-hangzhou.aliyuncs.com/demo/app:1")
            .await
            .unwrap();
        let creds = answer.credentials;
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].key, "registry.cn-hangzhou.aliyuncs.com");
        assert_eq!(
            (creds[0].username.as_str(), creds[0].password.as_str()),
            ("u", "s")
        );
        let none = source
            .get("x-registry.cn-beijing.cr.aliyuncs.com/a/b")
            .await
            .unwrap();
        assert!(none.credentials.is_empty() && none.failure.is_none());
        // Any other failure fails docker's pull: the message quotes the exit status and the
        // helper's own words, stdout and stderr.
        let failed = source.get("broken.example.com/a/b").await.unwrap();
        let why = failed.failure.expect("a failure");
        assert!(why.contains("exit status: 4"), "{why}");
        assert!(why.contains("no RAM role: metadata unreachable"), "{why}");
        assert!(why.contains("network is unreachable"), "{why}");
        assert_eq!(source.requests(), 3);
    }

    #[test]
    fn missing_programs_are_named_before_any_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let missing = implementation(
            AdapterKind::DockerCredentialHelper,
            dir.path().join("nope").to_string_lossy().into_owned(),
        );
        let err = missing.check_program().unwrap_err().to_string();
        assert!(
            err.contains("nope") && err.contains("No such file"),
            "{err}"
        );
        let not_on_path = implementation(
            AdapterKind::DockerCredentialHelper,
            "docker-credential-surely-not-installed".into(),
        );
        let err = not_on_path.check_program().unwrap_err().to_string();
        assert!(err.contains("not found on PATH"), "{err}");
        let file = dir.path().join("plain");
        std::fs::write(&file, "").unwrap();
        let not_executable =
            implementation(AdapterKind::Process, file.to_string_lossy().into_owned());
        let err = not_executable.check_program().unwrap_err().to_string();
        assert!(err.contains("not executable"), "{err}");
        assert!(
            implementation(AdapterKind::Process, "sh".into())
                .check_program()
                .is_ok()
        );
    }

    /// kubelet's own plugin code runs the plugin: its cache (per `cacheKeyType`) decides when
    /// the plugin is exec'd again, and the request carries the config's `apiVersion`.
    #[tokio::test]
    async fn kubelet_plugin_runs_through_kubelets_code() {
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        // A plugin that speaks only v1beta1, as some in the field do.
        script(
            dir.path(),
            "beta-plugin",
            &format!(
                r#"request=$(cat)
echo call >> {}
case "$request" in *'"credentialprovider.kubelet.k8s.io/v1beta1"'*) ;; *) echo "only v1beta1 is spoken here" >&2; exit 2;; esac
printf '{{"apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"1h","auth":{{"*.cn-hangzhou.aliyuncs.com":{{"username":"u","password":"p"}}}}}}'"#,
                calls.display()
            ),
        );
        let config = dir.path().join("config.yaml");
        let config_for = |api: &str| {
            format!(
                "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: beta-plugin\n    apiVersion: credentialprovider.kubelet.k8s.io/{api}\n    matchImages: [\"*.*.aliyuncs.com\"]\n    defaultCacheDuration: 10m\n"
            )
        };
        let count = |p: &Path| {
            std::fs::read_to_string(p)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        let mut implementation =
            implementation(AdapterKind::KubeletCredentialProvider, String::new());
        implementation.command.clear();
        implementation.provider_config = Some((config.clone(), dir.path().to_path_buf()));

        std::fs::write(&config, config_for("v1beta1")).unwrap();
        let mut source = implementation.credential_source(&endpoints(dir.path()));
        let first = source
            .get("registry.cn-hangzhou.aliyuncs.com/demo/app:1")
            .await
            .unwrap();
        assert_eq!(first.credentials.len(), 1, "{:?}", first.failure);
        assert_eq!(first.credentials[0].username, "u");
        // Same registry: kubelet's cache answers, the plugin is not exec'd again.
        source
            .get("registry.cn-hangzhou.aliyuncs.com/demo/other:2")
            .await
            .unwrap();
        assert_eq!(count(&calls), 1);
        // Not in matchImages: kubelet does not ask the plugin.
        let other = source.get("docker.io/library/nginx:1").await.unwrap();
        assert!(other.credentials.is_empty());
        assert_eq!(count(&calls), 1);
        drop(source);

        // The same plugin configured as v1: kubelet's request is refused, so no credentials,
        // and the next pull asks again (failures are not cached).
        std::fs::write(&config, config_for("v1")).unwrap();
        let mut source = implementation.credential_source(&endpoints(dir.path()));
        for _ in 0..2 {
            let answer = source
                .get("registry.cn-hangzhou.aliyuncs.com/demo/app:1")
                .await
                .unwrap();
            assert!(answer.credentials.is_empty() && answer.failure.is_some());
        }
        assert_eq!(count(&calls), 3);
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(log.contains("only v1beta1 is spoken here"), "{log}");
    }
}
