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

use std::time::Duration;

use ::testcontainers::core::ContainerPort;
use ::testcontainers::{ContainerAsync, TestcontainersError};
use fake_server_kit::container::FakeImage;

use crate::settings::HardenedMode;

/// Image name `just images` builds.
pub const IMAGE_NAME: &str = "localhost/acr-refresher/fake-metadata";
/// Tag `just images` moves to the latest build.
pub const IMAGE_TAG: &str = fake_server_kit::container::IMAGE_TAG;
/// The metadata listener inside the container (the image's `FAKE_METADATA_LISTEN`).
pub const METADATA_PORT: ContainerPort = ContainerPort::Tcp(8080);
/// The admin API listener inside the container.
pub const ADMIN_PORT: ContainerPort = ContainerPort::Tcp(8081);
/// The line the binary prints on stdout once both listeners are bound.
const READY_LINE: &str = "fake-metadata ready";

fake_server_kit::fake_image!(
    /// The fake-metadata image with its settings; `Default` serves the binary's defaults.
    FakeMetadata,
    IMAGE_NAME,
    [METADATA_PORT, ADMIN_PORT],
    READY_LINE
);

/// Where a started fake-metadata answers, as seen from the test process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Urls {
    /// Base URL of the metadata paths (`{metadata}/latest/meta-data/...`).
    pub metadata: String,
    /// Base URL of the admin API (faults, request log, rotation, clock).
    pub admin: String,
}

impl FakeMetadata {
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

    /// Lifetime of each set of STS credentials.
    pub fn with_credential_lifetime(self, lifetime: Duration) -> Self {
        self.set(
            "FAKE_METADATA_CREDENTIAL_LIFETIME",
            go_duration::format(lifetime),
        )
    }

    /// The account secret shared with fake-acr.
    pub fn with_account_secret(self, secret: impl Into<String>) -> Self {
        self.set("FAKE_METADATA_ACCOUNT_SECRET", secret.into())
    }

    /// The URLs of a started container, on the host the container engine publishes ports on.
    pub async fn urls(container: &ContainerAsync<Self>) -> Result<Urls, TestcontainersError> {
        let host = FakeImage::host_of(container).await?;
        let metadata = container.get_host_port_ipv4(METADATA_PORT).await?;
        let admin = container.get_host_port_ipv4(ADMIN_PORT).await?;
        Ok(Urls {
            metadata: format!("http://{host}:{metadata}"),
            admin: format!("http://{host}:{admin}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use ::testcontainers::Image as _;

    use super::*;

    #[test]
    fn settings_become_the_binarys_environment_and_debug_hides_the_secret() {
        let image = FakeMetadata::default()
            .with_region("cn-beijing")
            .with_hardened(HardenedMode::Required)
            .with_credential_lifetime(Duration::from_secs(90))
            .with_account_secret("s3cr3t-value");
        let env = fake_server_kit::testing::environment(&image);
        assert_eq!(env["FAKE_METADATA_REGION"], "cn-beijing");
        assert_eq!(env["FAKE_METADATA_HARDENED"], "required");
        assert_eq!(env["FAKE_METADATA_CREDENTIAL_LIFETIME"], "1m30s");
        assert_eq!((image.name(), image.tag()), (IMAGE_NAME, IMAGE_TAG));
        assert!(!format!("{image:?}").contains("s3cr3t-value"));
    }
}
