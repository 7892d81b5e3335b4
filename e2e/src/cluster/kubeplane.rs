//! The `kubeplane` binary (Route A: kube-apiserver, kube-controller-manager, etcd and kubelet from the
//! published Go modules, one component per process), built from `e2e/kubeplane` on first use and
//! cached; and the `go build` both it and the node's runtime ([`super::runtime`]) use.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

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

/// The files whose content decides whether a cached binary is still current.
const SOURCE_FILES: [&str; 4] = ["go.mod", "go.sum", "main.go", "keyring.go"];

/// Measured cold build on 2 cores, shown to whoever waits for it.
const COLD_BUILD_MINUTES: u32 = 9;

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
    if let Some(bin) = std::env::var_os(KUBEPLANE_BIN_ENV).filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        fs::metadata(&bin).map_err(io_error(format!("{KUBEPLANE_BIN_ENV}={}", bin.display())))?;
        return Ok(bin);
    }
    let source_dir = source_dir();
    let key = source_key(&source_dir)?;
    let dir = cache_dir()?;
    let binary = dir.join("kubeplane");
    let stamp = dir.join("kubeplane.source-sha256");
    if is_current(&binary, &stamp, &key) {
        return Ok(binary);
    }

    fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
    let lock_path = dir.join("build.lock");
    let lock =
        File::create(&lock_path).map_err(io_error(format!("opening {}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        progress!(
            "kubeplane: another process is building it, waiting ({})",
            lock_path.display()
        );
        lock.lock()
            .map_err(io_error(format!("locking {}", lock_path.display())))?;
    }
    // Whoever held the lock may have just built it.
    if is_current(&binary, &stamp, &key) {
        return Ok(binary);
    }
    build(&source_dir, &binary)?;
    fs::write(&stamp, &key).map_err(io_error(format!("writing {}", stamp.display())))?;
    Ok(binary)
}

pub(crate) fn is_current(binary: &Path, stamp: &Path, key: &str) -> bool {
    binary.is_file() && fs::read_to_string(stamp).is_ok_and(|s| s == key)
}

/// SHA-256 over the names and contents of the module's source files.
fn source_key(source_dir: &Path) -> Result<String, Error> {
    files_key(source_dir, &SOURCE_FILES)
}

fn build(source_dir: &Path, binary: &Path) -> Result<(), Error> {
    progress!(
        "building kubeplane {KUBERNETES_VERSION} (Route A: k8s.io/kubernetes Go modules), first run only, \
         ~{COLD_BUILD_MINUTES} min on 2 cores with a cold Go cache; go's output follows"
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
    if let Err(e) = go_build(source_dir, "selinux,notest", &ldflags, &partial, &["."]) {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, binary).map_err(io_error(format!(
        "moving {} to {}",
        partial.display(),
        binary.display()
    )))?;
    progress!(
        "built kubeplane {KUBERNETES_VERSION} in {:.0?} at {}",
        started.elapsed(),
        binary.display()
    );
    Ok(())
}

/// `go build` of `packages` in the module at `source_dir` into `output` (a file, or a directory
/// ending in `/` for several commands): static, trimmed, at most 2 parallel jobs, go's progress on
/// stderr.
pub(crate) fn go_build(
    source_dir: &Path,
    tags: &str,
    ldflags: &str,
    output: &Path,
    packages: &[&str],
) -> Result<(), Error> {
    // The machine has 2 cores shared by everyone: never let go use more.
    let goflags = match std::env::var("GOFLAGS") {
        Ok(existing) if !existing.trim().is_empty() => format!("{existing} -p=2"),
        _ => "-p=2".to_owned(),
    };
    let status = Command::new("go")
        .args([
            "build",
            "-v",
            "-trimpath",
            // The binary must not depend on the checkout's git state (VCS stamping fails in a
            // clone owned by another user).
            "-buildvcs=false",
            "-mod=readonly",
            "-tags",
            tags,
        ])
        .arg("-ldflags")
        .arg(ldflags)
        .arg("-o")
        .arg(output)
        .args(packages)
        .current_dir(source_dir)
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", goflags)
        .stdin(Stdio::null())
        // Test harnesses capture our stdout; go's progress belongs on stderr.
        .stdout(Stdio::from(io::stderr()))
        .stderr(Stdio::inherit())
        .status()
        .map_err(Error::GoMissing)?;
    if !status.success() {
        return Err(Error::Build {
            source_dir: source_dir.to_owned(),
            status,
        });
    }
    Ok(())
}

/// SHA-256 over the names and contents of `files` (paths relative to `source_dir`).
pub(crate) fn files_key(source_dir: &Path, files: &[&str]) -> Result<String, Error> {
    let mut hasher = Sha256::new();
    for name in files {
        let path = source_dir.join(name);
        let mut content = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut content))
            .map_err(io_error(format!("reading {}", path.display())))?;
        hasher.update(name.as_bytes());
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_key_changes_with_any_source_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in SOURCE_FILES {
            fs::write(dir.path().join(name), name).expect("write source");
        }
        let before = source_key(dir.path()).expect("key");
        assert_eq!(
            before,
            source_key(dir.path()).expect("key"),
            "key is deterministic"
        );
        fs::write(dir.path().join("go.sum"), "changed").expect("write go.sum");
        assert_ne!(before, source_key(dir.path()).expect("key"));
    }

    #[test]
    fn the_committed_module_has_every_source_file() {
        source_key(&source_dir()).expect("e2e/kubeplane must hold go.mod, go.sum and main.go");
    }
}
