//! The command-line flags that say how to reach the ECS metadata server and the ACR OpenAPI,
//! shared by `run`, `credential-helper` and `kubelet-credential-provider`.
//!
//! Settings: command-line flag > environment variable > default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::acr::{AcrClientSettings, SignatureVersion};
use crate::credentials::{EcsMetadataSettings, ecs_metadata};

/// Parses a Go duration flag value (`15m`, `2s`).
pub fn duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text).map_err(|e| e.to_string())
}

/// Parses a `--resolve HOST=ADDRESS` entry.
pub fn resolve_entry(text: &str) -> Result<(String, SocketAddr), String> {
    let (host, address) = text.split_once('=').ok_or_else(|| {
        format!("'{text}' is not HOST=ADDRESS (e.g. cr.cn-hangzhou.aliyuncs.com=127.0.0.1)")
    })?;
    let ip: std::net::IpAddr = address
        .trim()
        .parse()
        .map_err(|e| format!("'{address}' in '{text}' is not an IP address: {e}"))?;
    // reqwest keeps the URL's port; the port here is unused.
    Ok((host.trim().to_owned(), SocketAddr::new(ip, 0)))
}

/// How to reach the metadata server (RAM-role credentials) and ACR.
#[derive(Debug, Clone, Args)]
pub struct CloudArgs {
    /// ECS metadata endpoint.
    #[arg(long, env = ecs_metadata::ENDPOINT_ENV, default_value = ecs_metadata::DEFAULT_ENDPOINT)]
    pub metadata_endpoint: String,
    /// RAM role name; discovered from the metadata server when not given.
    #[arg(long, env = ecs_metadata::ROLE_ENV)]
    pub metadata_role: Option<String>,
    /// Require ECS metadata hardened mode (no plain-mode fallback).
    #[arg(long, env = ecs_metadata::IMDSV1_DISABLED_ENV, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub imdsv1_disabled: bool,
    /// Per-request timeout of metadata calls (Go duration).
    #[arg(long, env = "ACR_REFRESHER_METADATA_TIMEOUT", default_value = "2s", value_parser = duration)]
    pub metadata_timeout: Duration,
    /// ACR OpenAPI endpoint template; {region} is replaced.
    #[arg(long, env = "ACR_REFRESHER_ENDPOINT_TEMPLATE", default_value = crate::acr::client::DEFAULT_ENDPOINT_TEMPLATE)]
    pub endpoint_template: String,
    /// Extra PEM CA bundle trusted for ACR endpoints (for test CAs).
    #[arg(long, env = "ACR_REFRESHER_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Send requests for HOST to ADDRESS (like curl --resolve; the URL's port is kept). Repeatable;
    /// the environment variable takes a comma-separated list.
    #[arg(long = "resolve", env = "ACR_REFRESHER_RESOLVE", value_delimiter = ',', value_parser = resolve_entry)]
    pub resolve: Vec<(String, SocketAddr)>,
    /// Request signature for ACR calls.
    #[arg(
        long,
        env = "ACR_REFRESHER_SIGNATURE",
        value_enum,
        default_value = "v3"
    )]
    pub signature: SignatureVersion,
    /// Per-request timeout of ACR calls (Go duration).
    #[arg(long, env = "ACR_REFRESHER_ACR_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub acr_timeout: Duration,
    /// Attempts per ACR call on 5xx, throttling and connection errors.
    #[arg(long, env = "ACR_REFRESHER_ACR_ATTEMPTS", default_value_t = 4)]
    pub acr_attempts: u32,
}

impl CloudArgs {
    /// The metadata client's settings.
    pub fn metadata_settings(&self) -> EcsMetadataSettings {
        EcsMetadataSettings {
            endpoint: self.metadata_endpoint.clone(),
            role: self.metadata_role.clone(),
            imdsv1_disabled: self.imdsv1_disabled,
            timeout: self.metadata_timeout,
            ..Default::default()
        }
    }

    /// The ACR client's settings.
    pub fn acr_settings(&self) -> AcrClientSettings {
        AcrClientSettings {
            endpoint_template: self.endpoint_template.clone(),
            signature: self.signature,
            timeout: self.acr_timeout,
            attempts: self.acr_attempts,
            extra_ca_file: self.ca_file.clone(),
            resolve: self.resolve.clone(),
            ..Default::default()
        }
    }
}
