//! Which programs run the control plane: `ACR_KUBEPLANE_BIN`, else envtest's `KUBEBUILDER_ASSETS`
//! (upstream `kube-apiserver` and `etcd`), else the `kubeplane` binary (Route A: kube-apiserver,
//! kube-controller-manager, etcd and kubelet from the published Go modules, one component per
//! process), built from `e2e/kubeplane` on first use and cached; and the `go build` with a progress
//! line that it and the node's runtime ([`super::runtime`]) use.

use std::fs::{self, File};
use std::io::{self, BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::build_cache::CachedBuild;
use super::error::{Error, io_error};

/// Writes a progress line straight to the stderr stream: `eprintln!` inside a test is captured by
/// the test harness and shown only on failure, but whoever waits minutes for a build must see why.
macro_rules! progress {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// The Kubernetes release kubeplane is built from (its staging modules are pinned to v0.36.3).
pub const KUBERNETES_VERSION: &str = "v1.36.3";

/// Environment variable naming a prebuilt kubeplane binary to use instead of the cached build.
pub const KUBEPLANE_BIN_ENV: &str = "ACR_KUBEPLANE_BIN";

/// controller-runtime's envtest convention: a directory holding `kube-apiserver` and `etcd`.
pub const KUBEBUILDER_ASSETS_ENV: &str = "KUBEBUILDER_ASSETS";

/// The programs a control plane runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binaries {
    /// kubeplane: etcd, apiserver, controller-manager (and kubelet's keyring) are subcommands.
    Kubeplane(PathBuf),
    /// envtest's layout: upstream `kube-apiserver` and `etcd`. There is no controller-manager:
    /// the suite itself does the duties it needs (see `envtest_duties`).
    Envtest {
        /// `<KUBEBUILDER_ASSETS>/kube-apiserver`.
        apiserver: PathBuf,
        /// `<KUBEBUILDER_ASSETS>/etcd`.
        etcd: PathBuf,
    },
}

/// The control plane's programs: `ACR_KUBEPLANE_BIN`, else `KUBEBUILDER_ASSETS`, else the cached
/// kubeplane (built first if the cache lacks a build of the current sources). Blocking.
pub fn control_plane_binaries() -> Result<Binaries, Error> {
    if let Some(bin) = explicit_kubeplane()? {
        return Ok(Binaries::Kubeplane(bin));
    }
    if let Some(assets) = envtest_assets()? {
        return Ok(assets);
    }
    ensure_kubeplane().map(Binaries::Kubeplane)
}

/// `ACR_KUBEPLANE_BIN`, when set (it must exist).
fn explicit_kubeplane() -> Result<Option<PathBuf>, Error> {
    match std::env::var_os(KUBEPLANE_BIN_ENV).filter(|v| !v.is_empty()) {
        Some(bin) => {
            let bin = PathBuf::from(bin);
            fs::metadata(&bin)
                .map_err(io_error(format!("{KUBEPLANE_BIN_ENV}={}", bin.display())))?;
            Ok(Some(bin))
        }
        None => Ok(None),
    }
}

/// `KUBEBUILDER_ASSETS`, when set: both programs must be there.
pub fn envtest_assets() -> Result<Option<Binaries>, Error> {
    let Some(dir) = std::env::var_os(KUBEBUILDER_ASSETS_ENV).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    envtest_layout(Path::new(&dir)).map(Some)
}

/// envtest's layout in `dir`: both programs must be there.
fn envtest_layout(dir: &Path) -> Result<Binaries, Error> {
    let apiserver = dir.join("kube-apiserver");
    let etcd = dir.join("etcd");
    for program in [&apiserver, &etcd] {
        if !program.is_file() {
            return Err(Error::Io {
                action: format!(
                    "{KUBEBUILDER_ASSETS_ENV}={}: looking for {} (envtest's layout: kube-apiserver and etcd in one directory)",
                    dir.display(),
                    program.display()
                ),
                source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
            });
        }
    }
    Ok(Binaries::Envtest { apiserver, etcd })
}

/// A kubeplane binary that needs no build: `ACR_KUBEPLANE_BIN`, or a cached build of the current
/// sources. `None` means asking for one would start the Go build.
pub fn kubeplane_without_build() -> Option<PathBuf> {
    if let Ok(Some(bin)) = explicit_kubeplane() {
        return Some(bin);
    }
    let cached = cached_build().ok()?;
    cached.is_current().then(|| cached.output().to_path_buf())
}

/// Where the build of the current sources is cached: `<cache_dir>/kubeplane`, stamped with the
/// sources' key.
fn cached_build() -> Result<CachedBuild, Error> {
    let dir = cache_dir()?;
    let binary = dir.join("kubeplane");
    CachedBuild::new(
        dir,
        binary,
        "kubeplane.source-sha256",
        &source_dir(),
        &SOURCE_FILES,
    )
}

/// The files whose content decides whether a cached binary is still current.
const SOURCE_FILES: [&str; 4] = ["go.mod", "go.sum", "main.go", "keyring.go"];

/// Measured cold build on 2 cores, shown to whoever waits for it.
const COLD_BUILD_MINUTES: u32 = 5;

/// The Go module kubeplane is built from.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kubeplane")
}

/// `~/.cache/acr-refresher/k8s/<version>/`, where the binary is cached.
pub fn cache_dir() -> Result<PathBuf, Error> {
    Ok(cache_base()?.join("k8s").join(KUBERNETES_VERSION))
}

/// `~/.cache/acr-refresher` (or under `XDG_CACHE_HOME`).
pub(crate) fn cache_base() -> Result<PathBuf, Error> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(xdg) => PathBuf::from(xdg),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".cache"))
            .ok_or(Error::NoCacheDir)?,
    };
    Ok(base.join("acr-refresher"))
}

/// Returns the kubeplane binary, building it first if the cache lacks a build of the current sources.
///
/// Concurrent callers (parallel tests, several test binaries) build once: the build holds a file lock.
/// Blocking; call it from `spawn_blocking` in async code.
pub fn ensure_kubeplane() -> Result<PathBuf, Error> {
    if let Some(bin) = explicit_kubeplane()? {
        return Ok(bin);
    }
    let cached = cached_build()?;
    let binary = cached.output().to_path_buf();
    cached.ensure("kubeplane", || build(&source_dir(), &binary))?;
    Ok(binary)
}

fn build(source_dir: &Path, binary: &Path) -> Result<(), Error> {
    progress!(
        "kubeplane: building etcd, kube-apiserver and kube-controller-manager {KUBERNETES_VERSION} from the \
         Kubernetes Go modules: no Kubernetes release binaries can be downloaded on this machine, only Go \
         modules. First run only (cached in {}), ~{COLD_BUILD_MINUTES} min on 2 cores with a cold Go cache. \
         To skip it: {KUBEBUILDER_ASSETS_ENV}=<dir with kube-apiserver and etcd> or {KUBEPLANE_BIN_ENV}=<kubeplane>.",
        binary
            .parent()
            .map(Path::display)
            .map(|d| d.to_string())
            .unwrap_or_default()
    );
    let started = Instant::now();
    // Build next to the target and rename, so a reader never sees a half-written binary.
    let partial = binary.with_extension(format!("partial-{}", std::process::id()));
    let version = KUBERNETES_VERSION;
    let minor = version.split('.').nth(1).unwrap_or("0");
    let ldflags = format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={version} \
         -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor={minor} \
         -X k8s.io/client-go/pkg/version.gitVersion={version}"
    );
    let build = GoBuild {
        label: "kubeplane",
        cold_minutes: COLD_BUILD_MINUTES,
        source_dir,
        tags: "selinux,notest",
        ldflags: &ldflags,
        output: &partial,
        packages: &["."],
        log: &binary.with_file_name("build.log"),
    };
    if let Err(e) = go_build(&build) {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, binary).map_err(io_error(format!(
        "moving {} to {}",
        partial.display(),
        binary.display()
    )))?;
    progress!(
        "kubeplane: built {KUBERNETES_VERSION} in {} at {}",
        clock(started.elapsed()),
        binary.display()
    );
    Ok(())
}

/// One `go build`: of `packages` in the module at `source_dir` into `output` (a file, or a directory
/// ending in `/` for several commands), static and trimmed, go's whole output in `log`.
pub(crate) struct GoBuild<'a> {
    /// Names the build in progress lines.
    pub label: &'a str,
    /// Measured cold build on 2 cores: the estimate before there is a pace.
    pub cold_minutes: u32,
    pub source_dir: &'a Path,
    pub tags: &'a str,
    pub ldflags: &'a str,
    pub output: &'a Path,
    pub packages: &'a [&'a str],
    pub log: &'a Path,
}

/// Runs `build` with at most 2 parallel jobs, showing a progress line with an estimate (packages
/// compiled of those `go list -deps` names); on failure, go's last 40 messages.
pub(crate) fn go_build(build: &GoBuild<'_>) -> Result<(), Error> {
    let started = Instant::now();
    let label = build.label;
    let log_path = build.log;
    let mut log =
        File::create(log_path).map_err(io_error(format!("creating {}", log_path.display())))?;
    // The machine has 2 cores shared by everyone: never let go use more.
    let goflags = match std::env::var("GOFLAGS") {
        Ok(existing) if !existing.trim().is_empty() => format!("{existing} -p=2"),
        _ => "-p=2".to_owned(),
    };
    progress!(
        "{label}: resolving the Go packages to build (downloads the modules on a cold cache)…"
    );
    let total = Command::new("go")
        .args(["list", "-deps", "-mod=readonly", "-tags", build.tags])
        .args(build.packages)
        .current_dir(build.source_dir)
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", &goflags)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(Error::GoMissing)?;
    let total = total
        .status
        .success()
        .then(|| String::from_utf8_lossy(&total.stdout).lines().count())
        .filter(|&n| n > 0);
    let mut child = Command::new("go")
        .args([
            "build",
            "-v",
            "-trimpath",
            // The binary must not depend on the checkout's git state (VCS stamping fails in a
            // clone owned by another user).
            "-buildvcs=false",
            "-mod=readonly",
            "-tags",
            build.tags,
        ])
        .arg("-ldflags")
        .arg(build.ldflags)
        .arg("-o")
        .arg(build.output)
        .args(build.packages)
        .current_dir(build.source_dir)
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", goflags)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::GoMissing)?;
    // go prints each package as it compiles it (-v), on stderr; stdout is merged into the log.
    let stdout = child.stdout.take();
    let stdout_lines = std::thread::spawn(move || {
        stdout
            .map(|o| {
                io::BufReader::new(o)
                    .lines()
                    .map_while(Result::ok)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    });
    let mut meter = Progress::new(label, build.cold_minutes, total, started);
    let mut tail: Vec<String> = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            if is_package_line(&line) {
                meter.package_done();
            } else {
                tail.push(line);
            }
        }
    }
    for line in stdout_lines.join().unwrap_or_default() {
        let _ = writeln!(log, "{line}");
    }
    let status = child.wait().map_err(Error::GoMissing)?;
    meter.finish();
    if !status.success() {
        progress!(
            "{label}: go build failed; its messages (whole output in {}):",
            log_path.display()
        );
        for line in tail.iter().rev().take(40).rev() {
            progress!("  {line}");
        }
        return Err(Error::Build {
            source_dir: build.source_dir.to_owned(),
            status,
        });
    }
    Ok(())
}

/// A line of `go build -v` naming a package it compiled (an import path: no spaces, no `#`).
fn is_package_line(line: &str) -> bool {
    !line.is_empty() && !line.starts_with('#') && !line.contains(char::is_whitespace)
}

/// The build's progress: a line redrawn in place on a terminal, a line every 30 s otherwise.
struct Progress {
    label: String,
    cold_minutes: u32,
    total: Option<usize>,
    done: usize,
    started: Instant,
    last_shown: Option<Instant>,
    terminal: bool,
}

impl Progress {
    fn new(label: &str, cold_minutes: u32, total: Option<usize>, started: Instant) -> Self {
        Progress {
            label: label.to_owned(),
            cold_minutes,
            total,
            done: 0,
            started,
            last_shown: None,
            terminal: io::stderr().is_terminal(),
        }
    }

    fn package_done(&mut self) {
        self.done += 1;
        let every = if self.terminal {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(30)
        };
        if self.last_shown.is_none_or(|t| t.elapsed() >= every) {
            self.last_shown = Some(Instant::now());
            let line = progress_line(
                &self.label,
                self.cold_minutes,
                self.done,
                self.total,
                self.started.elapsed(),
            );
            if self.terminal {
                let _ = write!(io::stderr(), "\r\x1b[K{line}");
            } else {
                progress!("{line}");
            }
        }
    }

    fn finish(&self) {
        if self.terminal && self.last_shown.is_some() {
            progress!();
        }
    }
}

/// `kubeplane: 812/2034 packages, 3m10s, ~5 min left` (the estimate once 5 % are done, from the
/// pace so far; before that, from the measured cold build).
fn progress_line(
    label: &str,
    cold_minutes: u32,
    done: usize,
    total: Option<usize>,
    elapsed: Duration,
) -> String {
    let Some(total) = total.filter(|&t| t > 0) else {
        return format!("{label}: {done} packages compiled, {}", clock(elapsed));
    };
    let done = done.min(total);
    let left = if done * 20 >= total {
        let per = elapsed.as_secs_f64() / done as f64;
        Duration::from_secs_f64(per * (total - done) as f64)
    } else {
        Duration::from_secs(u64::from(cold_minutes) * 60).saturating_sub(elapsed)
    };
    let minutes = left.as_secs().div_ceil(60);
    let estimate = if left.as_secs() < 60 {
        "under a minute left".to_owned()
    } else {
        format!("~{minutes} min left")
    };
    format!(
        "{label}: {done}/{total} packages, {}, {estimate}",
        clock(elapsed)
    )
}

/// `3m10s` / `42s`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_estimates_from_the_pace_once_some_packages_are_done() {
        assert_eq!(
            progress_line(
                "kubeplane",
                COLD_BUILD_MINUTES,
                500,
                Some(1000),
                Duration::from_secs(120)
            ),
            "kubeplane: 500/1000 packages, 2m00s, ~2 min left"
        );
        // Too early for a pace: the measured cold build minus what has passed.
        assert_eq!(
            progress_line(
                "kubeplane",
                COLD_BUILD_MINUTES,
                10,
                Some(1000),
                Duration::from_secs(60)
            ),
            format!(
                "kubeplane: 10/1000 packages, 1m00s, ~{} min left",
                COLD_BUILD_MINUTES - 1
            )
        );
        assert_eq!(
            progress_line(
                "kubeplane",
                COLD_BUILD_MINUTES,
                990,
                Some(1000),
                Duration::from_secs(99)
            ),
            "kubeplane: 990/1000 packages, 1m39s, under a minute left"
        );
        assert_eq!(
            progress_line(
                "kubeplane",
                COLD_BUILD_MINUTES,
                7,
                None,
                Duration::from_secs(5)
            ),
            "kubeplane: 7 packages compiled, 5s"
        );
    }

    #[test]
    fn go_package_lines_are_told_from_messages() {
        assert!(is_package_line("k8s.io/apiserver/pkg/server"));
        assert!(is_package_line("net/http"));
        assert!(!is_package_line(
            "# k8s.io/kubernetes/cmd/kube-apiserver/app"
        ));
        assert!(!is_package_line("./main.go:12:2: undefined: foo"));
        assert!(!is_package_line("go: downloading k8s.io/api v0.36.3"));
        assert!(!is_package_line(""));
    }

    #[test]
    fn envtest_assets_name_the_missing_program() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("kube-apiserver"), "").expect("write");
        let err = envtest_layout(dir.path()).expect_err("etcd is missing");
        assert!(
            err.to_string().contains("etcd") && err.to_string().contains("KUBEBUILDER_ASSETS"),
            "{err}"
        );
        fs::write(dir.path().join("etcd"), "").expect("write");
        let found = envtest_layout(dir.path()).expect("both exist");
        assert_eq!(
            found,
            Binaries::Envtest {
                apiserver: dir.path().join("kube-apiserver"),
                etcd: dir.path().join("etcd"),
            }
        );
    }

    #[test]
    fn the_committed_module_has_every_source_file() {
        cached_build().expect("e2e/kubeplane must hold go.mod, go.sum, main.go and keyring.go");
    }
}
