//! Container-engine plumbing for the fakes' image tests; fake-acr's tests include this file too.
//!
//! - the engine: docker when its daemon answers, else podman (with runc and
//!   `default_ulimits = []`); none → `SKIPPED (no container engine): …`, a failure when
//!   `ACR_REQUIRE_PRIVILEGED_TESTS=1` (CI);
//! - images from `e2e/kind/images.sh`, which builds once per source hash under a file lock;
//! - containers removed on drop; a Docker-compatible API for testcontainers (podman's socket).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Turns "skip without an engine" into a failure (CI sets it).
pub const REQUIRE_ENV: &str = "ACR_REQUIRE_PRIVILEGED_TESTS";
/// Set in a test re-run by [`rerun_with_docker_api`], so it does not re-run again.
const CHILD_ENV: &str = "ACR_CONTAINER_TEST_CHILD";
/// The image reference a re-run child is to use.
const IMAGE_ENV: &str = "ACR_CONTAINER_TEST_IMAGE";

/// A container engine's command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A Docker daemon that answers.
    Docker,
    /// Podman (daemonless).
    Podman,
}

/// The workspace root (this file lives in fake-metadata/tests/support/).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("invariant: a crate inside the workspace")
        .to_owned()
}

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache")
        });
    base.join("acr-refresher")
}

fn answers(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn apt_installable() -> bool {
    is_root() && answers("apt-get", &["--version"])
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The engine to use, or `None` after printing why the test is skipped.
pub fn engine_or_skip(test: &str) -> Option<Engine> {
    // A re-run child talks to podman's socket; `docker info` would answer through it too.
    if std::env::var_os(CHILD_ENV).is_some() {
        return Some(Engine::Podman);
    }
    if answers("docker", &["info"]) {
        return Some(Engine::Docker);
    }
    // images.sh installs podman + runc with apt-get when it can; so that counts as an engine.
    if answers("podman", &["--version"]) || apt_installable() {
        return Some(Engine::Podman);
    }
    let message = format!(
        "SKIPPED (no container engine): {test}: neither a docker daemon nor podman, and podman cannot be installed here"
    );
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("{message} — but {REQUIRE_ENV}=1 requires it to run");
    }
    eprintln!("{message}");
    None
}

impl Engine {
    /// `docker` or `podman`.
    pub fn program(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    /// A command for the engine, with this machine's podman settings.
    pub fn command(self) -> Command {
        let mut command = Command::new(self.program());
        if self == Engine::Podman && std::env::var_os("CONTAINERS_CONF").is_none() {
            command.env("CONTAINERS_CONF", podman_conf());
        }
        command
    }

    /// Runs the engine with `args`; panics with its stderr on failure.
    pub fn run(self, args: &[&str]) -> String {
        let output = self
            .command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{} {args:?}: {e}", self.program()));
        check(self.program(), args, &output);
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

fn check(program: &str, args: &[&str], output: &Output) {
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The containers.conf images.sh writes for podman (runc, no default ulimits).
pub fn podman_conf() -> PathBuf {
    let path = cache_dir().join("containers.conf");
    if !path.exists() {
        std::fs::create_dir_all(cache_dir()).expect("creating the cache directory");
        std::fs::write(
            &path,
            "[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = \"runc\"\n",
        )
        .expect("writing containers.conf");
    }
    path
}

/// The engine and image `name` (built by images.sh), checked non-root and small
/// ([`assert_non_root_and_small`]); none when there is no engine (skipped).
pub fn checked_image_or_skip(what: &str, name: &str) -> Option<(Engine, String)> {
    let engine = engine_or_skip(what)?;
    let reference = image(engine, name);
    assert_non_root_and_small(engine, &reference);
    Some((engine, reference))
}

/// The image runs as the non-root user 65532 and, one static binary on an empty base, stays
/// under 40 MB.
pub fn assert_non_root_and_small(engine: Engine, reference: &str) {
    let user = engine.run(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}",
        reference,
    ]);
    assert_eq!(user, "65532:65532", "the image runs as a non-root user");
    let size: u64 = engine
        .run(&["image", "inspect", "--format", "{{.Size}}", reference])
        .parse()
        .expect("size");
    eprintln!("{reference}: {:.1} MB", size as f64 / 1e6);
    assert!(
        size < 40_000_000,
        "one static binary on an empty base stays small: {size} bytes"
    );
}

/// The image `name` for test `test` to start through testcontainers; none when there is no
/// engine (skipped) or the test was re-run in a child with podman's Docker API.
pub fn image_for_testcontainers(test: &str, what: &str, name: &str) -> Option<String> {
    let engine = engine_or_skip(what)?;
    let reference = image(engine, name);
    if !docker_api_configured(engine) {
        assert_eq!(engine, Engine::Podman);
        rerun_with_docker_api(test, &reference);
        return None;
    }
    Some(reference)
}

/// Builds (or finds, by source hash) image `name` with images.sh; returns its reference.
pub fn image(engine: Engine, name: &str) -> String {
    // A re-run child uses the image its parent built (sources may have changed since).
    if std::env::var_os(CHILD_ENV).is_some()
        && let Ok(reference) = std::env::var(IMAGE_ENV)
    {
        return reference;
    }
    let script = workspace_root().join("e2e/kind/images.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args(["--engine", engine.program(), name])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} {name} failed ({})",
        script.display(),
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("images.sh printed no {name}=REF line: {stdout}"))
        .to_owned()
}

/// A container removed (forcefully, at once) when dropped.
pub struct Container {
    engine: Engine,
    /// The container id.
    pub id: String,
}

impl Container {
    /// `run -d` with `args` (options, then image and its arguments).
    pub fn start(engine: Engine, args: &[&str]) -> Self {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        Self {
            engine,
            id: engine.run(&all),
        }
    }

    /// The host port (on 127.0.0.1) published for `internal` (e.g. "8080/tcp").
    pub fn port(&self, internal: &str) -> u16 {
        let text = self.engine.run(&["port", &self.id, internal]);
        let first = text.lines().next().unwrap_or_default();
        first
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no published port for {internal}: {text:?}"))
    }

    /// The container's output so far (for failure messages).
    pub fn logs(&self) -> String {
        let output = self
            .engine
            .command()
            .args(["logs", &self.id])
            .output()
            .expect("engine logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self
            .engine
            .command()
            .args(["rm", "-f", "-t", "0", &self.id])
            .stdout(Stdio::null())
            .status();
    }
}

/// Polls `probe` until it gives `Some`, or panics after `deadline` naming `what`.
pub async fn poll<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) if start.elapsed() >= deadline => {
                panic!("{what}: not within {deadline:?}: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Whether testcontainers can reach a Docker-compatible API as things stand: `DOCKER_HOST` is
/// set, or a docker daemon answers on its default socket.
pub fn docker_api_configured(engine: Engine) -> bool {
    std::env::var_os("DOCKER_HOST").is_some() || engine == Engine::Docker
}

/// Podman's Docker-compatible API on a private socket; the service stops when dropped.
pub struct PodmanSocket {
    child: Child,
    _dir: tempfile::TempDir,
    /// `unix:///…/podman.sock`.
    pub docker_host: String,
}

impl PodmanSocket {
    /// Starts `podman system service` and waits for its socket to answer.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the podman socket");
        let socket = dir.path().join("podman.sock");
        let docker_host = format!("unix://{}", socket.display());
        let child = Engine::Podman
            .command()
            .args(["system", "service", "--time=0", &docker_host])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting podman system service");
        let service = Self {
            child,
            _dir: dir,
            docker_host,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "podman system service: no socket at {} within 20 s",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        service
    }
}

impl Drop for PodmanSocket {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs test `name` of this test binary again in a child process whose `DOCKER_HOST` is podman's
/// socket (testcontainers reads only the environment, and tests may not change their own), and
/// fails unless the child ran that one test and it passed.
pub fn rerun_with_docker_api(name: &str, image: &str) {
    assert!(
        std::env::var_os(CHILD_ENV).is_none(),
        "{name}: the re-run test has no Docker API either"
    );
    let socket = PodmanSocket::start();
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("DOCKER_HOST", &socket.docker_host)
        .env("CONTAINERS_CONF", podman_conf())
        .env(CHILD_ENV, "1")
        .env(IMAGE_ENV, image)
        .output()
        .expect("re-running the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "--- {name} against podman's Docker API ({}):\n{stdout}{stderr}",
        socket.docker_host
    );
    assert!(
        output.status.success(),
        "{name} failed against podman's Docker API"
    );
    assert!(
        stdout.contains("1 passed"),
        "{name}: the re-run did not run exactly that test: {stdout}"
    );
}
