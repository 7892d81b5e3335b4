//! fake-server-kit: what both fakes (fake-metadata, fake-acr) stand on, so that they are one kind
//! of program written once. Named for what it is: the kit a fake server is built from; it knows
//! nothing of metadata paths, signatures or registries.
//!
//! Modules:
//! - `listener`: binding, TLS or plain, the one accept loop (survives accept errors, backs off,
//!   logs once), shutdown on drop.
//! - `http1`: serving one HTTP/1.1 connection so no input breaks it; each request in its own task
//!   (a panic answers 500); the drop-the-connection marker faults use.
//! - `faults`: the fault-rule model both fakes share: path glob, method, count, probability,
//!   time window, with a fake-specific kind and extra selectors.
//! - `request_log`: the bounded request log.
//! - `admin_api`: the admin routes both fakes serve alike (request log, fault rules) and the
//!   shape of a refusal.
//! - `settings_file`: settings precedence (flag > env > file > default) and reading the YAML/JSON
//!   config file.
//! - `admin_client` (feature `client`): the transport of both fakes' `RemoteAdmin`.
//! - `container` (feature `testcontainers`): the container image base of both fakes.
//! - `testing` (feature `testing`): helpers both fakes' test suites share (the raw exchanges
//!   also serve the kit's own tests).

pub mod admin_api;
#[cfg(feature = "client")]
pub mod admin_client;
#[cfg(feature = "testcontainers")]
pub mod container;
pub mod faults;
pub mod http1;
pub mod listener;
pub mod request_log;
pub mod settings_file;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use listener::{BindError, Serving};
