//! The reference refresher for Alibaba Cloud Container Registry pull credentials.
//!
//! Modules: `config` (the ConfigMap `kube-system/acr-configuration`), `image_ref` (docker image
//! references), `keyring` (kubelet's matching of images to `.dockerconfigjson` keys),
//! `registry_domain` (ACR registry host grammar), `duration` (Go duration text), `cli` (the
//! command line's subcommands).
//! The refresher: `credentials` (RAM-role and AccessKey credentials), `acr` (the ACR
//! OpenAPI client), `token_cache` (tokens renewed before expiry), `desired` (pure desired-state
//! computation), `controller` (watched stores, the registry-state task, the work queue and the
//! per-namespace reconcile), `leader_election` (Lease), `metrics`
//! (OpenMetrics text), `telemetry` (logs), `retry` (the retry policy of every retry loop), `run` (the `run` subcommand), `cloud_args` (the
//! metadata/ACR flags `run` and the credential sources share), `tls` (the HTTP clients' TLS
//! configuration).
//! Credential-only sources: `credential_source` (`credential-helper` for docker,
//! `kubelet-credential-provider` for kubelet).

pub mod cli;
pub mod config;
/// Go duration text: the workspace's one parser, under the name the refresher's modules use.
pub use go_duration as duration;
pub mod image_ref;
pub mod keyring;
pub mod registry_domain;

pub mod acr;
pub mod cloud_args;
pub mod controller;
pub mod credential_source;
pub mod credentials;
pub mod desired;
pub mod leader_election;
pub mod metrics;
pub mod retry;
pub mod run;
pub mod telemetry;
pub mod tls;
pub mod token_cache;
