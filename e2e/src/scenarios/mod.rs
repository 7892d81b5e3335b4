//! The scenarios of docs/conformance.md: the body of each catalogue ID, what a body returns
//! ([`Stop`], [`Outcome`]) and the deadlines and windows every scenario judges with.
//!
//! A scenario plans its clouds (edits `ctx.acr` / `ctx.metadata` settings), writes the
//! ConfigMap, starts the implementation with `ctx.start()`, then judges with the pull probe,
//! the cluster's objects and Events, and the fakes' request logs — polling with deadlines.
//! Submodules hold the groups (`ns`, `mr`, `cr`, `tr`, `ft`, `bi`) and the context [`Ctx`] they
//! run in, by concern: `context` (what a scenario is given), `lifecycle` (the implementation),
//! `fakes`, `objects` (namespaces, ConfigMap, ServiceAccounts, Secrets), `pulls`, `events`,
//! `writes` (the audit log), `end` (the sweep and key checks) and `figures`.

mod bi;
mod context;
mod cr;
mod end;
mod events;
mod fakes;
mod figures;
mod ft;
mod lifecycle;
mod mr;
mod ns;
mod objects;
mod pulls;
mod tr;
mod writes;

use std::time::Duration;

use futures::future::BoxFuture;

pub use context::{Ctx, Setup};
pub use figures::secs;
pub use pulls::fingerprint;

use crate::clouds::CloudsError;
use crate::deployment::DeploymentError;
use crate::environment::EnvironmentError;
use crate::probe::ProbeError;

/// Images of the default fake world (fake-acr `Settings::default()`): private repositories, so
/// an anonymous pull fails.
pub mod images {
    /// Personal Edition, cn-hangzhou (the node's region).
    pub const PE_HZ: &str = "registry.cn-hangzhou.aliyuncs.com/demo/private-app:latest";
    /// Personal Edition, cn-hangzhou, VPC domain.
    pub const PE_HZ_VPC: &str = "registry-vpc.cn-hangzhou.aliyuncs.com/demo/private-app:latest";
    /// Personal Edition, cn-hangzhou, international domain: outside the seed patterns.
    pub const PE_HZ_INTL: &str = "registry-intl.cn-hangzhou.aliyuncs.com/demo/private-app:latest";
    /// Personal Edition, cn-beijing.
    pub const PE_BJ: &str = "registry.cn-beijing.aliyuncs.com/demo/private-app:latest";
    /// Enterprise Edition instance `demo-hz` (cn-hangzhou).
    pub const EE_HZ: &str = "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com/team/private-app:latest";
    /// Enterprise Edition instance `demo-hz`, VPC domain.
    pub const EE_HZ_VPC: &str =
        "demo-hz-registry-vpc.cn-hangzhou.cr.aliyuncs.com/team/private-app:latest";
    /// Enterprise Edition instance `demo-bj` (cn-beijing).
    pub const EE_BJ: &str = "demo-bj-registry.cn-beijing.cr.aliyuncs.com/team/private-app:latest";
    /// Instance id of `demo-hz`.
    pub const EE_HZ_ID: &str = "cri-hzdemo0000000001";
    /// Instance id of `demo-bj`.
    pub const EE_BJ_ID: &str = "cri-bjdemo0000000001";
}

/// The node's region in every scenario (what fake-metadata reports).
pub const NODE_REGION: &str = "cn-hangzhou";
/// How long an implementation gets from start to the first working credentials.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long an effect the catalogue gives no figure for may take.
pub const CONVERGE_DEADLINE: Duration = Duration::from_secs(10);
/// The catalogue's "within 2 s".
pub const QUICK_DEADLINE: Duration = Duration::from_secs(2);
/// The RAM-role credentials listing path of the metadata server.
pub const CREDENTIALS_PREFIX: &str = "/latest/meta-data/ram/security-credentials/";
/// Fault-rule glob for the credentials of any role (not the listing).
pub const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/?*";
/// Probe polling interval.
const POLL: Duration = Duration::from_millis(100);
/// How long a "cannot pull" / "no credentials" verdict must hold: the catalogue's 2 s for an
/// effect, plus a margin, so an implementation that acts a little late is still seen.
pub const NEGATIVE_WINDOW: Duration = Duration::from_millis(2500);
/// Probe interval within the negative window.
const NEGATIVE_POLL: Duration = Duration::from_millis(250);

/// Why a scenario stopped before passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The implementation's behaviour broke a rule of the catalogue.
    Fail(String),
    /// The scenario does not apply here (adapter level, mode).
    NotApplicable(String),
    /// The suite could not set the scenario up.
    Error(String),
    /// The implementation cannot be run at all (missing program, exits at once): the run stops
    /// with this one error instead of failing every scenario.
    Abort(String),
}

/// What a scenario returns.
pub type Outcome = Result<(), Stop>;

impl From<EnvironmentError> for Stop {
    fn from(e: EnvironmentError) -> Self {
        Stop::Error(e.to_string())
    }
}

impl From<ProbeError> for Stop {
    fn from(e: ProbeError) -> Self {
        Stop::Error(e.to_string())
    }
}

impl From<CloudsError> for Stop {
    fn from(e: CloudsError) -> Self {
        Stop::Error(e.to_string())
    }
}

impl From<DeploymentError> for Stop {
    fn from(e: DeploymentError) -> Self {
        Stop::Error(e.to_string())
    }
}

impl From<kube::Error> for Stop {
    fn from(e: kube::Error) -> Self {
        Stop::Error(format!("Kubernetes API: {e}"))
    }
}

/// `fail!("…", args)`: stop the scenario with a failure.
macro_rules! fail {
    ($($arg:tt)*) => { return Err($crate::scenarios::Stop::Fail(format!($($arg)*))) };
}
/// `check!(cond, "…", args)`: fail unless `cond`.
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => { if !$cond { $crate::scenarios::fail!($($arg)*); } };
}
pub(crate) use {check, fail};

/// A scenario body.
pub type ScenarioFn = for<'a, 'e> fn(&'a mut Ctx<'e>) -> BoxFuture<'a, Outcome>;

/// Boxes an `async fn(&mut Ctx<'_>) -> Outcome` into a [`ScenarioFn`].
macro_rules! boxed {
    ($f:path) => {{
        fn wrapped<'a, 'e>(
            ctx: &'a mut $crate::scenarios::Ctx<'e>,
        ) -> futures::future::BoxFuture<'a, $crate::scenarios::Outcome> {
            Box::pin($f(ctx))
        }
        wrapped as $crate::scenarios::ScenarioFn
    }};
}
pub(crate) use boxed;

/// The body of a catalogue scenario.
pub fn body(id: &str) -> Option<ScenarioFn> {
    let group = id
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_ascii_uppercase();
    match group.as_str() {
        "NS" => ns::body(id),
        "MR" => mr::body(id),
        "CR" => cr::body(id),
        "TR" => tr::body(id),
        "FT" => ft::body(id),
        "BI" => bi::body(id),
        _ => None,
    }
}
