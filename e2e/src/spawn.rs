//! Starting a program that may have just been written.
//!
//! `exec` fails with ETXTBSY ("Text file busy") while any process holds the file open for
//! writing. That includes a child another thread of this process forked in the instant the
//! file's write descriptor was open: the child holds a copy until its own `exec` closes it, a few
//! milliseconds later. Tests write scripts and run them while other tests fork, and a user may run
//! the suite the moment a build finished writing the implementation: both are retried, with a
//! bound, instead of failing at random. Tests that write a program for someone else to run (a
//! plugin kubelet's code execs) write it with [`write_executable`], whose write descriptor never
//! exists in this process at all.

use std::io::{self, Write as _};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How often a busy executable is tried before the error is returned.
const ATTEMPTS: u32 = 50;
/// The pause between tries (the whole budget is about one second).
const PAUSE: Duration = Duration::from_millis(20);

/// Is this the error `exec` gives for a file someone still has open for writing?
pub fn is_text_file_busy(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::ExecutableFileBusy
}

/// `command.spawn()`, retried while the executable is busy (see the module comment).
pub async fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut attempt = 1;
    loop {
        match command.spawn() {
            Err(e) if is_text_file_busy(&e) && attempt < ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(PAUSE).await;
            }
            other => return other,
        }
    }
}

/// Writes `contents` to `path` as an executable (mode 0755) through a short-lived `sh` child:
/// the file's write descriptor lives only in that child, so no process forked here can hold it
/// and make a later `exec` of the file fail with ETXTBSY, whoever runs it.
pub fn write_executable(path: &Path, contents: &str) -> io::Result<()> {
    let mut child = std::process::Command::new("sh")
        .args(["-c", r#"cat > "$1" && chmod 755 "$1""#, "write_executable"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // The child may fail (say, a missing directory) and exit before reading everything: the
    // write then breaks its pipe. Its exit status and error text say why, so the write's own
    // error is kept only for a child that claims success.
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(contents.as_bytes()),
        None => Ok(()),
    };
    let out = child
        .wait_with_output()
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "writing {}: {} ({})",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim(),
            out.status
        )));
    }
    written.map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::OpenOptionsExt as _;

    #[tokio::test]
    async fn a_busy_executable_is_retried_until_the_writer_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&path)
            .unwrap();
        file.write_all(b"#!/bin/sh\nexit 7\n").unwrap();
        file.flush().unwrap();
        // While the write descriptor is open, exec is refused with ETXTBSY.
        let refused = Command::new(&path).spawn().unwrap_err();
        assert!(is_text_file_busy(&refused), "{refused:?}");
        // Let go of it a little later: the retrying spawn gets through.
        let closer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(file);
        });
        let status = spawn(&mut Command::new(&path))
            .await
            .expect("spawned once the file was closed")
            .wait()
            .await
            .unwrap();
        closer.await.unwrap();
        assert_eq!(status.code(), Some(7));
    }

    #[tokio::test]
    async fn a_written_executable_runs_at_once() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tool");
        write_executable(&path, "#!/bin/sh\nexit 5\n").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o755
        );
        // No retry needed: nothing in this process ever held the file open for writing.
        let status = Command::new(&path).status().await.unwrap();
        assert_eq!(status.code(), Some(5));
    }

    #[test]
    fn a_failed_write_names_the_file_whether_or_not_the_pipe_broke_first() {
        let dir = tempfile::tempdir().unwrap();
        // A large body makes the write outlast the child's failure (a broken pipe); a small one
        // usually fits the pipe's buffer. Both must give the child's reason and the path.
        for size in [1, 1 << 20] {
            let body = "x".repeat(size);
            let e = write_executable(&dir.path().join("missing/tool"), &body).unwrap_err();
            assert!(e.to_string().contains("missing/tool"), "{size}: {e}");
            assert!(!e.to_string().contains("Broken pipe"), "{size}: {e}");
        }
    }

    #[tokio::test]
    async fn other_errors_are_returned_at_once() {
        let e = spawn(&mut Command::new("/nonexistent/program"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
