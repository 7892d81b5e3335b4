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

use std::time::Duration;

use ::testcontainers::core::ContainerPort;
use ::testcontainers::{ContainerAsync, TestcontainersError};
use fake_server_kit::container::FakeImage;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;

/// Image name `just images` builds.
pub const IMAGE_NAME: &str = "localhost/acr-refresher/fake-acr";
/// Tag `just images` moves to the latest build.
pub const IMAGE_TAG: &str = fake_server_kit::container::IMAGE_TAG;
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

fake_server_kit::fake_image!(
    /// The fake-acr image with its settings; `Default` serves the documented default world.
    FakeAcr,
    IMAGE_NAME,
    [HTTPS_PORT, ADMIN_PORT],
    READY_LINE
);

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
    /// The account secret shared with fake-metadata.
    pub fn with_account_secret(self, secret: impl Into<String>) -> Self {
        self.set("FAKE_ACR_ACCOUNT_SECRET", secret.into())
    }

    /// Lifetime of issued registry passwords (whole seconds).
    pub fn with_token_lifetime(self, lifetime: Duration) -> Self {
        let whole = Duration::from_secs(lifetime.as_secs());
        self.set("FAKE_ACR_TOKEN_LIFETIME", go_duration::format(whole))
    }

    /// Serve plain HTTP instead of HTTPS.
    pub fn with_plain_http(self) -> Self {
        self.set("FAKE_ACR_PLAIN_HTTP", "true".into())
    }

    /// A settings file (YAML or JSON, as fake-acr's README describes) copied into the container.
    pub fn with_config_yaml(self, yaml: impl Into<String>) -> Self {
        let image = self.image.with_file(CONFIG_PATH, yaml.into().into_bytes());
        Self { image }.set("FAKE_ACR_CONFIG", CONFIG_PATH.into())
    }

    /// The published endpoints of a started container and its test CA.
    pub async fn endpoints(container: &ContainerAsync<Self>) -> Result<Endpoints, EndpointsError> {
        let host = FakeImage::host_of(container).await?;
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

#[cfg(test)]
mod tests {
    use ::testcontainers::Image as _;

    use super::*;

    #[test]
    fn settings_become_the_binarys_environment_and_debug_hides_the_secret() {
        let image = FakeAcr::default()
            .with_token_lifetime(Duration::from_secs(30))
            .with_account_secret("s3cr3t-value")
            .with_config_yaml("advertised_port: 443\n");
        let env = fake_server_kit::testing::environment(&image);
        assert_eq!(env["FAKE_ACR_TOKEN_LIFETIME"], "30s");
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
