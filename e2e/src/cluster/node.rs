//! One real node of the local control plane: containerd 2.x (built by [`super::runtime`]) and
//! kubelet (`kubeplane kubelet`), registered as Node [`NODE_NAME`], pulling through containerd.
//!
//! Both run in the node's own network namespace (a [`Netns`]: the fakes at the real Alibaba Cloud
//! addresses, the API server forwarded in) and in one private mount namespace (a slave of the
//! host's, so nothing the node mounts leaks out, and it all goes when its last process ends) where
//! `<node>/hosts` is bind-mounted over `/etc/hosts` (every Alibaba host name fake-acr serves →
//! 127.0.0.1, where the namespace forwards :443 to fake-acr) and node directories over
//! `/var/lib/cni` and `/var/log/containers`. containerd trusts fake-acr's CA per registry host
//! (`hosts.toml`, as `e2e/kind/containerd-hosts.sh` writes them for kind nodes); the sandbox image
//! is built here ([`super::pause_image`]) and pinned. Pods get addresses from the CNI `bridge`
//! plugin inside the namespace.
//!
//! Suited to a container or VM without systemd: cgroupfs driver, cgroup v1 allowed
//! (`failCgroupV1: false`), no QoS cgroups or allocatable enforcement, swap tolerated, OOM score
//! changes restricted to what an unprivileged-for-`CAP_SYS_RESOURCE` root may set. Needs root,
//! `ip`, `nsenter`, `unshare`, `mount` and `runc` on PATH.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::Api;

use super::error::{Error, io_error};
use super::pause_image::{self, PAUSE_IMAGE};
use super::pki::{self, Ca, write_private};
use super::process::{log_tail, pid_exists};
use super::runtime::{RuntimeBinaries, ensure_runtime};
use crate::netns::Netns;

/// The Node's name (one node per control plane).
pub const NODE_NAME: &str = "acr-node";
/// The node's address inside its namespace (kubelet refuses a 127.0.0.0/8 one).
const NODE_IP: &str = "198.51.100.2";
/// Pods' addresses (the CNI bridge inside the namespace).
const POD_SUBNET: &str = "10.88.0.0/16";
/// How long containerd gets to answer on its socket.
const CONTAINERD_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long kubelet gets to register the Node and report it Ready.
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a node process gets after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long one `ctr` command may take.
const CTR_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of each node log shown on failure.
const LOG_LINES: usize = 30;
/// Environment variable naming the process that started a node, so a later run can tell a node
/// whose starter was killed (SIGKILL leaves no chance to stop it) and stop it.
const OWNER_ENV: &str = "ACR_NODE_OWNER";

/// What the node's kubelet is started with.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// kubelet's `--image-credential-provider-config` and `--image-credential-provider-bin-dir`.
    pub credential_provider: Option<(PathBuf, PathBuf)>,
}

/// A running node; dropping it stops kubelet, every container, containerd and the shims, and
/// removes the node's directory.
pub struct Node {
    dir: PathBuf,
    netns: Arc<Netns>,
    runtime: RuntimeBinaries,
    socket: PathBuf,
    containerd: Option<Child>,
    kubelet: Option<Child>,
    start_time: Duration,
}

/// Where the node's files live, all under one directory.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn log(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }
}

impl Node {
    /// Starts a node in `<plane_dir>/node` for the API server at `server` (an IP address on this
    /// machine), its client certificate signed by `ca`; returns once the Node is Ready.
    pub(crate) async fn start(
        plane_dir: &Path,
        server: &str,
        ca: &Ca,
        kubeplane: &Path,
        admin: kube::Client,
        options: &NodeOptions,
        exit_with_parent: bool,
    ) -> Result<Node, Error> {
        let started = Instant::now();
        if !rustix::process::geteuid().is_root() {
            return Err(node_error(
                "a node needs root (network and mount namespaces, containers)",
            ));
        }
        let runc = which("runc").ok_or_else(|| {
            node_error("runc is not on PATH (Debian: apt-get install runc); containerd needs it")
        })?;
        let runtime = tokio::task::spawn_blocking(ensure_runtime)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        tokio::task::spawn_blocking(remove_stale).await.ok();
        let apiserver = crate::netns::server_address(server).ok_or_else(|| {
            node_error(format!("the API server {server} is not at an IP address"))
        })?;
        let layout = Layout {
            dir: plane_dir.join("node"),
        };
        for sub in [
            "logs",
            "containerd/root",
            "containerd/state",
            "runc",
            "certs.d",
            "cni/conf",
            "cni/networks",
            "var-lib-cni",
            "var-log-containers",
            "pods-logs",
            "kubelet",
            "volume-plugins",
        ] {
            let sub = layout.dir.join(sub);
            fs::create_dir_all(&sub).map_err(io_error(format!("creating {}", sub.display())))?;
        }
        // Mount points of the node's private bind mounts; the host keeps them (empty) afterwards.
        for point in ["/var/lib/cni", "/var/log/containers"] {
            fs::create_dir_all(point).map_err(io_error(format!("creating {point}")))?;
        }
        let netns = Netns::create(Some(apiserver))
            .await
            .map_err(|e| node_error(e.to_string()))?;
        let netns = Arc::new(netns);
        // On the namespace's loopback interface: kubelet wants its address on an interface.
        ip(&[
            "-n",
            netns.name(),
            "addr",
            "add",
            &format!("{NODE_IP}/32"),
            "dev",
            "lo",
        ])?;
        fs::write(
            layout.path("hosts"),
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost\n{NODE_IP}\t{NODE_NAME}\n"),
        )
        .map_err(io_error("writing the node's hosts file"))?;
        {
            let hosts = layout.path("hosts");
            let certs = layout.path("certs.d");
            let ca_file = layout.path("fake-acr-ca.pem");
            netns.on_registry(Box::new(move |names, ca_pem| {
                trust_registry(&hosts, &certs, &ca_file, names, ca_pem)
            }));
        }
        write_containerd_config(&layout, &runtime, &runc)?;

        let mut node = Node {
            dir: layout.dir.clone(),
            netns,
            runtime,
            socket: layout.path("containerd.sock"),
            containerd: None,
            kubelet: None,
            start_time: Duration::ZERO,
        };
        node.containerd = Some(node.spawn_containerd(&layout)?);
        node.wait_for_containerd(&layout).await?;
        let archive = layout.path("pause.tar");
        let pause = fs::read(node.runtime.path("pause")).map_err(io_error(format!(
            "reading {}",
            node.runtime.path("pause").display()
        )))?;
        fs::write(&archive, pause_image::archive(&pause))
            .map_err(io_error(format!("writing {}", archive.display())))?;
        node.ctr(&["images", "import", &archive.to_string_lossy()])?;

        let kubelet_cert = ca.client(&format!("system:node:{NODE_NAME}"), &["system:nodes"])?;
        let kubeconfig = layout.path("kubelet.kubeconfig");
        write_private(
            &kubeconfig,
            &pki::kubeconfig(
                server,
                &ca.cert_pem(),
                &format!("system:node:{NODE_NAME}"),
                &kubelet_cert,
            ),
        )?;
        let client_ca = layout.path("client-ca.crt");
        write_private(&client_ca, &ca.cert_pem())?;
        let config = layout.path("kubelet.yaml");
        fs::write(&config, kubelet_config(&layout, &node.socket, &client_ca))
            .map_err(io_error(format!("writing {}", config.display())))?;
        node.kubelet = Some(node.spawn_kubelet(
            &layout,
            kubeplane,
            &config,
            &kubeconfig,
            options,
            exit_with_parent,
        )?);
        node.wait_until_ready(&layout, admin).await?;
        node.start_time = started.elapsed();
        Ok(node)
    }

    /// The node's network namespace (the fakes at the real addresses; implementations run here too).
    pub fn netns(&self) -> Arc<Netns> {
        self.netns.clone()
    }

    /// The Node's name.
    pub fn name(&self) -> &'static str {
        NODE_NAME
    }

    /// How long the node took to start (binaries already built), Ready included.
    pub fn start_time(&self) -> Duration {
        self.start_time
    }

    /// Resident memory of kubelet and containerd, in KiB (from `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        [&self.kubelet, &self.containerd]
            .into_iter()
            .flatten()
            .filter_map(|c| fs::read_to_string(format!("/proc/{}/status", c.id())).ok())
            .filter_map(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .sum()
    }

    /// The last lines of containerd's and kubelet's logs.
    pub fn logs_tail(&self, lines: usize) -> String {
        ["containerd", "kubelet"]
            .iter()
            .map(|name| {
                let path = self.dir.join("logs").join(format!("{name}.log"));
                format!(
                    "==> {} (last {lines} lines) <==\n{}\n",
                    path.display(),
                    log_tail(&path, lines)
                )
            })
            .collect()
    }

    fn spawn_containerd(&self, layout: &Layout) -> Result<Child, Error> {
        // nsenter, unshare and sh each exec the next: the PID is containerd's. The mount namespace
        // is a slave of the host's, so the bind mounts (and containerd's own) stay inside it.
        let script = "mount --bind \"$1\" /etc/hosts && mount --bind \"$2\" /var/lib/cni && \
                      mount --bind \"$3\" /var/log/containers && shift 3 && exec \"$@\"";
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/var/run/netns/{}", self.netns.name()))
            .args([
                "--",
                "unshare",
                "--mount",
                "--propagation",
                "slave",
                "--",
                "sh",
                "-c",
                script,
                "node-mounts",
            ])
            .arg(layout.path("hosts"))
            .arg(layout.path("var-lib-cni"))
            .arg(layout.path("var-log-containers"))
            .arg(self.runtime.path("containerd"))
            .arg("--config")
            .arg(layout.path("containerd.toml"));
        self.spawn_logged(command, &layout.log("containerd"), "containerd")
    }

    fn spawn_kubelet(
        &self,
        layout: &Layout,
        kubeplane: &Path,
        config: &Path,
        kubeconfig: &Path,
        options: &NodeOptions,
        exit_with_parent: bool,
    ) -> Result<Child, Error> {
        let containerd = self
            .containerd
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| node_error("containerd is not running"))?;
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/var/run/netns/{}", self.netns.name()))
            // containerd's mount namespace: kubelet's volume mounts must be what containers get.
            .arg(format!("--mount=/proc/{containerd}/ns/mnt"))
            .arg("--")
            .arg(kubeplane)
            .arg("kubelet")
            .arg(format!("--config={}", config.display()))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--root-dir={}", layout.path("kubelet").display()))
            .arg(format!("--hostname-override={NODE_NAME}"))
            .arg(format!("--node-ip={NODE_IP}"))
            .arg("--v=2");
        if let Some((provider_config, bin_dir)) = &options.credential_provider {
            command
                .arg(format!(
                    "--image-credential-provider-config={}",
                    provider_config.display()
                ))
                .arg(format!(
                    "--image-credential-provider-bin-dir={}",
                    bin_dir.display()
                ));
        }
        if exit_with_parent {
            command.env("KUBEPLANE_EXIT_WITH_PARENT", "1");
        }
        self.spawn_logged(command, &layout.log("kubelet"), "kubelet")
    }

    fn spawn_logged(&self, mut command: Command, log: &Path, what: &str) -> Result<Child, Error> {
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(io_error(format!("opening {}", log.display())))
        };
        // containerd finds its shim, and the CNI plugins are found, next to it.
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.runtime.dir.clone()];
        paths.extend(std::env::split_paths(&path));
        command
            .env(
                "PATH",
                std::env::join_paths(paths).map_err(|e| node_error(e.to_string()))?,
            )
            .env(OWNER_ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(open()?)
            .stderr(open()?);
        command
            .spawn()
            .map_err(io_error(format!("starting the node's {what} (nsenter)")))
    }

    async fn wait_for_containerd(&mut self, layout: &Layout) -> Result<(), Error> {
        let deadline = Instant::now() + CONTAINERD_READY_TIMEOUT;
        loop {
            self.check_running()?;
            if self.socket.exists() && self.ctr(&["version"]).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    condition: format!("containerd answering on {}", self.socket.display()),
                    timeout: CONTAINERD_READY_TIMEOUT,
                    log_tail: log_tail(&layout.log("containerd"), LOG_LINES),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_until_ready(
        &mut self,
        layout: &Layout,
        admin: kube::Client,
    ) -> Result<(), Error> {
        let nodes: Api<NodeObject> = Api::all(admin);
        let deadline = Instant::now() + NODE_READY_TIMEOUT;
        loop {
            self.check_running()?;
            if let Ok(Some(node)) = nodes.get_opt(NODE_NAME).await {
                let ready = node
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if ready {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    condition: format!("Node {NODE_NAME} Ready"),
                    timeout: NODE_READY_TIMEOUT,
                    log_tail: format!(
                        "{}\n{}",
                        log_tail(&layout.log("containerd"), LOG_LINES),
                        log_tail(&layout.log("kubelet"), LOG_LINES)
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Fails if containerd or kubelet has exited.
    fn check_running(&mut self) -> Result<(), Error> {
        let mut exited = None;
        for (name, child) in [
            ("containerd", &mut self.containerd),
            ("kubelet", &mut self.kubelet),
        ] {
            if let Some(child) = child
                && let Ok(Some(status)) = child.try_wait()
            {
                exited = Some((name, status));
                break;
            }
        }
        match exited {
            Some((what, status)) => Err(Error::NodeExited {
                what,
                status,
                log_tail: self.logs_tail(LOG_LINES),
            }),
            None => Ok(()),
        }
    }

    /// `ctr -n k8s.io ARGS` against the node's containerd; its stdout.
    fn ctr(&self, args: &[&str]) -> Result<String, Error> {
        let mut child = Command::new(self.runtime.path("ctr"))
            .arg(format!("--address={}", self.socket.display()))
            .args(["--namespace", "k8s.io"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_error(format!("running ctr {}", args.join(" "))))?;
        let deadline = Instant::now() + CTR_TIMEOUT;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child
            .wait_with_output()
            .map_err(io_error(format!("running ctr {}", args.join(" "))))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(node_error(format!(
                "ctr {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Kills and deletes every container (runc removes their cgroups), through containerd while
    /// it runs and with runc for whatever is left.
    fn remove_containers(&self) {
        if let Ok(tasks) = self.ctr(&["tasks", "ls", "--quiet"]) {
            for task in tasks.lines().filter(|l| !l.trim().is_empty()) {
                let _ = self.ctr(&["tasks", "kill", "--signal", "SIGKILL", task]);
            }
            for task in tasks.lines().filter(|l| !l.trim().is_empty()) {
                let _ = self.ctr(&["tasks", "delete", "--force", task]);
            }
        }
        if let Ok(containers) = self.ctr(&["containers", "ls", "--quiet"]) {
            for container in containers.lines().filter(|l| !l.trim().is_empty()) {
                let _ = self.ctr(&["containers", "rm", container]);
            }
        }
        runc_remove_all(&self.dir.join("runc").join("k8s.io"));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "node {NODE_NAME} (test failed), logs:\n{}",
                self.logs_tail(LOG_LINES)
            );
        }
        if let Some(kubelet) = self.kubelet.as_mut() {
            stop_child(kubelet, "kubelet");
        }
        if self.containerd.is_some() {
            self.remove_containers();
        }
        if let Some(containerd) = self.containerd.as_mut() {
            stop_child(containerd, "containerd");
        }
        kill_shims(&self.socket);
        unmount_under(&self.dir);
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("node: removing {}: {e}", self.dir.display());
        }
    }
}

fn node_error(reason: impl Into<String>) -> Error {
    Error::Node(reason.into())
}

fn ip(args: &[&str]) -> Result<(), Error> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(io_error(format!("running ip {}", args.join(" "))))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(node_error(format!(
            "ip {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The file `program` names on PATH.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Makes the node resolve and trust fake-acr: every name in `hosts` (append-only, written in place
/// because the file is bind-mounted), a `hosts.toml` per name trusting `ca_file`, and the CA itself.
fn trust_registry(
    hosts_file: &Path,
    certs_dir: &Path,
    ca_file: &Path,
    names: &[String],
    ca_pem: &[u8],
) -> Result<(), String> {
    let partial = ca_file.with_extension("partial");
    fs::write(&partial, ca_pem)
        .and_then(|()| fs::rename(&partial, ca_file))
        .map_err(|e| format!("writing {}: {e}", ca_file.display()))?;
    let known = fs::read_to_string(hosts_file)
        .map_err(|e| format!("reading {}: {e}", hosts_file.display()))?;
    let mut new = String::new();
    for name in names {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        {
            return Err(format!("'{name}' is not a host name"));
        }
        if !known
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(name))
        {
            new.push_str(&format!("{}\t{name}\n", crate::netns::ACR_ADDR.ip()));
        }
        let dir = certs_dir.join(name);
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let ca = ca_file.display();
        // As e2e/kind/containerd-hosts.sh writes them for kind nodes.
        let toml = format!(
            "server = \"https://{name}\"\nca = \"{ca}\"\n[host.\"https://{name}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"{ca}\"\n"
        );
        fs::write(dir.join("hosts.toml"), toml)
            .map_err(|e| format!("writing {}: {e}", dir.display()))?;
    }
    if !new.is_empty() {
        // One append: a resolver reading meanwhile sees the old names or all of them.
        OpenOptions::new()
            .append(true)
            .open(hosts_file)
            .and_then(|mut f| f.write_all(new.as_bytes()))
            .map_err(|e| format!("appending to {}: {e}", hosts_file.display()))?;
    }
    Ok(())
}

fn write_containerd_config(
    layout: &Layout,
    runtime: &RuntimeBinaries,
    runc: &Path,
) -> Result<(), Error> {
    let p = |name: &str| layout.path(name).display().to_string();
    let config = format!(
        r#"version = 3
root = "{root}"
state = "{state}"

[grpc]
  address = "{socket}"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{certs}"

[plugins."io.containerd.cri.v1.runtime"]
  # This root lacks CAP_SYS_RESOURCE in containers and VMs: never ask for a lower OOM score.
  restrict_oom_score_adj = true
  # Pods' network namespaces are bind-mounted on files under the state directory, not /var/run.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      SystemdCgroup = false
      BinaryName = "{runc}"
      Root = "{runc_root}"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{cni_bin}"]
    conf_dir = "{cni_conf}"

# NRI (plugins that adjust containers) is not used. Enabled, it listens on one machine-wide path,
# /var/run/nri/nri.sock, which a second node, or the next node after a killed one left the file
# behind, cannot bind ("address already in use"), and containerd then exits.
[plugins."io.containerd.nri.v1.nri"]
  disable = true
"#,
        root = p("containerd/root"),
        state = p("containerd/state"),
        socket = p("containerd.sock"),
        certs = p("certs.d"),
        runc = runc.display(),
        runc_root = p("runc"),
        cni_bin = runtime.dir.display(),
        cni_conf = p("cni/conf"),
    );
    let path = layout.path("containerd.toml");
    fs::write(&path, config).map_err(io_error(format!("writing {}", path.display())))?;
    let cni = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "acr-node",
        "plugins": [{
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": true,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "dataDir": p("cni/networks"),
                "ranges": [[{ "subnet": POD_SUBNET }]],
            },
        }],
    });
    let path = layout.path("cni/conf/10-acr-node.conflist");
    fs::write(&path, cni.to_string()).map_err(io_error(format!("writing {}", path.display())))
}

fn kubelet_config(layout: &Layout, socket: &Path, client_ca: &Path) -> String {
    let p = |name: &str| layout.path(name).display().to_string();
    // JSON is YAML: no quoting surprises in paths.
    serde_json::json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": { "enabled": false },
            "webhook": { "enabled": false },
            "x509": { "clientCAFile": client_ca },
        },
        "authorization": { "mode": "AlwaysAllow" },
        "address": NODE_IP,
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "containerRuntimeEndpoint": format!("unix://{}", socket.display()),
        // No systemd, cgroup v1 (hybrid) in a VM or container.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": false,
        "cgroupsPerQOS": false,
        "enforceNodeAllocatable": [],
        "failSwapOn": false,
        // A shared build machine's disk is often > 85 % full: no disk-pressure taint or image GC.
        "evictionHard": { "nodefs.available": "1%", "imagefs.available": "1%", "memory.available": "100Mi" },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "volumePluginDir": p("volume-plugins"),
        "podLogsDir": p("pods-logs"),
        "resolvConf": "/etc/resolv.conf",
        "registerNode": true,
        "serializeImagePulls": false,
    })
    .to_string()
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`]; reaps.
fn stop_child(child: &mut Child, what: &str) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("node: {what} ignored SIGTERM for {STOP_GRACE:?}, killing it");
    let _ = child.kill();
    let _ = child.wait();
}

/// `runc kill` and `runc delete` of every container runc still knows under `root`.
fn runc_remove_all(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        let runc = |args: &[&str]| {
            let _ = Command::new("runc")
                .arg("--root")
                .arg(root)
                .args(args)
                .arg(&id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        runc(&["kill", "--all"]);
        runc(&["delete", "--force"]);
    }
}

/// Kills the shims of the containerd at `socket` that outlived it (a shim serves one sandbox
/// and normally exits when its containers are deleted).
fn kill_shims(socket: &Path) {
    let socket = socket.to_string_lossy();
    for pid in processes() {
        let Some(cmdline) = super::process::cmdline(pid) else {
            continue;
        };
        if cmdline.contains("containerd-shim") && cmdline.contains(&*socket) {
            super::process::stop_pid(pid, Duration::from_secs(2));
        }
    }
}

fn processes() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Unmounts (lazily, deepest first) whatever is mounted under `dir` in this mount namespace:
/// nothing should be, the node's mounts live in its own namespace; a leak must not outlive it.
fn unmount_under(dir: &Path) {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        if let Err(e) = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH) {
            eprintln!("node: unmounting {}: {e}", point.display());
        }
    }
}

/// Stops the node processes (containerd, kubelet, shims) of starters that no longer exist: a run
/// killed by SIGKILL cannot stop its node itself.
fn remove_stale() {
    for pid in processes() {
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let owner = environ
            .split(|&b| b == 0)
            .filter_map(|var| std::str::from_utf8(var).ok())
            .find_map(|var| var.strip_prefix(OWNER_ENV)?.strip_prefix('='))
            .and_then(|v| v.parse::<u32>().ok());
        if let Some(owner) = owner
            && !pid_exists(owner)
        {
            eprintln!("node: stopping pid {pid}, left by run {owner} that no longer exists");
            // A containerd: its containers first (runc knows them under the node's directory).
            let config = fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .and_then(|raw| {
                    let args: Vec<String> = raw
                        .split(|&b| b == 0)
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect();
                    let at = args.iter().position(|a| a == "--config")?;
                    args.get(at + 1).cloned()
                })
                .filter(|c| c.ends_with("containerd.toml"));
            if let Some(dir) = config.as_deref().and_then(|c| Path::new(c).parent()) {
                runc_remove_all(&dir.join("runc").join("k8s.io"));
            }
            super::process::stop_pid(pid, Duration::from_secs(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusting_a_registry_appends_names_once_and_writes_hosts_toml() {
        let dir = tempfile::tempdir().expect("temp dir");
        let hosts = dir.path().join("hosts");
        fs::write(&hosts, "127.0.0.1\tlocalhost\n").expect("hosts");
        let certs = dir.path().join("certs.d");
        let ca = dir.path().join("ca.pem");
        let names = vec!["registry.cn-hangzhou.aliyuncs.com".to_owned()];
        trust_registry(&hosts, &certs, &ca, &names, b"PEM").expect("first");
        trust_registry(&hosts, &certs, &ca, &names, b"PEM2").expect("second");
        let text = fs::read_to_string(&hosts).expect("read hosts");
        assert_eq!(
            text.matches("registry.cn-hangzhou.aliyuncs.com").count(),
            1,
            "{text}"
        );
        assert_eq!(fs::read(&ca).expect("ca"), b"PEM2");
        let toml = fs::read_to_string(certs.join(&names[0]).join("hosts.toml")).expect("toml");
        assert!(
            toml.starts_with("server = \"https://registry.cn-hangzhou.aliyuncs.com\""),
            "{toml}"
        );
        assert!(
            toml.contains(&format!("ca = \"{}\"", ca.display())),
            "{toml}"
        );
    }

    #[test]
    fn a_name_that_is_not_a_host_name_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let hosts = dir.path().join("hosts");
        fs::write(&hosts, "").expect("hosts");
        let err = trust_registry(
            &hosts,
            dir.path(),
            &dir.path().join("ca.pem"),
            &["evil\"host".to_owned()],
            b"PEM",
        )
        .expect_err("refused");
        assert!(err.contains("evil\"host"), "{err}");
    }
}
