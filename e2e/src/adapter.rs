//! Implementation adapters: how the suite runs an implementation and obtains what it produces.
//!
//! - `process`: a long-running controller started with a kubeconfig (the reference refresher is
//!   the default); it is judged through the cluster (Secrets, ServiceAccounts, Events).
//! - `deployment`: a controller already deployed in the cluster, judged the same way; the suite
//!   only scales its Deployment (see [`crate::deployment`]).
//! - `docker-credential-helper`: `<helper> get`, server URL on stdin, `{"Username","Secret"}` out.
//! - `kubelet-credential-provider`: `CredentialProviderRequest` JSON on stdin,
//!   `CredentialProviderResponse` out, cached as kubelet caches it (`cacheKeyType`, `cacheDuration`).
//!
//! Every command gets the environment of override mode (metadata endpoint, CA bundle; for the
//! short-lived credential sources also `HTTPS_PROXY`) and may use placeholders: `{kubeconfig}`,
//! `{metadata}`, `{acr}` (fake-acr's `ip:port`), `{acr_port}`, `{acr_resolve}` (`host=ip,…` for
//! every Alibaba host name fake-acr serves), `{ca}`, `{proxy}`, `{node_region}`, and for
//! credential sources, which cannot read the ConfigMap, `{expiring_threshold}` (the scenario's
//! `expiring-threshold`, `15m` when it sets none); `{state_dir}` is an empty directory of the
//! scenario for an implementation's own state (e.g. a credential helper's token cache).
//! Long-running processes get no `HTTPS_PROXY` in their environment: Kubernetes clients honour
//! it for the API server too (kube-rs even refuses to start without its proxy feature).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use crate::catalogue::Level;
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
    /// Base URL of fake-metadata (`ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT`).
    pub metadata: String,
    /// `host:port` where fake-acr serves every Alibaba host name.
    pub acr: String,
    /// Every Alibaba host name fake-acr serves.
    pub acr_hosts: Vec<String>,
    /// PEM bundle that trusts fake-acr.
    pub ca_file: PathBuf,
    /// `HTTPS_PROXY` routing Alibaba host names to fake-acr.
    pub proxy: String,
    /// The node's region (what fake-metadata reports).
    pub region: String,
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
    fn expand(&self, arg: &str) -> String {
        let (ip, port) = self.acr.rsplit_once(':').unwrap_or((self.acr.as_str(), ""));
        let resolve: Vec<String> = self.acr_hosts.iter().map(|h| format!("{h}={ip}")).collect();
        arg.replace("{kubeconfig}", &self.kubeconfig.to_string_lossy())
            .replace("{acr_port}", port)
            .replace("{acr_resolve}", &resolve.join(","))
            .replace("{metadata}", &self.metadata)
            .replace("{acr}", &self.acr)
            .replace("{ca}", &self.ca_file.to_string_lossy())
            .replace("{proxy}", &self.proxy)
            .replace("{node_region}", &self.region)
            .replace("{expiring_threshold}", &self.expiring_threshold)
            .replace("{state_dir}", &self.state_dir.to_string_lossy())
    }

    /// The override-mode environment every implementation process gets.
    fn apply(&self, cmd: &mut Command, with_proxy: bool) {
        if with_proxy {
            cmd.env("HTTPS_PROXY", &self.proxy)
                .env("https_proxy", &self.proxy)
                // The fakes' metadata and admin ports are on loopback: never through the proxy.
                .env("NO_PROXY", "127.0.0.1,localhost,::1")
                .env("no_proxy", "127.0.0.1,localhost,::1");
        } else {
            for var in [
                "HTTPS_PROXY",
                "https_proxy",
                "HTTP_PROXY",
                "http_proxy",
                "ALL_PROXY",
                "all_proxy",
            ] {
                cmd.env_remove(var);
            }
        }
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env(
                "ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT",
                &self.metadata,
            )
            .env("ALIBABA_CLOUD_IMDS_ENDPOINT", &self.metadata)
            .env("SSL_CERT_FILE", &self.ca_file)
            .env("REQUESTS_CA_BUNDLE", &self.ca_file)
            .env("ALIBABA_CLOUD_CA_BUNDLE", &self.ca_file)
            .env("ALIBABA_CLOUD_REGION_ID", &self.region);
    }
}

/// Errors of the adapters.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The command line is empty.
    #[error("{kind}: no command given (use --command)")]
    NoCommand {
        /// Adapter kind.
        kind: &'static str,
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
    /// kubelet's `defaultCacheDuration` for plugin answers without `cacheDuration`.
    pub default_cache_duration: Duration,
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
        format!("{}: {}", self.kind.name(), program.unwrap_or_default())
    }

    fn program(&self, endpoints: &Endpoints) -> Result<Command, AdapterError> {
        let (program, args) = self.command.split_first().ok_or(AdapterError::NoCommand {
            kind: self.kind.name(),
        })?;
        let mut cmd = Command::new(endpoints.expand(program));
        cmd.args(args.iter().map(|a| endpoints.expand(a)));
        endpoints.apply(&mut cmd, self.kind != AdapterKind::Process);
        Ok(cmd)
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
        Ok(RunningProcess { child })
    }

    /// A credential source for `docker-credential-helper` / `kubelet-credential-provider`.
    pub fn credential_source(&self, endpoints: &Endpoints) -> CredentialSource {
        CredentialSource {
            implementation: self.clone(),
            endpoints: endpoints.clone(),
            kubelet_cache: HashMap::new(),
        }
    }
}

/// A running `process` implementation; killed when dropped.
pub struct RunningProcess {
    child: Child,
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

    /// Stops the process and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

impl CredentialSource {
    /// The scenario's implementation log, opened for appending (a call's stderr); nowhere if it
    /// cannot be opened.
    fn stderr_log(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.endpoints.log_file)
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    }
}

/// How long one credential-source call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Asks a credential-only implementation for credentials, as docker or kubelet would.
pub struct CredentialSource {
    implementation: Implementation,
    endpoints: Endpoints,
    /// kubelet's cache: key (image, registry or "") → (valid until, credentials).
    kubelet_cache: HashMap<String, (Instant, Vec<Credential>)>,
}

impl CredentialSource {
    /// The credentials the implementation offers for `image` (empty: it has none).
    pub async fn get(&mut self, image: &str) -> Result<Vec<Credential>, AdapterError> {
        match self.implementation.kind {
            AdapterKind::KubeletCredentialProvider => self.kubelet_plugin(image).await,
            _ => self.docker_helper(image).await,
        }
    }

    async fn run(
        &self,
        args: &[&str],
        stdin: &[u8],
        image: &str,
    ) -> Result<(bool, Vec<u8>), AdapterError> {
        let kind = self.implementation.kind.name();
        let mut cmd = self.implementation.program(&self.endpoints)?;
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(self.stderr_log())
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
            let _ = input.write_all(stdin).await;
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
        Ok((out.status.success(), out.stdout))
    }

    async fn docker_helper(&mut self, image: &str) -> Result<Vec<Credential>, AdapterError> {
        let kind = self.implementation.kind.name();
        let host = registry_host(image);
        let (ok, stdout) = self.run(&["get"], host.as_bytes(), image).await?;
        if !ok {
            // "credentials not found" is the protocol's way of saying: none.
            return Ok(Vec::new());
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Username")]
            username: String,
            #[serde(rename = "Secret")]
            secret: String,
        }
        let answer: Answer =
            serde_json::from_slice(&stdout).map_err(|e| AdapterError::Protocol {
                kind,
                image: image.into(),
                reason: format!(
                    "stdout is not {{\"Username\",\"Secret\"}} JSON ({:?})",
                    e.classify()
                ),
            })?;
        Ok(vec![Credential {
            key: host,
            username: answer.username,
            password: answer.secret,
        }])
    }

    async fn kubelet_plugin(&mut self, image: &str) -> Result<Vec<Credential>, AdapterError> {
        let kind = self.implementation.kind.name();
        let now = Instant::now();
        self.kubelet_cache.retain(|_, (until, _)| *until > now);
        // kubelet looks its cache up by image, then registry, then the global key.
        for key in [image.to_string(), registry_host(image), String::new()] {
            if let Some((_, creds)) = self.kubelet_cache.get(&key) {
                return Ok(creds.clone());
            }
        }
        let request = serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderRequest",
            "image": image,
        });
        let (ok, stdout) = self.run(&[], request.to_string().as_bytes(), image).await?;
        let bad = |reason: String| AdapterError::Protocol {
            kind,
            image: image.into(),
            reason,
        };
        if !ok {
            return Err(bad("plugin exited unsuccessfully".into()));
        }
        let response: ProviderResponse = serde_json::from_slice(&stdout).map_err(|e| {
            bad(format!(
                "not a CredentialProviderResponse ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let cache_key = match response.cache_key_type.as_str() {
            "Image" => image.to_string(),
            "Registry" => registry_host(image),
            "Global" => String::new(),
            // kubelet ignores a response with an invalid cacheKeyType.
            other => {
                return Err(bad(format!(
                    "cacheKeyType '{other}' is not Image, Registry or Global"
                )));
            }
        };
        let creds: Vec<Credential> = response
            .auth
            .unwrap_or_default()
            .into_iter()
            .map(|(key, a)| Credential {
                key,
                username: a.username,
                password: a.password,
            })
            .collect();
        let ttl = match response.cache_duration.as_deref() {
            None => self.implementation.default_cache_duration,
            Some(d) => parse_go_duration(d)
                .ok_or_else(|| bad(format!("cacheDuration '{d}' is not a duration")))?,
        };
        if !ttl.is_zero() {
            self.kubelet_cache
                .insert(cache_key, (now + ttl, creds.clone()));
        }
        Ok(creds)
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderResponse {
    #[serde(default)]
    cache_key_type: String,
    cache_duration: Option<String>,
    auth: Option<HashMap<String, ProviderAuth>>,
}

#[derive(serde::Deserialize)]
struct ProviderAuth {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
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

/// Parses Go `time.Duration` strings as metav1.Duration serialises them (`1h2m3.5s`, `500ms`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(split);
        let value: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    Some(Duration::from_secs_f64(total))
}

/// The reference refresher binary next to this executable (same profile), built from the
/// current source every run (or `ACR_REFRESHER_BIN`).
pub async fn reference_refresher() -> Result<PathBuf, AdapterError> {
    if let Ok(path) = std::env::var("ACR_REFRESHER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/acr-conformance or target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .ancestors()
        .find(|p| {
            matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("debug" | "release")
            )
        })
        .map(Path::to_path_buf);
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
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec![
        "build",
        "--quiet",
        "-p",
        "acr-refresher",
        "--bin",
        "acr-refresher",
    ];
    if release {
        args.push("--release");
    }
    let command = format!("{cargo} {}", args.join(" "));
    eprintln!("building the reference refresher from the current source: {command}");
    let status = Command::new(&cargo)
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
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("soon"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn placeholders_expand() {
        let e = Endpoints {
            kubeconfig: "/k".into(),
            metadata: "http://127.0.0.1:1".into(),
            acr: "127.0.0.1:2".into(),
            acr_hosts: vec![
                "cr.cn-hangzhou.aliyuncs.com".into(),
                "registry.cn-hangzhou.aliyuncs.com".into(),
            ],
            ca_file: "/ca.pem".into(),
            proxy: "http://127.0.0.1:3".into(),
            region: "cn-hangzhou".into(),
            log_file: "/log".into(),
            expiring_threshold: "15m".into(),
            state_dir: "/state".into(),
        };
        assert_eq!(e.expand("--kubeconfig={kubeconfig}"), "--kubeconfig=/k");
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
            e.expand("{metadata}|{acr}|{ca}|{proxy}|{node_region}"),
            "http://127.0.0.1:1|127.0.0.1:2|/ca.pem|http://127.0.0.1:3|cn-hangzhou"
        );
    }

    fn endpoints(dir: &Path) -> Endpoints {
        Endpoints {
            kubeconfig: dir.join("kubeconfig"),
            metadata: "http://127.0.0.1:1".into(),
            acr: "127.0.0.1:2".into(),
            acr_hosts: Vec::new(),
            ca_file: dir.join("ca.pem"),
            proxy: "http://127.0.0.1:3".into(),
            region: "cn-hangzhou".into(),
            log_file: dir.join("log"),
            expiring_threshold: "15m".into(),
            state_dir: dir.join("state"),
        }
    }

    fn script(dir: &Path, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[tokio::test]
    async fn docker_credential_helper_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let helper = script(
            dir.path(),
            "helper",
            r#"[ "$1" = get ] || exit 3
read host
case "$host" in registry.*) printf '{"ServerURL":"%s","Username":"u","Secret":"s"}' "$host";; *) echo "credentials not found in native keychain"; exit 1;; esac"#,
        );
        let implementation = Implementation {
            kind: AdapterKind::DockerCredentialHelper,
            command: vec![helper],
            default_cache_duration: Duration::from_secs(60),
        };
        let mut source = implementation.credential_source(&endpoints(dir.path()));
        let creds = source
            .get("registry.cn-hangzhou.aliyuncs.com/demo/app:1")
            .await
            .unwrap();
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].key, "registry.cn-hangzhou.aliyuncs.com");
        assert_eq!(
            (creds[0].username.as_str(), creds[0].password.as_str()),
            ("u", "s")
        );
        assert!(
            source
                .get("x-registry.cn-beijing.cr.aliyuncs.com/a/b")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn kubelet_plugin_answers_are_cached_per_cache_key_type() {
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        let plugin = script(
            dir.path(),
            "plugin",
            &format!(
                r#"cat > /dev/null
echo call >> {}
printf '{{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"1h","auth":{{"*.cn-hangzhou.aliyuncs.com":{{"username":"u","password":"p"}}}}}}'"#,
                calls.display()
            ),
        );
        let implementation = Implementation {
            kind: AdapterKind::KubeletCredentialProvider,
            command: vec![plugin],
            default_cache_duration: Duration::from_secs(60),
        };
        let mut source = implementation.credential_source(&endpoints(dir.path()));
        let first = source
            .get("registry.cn-hangzhou.aliyuncs.com/demo/app:1")
            .await
            .unwrap();
        assert_eq!(first[0].key, "*.cn-hangzhou.aliyuncs.com");
        // Same registry: served from kubelet's cache, the plugin is not asked again.
        source
            .get("registry.cn-hangzhou.aliyuncs.com/demo/other:2")
            .await
            .unwrap();
        let count = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
        assert_eq!(count(&calls), 1);
        // Another registry: asked again.
        source
            .get("registry.cn-beijing.aliyuncs.com/demo/app:1")
            .await
            .unwrap();
        assert_eq!(count(&calls), 2);
    }
}
