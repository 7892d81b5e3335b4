//! kubelet's own credential lookup as the suite's judge: a long-running `kubeplane keyring-server`
//! (`e2e/kubeplane/keyring.go`, linking `k8s.io/kubernetes/pkg/credentialprovider`) answers which
//! credentials kubelet would hand the runtime for an image, in its order — from a Pod's pull
//! Secrets, and from the plugins of a CredentialProviderConfig, exec'd and cached by kubelet's
//! `pkg/credentialprovider/plugin`.
//!
//! One JSON line per question on the server's stdin, one per answer on its stdout; questions are
//! serialised. The server is killed when this handle is dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

/// Longest a question may take: a plugin exec inside it may take this long on kubelet too.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Errors talking to kubelet's keyring.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// kubeplane could not be built or found.
    #[error("kubelet keyring: {0}")]
    Kubeplane(String),
    /// The server could not be started.
    #[error("kubelet keyring: cannot start {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// I/O error.
        source: std::io::Error,
    },
    /// The server stopped answering (exited, or wrote something that is not an answer).
    #[error("kubelet keyring: {0}")]
    Broken(String),
    /// kubelet's code refused the question (an image it cannot parse, a corrupt Secret).
    #[error("kubelet refuses {image}: {reason}")]
    Refused {
        /// The image asked about.
        image: String,
        /// kubelet's error.
        reason: String,
    },
}

/// One credential kubelet would try (never printed: `Debug` hides the password).
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
pub struct KubeletCredential {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for KubeletCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletCredential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// kubelet's answer for one image.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct KubeletLookup {
    /// The repository kubelet looked up (`docker.io/library/nginx`).
    #[serde(default)]
    pub repo: String,
    /// The credentials in kubelet's order (empty: anonymous pull).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub credentials: Vec<KubeletCredential>,
    #[serde(default)]
    error: String,
}

/// Go encodes a nil slice as `null`.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<KubeletCredential>, D::Error> {
    Ok(<Option<Vec<KubeletCredential>> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

struct Pipes {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// A running `kubeplane keyring-server`.
pub struct KubeletKeyring {
    pipes: Mutex<Pipes>,
    _child: Child,
}

/// Where a plugin-backed keyring takes its plugins from (kubelet's two flags).
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// `--image-credential-provider-config`.
    pub config: PathBuf,
    /// `--image-credential-provider-bin-dir`.
    pub bin_dir: PathBuf,
}

/// The kubeplane binary (built on first use, cached).
pub async fn kubeplane() -> Result<PathBuf, KeyringError> {
    tokio::task::spawn_blocking(crate::cluster::ensure_kubeplane)
        .await
        .map_err(|e| KeyringError::Kubeplane(e.to_string()))?
        .map_err(|e| KeyringError::Kubeplane(e.to_string()))
}

impl KubeletKeyring {
    /// The judge of pulls for a run: kubelet's keyring, unless the control plane comes from
    /// envtest's binaries (`KUBEBUILDER_ASSETS`) and no kubeplane is at hand without the Go build
    /// — then `None`: the suite's Rust port of kubelet's lookup (`pull_secret`) judges, and a line
    /// on stderr says so.
    pub async fn judge() -> Result<Option<Self>, KeyringError> {
        let envtest = matches!(crate::cluster::kubeplane::envtest_assets(), Ok(Some(_)));
        if envtest && crate::cluster::kubeplane::kubeplane_without_build().is_none() {
            eprintln!(
                "acr-conformance: {} is set and no kubeplane is built: pulls are judged by the suite's port of kubelet's keyring lookup, not kubelet's own code (build kubeplane once, or set {}, for that)",
                crate::cluster::kubeplane::KUBEBUILDER_ASSETS_ENV,
                crate::cluster::kubeplane::KUBEPLANE_BIN_ENV
            );
            return Ok(None);
        }
        Self::secrets_only().await.map(Some)
    }

    /// A keyring of pull Secrets only (what the pull probe asks).
    pub async fn secrets_only() -> Result<Self, KeyringError> {
        let mut command = Command::new(kubeplane().await?);
        command.arg("keyring-server").stderr(Stdio::null());
        Self::spawn(command).await
    }

    /// Starts `command`, which must run `kubeplane keyring-server …` (possibly wrapped, e.g. in
    /// `ip netns exec`); its stderr is left as configured by the caller (kubelet's log lines).
    pub async fn spawn(mut command: Command) -> Result<Self, KeyringError> {
        let shown = format!("{:?}", command.as_std());
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| KeyringError::Spawn {
                command: shown,
                source,
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(KeyringError::Broken("no pipes to the server".into()));
        };
        Ok(Self {
            pipes: Mutex::new(Pipes {
                stdin,
                stdout: BufReader::new(stdout),
            }),
            _child: child,
        })
    }

    /// What kubelet would hand the runtime for a container `image` of a Pod whose pull Secrets
    /// are `secrets` (core/v1 Secret JSON objects).
    pub async fn lookup(
        &self,
        image: &str,
        secrets: &[serde_json::Value],
    ) -> Result<KubeletLookup, KeyringError> {
        let mut line = serde_json::to_vec(&serde_json::json!({"image": image, "secrets": secrets}))
            .map_err(|e| KeyringError::Broken(e.to_string()))?;
        line.push(b'\n');
        let mut pipes = self.pipes.lock().await;
        let exchange = async {
            pipes.stdin.write_all(&line).await?;
            pipes.stdin.flush().await?;
            let mut answer = String::new();
            let n = pipes.stdout.read_line(&mut answer).await?;
            Ok::<_, std::io::Error>((n, answer))
        };
        let (n, answer) = tokio::time::timeout(ANSWER_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                KeyringError::Broken(format!(
                    "no answer for {image} within {} s",
                    ANSWER_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| KeyringError::Broken(format!("the server is gone: {e}")))?;
        if n == 0 {
            return Err(KeyringError::Broken(
                "the server exited (its reason is on its stderr)".into(),
            ));
        }
        let parsed: KubeletLookup = serde_json::from_str(&answer)
            .map_err(|e| KeyringError::Broken(format!("not an answer: {:?}", e.classify())))?;
        if !parsed.error.is_empty() {
            return Err(KeyringError::Refused {
                image: image.into(),
                reason: parsed.error,
            });
        }
        Ok(parsed)
    }
}

/// A pull Secret of type `kubernetes.io/dockerconfigjson` holding `auths` (key → user, password),
/// as JSON for [`KubeletKeyring::lookup`].
pub fn dockerconfigjson_secret<'a>(
    name: &str,
    auths: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> serde_json::Value {
    use base64::Engine as _;
    let auths: serde_json::Map<String, serde_json::Value> = auths
        .into_iter()
        .map(|(key, username, password)| {
            (
                key.to_string(),
                serde_json::json!({"username": username, "password": password}),
            )
        })
        .collect();
    let config = serde_json::json!({ "auths": auths }).to_string();
    serde_json::json!({
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config)},
    })
}
