//! fake-acr as a throwaway container for other projects' tests (feature `testcontainers`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fake_acr::testcontainers::FakeAcr;
//! use testcontainers::runners::AsyncRunner as _;
//!
//! let container = FakeAcr::default().on_loopback().start().await?;
//! let endpoints = FakeAcr::endpoints(&container).await?;
//! // Trust endpoints.ca_pem, and send every Alibaba host name to endpoints.host:endpoints.port
//! // (a resolver override, a hosts file or a CONNECT proxy); fake-acr dispatches by Host.
//! println!("{}", endpoints.url_for("registry.cn-hangzhou.aliyuncs.com"));
//! # Ok(()) }
//! ```
//!
//! The image is this project's (`just images` builds `localhost/acr-refresher/fake-acr:dev`);
//! [`FakeAcr::with_image`] names another build. Each start makes a new test CA (unless the config
//! names `tls_ca_cert` and `tls_ca_key` files in the container), read from the
//! admin API (`GET /ca.pem`). Token realms carry the container's port (8443) unless a config file
//! sets `advertised_port`, e.g. to the published port when it is fixed with `with_mapped_port`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ::testcontainers::bollard::models::PortBinding;
use ::testcontainers::core::{ContainerPort, CopyDataSource, CopyToContainer, WaitFor};
use ::testcontainers::{
    ContainerAsync, ContainerRequest, Image, ImageExt as _, TestcontainersError,
};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;

/// Image name `just images` builds.
pub const IMAGE_NAME: &str = "localhost/acr-refresher/fake-acr";
/// Tag `just images` moves to the latest build.
pub const IMAGE_TAG: &str = "dev";
/// The HTTPS listener inside the container (OpenAPI, token service, registries).
pub const HTTPS_PORT: ContainerPort = ContainerPort::Tcp(8443);
/// The admin API listener inside the container.
pub const ADMIN_PORT: ContainerPort = ContainerPort::Tcp(8444);
/// Where [`FakeAcr::with_config_yaml`] puts the settings file.
pub const CONFIG_PATH: &str = "/etc/fake-acr/config.yaml";
/// The line the binary prints on stdout once it serves.
const READY_LINE: &str = "fake-acr listening on";

/// Why a started fake-acr's endpoints could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// The container engine could not say where the ports are published.
    #[error("fake-acr container: {0}")]
    Container(#[from] TestcontainersError),
    /// The admin API did not hand out the test CA.
    #[error("fake-acr container: reading the test CA from {url}: {reason}")]
    Ca {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// The fake-acr image with its settings; `Default` serves the documented default world.
#[derive(Clone)]
pub struct FakeAcr {
    name: String,
    tag: String,
    env: BTreeMap<&'static str, String>,
    /// Set by [`FakeAcr::on_loopback`]: the ports are on 127.0.0.1 whatever host the engine reports.
    loopback: bool,
    config: Vec<CopyToContainer>,
}

impl Default for FakeAcr {
    fn default() -> Self {
        Self {
            name: IMAGE_NAME.to_owned(),
            tag: IMAGE_TAG.to_owned(),
            env: BTreeMap::new(),
            loopback: false,
            config: Vec::new(),
        }
    }
}

impl fmt::Debug for FakeAcr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: BTreeMap<_, _> = self
            .env
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if k.contains("SECRET") {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("FakeAcr")
            .field("name", &self.name)
            .field("tag", &self.tag)
            .field("env", &env)
            .field("config_file", &!self.config.is_empty())
            .finish()
    }
}

/// Where a started fake-acr answers, as seen from the test process, and the CA to trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Host the engine publishes ports on (usually `localhost` or 127.0.0.1).
    pub host: String,
    /// Published port of the HTTPS listener: send every fake-acr host name here.
    pub port: u16,
    /// Base URL of the admin API (faults, request log, clock, `GET /hosts`).
    pub admin: String,
    /// The test CA certificate (PEM); empty in plain-HTTP mode.
    pub ca_pem: String,
}

impl Endpoints {
    /// `https://<host>:<published port>`: the URL of a fake-acr host name once it resolves to
    /// [`Endpoints::host`].
    pub fn url_for(&self, host: &str) -> String {
        let scheme = if self.ca_pem.is_empty() {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}:{}", self.port)
    }
}

impl FakeAcr {
    /// Uses another image, e.g. a `:src-<hash>` tag or a build pushed elsewhere.
    pub fn with_image(mut self, name: impl Into<String>, tag: impl Into<String>) -> Self {
        self.name = name.into();
        self.tag = tag.into();
        self
    }

    /// The account secret shared with fake-metadata.
    pub fn with_account_secret(self, secret: impl Into<String>) -> Self {
        self.set("FAKE_ACR_ACCOUNT_SECRET", secret.into())
    }

    /// Lifetime of issued registry passwords (whole seconds).
    pub fn with_token_lifetime(self, lifetime: Duration) -> Self {
        self.set("FAKE_ACR_TOKEN_LIFETIME", lifetime.as_secs().to_string())
    }

    /// Serve plain HTTP instead of HTTPS.
    pub fn with_plain_http(self) -> Self {
        self.set("FAKE_ACR_PLAIN_HTTP", "true".into())
    }

    /// A settings file (YAML or JSON, as fake-acr's README describes) copied into the container.
    pub fn with_config_yaml(mut self, yaml: impl Into<String>) -> Self {
        let data = CopyDataSource::Data(yaml.into().into_bytes());
        self.config = vec![CopyToContainer::new(data, CONFIG_PATH)];
        self.set("FAKE_ACR_CONFIG", CONFIG_PATH.into())
    }

    /// Publishes the container's ports on 127.0.0.1 only, each on a free port (recommended; the
    /// plain image publishes on every interface). Podman before 4.4 reports ports published the
    /// plain way with an empty host address, which testcontainers ignores: there, this is needed.
    pub fn on_loopback(mut self) -> ContainerRequest<Self> {
        self.loopback = true;
        self.with_host_config_modifier(|host| {
            host.publish_all_ports = Some(false);
            let loopback = || {
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }])
            };
            host.port_bindings = Some(
                [HTTPS_PORT, ADMIN_PORT]
                    .iter()
                    .map(|port| (port.to_string(), loopback()))
                    .collect(),
            );
        })
    }

    fn set(mut self, key: &'static str, value: String) -> Self {
        self.env.insert(key, value);
        self
    }

    /// The published endpoints of a started container and its test CA.
    pub async fn endpoints(container: &ContainerAsync<Self>) -> Result<Endpoints, EndpointsError> {
        let host = host_of(container).await?;
        let port = container.get_host_port_ipv4(HTTPS_PORT).await?;
        let admin_port = container.get_host_port_ipv4(ADMIN_PORT).await?;
        let admin = format!("http://{host}:{admin_port}");
        let ca_pem = get_text(&format!("{admin}/ca.pem")).await?;
        Ok(Endpoints {
            host,
            port,
            admin,
            ca_pem,
        })
    }
}

async fn get_text(url: &str) -> Result<String, EndpointsError> {
    let failed = |reason: String| EndpointsError::Ca {
        url: url.to_owned(),
        reason,
    };
    let uri: http::Uri = url.parse().map_err(|e| failed(format!("bad URL: {e}")))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let response = client.get(uri).await.map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(failed(format!("status {status}")));
    }
    String::from_utf8(body.to_vec()).map_err(|e| failed(e.to_string()))
}

impl Image for FakeAcr {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stdout(READY_LINE)]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str()))
    }

    fn copy_to_sources(&self) -> impl IntoIterator<Item = &CopyToContainer> {
        &self.config
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &[HTTPS_PORT, ADMIN_PORT]
    }
}

/// 127.0.0.1 for [`FakeAcr::on_loopback`] containers (testcontainers reports a bridge gateway when
/// it runs inside a container itself), else the engine's host.
async fn host_of(container: &ContainerAsync<FakeAcr>) -> Result<String, TestcontainersError> {
    if container.image().loopback {
        return Ok("127.0.0.1".to_owned());
    }
    Ok(container.get_host().await?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_the_binarys_environment_and_debug_hides_the_secret() {
        let image = FakeAcr::default()
            .with_token_lifetime(Duration::from_secs(30))
            .with_account_secret("s3cr3t-value")
            .with_config_yaml("advertised_port: 443\n");
        let env: BTreeMap<String, String> = image
            .env_vars()
            .into_iter()
            .map(|(k, v)| (k.into().into_owned(), v.into().into_owned()))
            .collect();
        assert_eq!(env["FAKE_ACR_TOKEN_LIFETIME"], "30");
        assert_eq!(env["FAKE_ACR_CONFIG"], CONFIG_PATH);
        assert_eq!(image.copy_to_sources().into_iter().count(), 1);
        assert!(!format!("{image:?}").contains("s3cr3t-value"));
        let endpoints = Endpoints {
            host: "localhost".into(),
            port: 1234,
            admin: String::new(),
            ca_pem: "x".into(),
        };
        assert_eq!(
            endpoints.url_for("cr.cn-hangzhou.aliyuncs.com"),
            "https://cr.cn-hangzhou.aliyuncs.com:1234"
        );
    }
}
