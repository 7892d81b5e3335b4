//! A build cached per machine and keyed by its sources: whether the cached output is current, and
//! building it at most once at a time across processes (a file lock), then stamping it.

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{Error, io_error};

/// One cached build: `output` (a binary, or the file written last of a set) in `dir`, current when
/// the stamp file next to it holds the key of the sources it was built from.
pub(crate) struct CachedBuild {
    dir: PathBuf,
    output: PathBuf,
    stamp: PathBuf,
    key: String,
}

impl CachedBuild {
    /// The build in `dir` whose output is `output` and whose stamp is `dir/stamp_name`, keyed by
    /// `files` of `source_dir` (an error names a source file that cannot be read).
    pub(crate) fn new(
        dir: PathBuf,
        output: PathBuf,
        stamp_name: &str,
        source_dir: &Path,
        files: &[&str],
    ) -> Result<Self, Error> {
        let key = files_key(source_dir, files)?;
        Ok(Self {
            stamp: dir.join(stamp_name),
            dir,
            output,
            key,
        })
    }

    /// The output's path.
    pub(crate) fn output(&self) -> &Path {
        &self.output
    }

    /// The output exists and was built from the current sources.
    pub(crate) fn is_current(&self) -> bool {
        self.output.is_file() && fs::read_to_string(&self.stamp).is_ok_and(|s| s == self.key)
    }

    /// Makes the output current: at once when it is, else `build` runs under the directory's lock
    /// (after waiting for another process's build, which may have made it current) and the stamp
    /// is written after it succeeded. `label` names the build in the waiting line.
    pub(crate) fn ensure(
        &self,
        label: &str,
        build: impl FnOnce() -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.is_current() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir)
            .map_err(io_error(format!("creating {}", self.dir.display())))?;
        let lock_path = self.dir.join("build.lock");
        let lock = File::create(&lock_path)
            .map_err(io_error(format!("opening {}", lock_path.display())))?;
        if lock.try_lock().is_err() {
            // Straight to stderr: a test harness captures `eprintln!`, but whoever waits must see why.
            let _ = writeln!(
                std::io::stderr(),
                "{label}: another process is building it, waiting ({})",
                lock_path.display()
            );
            lock.lock()
                .map_err(io_error(format!("locking {}", lock_path.display())))?;
        }
        if self.is_current() {
            return Ok(());
        }
        build()?;
        fs::write(&self.stamp, &self.key)
            .map_err(io_error(format!("writing {}", self.stamp.display())))
    }
}

/// SHA-256 over the names and contents of `files` (paths relative to `source_dir`).
fn files_key(source_dir: &Path, files: &[&str]) -> Result<String, Error> {
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

    const FILES: [&str; 2] = ["go.mod", "go.sum"];

    fn sources() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in FILES {
            fs::write(dir.path().join(name), name).expect("write source");
        }
        dir
    }

    fn cache(sources: &Path, cache: &Path) -> CachedBuild {
        CachedBuild::new(
            cache.to_path_buf(),
            cache.join("out"),
            "stamp",
            sources,
            &FILES,
        )
        .expect("sources readable")
    }

    #[test]
    fn the_key_is_deterministic_and_changes_with_any_source_file() {
        let src = sources();
        let before = files_key(src.path(), &FILES).expect("key");
        assert_eq!(before, files_key(src.path(), &FILES).expect("key"));
        fs::write(src.path().join("go.sum"), "changed").expect("write go.sum");
        assert_ne!(before, files_key(src.path(), &FILES).expect("key"));
    }

    #[test]
    fn a_missing_source_file_is_named() {
        let src = tempfile::tempdir().expect("temp dir");
        let err = files_key(src.path(), &FILES).expect_err("no go.mod");
        assert!(err.to_string().contains("go.mod"), "{err}");
    }

    #[test]
    fn builds_once_then_again_only_when_the_sources_change() {
        let src = sources();
        let dir = tempfile::tempdir().expect("temp dir");
        let builds = std::cell::Cell::new(0);
        let build = || {
            builds.set(builds.get() + 1);
            fs::write(dir.path().join("out"), "binary").map_err(io_error("writing out"))
        };
        let cached = cache(src.path(), dir.path());
        assert!(!cached.is_current());
        cached.ensure("test", build).expect("first build");
        cached.ensure("test", build).expect("cached");
        assert_eq!(builds.get(), 1);
        assert!(cached.is_current());

        fs::write(src.path().join("go.mod"), "module changed").expect("write go.mod");
        let changed = cache(src.path(), dir.path());
        assert!(
            !changed.is_current(),
            "a build of other sources is not current"
        );
        changed.ensure("test", build).expect("rebuild");
        assert_eq!(builds.get(), 2);
    }

    #[test]
    fn a_failed_build_leaves_no_stamp() {
        let src = sources();
        let dir = tempfile::tempdir().expect("temp dir");
        let cached = cache(src.path(), dir.path());
        fs::write(dir.path().join("out"), "stale").expect("write out");
        let err = cached
            .ensure("test", || {
                Err(io_error("go build")(std::io::Error::other("failed")))
            })
            .expect_err("the build fails");
        assert!(err.to_string().contains("go build"), "{err}");
        assert!(!cached.is_current());
    }
}
