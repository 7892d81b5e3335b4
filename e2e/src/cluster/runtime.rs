//! The node's container runtime binaries: containerd 2.x, its runc shim, `ctr`, the CNI plugins
//! `bridge`, `host-local` and `loopback`, and the sandbox image's `pause`, built from the Go module
//! `e2e/containerd` on first use and cached. `runc` itself is the system's (it needs cgo).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::build_cache::CachedBuild;
use super::error::{Error, io_error};
use super::kubeplane::{GoBuild, cache_base, go_build};

/// The containerd release the node runs (Kubernetes v1.36's kubelet needs containerd 2.x).
pub const CONTAINERD_VERSION: &str = "v2.4.2";

/// The files whose content decides whether a cached build is still current.
const SOURCE_FILES: [&str; 3] = ["go.mod", "go.sum", "pause/main.go"];

/// The commands built, each into a file of the same name.
const PACKAGES: [&str; 7] = [
    "github.com/containerd/containerd/v2/cmd/containerd",
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
    "github.com/containerd/containerd/v2/cmd/ctr",
    "github.com/containernetworking/plugins/plugins/ipam/host-local",
    "github.com/containernetworking/plugins/plugins/main/bridge",
    "github.com/containernetworking/plugins/plugins/main/loopback",
    "./pause",
];

/// Measured cold build on 2 cores, shown to whoever waits for it.
const COLD_BUILD_MINUTES: u32 = 4;

/// The directory holding every built binary (containerd finds its shim, and the CNI plugins
/// are found, here).
#[derive(Clone, Debug)]
pub struct RuntimeBinaries {
    /// The directory.
    pub dir: PathBuf,
}

impl RuntimeBinaries {
    /// The path of one binary (`containerd`, `ctr`, `pause`, …).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The Go module the runtime is built from.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("containerd")
}

/// Returns the runtime binaries, building them first if the cache lacks a build of the current
/// sources. Concurrent callers build once (a file lock). Blocking.
pub fn ensure_runtime() -> Result<RuntimeBinaries, Error> {
    let cached = cached_build()?;
    let bin = cached
        .output()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    cached.ensure("node runtime", || build(&bin))?;
    Ok(RuntimeBinaries { dir: bin })
}

/// Where the build of the current sources is cached: `<cache>/containerd/<version>/bin/`, whose
/// `pause` (built last: the directory is renamed into place whole) stands for the whole set.
fn cached_build() -> Result<CachedBuild, Error> {
    let cache = cache_base()?.join("containerd").join(CONTAINERD_VERSION);
    let marker = cache.join("bin").join("pause");
    CachedBuild::new(cache, marker, "source-sha256", &source_dir(), &SOURCE_FILES)
}

/// Builds every command into `bin`, through a partial directory renamed into place.
fn build(bin: &Path) -> Result<(), Error> {
    let source_dir = source_dir();
    let cache = bin.parent().map(Path::to_path_buf).unwrap_or_default();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "building containerd {CONTAINERD_VERSION}, its runc shim, ctr, CNI plugins and pause \
             from Go modules, first run only, ~{COLD_BUILD_MINUTES} min on 2 cores with a cold Go cache\n"
        )
        .as_bytes(),
    );
    let started = Instant::now();
    let partial = cache.join(format!("bin.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(&partial).map_err(io_error(format!("creating {}", partial.display())))?;
    let ldflags = format!(
        "-s -w -X github.com/containerd/containerd/v2/version.Version={CONTAINERD_VERSION}"
    );
    // `-o DIR/` puts each command in DIR under its own name.
    let output = PathBuf::from(format!("{}/", partial.display()));
    let build = GoBuild {
        label: "node runtime",
        cold_minutes: COLD_BUILD_MINUTES,
        source_dir: &source_dir,
        tags: "no_btrfs,no_devmapper,no_zfs",
        ldflags: &ldflags,
        output: &output,
        packages: &PACKAGES,
        log: &cache.join("build.log"),
    };
    if let Err(e) = go_build(&build) {
        let _ = fs::remove_dir_all(&partial);
        return Err(e);
    }
    let _ = fs::remove_dir_all(bin);
    fs::rename(&partial, bin).map_err(io_error(format!(
        "moving {} to {}",
        partial.display(),
        bin.display()
    )))?;
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "built the node runtime in {:.0?} at {}\n",
            started.elapsed(),
            bin.display()
        )
        .as_bytes(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_module_has_every_source_file() {
        cached_build().expect("e2e/containerd must hold go.mod, go.sum and pause/main.go");
    }
}
