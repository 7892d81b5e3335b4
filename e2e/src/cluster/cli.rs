//! `acr-conformance cluster up|down`: a control plane for a person, outliving the command.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::io_error;
use super::process::{STOP_GRACE, cmdline, pid_exists, stop_pid};
use super::{ControlPlane, DetachedState, Error, STATE_FILE, StartOptions};

/// Start or stop a local control plane (etcd, kube-apiserver, kube-controller-manager on 127.0.0.1).
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Start a control plane in the background and print how to reach it.
    Up {
        /// Directory for its PKI, etcd data, kubeconfig and logs (must not exist or be empty).
        #[arg(long, env = "ACR_CLUSTER_DIR", default_value_os_t = default_dir())]
        dir: PathBuf,
    },
    /// Stop the control plane started by `cluster up` and remove its directory.
    Down {
        /// The directory given to `cluster up`.
        #[arg(long, env = "ACR_CLUSTER_DIR", default_value_os_t = default_dir())]
        dir: PathBuf,
    },
}

/// `<temp dir>/acr-refresher-cluster`.
fn default_dir() -> PathBuf {
    std::env::temp_dir().join("acr-refresher-cluster")
}

impl ClusterCommand {
    /// Runs the command, printing what a person needs on stdout.
    pub async fn run(self) -> Result<(), Error> {
        match self {
            ClusterCommand::Up { dir } => up(&dir).await,
            ClusterCommand::Down { dir } => down(&dir),
        }
    }
}

async fn up(dir: &Path) -> Result<(), Error> {
    let state_path = dir.join(STATE_FILE);
    if state_path.exists() {
        return Err(Error::State {
            path: state_path,
            reason: "a control plane already runs from this directory; run `cluster down` first"
                .to_owned(),
        });
    }
    let plane = ControlPlane::start_with(StartOptions {
        dir: Some(dir.to_owned()),
        exit_with_parent: false,
        node: None,
    })
    .await?;
    if let super::Binaries::Envtest { .. } = plane.binaries() {
        println!(
            "note: {} has no controller-manager and the suite's stand-in ends with this command: \
             new namespaces get no default ServiceAccount and deleted ones stay Terminating",
            super::kubeplane::KUBEBUILDER_ASSETS_ENV
        );
    }
    let state = plane.detach()?;
    println!("control plane ready at {}", state.server);
    for (component, pid) in &state.pids {
        println!("  {component}: pid {pid}");
    }
    println!("logs: {}", dir.join("logs").display());
    println!("kubeconfig: {}", state.kubeconfig.display());
    println!("export KUBECONFIG={}", state.kubeconfig.display());
    Ok(())
}

fn down(dir: &Path) -> Result<(), Error> {
    let state_path = dir.join(STATE_FILE);
    let text = fs::read_to_string(&state_path).map_err(|e| Error::State {
        path: state_path.clone(),
        reason: format!("{e} (is a control plane running from {}?)", dir.display()),
    })?;
    let state: DetachedState = serde_json::from_str(&text).map_err(|e| Error::State {
        path: state_path.clone(),
        reason: e.to_string(),
    })?;
    // Reverse start order, as ControlPlane's Drop does.
    for &(component, pid) in state.pids.iter().rev() {
        if !pid_exists(pid) {
            println!("{component} (pid {pid}) already stopped");
            continue;
        }
        // A PID can be reused after a reboot: only stop a process serving this directory (kubeplane,
        // or envtest's kube-apiserver and etcd).
        let ours = cmdline(pid).is_some_and(|c| c.contains(&*state.dir.to_string_lossy()));
        if !ours {
            println!("pid {pid} is no longer {component} of this control plane, leaving it alone");
            continue;
        }
        stop_pid(pid, STOP_GRACE);
        println!("stopped {component} (pid {pid})");
    }
    fs::remove_dir_all(dir).map_err(io_error(format!("removing {}", dir.display())))?;
    println!("removed {}", dir.display());
    Ok(())
}
