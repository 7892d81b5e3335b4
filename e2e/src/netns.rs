//! Netns mode: the run's network namespace, where the fakes answer at the real Alibaba Cloud
//! addresses and the implementation runs unchanged inside it (`ip netns exec`).
//!
//! One namespace per run, `acr-conformance-<pid>-<n>`, deleted when the run ends (Ctrl-C
//! included); one a killed run left behind is deleted by the next run. Inside it:
//! - `100.100.100.200:80`: fake-metadata (the ECS metadata address, on the namespace's loopback);
//! - `127.0.0.1:443`: fake-acr, under every host name it serves: `/etc/netns/<name>/hosts`, which
//!   `ip netns exec` mounts over `/etc/hosts`, maps them all there;
//! - the API server at the address of the kubeconfig's server, so the kubeconfig works unchanged.
//!
//! Each is a listener the suite binds inside the namespace (a short-lived thread enters it just to
//! create the socket) and forwards to the fake or API server on the host's loopback. The suite's
//! process is the only bridge: the namespace has no other interface, so nothing an implementation
//! sends leaves it except to these three.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::task::JoinHandle;

/// The ECS metadata address clients have built in.
pub const METADATA_ADDR: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)), 80);
/// Where fake-acr answers inside the namespace (every host name it serves resolves here).
pub const ACR_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 443);
/// Prefix of the namespaces' names.
const PREFIX: &str = "acr-conformance";

/// Why netns mode could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// An `ip` command failed.
    #[error("netns mode: `{command}` failed: {reason}")]
    Ip {
        /// The command line.
        command: String,
        /// Exit status and stderr, or the I/O error.
        reason: String,
    },
    /// A listener could not be bound inside the namespace.
    #[error("netns mode: cannot listen on {addr} inside namespace {netns}: {reason}")]
    Bind {
        /// The namespace.
        netns: String,
        /// The address.
        addr: SocketAddr,
        /// What failed.
        reason: String,
    },
    /// A node in the namespace could not be told about the registry (hosts and CA).
    #[error("netns mode: the node in namespace {netns} cannot trust fake-acr: {reason}")]
    Registry {
        /// The namespace.
        netns: String,
        /// What failed.
        reason: String,
    },
    /// The namespace's hosts file could not be written.
    #[error("netns mode: cannot write {path}: {source}")]
    Hosts {
        /// The file.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
}

async fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| NetnsError::Ip {
            command: command.clone(),
            reason: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Ip {
            command,
            reason: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// A TCP forwarder: a listener inside the namespace, connections copied to a target on the
/// host that can change between scenarios.
struct Forward {
    target: Arc<Mutex<Option<SocketAddr>>>,
    task: JoinHandle<()>,
}

impl Forward {
    async fn start(netns: &str, addr: SocketAddr) -> Result<Self, NetnsError> {
        let listener = bind_inside(netns, addr).await?;
        let target: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let current = target.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Some(to) = *current.lock().unwrap_or_else(|e| e.into_inner()) else {
                    continue; // no scenario running: refuse by closing
                };
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Self { target, task })
    }

    fn point_at(&self, to: SocketAddr) {
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = Some(to);
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` inside `netns`: a thread enters the namespace, creates the socket and ends; the
/// socket stays in the namespace it was created in.
async fn bind_inside(netns: &str, addr: SocketAddr) -> Result<TcpListener, NetnsError> {
    let path = Path::new("/var/run/netns").join(netns);
    let fail = |reason: String| NetnsError::Bind {
        netns: netns.to_string(),
        addr,
        reason,
    };
    let listener = std::thread::spawn(move || -> Result<std::net::TcpListener, String> {
        let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| format!("setns: {e}"))?;
        let listener = std::net::TcpListener::bind(addr).map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(listener)
    })
    .join()
    .map_err(|_| fail("the binding thread panicked".into()))?
    .map_err(fail)?;
    TcpListener::from_std(listener).map_err(|e| NetnsError::Bind {
        netns: netns.to_string(),
        addr,
        reason: e.to_string(),
    })
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Told every host name fake-acr serves and fake-acr's CA (PEM) whenever the namespace is
/// pointed at new fakes: a node's container runtime in the namespace must resolve and trust them.
pub type RegistryHook = Box<dyn Fn(&[String], &[u8]) -> Result<(), String> + Send + Sync>;

/// The run's network namespace with its forwarders; deleted when dropped.
pub struct Netns {
    name: String,
    etc_dir: PathBuf,
    metadata: Forward,
    acr: Forward,
    _apiserver: Option<Forward>,
    registry_hook: Mutex<Option<RegistryHook>>,
}

impl Netns {
    /// Creates the namespace, binds 100.100.100.200:80 and 127.0.0.1:443 inside it, and
    /// forwards `apiserver` (the kubeconfig's server address, when it is on this machine) there
    /// too. Namespaces of runs that no longer exist are deleted first.
    pub async fn create(apiserver: Option<SocketAddr>) -> Result<Self, NetnsError> {
        remove_stale().await;
        let name = format!(
            "{PREFIX}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]).await?;
        let etc_dir = Path::new("/etc/netns").join(&name);
        // From here on, a failure deletes what exists (drop of a half-built value is not
        // possible, so clean up by hand).
        let built = async {
            ip(&["-n", &name, "link", "set", "lo", "up"]).await?;
            ip(&[
                "-n",
                &name,
                "addr",
                "add",
                &format!("{}/32", METADATA_ADDR.ip()),
                "dev",
                "lo",
            ])
            .await?;
            std::fs::create_dir_all(&etc_dir).map_err(|source| NetnsError::Hosts {
                path: etc_dir.clone(),
                source,
            })?;
            write_hosts(&etc_dir, &[])?;
            let metadata = Forward::start(&name, METADATA_ADDR).await?;
            let acr = Forward::start(&name, ACR_ADDR).await?;
            let apiserver = match apiserver {
                Some(addr) => {
                    // A loopback address exists in the namespace; any other is added to its
                    // loopback so the kubeconfig's server address can be bound there.
                    if !addr.ip().is_loopback() {
                        let prefix = if addr.is_ipv4() { 32 } else { 128 };
                        ip(&[
                            "-n",
                            &name,
                            "addr",
                            "add",
                            &format!("{}/{prefix}", addr.ip()),
                            "dev",
                            "lo",
                        ])
                        .await?;
                    }
                    let f = Forward::start(&name, addr).await?;
                    f.point_at(addr);
                    Some(f)
                }
                None => None,
            };
            Ok::<_, NetnsError>((metadata, acr, apiserver))
        }
        .await;
        match built {
            Ok((metadata, acr, apiserver)) => Ok(Self {
                name,
                etc_dir,
                metadata,
                acr,
                _apiserver: apiserver,
                registry_hook: Mutex::new(None),
            }),
            Err(e) => {
                delete(&name).await;
                Err(e)
            }
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Points the namespace at this scenario's fakes: fake-metadata's and fake-acr's listeners
    /// on the host, and every host name fake-acr serves.
    pub fn point_at(
        &self,
        metadata: SocketAddr,
        acr: SocketAddr,
        hosts: &[String],
    ) -> Result<(), NetnsError> {
        write_hosts(&self.etc_dir, hosts)?;
        self.metadata.point_at(metadata);
        self.acr.point_at(acr);
        Ok(())
    }

    /// Registers the hook [`Netns::registry_served`] calls (a node running in the namespace).
    pub fn on_registry(&self, hook: RegistryHook) {
        *self.registry_hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Tells the namespace's node, if it has one, the host names fake-acr serves and its CA.
    pub fn registry_served(&self, hosts: &[String], ca_pem: &[u8]) -> Result<(), NetnsError> {
        let hook = self.registry_hook.lock().unwrap_or_else(|e| e.into_inner());
        match hook.as_ref() {
            Some(hook) => hook(hosts, ca_pem).map_err(|reason| NetnsError::Registry {
                netns: self.name.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// A command running `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.etc_dir);
        let status = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!(
                "acr-conformance: warning: could not delete network namespace {} (ip netns del {})",
                self.name, self.name
            );
        }
    }
}

/// `/etc/netns/<name>/hosts`: localhost, and every host name fake-acr serves at [`ACR_ADDR`].
fn write_hosts(etc_dir: &Path, hosts: &[String]) -> Result<(), NetnsError> {
    let mut text = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost\n");
    for host in hosts {
        text.push_str(&format!("{}\t{host}\n", ACR_ADDR.ip()));
    }
    let path = etc_dir.join("hosts");
    let partial = etc_dir.join("hosts.partial");
    // Written whole and renamed: a process starting meanwhile sees the old or the new file.
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|source| NetnsError::Hosts { path, source })
}

async fn delete(name: &str) {
    let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(name));
    let _ = ip(&["netns", "del", name]).await;
}

/// Deletes namespaces `acr-conformance-<pid>-<n>` whose process is gone (a run killed by
/// SIGKILL cannot clean up after itself).
async fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/var/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&format!("{PREFIX}-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            delete(&name).await;
        }
    }
}

/// The address of a kubeconfig's server URL when it is an IP literal (`https://127.0.0.1:6443`).
pub fn server_address(url: &str) -> Option<SocketAddr> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip: IpAddr = authority.trim_matches(['[', ']']).parse().ok()?;
    Some(SocketAddr::new(ip, 443))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_from_kubeconfig_urls() {
        assert_eq!(
            server_address("https://127.0.0.1:6443"),
            Some("127.0.0.1:6443".parse().unwrap())
        );
        assert_eq!(
            server_address("https://10.0.0.1"),
            Some("10.0.0.1:443".parse().unwrap())
        );
        assert_eq!(
            server_address("https://[::1]:8443/"),
            Some("[::1]:8443".parse().unwrap())
        );
        assert_eq!(server_address("https://kind-control-plane:6443"), None);
    }

    #[test]
    fn hosts_file_maps_every_name_to_fake_acr() {
        let dir = tempfile::tempdir().unwrap();
        write_hosts(dir.path(), &["cr.cn-hangzhou.aliyuncs.com".into()]).unwrap();
        let text = std::fs::read_to_string(dir.path().join("hosts")).unwrap();
        assert!(
            text.contains("127.0.0.1\tcr.cn-hangzhou.aliyuncs.com\n"),
            "{text}"
        );
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
    }
}
