//! Cloud credentials the refresher signs ACR calls with.
//!
//! - `ecs_metadata`: the node's RAM role from the ECS instance metadata service (default).
//! - `access_key`: a static AccessKey pair read from a Secret (registered clusters).

pub mod access_key;
pub mod ecs_metadata;

use std::sync::Arc;

use acs_wire::sign::Credentials;
use futures::future::BoxFuture;

pub use access_key::StaticAccessKey;
pub use ecs_metadata::{EcsMetadataClient, EcsMetadataSettings};

/// Why no cloud credentials could be obtained; never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The metadata server could not be reached or did not answer in time.
    #[error("ECS metadata {url}: {reason}")]
    MetadataUnreachable {
        /// The URL asked (no secrets in it).
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The metadata server answered with an unexpected HTTP status.
    #[error("ECS metadata {url}: HTTP {status}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    MetadataStatus {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// What the status most likely means.
        hint: Option<&'static str>,
    },
    /// The credentials document was not usable.
    #[error("ECS metadata {url}: {reason}")]
    MetadataDocument {
        /// The URL asked.
        url: String,
        /// What is wrong with the document (never a field value).
        reason: String,
    },
    /// Hardened mode is required (`ALIBABA_CLOUD_IMDSV1_DISABLED=true`) and no token could be had.
    #[error("ECS metadata hardened mode required but no token: {0}")]
    HardenedModeUnavailable(Box<CredentialsError>),
    /// The AccessKey Secret could not be read or lacks a key.
    #[error("AccessKey Secret {namespace}/{name}: {reason}")]
    AccessKeySecret {
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Anything that hands out signing credentials.
pub trait CredentialSource: Send + Sync {
    /// Credentials valid now (renewed if needed).
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>>;
    /// Forgets cached credentials because a server rejected them (expired, rotated).
    fn invalidate(&self);
}

/// A shared credential source.
pub type SharedCredentials = Arc<dyn CredentialSource>;
