//! The helper's configuration: the ConfigMap `kube-system/acr-configuration`, both generations.
//!
//! Modules: `error` (typed errors and warnings, all reported at once), `names` (Kubernetes name
//! rules), `pattern` (`acr-registry` host patterns and what they can match), `registry_info`
//! (`acr-registry-info` items), `parse` (ConfigMap data → [`Config`]), `render` ([`Config`] →
//! ConfigMap data), `manifest` (reading a YAML manifest or key/value file), `json` (the effective
//! configuration as JSON for `config check`).
//!
//! Parsing is a pure function of the ConfigMap's `data`; absent keys take the seed's defaults
//! (docs/helper-behaviour.md), and `parse(render(c)) == c` for every valid `c`.

mod error;
mod json;
mod manifest;
mod names;
mod parse;
mod pattern;
mod registry_info;
mod render;

use std::collections::BTreeSet;
use std::time::Duration;

pub use error::{ConfigError, ConfigErrorKind, ConfigErrors, ConfigWarning};
pub use json::check_report;
pub use manifest::{ManifestError, data_from_yaml};
pub use names::{is_dns1123_label, is_dns1123_subdomain};
pub use parse::parse;
pub use pattern::{LabelGlob, PatternError, PatternScope, RegistryPattern};
pub use registry_info::{InstanceId, RegistryInfo, SecretString, UnsupportedFields};
pub use render::render;

/// Namespace of the configuration ConfigMap.
pub const CONFIGMAP_NAMESPACE: &str = "kube-system";
/// Name of the configuration ConfigMap.
pub const CONFIGMAP_NAME: &str = "acr-configuration";

/// The ConfigMap keys this implementation knows, in the order the docs list them.
pub mod keys {
    /// Generation 1: the ACR API version.
    pub const ACR_API_VERSION: &str = "acr-api-version";
    /// Generation 1: comma-separated registry host patterns.
    pub const ACR_REGISTRY: &str = "acr-registry";
    /// Both generations: namespaces to serve, or `all`.
    pub const WATCH_NAMESPACE: &str = "watch-namespace";
    /// Both generations: refresh when less than this much lifetime is left.
    pub const EXPIRING_THRESHOLD: &str = "expiring-threshold";
    /// Generation 2: ServiceAccounts to patch, or `*`.
    pub const SERVICE_ACCOUNT: &str = "service-account";
    /// Generation 2: YAML list of ACR instances.
    pub const ACR_REGISTRY_INFO: &str = "acr-registry-info";
    /// Generation 2: YAML map for the ServiceAccount webhook.
    pub const WEBHOOK_CONFIGURATION: &str = "webhook-configuration";
    /// Generation 2: YAML map enabling RRSA.
    pub const RRSA: &str = "rrsa";
    /// Generation 2: notification address (documented as "no configuration is required").
    pub const NOTIFY_EMAIL: &str = "notify-email";
    /// Every known key.
    pub const ALL: [&str; 9] = [
        ACR_API_VERSION,
        ACR_REGISTRY,
        WATCH_NAMESPACE,
        EXPIRING_THRESHOLD,
        SERVICE_ACCOUNT,
        ACR_REGISTRY_INFO,
        WEBHOOK_CONFIGURATION,
        RRSA,
        NOTIFY_EMAIL,
    ];
}

/// The seed's default `acr-registry` patterns.
pub const DEFAULT_REGISTRY_PATTERNS: [&str; 4] = [
    "registry.*.aliyuncs.com",
    "registry-vpc.*.aliyuncs.com",
    "xxx-registry.*.cr.aliyuncs.com",
    "xxx-registry-vpc.*.cr.aliyuncs.com",
];
/// The seed's default `expiring-threshold` (15m).
pub const DEFAULT_EXPIRING_THRESHOLD: Duration = Duration::from_secs(15 * 60);
/// The default namespace and ServiceAccount name.
pub const DEFAULT_NAME: &str = "default";

/// The effective configuration of the helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `acr-api-version`: which ACR OpenAPI version to call.
    pub acr_api_version: AcrApiVersion,
    /// `acr-registry`: host patterns written as `.dockerconfigjson` keys (gen 1).
    pub registry_patterns: Vec<RegistryPattern>,
    /// `watch-namespace`: where pull credentials are maintained.
    pub watch_namespace: NamespaceSelector,
    /// `expiring-threshold`: refresh when a token has less than this left (> 0).
    pub expiring_threshold: Duration,
    /// `service-account`: which ServiceAccounts get the pull secret (gen 2).
    pub service_accounts: ServiceAccountSelector,
    /// `acr-registry-info`: ACR instances to serve (gen 2); empty when absent.
    pub registry_info: Vec<RegistryInfo>,
    /// `webhook-configuration` (gen 2; parsed, not implemented).
    pub webhook: WebhookConfiguration,
    /// `rrsa` (gen 2; parsed, not implemented).
    pub rrsa: RrsaConfiguration,
    /// `notify-email` (gen 2; parsed, not used).
    pub notify_email: Option<String>,
}

impl Default for Config {
    /// The seed's defaults: what an empty ConfigMap means.
    fn default() -> Self {
        Self {
            acr_api_version: AcrApiVersion::V2018_12_01,
            registry_patterns: DEFAULT_REGISTRY_PATTERNS
                .iter()
                .map(|p| RegistryPattern::parse(p).expect("the seed's default patterns are valid"))
                .collect(),
            watch_namespace: NamespaceSelector::Names(BTreeSet::from([DEFAULT_NAME.to_owned()])),
            expiring_threshold: DEFAULT_EXPIRING_THRESHOLD,
            service_accounts: ServiceAccountSelector::Names(BTreeSet::from([
                DEFAULT_NAME.to_owned()
            ])),
            registry_info: Vec::new(),
            webhook: WebhookConfiguration::default(),
            rrsa: RrsaConfiguration::default(),
            notify_email: None,
        }
    }
}

impl Config {
    /// The configured `acr-registry` patterns that would serve `image`, most specific first,
    /// following kubelet's keyring rules.
    pub fn matching_patterns(&self, image: &crate::image_ref::ImageRef) -> Vec<&RegistryPattern> {
        let keyring = crate::keyring::DockerKeyring::from_auths(
            self.registry_patterns.iter().map(|p| (p.as_str(), p)),
        );
        keyring.lookup_image(image).into_iter().copied().collect()
    }
}

/// The ACR OpenAPI version (`acr-api-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcrApiVersion {
    /// `2018-12-01`: Enterprise Edition API (the default; also serves Personal Edition).
    V2018_12_01,
    /// `2016-06-07`: the Personal Edition API only.
    V2016_06_07,
}

impl AcrApiVersion {
    /// The version as written in the ConfigMap and sent as `Version`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2018_12_01 => "2018-12-01",
            Self::V2016_06_07 => "2016-06-07",
        }
    }

    /// Parses `2018-12-01` or `2016-06-07`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "2018-12-01" => Some(Self::V2018_12_01),
            "2016-06-07" => Some(Self::V2016_06_07),
            _ => None,
        }
    }
}

/// Which namespaces are served (`watch-namespace`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceSelector {
    /// `all` (any case): every namespace, including ones created later.
    All,
    /// The listed namespaces (DNS-1123 labels), never empty.
    Names(BTreeSet<String>),
}

impl NamespaceSelector {
    /// Whether `namespace` is served.
    pub fn includes(&self, namespace: &str) -> bool {
        match self {
            Self::All => true,
            Self::Names(names) => names.contains(namespace),
        }
    }
}

/// Which ServiceAccounts get the pull secret (`service-account`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAccountSelector {
    /// `*`: every ServiceAccount in the served namespaces.
    All,
    /// The listed ServiceAccounts (DNS-1123 subdomains), never empty.
    Names(BTreeSet<String>),
}

impl ServiceAccountSelector {
    /// Whether the ServiceAccount `name` is patched.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::Names(names) => names.contains(name),
        }
    }
}

/// `webhook-configuration`: the ServiceAccount admission webhook of the official helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfiguration {
    /// `enable` (default false).
    pub enable: bool,
    /// `failure-policy` (default `Ignore`).
    pub failure_policy: FailurePolicy,
    /// `timeout-seconds`, 1..=30 (default 10).
    pub timeout_seconds: u32,
}

impl Default for WebhookConfiguration {
    fn default() -> Self {
        Self {
            enable: false,
            failure_policy: FailurePolicy::Ignore,
            timeout_seconds: 10,
        }
    }
}

/// A Kubernetes admission webhook failure policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Admit the object when the webhook fails.
    Ignore,
    /// Refuse the object when the webhook fails.
    Fail,
}

impl FailurePolicy {
    /// The policy as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "Ignore",
            Self::Fail => "Fail",
        }
    }
}

/// `rrsa`: RAM Roles for Service Accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RrsaConfiguration {
    /// `enable` (default false).
    pub enable: bool,
}
