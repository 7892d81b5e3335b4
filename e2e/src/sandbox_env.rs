//! The sandbox's env file: what it says (`KEY='value'` lines a POSIX shell sources, each group
//! with a comment saying how to use it) and how it is written (whole, never half).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::netns::{ACR_ADDR, METADATA_ADDR};
use crate::sandbox::SandboxError;

/// What the env file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The kubeconfig (user `acr-conformance:implementation`, in `system:masters`).
    pub kubeconfig: PathBuf,
    /// The API server's URL.
    pub apiserver: String,
    /// fake-metadata's URL on this machine's loopback.
    pub metadata_url: String,
    /// fake-metadata's admin API.
    pub metadata_admin: String,
    /// fake-acr's TLS listener on this machine's loopback.
    pub acr_address: SocketAddr,
    /// fake-acr's admin API.
    pub acr_admin: String,
    /// PEM file with only fake-acr's test CA.
    pub ca_file: PathBuf,
    /// The system CAs plus the test CA.
    pub ca_bundle: PathBuf,
    /// Every Alibaba host name fake-acr serves.
    pub hosts: Vec<String>,
    /// `/etc/hosts` lines mapping them to fake-acr's loopback address.
    pub hosts_file: PathBuf,
    /// The CONNECT proxy sending those names on port 443 to fake-acr.
    pub proxy_url: String,
    /// The node's region fake-metadata reports.
    pub region: String,
    /// The node's RAM role, if it has one.
    pub role: Option<String>,
    /// Netns mode: the namespace's name.
    pub netns: Option<String>,
    /// `--scenario`: the scenario prepared.
    pub scenario: Option<String>,
    /// `--with-reference`: the reference refresher's output.
    pub reference_log: Option<PathBuf>,
}

/// `'value'` for a POSIX shell.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

impl Facts {
    /// The env file: `KEY='value'` lines with comments saying how to use them.
    pub fn env_file(&self) -> String {
        let mut out = String::new();
        let mut var = |comment: &str, key: &str, value: &str| {
            if !comment.is_empty() {
                let _ = writeln!(out, "# {comment}");
            }
            let _ = writeln!(out, "{key}={}", quote(value));
        };
        let port = self.acr_address.port().to_string();
        let ip = self.acr_address.ip().to_string();
        var(
            "acr-conformance sandbox: `set -a; . THIS-FILE; set +a` exports everything below.\n# \
             Valid while the sandbox runs; removed when it stops.\n# The local control plane \
             (user acr-conformance:implementation, in system:masters).",
            "KUBECONFIG",
            &self.kubeconfig.to_string_lossy(),
        );
        var("", "ACR_SANDBOX_APISERVER", &self.apiserver);
        var(
            "fake-metadata (the ECS metadata service), on this machine's loopback.",
            "ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT",
            &self.metadata_url,
        );
        var("", "ACR_SANDBOX_METADATA_URL", &self.metadata_url);
        var("", "ALIBABA_CLOUD_REGION_ID", &self.region);
        if let Some(role) = &self.role {
            var("", "ALIBABA_CLOUD_ECS_METADATA", role);
        }
        var(
            "fake-metadata's admin API: GET /requests, /state; POST /faults, /rotate …",
            "ACR_SANDBOX_METADATA_ADMIN",
            &self.metadata_admin,
        );
        var(
            "fake-acr: every host name in ACR_SANDBOX_HOSTS, over TLS at this address (trust \
             ACR_SANDBOX_CA_FILE).",
            "ACR_SANDBOX_ACR_ADDRESS",
            &self.acr_address.to_string(),
        );
        var("", "ACR_SANDBOX_ACR_PORT", &port);
        var(
            "fake-acr's admin API: GET /log, /settings; POST /faults …",
            "ACR_SANDBOX_ACR_ADMIN",
            &self.acr_admin,
        );
        var(
            "fake-acr's test CA alone, and the system CAs plus it.",
            "ACR_SANDBOX_CA_FILE",
            &self.ca_file.to_string_lossy(),
        );
        var(
            "",
            "ACR_SANDBOX_CA_BUNDLE",
            &self.ca_bundle.to_string_lossy(),
        );
        var("", "SSL_CERT_FILE", &self.ca_bundle.to_string_lossy());
        var("", "ACR_SANDBOX_HOSTS", &self.hosts.join(" "));
        let curl: Vec<String> = self
            .hosts
            .iter()
            .map(|h| format!("--resolve {h}:{port}:{ip}"))
            .collect();
        var(
            "How the host names resolve. curl: curl $ACR_SANDBOX_CURL_RESOLVE --cacert \
             \"$ACR_SANDBOX_CA_FILE\" https://registry.cn-hangzhou.aliyuncs.com:$ACR_SANDBOX_ACR_PORT/v2/",
            "ACR_SANDBOX_CURL_RESOLVE",
            &curl.join(" "),
        );
        let resolve: Vec<String> = self.hosts.iter().map(|h| format!("{h}={ip}")).collect();
        var(
            "acr-refresher run --resolve (host=ip, with --endpoint-template \
             https://cr.{region}.aliyuncs.com:$ACR_SANDBOX_ACR_PORT).",
            "ACR_SANDBOX_RESOLVE",
            &resolve.join(","),
        );
        var(
            "/etc/hosts lines for the same mapping (the port stays ACR_SANDBOX_ACR_PORT).",
            "ACR_SANDBOX_HOSTS_FILE",
            &self.hosts_file.to_string_lossy(),
        );
        var(
            "Or keep port 443: this CONNECT proxy sends those host names to fake-acr \
             (curl --proxy \"$ACR_SANDBOX_PROXY\" …; HTTPS_PROXY for a program).",
            "ACR_SANDBOX_PROXY",
            &self.proxy_url,
        );
        if let Some(netns) = &self.netns {
            var(
                &format!(
                    "Network namespace: `ip netns exec \"$ACR_SANDBOX_NETNS\" PROGRAM` runs PROGRAM \
                     where fake-metadata is {} (port {}), every host name resolves to {} \
                     (fake-acr, port {}) and the API server is at the kubeconfig's address.",
                    METADATA_ADDR.ip(),
                    METADATA_ADDR.port(),
                    ACR_ADDR.ip(),
                    ACR_ADDR.port()
                ),
                "ACR_SANDBOX_NETNS",
                netns,
            );
        }
        if let Some(id) = &self.scenario {
            var(
                "The scenario whose setup the fakes and the ConfigMap reproduce.",
                "ACR_SANDBOX_SCENARIO",
                id,
            );
        }
        if let Some(log) = &self.reference_log {
            var(
                "The reference refresher runs against the sandbox; its output:",
                "ACR_SANDBOX_REFERENCE_LOG",
                &log.to_string_lossy(),
            );
        }
        out
    }
}

/// Writes `text` to `path` whole (a reader sees nothing or everything).
pub fn write_whole(path: &Path, text: &str) -> Result<(), SandboxError> {
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|source| SandboxError::Io {
            action: format!("writing {}", path.display()),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            kubeconfig: "/tmp/k/admin's.kubeconfig".into(),
            apiserver: "https://127.0.0.1:6443".into(),
            metadata_url: "http://127.0.0.1:1000".into(),
            metadata_admin: "http://127.0.0.1:1001".into(),
            acr_address: "127.0.0.1:2000".parse().unwrap(),
            acr_admin: "http://127.0.0.1:2001".into(),
            ca_file: "/tmp/w/fake-acr-ca.pem".into(),
            ca_bundle: "/tmp/w/ca-bundle.pem".into(),
            hosts: vec![
                "cr.cn-hangzhou.aliyuncs.com".into(),
                "registry.cn-hangzhou.aliyuncs.com".into(),
            ],
            hosts_file: "/tmp/w/hosts".into(),
            proxy_url: "http://127.0.0.1:3000".into(),
            region: "cn-hangzhou".into(),
            role: Some("worker-role".into()),
            netns: Some("acr-conformance-1-0".into()),
            scenario: Some("TR1".into()),
            reference_log: None,
        }
    }

    /// What `sh` would set from the env file's `KEY='value'` lines.
    fn parse(text: &str) -> std::collections::BTreeMap<String, String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("KEY=value");
                let v = v
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .expect("quoted");
                (k.to_string(), v.replace(r"'\''", "'"))
            })
            .collect()
    }

    #[test]
    fn the_env_file_names_every_endpoint_and_how_host_names_resolve() {
        let vars = parse(&facts().env_file());
        assert_eq!(vars["KUBECONFIG"], "/tmp/k/admin's.kubeconfig");
        assert_eq!(
            vars["ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT"],
            "http://127.0.0.1:1000"
        );
        assert_eq!(vars["ACR_SANDBOX_METADATA_ADMIN"], "http://127.0.0.1:1001");
        assert_eq!(vars["ACR_SANDBOX_ACR_ADMIN"], "http://127.0.0.1:2001");
        assert_eq!(vars["ACR_SANDBOX_ACR_PORT"], "2000");
        assert_eq!(vars["SSL_CERT_FILE"], "/tmp/w/ca-bundle.pem");
        assert_eq!(
            vars["ACR_SANDBOX_CURL_RESOLVE"],
            "--resolve cr.cn-hangzhou.aliyuncs.com:2000:127.0.0.1 \
             --resolve registry.cn-hangzhou.aliyuncs.com:2000:127.0.0.1"
        );
        assert_eq!(
            vars["ACR_SANDBOX_RESOLVE"],
            "cr.cn-hangzhou.aliyuncs.com=127.0.0.1,registry.cn-hangzhou.aliyuncs.com=127.0.0.1"
        );
        assert_eq!(vars["ACR_SANDBOX_NETNS"], "acr-conformance-1-0");
        assert_eq!(vars["ALIBABA_CLOUD_ECS_METADATA"], "worker-role");
        assert_eq!(vars["ACR_SANDBOX_SCENARIO"], "TR1");
        assert!(!vars.contains_key("ACR_SANDBOX_REFERENCE_LOG"));
    }

    #[test]
    fn the_env_file_is_valid_shell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.env");
        std::fs::write(&path, facts().env_file()).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"set -a; . "$0"; set +a; printf '%s|%s' "$KUBECONFIG" "$ACR_SANDBOX_HOSTS""#)
            .arg(&path)
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/tmp/k/admin's.kubeconfig|cr.cn-hangzhou.aliyuncs.com registry.cn-hangzhou.aliyuncs.com"
        );
    }
}
