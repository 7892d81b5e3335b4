//! A faithful fake of the Alibaba Cloud ECS instance metadata server (100.100.100.200).
//!
//! Modules:
//! - `settings`: every knob, its default, and the config-file format.
//! - `faults`: fault rules (path glob, method, count/probability, time window) and their kinds.
//! - `state`: offset clock, STS credentials and rotation, hardened-mode tokens, request log.
//! - `service`: the metadata endpoints themselves (docs/wire.md).
//! - `admin`: the in-process admin handle and the admin HTTP API.
//! - `server`: starting both listeners (fake-server-kit's accept loop); shutdown on drop.
//! - `client` (feature `client`): `RemoteAdmin`, the admin HTTP API of a fake elsewhere.
//! - `testing` (feature `testing`): network-namespace and Python/Node environment plumbing for
//!   interop tests.
//! - `testcontainers` (feature `testcontainers`): the container image as a `testcontainers::Image`.

pub mod admin;
#[cfg(feature = "client")]
pub mod client;
pub mod faults;
pub mod server;
pub mod service;
pub mod settings;
pub mod state;
#[cfg(feature = "testcontainers")]
pub mod testcontainers;
#[cfg(feature = "testing")]
pub mod testing;

pub use admin::Admin;
#[cfg(feature = "client")]
pub use client::{RemoteAdmin, RemoteAdminError};
pub use faults::{FaultKind, FaultRule, InstalledFault};
pub use server::{Error, FakeMetadata, Running};
pub use settings::{HardenedMode, Settings, SettingsError};
pub use state::{CredentialsSummary, RequestRecord, StateSnapshot};
