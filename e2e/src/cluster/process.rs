//! One control-plane component as an OS process: started with its output in a log file, stopped by
//! PID (SIGTERM, then SIGKILL after a grace period).

use std::fmt;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use super::error::{Error, io_error};

/// A process of the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    /// The embedded etcd holding the cluster's state.
    Etcd,
    /// kube-apiserver.
    Apiserver,
    /// kube-controller-manager, running only the namespace and service-account controllers.
    ControllerManager,
}

impl Component {
    /// Every component, in start order.
    pub const ALL: [Component; 3] = [
        Component::Etcd,
        Component::Apiserver,
        Component::ControllerManager,
    ];

    /// The kubeplane subcommand, also the log file's stem.
    pub fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::Apiserver => "apiserver",
            Component::ControllerManager => "controller-manager",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How long a component gets to shut down after SIGTERM before it is killed.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running component we started.
pub(crate) struct ComponentProcess {
    pub(crate) component: Component,
    child: Child,
}

impl ComponentProcess {
    /// Starts `kubeplane <component> <args>` (or, for an upstream program such as envtest's
    /// `kube-apiserver`, `<binary> <args>`: `subcommand` false), appending its stdout and stderr to
    /// `log`.
    ///
    /// With `exit_with_parent` the component stops by itself once this process is gone.
    pub(crate) fn spawn(
        binary: &Path,
        component: Component,
        subcommand: bool,
        args: &[String],
        log: &Path,
        exit_with_parent: bool,
    ) -> Result<Self, Error> {
        let open_log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(io_error(format!("opening {}", log.display())))
        };
        let mut command = Command::new(binary);
        if subcommand {
            command.arg(component.name());
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(open_log()?)
            .stderr(open_log()?);
        if exit_with_parent {
            command.env("KUBEPLANE_EXIT_WITH_PARENT", "1");
        }
        let child = command.spawn().map_err(io_error(format!(
            "starting {} {}",
            binary.display(),
            component
        )))?;
        Ok(ComponentProcess { component, child })
    }

    /// The process ID.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the process ended, if it has.
    pub(crate) fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the process: SIGTERM, then SIGKILL after `grace`; reaps it.
    pub(crate) fn stop(&mut self, grace: Duration) {
        if self.exit_status().is_some() {
            return;
        }
        signal(self.pid(), Signal::TERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exit_status().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "kubeplane {} (pid {}) ignored SIGTERM for {grace:?}, killing it",
            self.component,
            self.pid()
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops a process we did not start (a detached control plane): SIGTERM, then SIGKILL after `grace`.
/// Returns once the PID no longer exists.
pub(crate) fn stop_pid(pid: u32, grace: Duration) {
    signal(pid, Signal::TERM);
    let deadline = Instant::now() + grace;
    while pid_exists(pid) {
        if Instant::now() >= deadline {
            signal(pid, Signal::KILL);
            // SIGKILL cannot be ignored; give the kernel a moment to tear the process down.
            let kill_deadline = Instant::now() + Duration::from_secs(5);
            while pid_exists(pid) && Instant::now() < kill_deadline {
                thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a process with this PID exists (zombies excluded: they hold no resources).
pub(crate) fn pid_exists(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The command line of a process, arguments joined by spaces.
pub(crate) fn cmdline(pid: u32) -> Option<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
}

/// Freezes (`true`, SIGSTOP) or thaws (`false`, SIGCONT) a process.
pub(crate) fn freeze(pid: u32, frozen: bool) {
    signal(pid, if frozen { Signal::STOP } else { Signal::CONT });
}

fn signal(pid: u32, signal: Signal) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    // ESRCH means it is already gone, which is what we want.
    let _ = kill_process(pid, signal);
}

/// The last `lines` lines of a log file, or a note saying why there are none.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(raw) => {
            let text = String::from_utf8_lossy(&raw);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// The log file of a component inside a control plane's directory.
pub(crate) fn log_path(dir: &Path, component: Component) -> PathBuf {
    dir.join("logs").join(format!("{}.log", component.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_only_the_last_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.log");
        fs::write(&path, "one\ntwo\nthree\n").expect("write log");
        assert_eq!(log_tail(&path, 2), "two\nthree");
        assert_eq!(log_tail(&path, 10), "one\ntwo\nthree");
        assert!(log_tail(&dir.path().join("missing.log"), 3).contains("missing.log"));
    }

    #[test]
    fn stop_pid_ends_a_process_and_pid_exists_notices() {
        let mut child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        assert!(pid_exists(pid));
        // Reap in the background: a zombie child of ours would otherwise linger until wait().
        let reaper = thread::spawn(move || child.wait());
        stop_pid(pid, Duration::from_secs(5));
        let status = reaper.join().expect("reaper thread").expect("wait");
        assert!(!status.success(), "sleep was ended by a signal: {status}");
        assert!(!pid_exists(pid));
    }
}
