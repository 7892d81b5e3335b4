//! The reference refresher for Alibaba Cloud Container Registry pull credentials.
//!
//! Modules: `config` (the ConfigMap `kube-system/acr-configuration`), `image_ref` (docker image
//! references), `keyring` (kubelet's matching of images to `.dockerconfigjson` keys),
//! `registry_domain` (ACR registry host grammar), `duration` (Go duration text), `cli` (the
//! command line's subcommands).

pub mod cli;
pub mod config;
pub mod duration;
pub mod image_ref;
pub mod keyring;
pub mod registry_domain;
