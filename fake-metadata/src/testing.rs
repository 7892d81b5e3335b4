//! Plumbing for interop tests that run unmodified third-party clients (feature `testing`):
//! the root check, network namespaces deleted on drop, child processes killed on drop, and
//! cached Python venvs / Node package directories with pinned versions.
//!
//! Everything is cached under `~/.cache/acr-refresher/`; concurrent set-up (parallel tests,
//! several crates) is serialised with a file lock. Progress goes to stderr.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// Environment variable that turns "skip without root" into a failure (CI sets it).
pub const REQUIRE_PRIVILEGED_ENV: &str = "ACR_REQUIRE_PRIVILEGED_TESTS";

/// Why a piece of test plumbing failed.
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    /// A command could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// A file-system operation in the cache failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A child did not print the expected line in time.
    #[error("{what}: no line containing {expected:?} within {seconds} s (output so far: {output})")]
    Timeout {
        /// Which process.
        what: String,
        /// The awaited text.
        expected: String,
        /// The deadline.
        seconds: u64,
        /// What it printed.
        output: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TestingError + '_ {
    move |source| TestingError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn describe(command: &Command) -> String {
    let mut parts = vec![command.get_program().to_string_lossy().into_owned()];
    parts.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs `command`, failing with its stderr when it exits unsuccessfully; returns stdout.
pub fn run(command: &mut Command) -> Result<String, TestingError> {
    let shown = describe(command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| TestingError::Spawn {
            command: shown.clone(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(TestingError::Failed {
            command: shown,
            status: output.status.to_string(),
            stderr: tail,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The team's policy for root-only tests: true when the test may run. Without root it prints
/// `SKIPPED (needs root): <reason>` and returns false, or panics when `ACR_REQUIRE_PRIVILEGED_TESTS=1`.
pub fn privileged_or_skip(reason: &str) -> bool {
    if is_root() {
        return true;
    }
    let message = format!("SKIPPED (needs root): {reason}");
    if std::env::var(REQUIRE_PRIVILEGED_ENV).is_ok_and(|v| v == "1") {
        panic!("{message} — but {REQUIRE_PRIVILEGED_ENV}=1 requires it to run");
    }
    eprintln!("{message}");
    false
}

/// A network namespace created for a test and deleted when dropped (also on panic).
pub struct NetNs {
    name: String,
}

static NETNS_COUNTER: AtomicU32 = AtomicU32::new(0);

impl NetNs {
    /// Creates `<prefix>-<pid>-<n>` with its loopback up.
    pub fn create(prefix: &str) -> Result<Self, TestingError> {
        let n = NETNS_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let netns = Self { name };
        run(Command::new("ip").args(["-n", &netns.name, "link", "set", "lo", "up"]))?;
        Ok(netns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds an address (e.g. `100.100.100.200/32`) to the namespace's loopback.
    pub fn add_loopback_address(&self, cidr: &str) -> Result<(), TestingError> {
        run(Command::new("ip").args(["-n", &self.name, "addr", "add", cidr, "dev", "lo"])).map(drop)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!(
                "warning: could not delete network namespace {}: {e}",
                self.name
            );
        }
    }
}

/// A child process killed and reaped when dropped; its stdout is read line by line.
pub struct ChildGuard {
    what: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl ChildGuard {
    /// Spawns `command` with stdout piped (stderr inherited, so its logs show in test output).
    pub fn spawn(what: &str, mut command: Command) -> Result<Self, TestingError> {
        let shown = describe(&command);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| TestingError::Spawn {
                command: shown,
                source,
            })?;
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self {
            what: what.to_owned(),
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits until the child prints a line containing `expected`; returns that line.
    pub fn wait_for_line(
        &mut self,
        expected: &str,
        timeout: Duration,
    ) -> Result<String, TestingError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(expected) => return Ok(line),
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    return Err(TestingError::Timeout {
                        what: self.what.clone(),
                        expected: expected.to_owned(),
                        seconds: timeout.as_secs(),
                        output: self.seen.join("\n"),
                    });
                }
            }
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `~/.cache/acr-refresher` (created if missing).
pub fn cache_dir() -> Result<PathBuf, TestingError> {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    let dir = home.join(".cache").join("acr-refresher");
    std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    Ok(dir)
}

fn short_hash(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Builds `dir` once with `build` under an exclusive file lock; `dir/.complete` marks success,
/// so a half-built directory from an interrupted run is rebuilt.
fn cached_dir(
    dir: &Path,
    build: impl FnOnce(&Path) -> Result<(), TestingError>,
) -> Result<PathBuf, TestingError> {
    let marker = dir.join(".complete");
    let lock_path = dir.with_extension("lock");
    let lock = std::fs::File::create(&lock_path).map_err(io_error(&lock_path))?;
    lock.lock().map_err(io_error(&lock_path))?;
    if !marker.exists() {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io_error(dir))?;
        }
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        build(dir)?;
        std::fs::write(&marker, b"").map_err(io_error(&marker))?;
    }
    drop(lock);
    Ok(dir.to_path_buf())
}

/// A Python venv with exactly these pinned requirements (`name==version`), created once under
/// `~/.cache/acr-refresher/venv-<hash>`; returns the venv directory (`bin/python` inside).
pub fn python_venv(requirements: &[&str]) -> Result<PathBuf, TestingError> {
    let dir = cache_dir()?.join(format!("venv-{}", short_hash(requirements)));
    cached_dir(&dir, |dir| {
        eprintln!(
            "testing: creating Python venv {} ({})",
            dir.display(),
            requirements.join(" ")
        );
        run(Command::new("python3").arg("-m").arg("venv").arg(dir))?;
        let mut pip = Command::new(dir.join("bin").join("pip"));
        pip.args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ])
        .args(requirements)
        .stdout(Stdio::inherit());
        // pip's progress on stderr is useful while it runs, but `run` captures stderr for the
        // error message; print a heartbeat instead.
        run(&mut pip)?;
        eprintln!("testing: venv ready");
        Ok(())
    })
}

/// A directory whose `node_modules` holds exactly these pinned npm packages (`name@version`),
/// created once under `~/.cache/acr-refresher/node-<hash>`.
pub fn node_packages(packages: &[&str]) -> Result<PathBuf, TestingError> {
    let dir = cache_dir()?.join(format!("node-{}", short_hash(packages)));
    cached_dir(&dir, |dir| {
        eprintln!(
            "testing: installing npm packages into {} ({})",
            dir.display(),
            packages.join(" ")
        );
        let manifest = dir.join("package.json");
        std::fs::write(&manifest, b"{\"private\": true}\n").map_err(io_error(&manifest))?;
        run(Command::new("npm")
            .current_dir(dir)
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--save-exact",
                "--loglevel",
                "error",
            ])
            .args(packages))?;
        eprintln!("testing: npm packages ready");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reports_failures_with_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("boom") && text.contains("exit status: 3"),
            "{text}"
        );
        assert_eq!(
            run(Command::new("sh").args(["-c", "echo ok"])).unwrap(),
            "ok\n"
        );
    }

    #[test]
    fn hashes_depend_on_every_requirement() {
        assert_ne!(short_hash(&["a==1"]), short_hash(&["a==2"]));
        assert_eq!(short_hash(&["a==1", "b==2"]).len(), 16);
    }

    #[test]
    fn child_lines_are_awaited_with_a_deadline() {
        let mut child = ChildGuard::spawn("echo", {
            let mut c = Command::new("sh");
            c.args(["-c", "echo one; echo ready two; sleep 30"]);
            c
        })
        .unwrap();
        assert_eq!(
            child
                .wait_for_line("ready", Duration::from_secs(10))
                .unwrap(),
            "ready two"
        );
        let err = child
            .wait_for_line("never", Duration::from_millis(200))
            .unwrap_err();
        assert!(err.to_string().contains("never"));
    }
}
