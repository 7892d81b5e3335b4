//! A real Kubernetes control plane on 127.0.0.1 for tests: etcd, kube-apiserver and
//! kube-controller-manager (namespace and service-account controllers) as three processes of the
//! cached `kubeplane` binary, with fresh PKI and state in a temp dir, torn down on drop.
//!
//! ```no_run
//! # async fn demo() -> Result<(), acr_conformance::cluster::Error> {
//! let cluster = acr_conformance::cluster::ControlPlane::start().await?;
//! let client = cluster.client();
//! let alice = cluster.client_for("alice", &["team-a"]).await?;
//! # Ok(()) }
//! ```
//!
//! With [`StartOptions::node`] it also runs one real node (kubelet and containerd, see [`node`]).
//!
//! Submodules: `cli` (`cluster up|down`), `error`, `kubeplane` (which programs run: kubeplane, built
//! and cached, or envtest's binaries), `envtest_duties` (the controller-manager's duties when envtest's
//! binaries run), `node` (kubelet and containerd), `pause_image` (the node's sandbox image), `pki`
//! (certificates and kubeconfigs), `process` (one component as an OS process), `runtime` (building
//! and caching containerd).

mod build_cache;
pub mod cli;
mod envtest_duties;
mod error;
pub mod kubeplane;
pub mod node;
mod pause_image;
mod pki;
mod process;
pub mod runtime;

use std::collections::HashSet;
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use error::Error;
pub use kubeplane::{Binaries, KUBERNETES_VERSION, control_plane_binaries, ensure_kubeplane};
pub use node::{Node, NodeOptions};
pub use process::Component;

use error::io_error;
use pki::{Ca, SERVICE_ACCOUNT_ISSUER, write_private};
use process::{ComponentProcess, STOP_GRACE, log_path, log_tail};

/// How long the apiserver gets to answer `/readyz` (it shares 2 cores with cargo builds).
const APISERVER_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the controller-manager gets to create the `default` ServiceAccount of `default`.
const DEFAULT_SERVICE_ACCOUNT_TIMEOUT: Duration = Duration::from_secs(60);
/// How often readiness is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Start attempts: a port picked as free can be taken by someone else before a component binds it.
const START_ATTEMPTS: usize = 3;
/// Lines per component shown when a test fails or start-up does.
const FAILURE_LOG_LINES: usize = 40;
/// The file `detach` writes and `cluster down` reads.
pub const STATE_FILE: &str = "kubeplane-state.json";

/// How and where to start a control plane.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Directory for PKI, etcd data, kubeconfigs and logs; must not exist yet or be empty.
    /// `None` makes a fresh temp dir.
    pub dir: Option<PathBuf>,
    /// Stop the components when this process ends, even if it is killed before dropping the
    /// `ControlPlane`. `cluster up` turns this off so the control plane outlives the command.
    pub exit_with_parent: bool,
    /// Also run one real node (kubelet and containerd; needs root). `None`: no node, Pods are
    /// never run.
    pub node: Option<NodeOptions>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            dir: None,
            exit_with_parent: true,
            node: None,
        }
    }
}

/// A running control plane. Dropping it stops the three processes by PID (SIGTERM, then SIGKILL)
/// and removes its directory, also while a test panics — and then prints the tail of their logs.
pub struct ControlPlane {
    dir: PathBuf,
    binaries: Binaries,
    /// envtest's binaries: the controller-manager's duties, done by this process.
    duties: Option<tokio::task::JoinHandle<()>>,
    ca: Ca,
    server: String,
    admin_kubeconfig: PathBuf,
    client: kube::Client,
    apiserver_args: Vec<String>,
    exit_with_parent: bool,
    /// In start order: etcd, apiserver, controller-manager.
    processes: Vec<ComponentProcess>,
    minted_kubeconfigs: AtomicUsize,
    detached: bool,
    /// The node, when one was asked for; stopped before the control plane.
    node: Option<Node>,
}

/// What `cluster down` needs to stop a detached control plane.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DetachedState {
    /// The control plane's directory.
    pub dir: PathBuf,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The apiserver URL.
    pub server: String,
    /// The process of each component.
    pub pids: Vec<(Component, u32)>,
}

impl ControlPlane {
    /// Starts a fresh control plane in a temp dir on free 127.0.0.1 ports and waits until
    /// `/readyz` answers and the controller-manager has created `default/default` ServiceAccount.
    /// Builds the kubeplane binary first if the cache lacks it (minutes, once per machine).
    pub async fn start() -> Result<ControlPlane, Error> {
        Self::start_with(StartOptions::default()).await
    }

    /// Like [`ControlPlane::start`], with a chosen directory and lifetime.
    pub async fn start_with(options: StartOptions) -> Result<ControlPlane, Error> {
        let binaries = tokio::task::spawn_blocking(control_plane_binaries)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let mut attempt = 1;
        loop {
            let dir = make_dir(options.dir.as_deref())?;
            // An error or panic before the ControlPlane exists would leave the directory behind.
            let mut dir_guard = RemoveDirOnDrop(Some(dir.clone()));
            match Self::start_once(&binaries, dir, &options).await {
                Ok(plane) => {
                    dir_guard.0 = None;
                    return Ok(plane);
                }
                Err(e) if attempt < START_ATTEMPTS && is_port_clash(&e) => {
                    eprintln!(
                        "kubeplane: a port was taken while starting (attempt {attempt}), retrying on new ports"
                    );
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn start_once(
        binaries: &Binaries,
        dir: PathBuf,
        options: &StartOptions,
    ) -> Result<ControlPlane, Error> {
        let exit_with_parent = options.exit_with_parent;
        // From here on, Drop cleans up whatever was started, including the directory.
        let ca = Ca::generate()?;
        let [etcd_client_port, etcd_peer_port, apiserver_port] = free_ports()?;
        let server = format!("https://127.0.0.1:{apiserver_port}");
        let pki = dir.join("pki");
        let path = |name: &str| pki.join(name).to_string_lossy().into_owned();
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        let kcm_kubeconfig = dir.join("controller-manager.kubeconfig");
        for sub in ["pki", "logs", "etcd", "users"] {
            let sub = dir.join(sub);
            fs::create_dir_all(&sub).map_err(io_error(format!("creating {}", sub.display())))?;
        }
        {
            let ca_pem = ca.cert_pem();
            let serving = ca.serving()?;
            let (sa_key, sa_pub) = pki::service_account_key()?;
            write_private(&pki.join("ca.crt"), &ca_pem)?;
            write_private(&pki.join("ca.key"), &ca.key_pem())?;
            write_private(&pki.join("apiserver.crt"), &serving.cert_pem)?;
            write_private(&pki.join("apiserver.key"), &serving.key_pem)?;
            write_private(&pki.join("sa.key"), &sa_key)?;
            write_private(&pki.join("sa.pub"), &sa_pub)?;
            let admin = ca.client("admin", &["system:masters"])?;
            write_private(
                &admin_kubeconfig,
                &pki::kubeconfig(&server, &ca_pem, "admin", &admin),
            )?;
            // system:masters because the controllers run under the manager's own identity
            // (--use-service-account-credentials=false) and the namespace controller deletes everything.
            let kcm = ca.client("system:kube-controller-manager", &["system:masters"])?;
            write_private(
                &kcm_kubeconfig,
                &pki::kubeconfig(&server, &ca_pem, "system:kube-controller-manager", &kcm),
            )?;
        }
        let client = client_from_kubeconfig(&admin_kubeconfig, "admin").await?;

        let etcd_client = format!("http://127.0.0.1:{etcd_client_port}");
        let etcd_peer = format!("http://127.0.0.1:{etcd_peer_port}");
        let etcd_args = match binaries {
            Binaries::Kubeplane(_) => vec![
                format!("--data-dir={}", dir.join("etcd").display()),
                format!("--listen-client-url={etcd_client}"),
                format!("--listen-peer-url={etcd_peer}"),
            ],
            // Upstream etcd's flags, for the same single-member throwaway store.
            Binaries::Envtest { .. } => vec![
                "--name=kubeplane".to_owned(),
                format!("--data-dir={}", dir.join("etcd").display()),
                format!("--listen-client-urls={etcd_client}"),
                format!("--advertise-client-urls={etcd_client}"),
                format!("--listen-peer-urls={etcd_peer}"),
                format!("--initial-advertise-peer-urls={etcd_peer}"),
                format!("--initial-cluster=kubeplane={etcd_peer}"),
                "--unsafe-no-fsync".to_owned(),
                "--log-level=warn".to_owned(),
            ],
        };
        let apiserver_args = vec![
            format!("--etcd-servers=http://127.0.0.1:{etcd_client_port}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--secure-port={apiserver_port}"),
            // Endpoints refuse loopback addresses, and nothing in-cluster dials the apiserver.
            "--endpoint-reconciler-type=none".to_owned(),
            format!("--tls-cert-file={}", path("apiserver.crt")),
            format!("--tls-private-key-file={}", path("apiserver.key")),
            format!("--client-ca-file={}", path("ca.crt")),
            // With a node, kubelet reads what its Pods need (pull Secrets, tokens) as upstream's
            // does: through the Node authorizer, under its own identity.
            if options.node.is_some() {
                "--authorization-mode=Node,RBAC".to_owned()
            } else {
                "--authorization-mode=RBAC".to_owned()
            },
            // Bookkeeping only: there is no kube-proxy, nothing is ever sent to this range.
            "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
            format!("--service-account-key-file={}", path("sa.pub")),
            format!("--service-account-signing-key-file={}", path("sa.key")),
            format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
            format!("--api-audiences={SERVICE_ACCOUNT_ISSUER}"),
            "--profiling=false".to_owned(),
            // On SIGTERM, end open watches (the controller-manager's, a refresher's) instead of
            // letting them hold the HTTP/2 server open for --request-timeout (60 s): restarts stay fast.
            "--shutdown-watch-termination-grace-period=2s".to_owned(),
        ];
        let apiserver_args = crate::audit::with_audit_log(apiserver_args, &dir)?;
        let kcm_args = vec![
            format!("--kubeconfig={}", kcm_kubeconfig.display()),
            "--controllers=serviceaccount-token,serviceaccount,namespace,root-ca-cert-publisher"
                .to_owned(),
            format!("--service-account-private-key-file={}", path("sa.key")),
            format!("--root-ca-file={}", path("ca.crt")),
            "--use-service-account-credentials=false".to_owned(),
            "--leader-elect=false".to_owned(),
            "--bind-address=127.0.0.1".to_owned(),
            // No health endpoint is needed, so no listener at all.
            "--secure-port=0".to_owned(),
        ];

        let mut plane = ControlPlane {
            dir,
            binaries: binaries.clone(),
            duties: None,
            ca,
            server,
            admin_kubeconfig,
            client,
            apiserver_args,
            exit_with_parent,
            processes: Vec::with_capacity(3),
            minted_kubeconfigs: AtomicUsize::new(0),
            detached: false,
            node: None,
        };
        // The apiserver retries etcd until it answers, so both start at once.
        plane.spawn(Component::Etcd, &etcd_args)?;
        let apiserver_args = plane.apiserver_args.clone();
        plane.spawn(Component::Apiserver, &apiserver_args)?;
        plane.wait_for_readyz().await?;
        match plane.binaries {
            Binaries::Kubeplane(_) => plane.spawn(Component::ControllerManager, &kcm_args)?,
            Binaries::Envtest { .. } => {
                plane.duties = Some(envtest_duties::spawn(plane.client.clone()))
            }
        }
        plane.wait_for_default_service_account().await?;
        if let Some(node_options) = &options.node {
            // kubelet is a kubeplane subcommand: envtest's binaries have none.
            let kubeplane = match &plane.binaries {
                Binaries::Kubeplane(binary) => binary.clone(),
                Binaries::Envtest { .. } => tokio::task::spawn_blocking(ensure_kubeplane)
                    .await
                    .map_err(|e| Error::Io {
                    action: "building kubeplane for the node's kubelet".into(),
                    source: std::io::Error::other(e),
                })??,
            };
            let node = Node::start(
                &plane.dir,
                &plane.server,
                &plane.ca,
                &kubeplane,
                plane.client.clone(),
                node_options,
                exit_with_parent,
            )
            .await?;
            plane.node = Some(node);
        }
        Ok(plane)
    }

    /// The node, when the control plane was started with one.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    /// The admin client (user `admin`, group `system:masters`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The admin kubeconfig file.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// The apiserver's URL, `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server
    }

    /// The CA certificate (PEM) that signed the apiserver's serving certificate.
    pub fn ca_pem(&self) -> String {
        self.ca.cert_pem()
    }

    /// The directory holding PKI, etcd data, kubeconfigs and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The apiserver's audit log: every write request (see [`crate::audit`]).
    pub fn audit_log(&self) -> PathBuf {
        crate::audit::log_path(&self.dir)
    }

    /// The process of each running component.
    pub fn pids(&self) -> Vec<(Component, u32)> {
        self.processes
            .iter()
            .map(|p| (p.component, p.pid()))
            .collect()
    }

    /// Writes a kubeconfig whose client certificate authenticates as `user` in `groups` (at most
    /// two; every authenticated user is also in `system:authenticated`). For RBAC tests.
    pub fn kubeconfig_for(&self, user: &str, groups: &[&str]) -> Result<PathBuf, Error> {
        let cert = self.ca.client(user, groups)?;
        let n = self.minted_kubeconfigs.fetch_add(1, Ordering::Relaxed);
        let safe: String = user
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self
            .dir
            .join("users")
            .join(format!("{n}-{safe}.kubeconfig"));
        write_private(
            &path,
            &pki::kubeconfig(&self.server, &self.ca.cert_pem(), user, &cert),
        )?;
        Ok(path)
    }

    /// A client authenticating as `user` in `groups`; see [`ControlPlane::kubeconfig_for`].
    pub async fn client_for(&self, user: &str, groups: &[&str]) -> Result<kube::Client, Error> {
        let path = self.kubeconfig_for(user, groups)?;
        client_from_kubeconfig(&path, user).await
    }

    /// Stops the apiserver and starts it again on the same port against the same etcd, then waits
    /// for `/readyz`. Clients made earlier keep working once it is back.
    pub async fn restart_apiserver(&mut self) -> Result<(), Error> {
        if let Some(index) = self
            .processes
            .iter()
            .position(|p| p.component == Component::Apiserver)
        {
            let mut old = self.processes.remove(index);
            tokio::task::spawn_blocking(move || old.stop(STOP_GRACE))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        }
        let args = self.apiserver_args.clone();
        self.spawn(Component::Apiserver, &args)?;
        self.wait_for_readyz().await
    }

    /// Freezes the apiserver (SIGSTOP): its connections stay open and every request hangs, as
    /// with a wedged server. [`ControlPlane::resume_apiserver`] thaws it.
    pub fn pause_apiserver(&self) {
        self.freeze_apiserver(true);
    }

    /// Thaws an apiserver frozen by [`ControlPlane::pause_apiserver`].
    pub fn resume_apiserver(&self) {
        self.freeze_apiserver(false);
    }

    fn freeze_apiserver(&self, frozen: bool) {
        for process in &self.processes {
            if process.component == Component::Apiserver {
                process::freeze(process.pid(), frozen);
            }
        }
    }

    /// The last `lines` lines of each component's log, each under a header naming the file.
    pub fn logs_tail(&self, lines: usize) -> String {
        Component::ALL
            .iter()
            .map(|&c| {
                let path = log_path(&self.dir, c);
                format!(
                    "==> {} (last {lines} lines) <==\n{}\n",
                    path.display(),
                    log_tail(&path, lines)
                )
            })
            .collect()
    }

    /// Leaves the control plane running after this value is gone (for `cluster up`): writes
    /// [`STATE_FILE`] into its directory for `cluster down` and returns what it wrote.
    pub fn detach(mut self) -> Result<DetachedState, Error> {
        if self.node.is_some() {
            return Err(Error::Node(
                "a control plane with a node cannot be detached: the node's network namespace is served by this process".to_owned(),
            ));
        }
        let state = DetachedState {
            dir: self.dir.clone(),
            kubeconfig: self.admin_kubeconfig.clone(),
            server: self.server.clone(),
            pids: self.pids(),
        };
        let path = self.dir.join(STATE_FILE);
        let json = serde_json::to_string_pretty(&state).map_err(|e| Error::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&path, json).map_err(io_error(format!("writing {}", path.display())))?;
        self.detached = true;
        Ok(state)
    }

    /// The programs running this control plane.
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    fn spawn(&mut self, component: Component, args: &[String]) -> Result<(), Error> {
        let (program, subcommand) = match &self.binaries {
            Binaries::Kubeplane(binary) => (binary, true),
            Binaries::Envtest { etcd, .. } if component == Component::Etcd => (etcd, false),
            Binaries::Envtest { apiserver, .. } => (apiserver, false),
        };
        let process = ComponentProcess::spawn(
            program,
            component,
            subcommand,
            args,
            &log_path(&self.dir, component),
            self.exit_with_parent,
        )?;
        self.processes.push(process);
        Ok(())
    }

    /// Fails if any component has exited; start-up cannot succeed then.
    fn check_running(&mut self) -> Result<(), Error> {
        let exited = self
            .processes
            .iter_mut()
            .find_map(|p| p.exit_status().map(|status| (p.component, status)));
        match exited {
            Some((component, status)) => Err(Error::Exited {
                component,
                status,
                log_tail: self.logs_tail(FAILURE_LOG_LINES),
            }),
            None => Ok(()),
        }
    }

    /// Checks that every component still runs and `/readyz` answers `ok` within `within`, with a
    /// new admin client: the old one (and envtest's duties) may belong to an async runtime that
    /// has ended, as a control plane kept for the next run of the process does
    /// ([`crate::pool`]).
    pub async fn reconnect(&mut self, within: Duration) -> Result<(), Error> {
        self.check_running()?;
        for component in Component::ALL {
            let by_this_process = component == Component::ControllerManager
                && matches!(self.binaries, Binaries::Envtest { .. });
            if !by_this_process && !self.processes.iter().any(|p| p.component == component) {
                return Err(self.not_ready(format!("{component} running"), Duration::ZERO));
            }
        }
        self.client = client_from_kubeconfig(&self.admin_kubeconfig, "admin").await?;
        if let Some(duties) = self.duties.take() {
            duties.abort();
            self.duties = Some(envtest_duties::spawn(self.client.clone()));
        }
        self.wait_for_readyz_within(within).await
    }

    async fn wait_for_readyz(&mut self) -> Result<(), Error> {
        self.wait_for_readyz_within(APISERVER_READY_TIMEOUT).await
    }

    async fn wait_for_readyz_within(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .unwrap_or_else(|e| unreachable!("a GET of a fixed path is a valid request: {e}"));
            if let Ok(body) = self.client.request_text(request).await
                && body.trim() == "ok"
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready(format!("{}/readyz answering ok", self.server), timeout));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn wait_for_default_service_account(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + DEFAULT_SERVICE_ACCOUNT_TIMEOUT;
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), "default");
        loop {
            self.check_running()?;
            if let Ok(Some(_)) = accounts.get_opt("default").await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready(
                    "ServiceAccount default/default created by the controller-manager".to_owned(),
                    DEFAULT_SERVICE_ACCOUNT_TIMEOUT,
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn not_ready(&self, condition: String, timeout: Duration) -> Error {
        Error::NotReady {
            condition,
            timeout,
            log_tail: self.logs_tail(FAILURE_LOG_LINES),
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(duties) = self.duties.take() {
            duties.abort();
        }
        if self.detached {
            return;
        }
        if std::thread::panicking() {
            eprintln!(
                "control plane at {} (test failed), logs:\n{}",
                self.server,
                self.logs_tail(FAILURE_LOG_LINES)
            );
        }
        // The node first, while the API server still answers its kubelet.
        drop(self.node.take());
        // Reverse start order: the controller-manager and apiserver shut down while etcd still answers.
        while let Some(mut process) = self.processes.pop() {
            process.stop(STOP_GRACE);
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("kubeplane: removing {}: {e}", self.dir.display());
        }
    }
}

/// Removes a directory when dropped, unless emptied first.
struct RemoveDirOnDrop(Option<PathBuf>);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            // Already gone when a ControlPlane's Drop removed it.
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Ports handed out in this process, so parallel control planes never get the same one even
/// before either has bound it.
static HANDED_OUT_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Free 127.0.0.1 ports, distinct from each other and from every port handed out before.
fn free_ports<const N: usize>() -> Result<[u16; N], Error> {
    let mut handed_out = HANDED_OUT_PORTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    let mut ports = [0u16; N];
    let mut found = 0;
    while found < N {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(io_error("binding 127.0.0.1:0 to find a free port"))?
            .port();
        if handed_out.insert(port) {
            ports[found] = port;
            found += 1;
        }
    }
    Ok(ports)
}

/// A fresh directory: the one asked for (created; must be empty) or a new temp dir.
fn make_dir(requested: Option<&Path>) -> Result<PathBuf, Error> {
    match requested {
        Some(dir) => {
            fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
            let mut entries =
                fs::read_dir(dir).map_err(io_error(format!("reading {}", dir.display())))?;
            if entries.next().is_some() {
                return Err(Error::Io {
                    action: format!("using {} for a new control plane", dir.display()),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "directory is not empty",
                    ),
                });
            }
            Ok(dir.to_owned())
        }
        None => tempfile::Builder::new()
            .prefix("kubeplane-")
            .tempdir()
            .map(tempfile::TempDir::keep)
            .map_err(io_error("creating a temp dir for a control plane")),
    }
}

fn is_port_clash(error: &Error) -> bool {
    match error {
        Error::Exited { log_tail, .. } | Error::NotReady { log_tail, .. } => {
            log_tail.contains("address already in use")
        }
        _ => false,
    }
}

async fn client_from_kubeconfig(path: &Path, user: &str) -> Result<kube::Client, Error> {
    // The workspace enables both of rustls' providers (ring via kube, aws-lc-rs via other crates),
    // so rustls cannot pick one itself. Losing the race to another installer is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig {
        path: path.to_owned(),
        source,
    })?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| Error::Kubeconfig {
            path: path.to_owned(),
            source,
        })?;
    kube::Client::try_from(config).map_err(|source| Error::Client {
        user: user.to_owned(),
        source,
    })
}
