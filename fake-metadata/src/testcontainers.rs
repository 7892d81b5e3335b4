//! fake-metadata as a throwaway container for other projects' tests (feature `testcontainers`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fake_metadata::testcontainers::FakeMetadata;
//! use testcontainers::runners::AsyncRunner as _;
//!
//! let container = FakeMetadata::default().with_region("cn-beijing").on_loopback().start().await?;
//! let urls = FakeMetadata::urls(&container).await?;
//! // Point ECS-RAM-role clients at it: ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT = urls.metadata.
//! println!("{}/latest/meta-data/ram/security-credentials/", urls.metadata);
//! # Ok(()) }
//! ```
//!
//! The image is this project's (`just images` builds `localhost/acr-refresher/fake-metadata:dev`);
//! [`FakeMetadata::with_image`] names another build. Settings travel as the binary's
//! `FAKE_METADATA_*` environment variables.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ::testcontainers::bollard::models::PortBinding;
use ::testcontainers::core::{ContainerPort, WaitFor};
use ::testcontainers::{
    ContainerAsync, ContainerRequest, Image, ImageExt as _, TestcontainersError,
};

use crate::settings::{HardenedMode, format_duration};

/// Image name `just images` builds.
pub const IMAGE_NAME: &str = "localhost/acr-refresher/fake-metadata";
/// Tag `just images` moves to the latest build.
pub const IMAGE_TAG: &str = "dev";
/// The metadata listener inside the container (the image's `FAKE_METADATA_LISTEN`).
pub const METADATA_PORT: ContainerPort = ContainerPort::Tcp(8080);
/// The admin API listener inside the container.
pub const ADMIN_PORT: ContainerPort = ContainerPort::Tcp(8081);
/// The line the binary prints on stdout once both listeners are bound.
const READY_LINE: &str = "fake-metadata ready";

/// The fake-metadata image with its settings; `Default` serves the binary's defaults.
#[derive(Clone)]
pub struct FakeMetadata {
    name: String,
    tag: String,
    env: BTreeMap<&'static str, String>,
    /// Set by [`FakeMetadata::on_loopback`]: the ports are on 127.0.0.1 whatever host the engine reports.
    loopback: bool,
}

impl Default for FakeMetadata {
    fn default() -> Self {
        Self {
            name: IMAGE_NAME.to_owned(),
            tag: IMAGE_TAG.to_owned(),
            env: BTreeMap::new(),
            loopback: false,
        }
    }
}

impl fmt::Debug for FakeMetadata {
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
        f.debug_struct("FakeMetadata")
            .field("name", &self.name)
            .field("tag", &self.tag)
            .field("env", &env)
            .finish()
    }
}

/// Where a started fake-metadata answers, as seen from the test process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Urls {
    /// Base URL of the metadata paths (`{metadata}/latest/meta-data/...`).
    pub metadata: String,
    /// Base URL of the admin API (faults, request log, rotation, clock).
    pub admin: String,
}

impl FakeMetadata {
    /// Uses another image, e.g. a `:src-<hash>` tag or a build pushed elsewhere.
    pub fn with_image(mut self, name: impl Into<String>, tag: impl Into<String>) -> Self {
        self.name = name.into();
        self.tag = tag.into();
        self
    }

    /// Region id the instance reports.
    pub fn with_region(self, region: impl Into<String>) -> Self {
        self.set("FAKE_METADATA_REGION", region.into())
    }

    /// The attached RAM role.
    pub fn with_role(self, role: impl Into<String>) -> Self {
        self.set("FAKE_METADATA_ROLE", role.into())
    }

    /// No RAM role attached: the credentials listing answers 404.
    pub fn without_role(self) -> Self {
        self.set("FAKE_METADATA_NO_ROLE", "true".into())
    }

    /// IMDS hardened mode.
    pub fn with_hardened(self, mode: HardenedMode) -> Self {
        let text = match mode {
            HardenedMode::Optional => "optional",
            HardenedMode::Required => "required",
        };
        self.set("FAKE_METADATA_HARDENED", text.into())
    }

    /// Lifetime of each set of STS credentials (whole seconds).
    pub fn with_credential_lifetime(self, lifetime: Duration) -> Self {
        self.set(
            "FAKE_METADATA_CREDENTIAL_LIFETIME",
            format_duration(lifetime),
        )
    }

    /// The account secret shared with fake-acr.
    pub fn with_account_secret(self, secret: impl Into<String>) -> Self {
        self.set("FAKE_METADATA_ACCOUNT_SECRET", secret.into())
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
                [METADATA_PORT, ADMIN_PORT]
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

    /// The URLs of a started container, on the host the container engine publishes ports on.
    pub async fn urls(container: &ContainerAsync<Self>) -> Result<Urls, TestcontainersError> {
        let host = host_of(container).await?;
        let metadata = container.get_host_port_ipv4(METADATA_PORT).await?;
        let admin = container.get_host_port_ipv4(ADMIN_PORT).await?;
        Ok(Urls {
            metadata: format!("http://{host}:{metadata}"),
            admin: format!("http://{host}:{admin}"),
        })
    }
}

impl Image for FakeMetadata {
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

    fn expose_ports(&self) -> &[ContainerPort] {
        &[METADATA_PORT, ADMIN_PORT]
    }
}

/// 127.0.0.1 for [`FakeMetadata::on_loopback`] containers (testcontainers reports a bridge gateway when
/// it runs inside a container itself), else the engine's host.
async fn host_of(container: &ContainerAsync<FakeMetadata>) -> Result<String, TestcontainersError> {
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
        let image = FakeMetadata::default()
            .with_region("cn-beijing")
            .with_hardened(HardenedMode::Required)
            .with_credential_lifetime(Duration::from_secs(90))
            .with_account_secret("s3cr3t-value");
        let env: BTreeMap<String, String> = image
            .env_vars()
            .into_iter()
            .map(|(k, v)| (k.into().into_owned(), v.into().into_owned()))
            .collect();
        assert_eq!(env["FAKE_METADATA_REGION"], "cn-beijing");
        assert_eq!(env["FAKE_METADATA_HARDENED"], "required");
        assert_eq!(env["FAKE_METADATA_CREDENTIAL_LIFETIME"], "1m30s");
        assert_eq!((image.name(), image.tag()), (IMAGE_NAME, IMAGE_TAG));
        assert!(!format!("{image:?}").contains("s3cr3t-value"));
    }
}
