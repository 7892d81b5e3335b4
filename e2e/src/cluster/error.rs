//! Why a control plane could not be built, started, reached or stopped.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use super::Component;

/// A failure of the local control plane, naming the file, component or identity involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system or process operation failed; `action` names it and its path.
    #[error("{action}: {source}")]
    Io {
        /// What was being done, with the path involved.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Neither `XDG_CACHE_HOME` nor `HOME` is set, so there is nowhere to cache the binary.
    #[error("cannot locate a cache directory: neither XDG_CACHE_HOME nor HOME is set")]
    NoCacheDir,
    /// `go` could not be run.
    #[error("running `go` to build kubeplane: {0} (Go >= 1.26 must be on PATH)")]
    GoMissing(#[source] std::io::Error),
    /// `go build` of the kubeplane module failed.
    #[error("go build of kubeplane in {source_dir} failed with {status}; its output is above")]
    Build {
        /// The Go module that was being built.
        source_dir: PathBuf,
        /// How `go build` ended.
        status: ExitStatus,
    },
    /// Generating a key or certificate failed.
    #[error("generating {what}: {source}")]
    Pki {
        /// Which key or certificate.
        what: String,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },
    /// The x509 authenticator takes groups from the subject's O attributes; rcgen writes at most two.
    #[error("client certificate for {user}: {count} groups requested, at most 2 are supported")]
    TooManyGroups {
        /// The identity asked for.
        user: String,
        /// How many groups were asked for.
        count: usize,
    },
    /// A component exited while the control plane was starting or restarting.
    #[error("{component} exited during start-up ({status}); log tail:\n{log_tail}")]
    Exited {
        /// The component that ended.
        component: Component,
        /// How it ended.
        status: ExitStatus,
        /// The end of the control plane's logs.
        log_tail: String,
    },
    /// A readiness condition did not hold before its deadline.
    #[error("{condition} not reached within {timeout:?}; log tail:\n{log_tail}")]
    NotReady {
        /// What was awaited.
        condition: String,
        /// How long it was awaited.
        timeout: Duration,
        /// The end of the control plane's logs.
        log_tail: String,
    },
    /// A kubeconfig we wrote could not be loaded.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A kube client could not be built.
    #[error("kube client for {user}: {source}")]
    Client {
        /// The identity of the client.
        user: String,
        /// The underlying error.
        #[source]
        source: kube::Error,
    },
    /// The node (kubelet and containerd) could not be set up.
    #[error("node: {0}")]
    Node(String),
    /// containerd or kubelet exited while the node was starting.
    #[error("the node's {what} exited during start-up ({status}); log tail:\n{log_tail}")]
    NodeExited {
        /// `containerd` or `kubelet`.
        what: &'static str,
        /// How it ended.
        status: ExitStatus,
        /// The end of the node's logs.
        log_tail: String,
    },
    /// The state file of a detached control plane (`cluster up`) is missing or malformed.
    #[error("control-plane state {path}: {reason}")]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Builds a closure that wraps an `io::Error` with the action that failed.
pub(crate) fn io_error(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let action = action.into();
    move |source| Error::Io { action, source }
}
