//! Settings: regions, instances, namespaces, repositories, principals and RAM policies, token
//! lifetime, listeners. `Settings::default()` is the documented default world (README).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything fake-acr needs to know at start-up. A config file (YAML or JSON) deserialises
/// into this; missing fields take the defaults.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address of the main listener (OpenAPI + registries + token service).
    pub listen: SocketAddr,
    /// Address of the admin API listener.
    pub admin_listen: SocketAddr,
    /// Shared secret that validates fake-metadata's STS credentials and keys fake-acr's tokens.
    pub account_secret: String,
    /// Serve plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// CA certificate (PEM) that signs the serving certificate; `None` = a new CA at each start.
    pub tls_ca_cert: Option<PathBuf>,
    /// Its private key (PEM PKCS#8); given together with `tls_ca_cert`.
    pub tls_ca_key: Option<PathBuf>,
    /// Port written into token realms; `None` = the main listener's port (omitted if 443/80).
    pub advertised_port: Option<u16>,
    /// Lifetime of issued registry passwords, in seconds (never beyond the STS expiry).
    pub token_lifetime_secs: u64,
    /// Lifetime of Registry v2 bearer JWTs, in seconds (the real service: 600).
    pub bearer_lifetime_secs: u64,
    /// Allowed |client clock − server clock| for signed requests, in seconds.
    pub max_clock_skew_secs: i64,
    /// Regions served; each has a Personal Edition registry and OpenAPI endpoint.
    pub regions: Vec<Region>,
    /// Enterprise Edition instances.
    pub instances: Vec<Instance>,
    /// Static AccessKey pairs accepted besides STS credentials.
    pub access_keys: Vec<AccessKey>,
    /// RAM policies, first match by principal wins.
    pub policies: Vec<Policy>,
    /// Faults active from start-up.
    pub faults: Vec<crate::faults::FaultRule>,
}

/// A region and its Personal Edition namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Region id, e.g. `cn-hangzhou`.
    pub id: String,
    /// Personal Edition repositories, `namespace/name`.
    #[serde(default)]
    pub personal_repositories: Vec<Repository>,
}

/// An Enterprise Edition instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// `cri-…`.
    pub id: String,
    /// Name: the registry host is `<name>-registry.<region>.cr.aliyuncs.com`.
    pub name: String,
    /// Region id.
    pub region: String,
    /// Repositories, `namespace/name`.
    #[serde(default)]
    pub repositories: Vec<Repository>,
}

/// A repository with deterministic demo images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    /// `namespace/name`.
    pub name: String,
    /// Anonymous pulls allowed.
    #[serde(default)]
    pub public: bool,
}

/// A static AccessKey pair (a RAM user).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    /// AccessKeyId.
    pub id: String,
    /// AccessKeySecret.
    pub secret: String,
    /// Principal name, `user/<name>`.
    pub principal: String,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("principal", &self.principal)
            .finish()
    }
}

/// A RAM policy: which actions a principal may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Principal pattern (`role/<RoleName>`, `user/<name>`; `*` wildcards).
    pub principal: String,
    /// Allowed actions (`cr:Get*`, `cr:PullRepository`; `*` wildcards).
    pub actions: Vec<String>,
}

/// The static AccessKeyId configured by default (principal `user/ci`).
pub const DEFAULT_STATIC_ACCESS_KEY_ID: &str = "LTAI5tFakeAcrStaticKey01";
/// Its AccessKeySecret — a published test value, not a secret.
pub const DEFAULT_STATIC_ACCESS_KEY_SECRET: &str = "fake-acr-static-secret-0123456789";

fn repos(ns: &str) -> Vec<Repository> {
    vec![
        Repository {
            name: format!("{ns}/private-app"),
            public: false,
        },
        Repository {
            name: format!("{ns}/public-app"),
            public: true,
        },
    ]
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            account_secret: acs_wire::sts::DEFAULT_ACCOUNT_SECRET.to_owned(),
            plain_http: false,
            tls_ca_cert: None,
            tls_ca_key: None,
            advertised_port: None,
            token_lifetime_secs: 3600,
            bearer_lifetime_secs: 600,
            max_clock_skew_secs: 15 * 60,
            regions: ["cn-hangzhou", "cn-beijing"]
                .iter()
                .map(|r| Region {
                    id: (*r).to_owned(),
                    personal_repositories: repos("demo"),
                })
                .collect(),
            instances: vec![
                Instance {
                    id: "cri-hzdemo0000000001".into(),
                    name: "demo-hz".into(),
                    region: "cn-hangzhou".into(),
                    repositories: repos("team"),
                },
                Instance {
                    id: "cri-bjdemo0000000001".into(),
                    name: "demo-bj".into(),
                    region: "cn-beijing".into(),
                    repositories: repos("team"),
                },
            ],
            access_keys: vec![AccessKey {
                id: DEFAULT_STATIC_ACCESS_KEY_ID.into(),
                secret: DEFAULT_STATIC_ACCESS_KEY_SECRET.into(),
                principal: "user/ci".into(),
            }],
            policies: vec![Policy {
                principal: "*".into(),
                actions: vec![
                    "cr:Get*".into(),
                    "cr:List*".into(),
                    "cr:PullRepository".into(),
                ],
            }],
            faults: Vec::new(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("account_secret", &"<redacted>")
            .field("plain_http", &self.plain_http)
            .field("tls_ca_cert", &self.tls_ca_cert)
            .field("advertised_port", &self.advertised_port)
            .field("token_lifetime_secs", &self.token_lifetime_secs)
            .field("regions", &self.regions)
            .field("instances", &self.instances)
            .field("access_keys", &self.access_keys)
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

/// What secrets read as in [`Settings::redacted`] and the admin API's `GET /settings`.
pub const REDACTED: &str = "<redacted>";

/// A listener-bound setting a replacement asked to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFieldConflict {
    /// Settings key, e.g. `listen`.
    pub field: &'static str,
    /// The running value (JSON).
    pub running: String,
    /// The value asked for (JSON).
    pub requested: String,
}

/// Where a running fake listens, port 0 resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundAddrs {
    /// Main listener.
    pub listen: SocketAddr,
    /// Admin listener.
    pub admin_listen: SocketAddr,
}

fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Why a settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("fake-acr {0}")]
    File(#[from] fake_server_kit::settings_file::FileError),
    /// A value is inconsistent.
    #[error("fake-acr settings: {0}")]
    Invalid(String),
    /// One value is outside what the fake accepts.
    #[error("fake-acr settings: {0}")]
    Value(#[from] InvalidValue),
}

impl SettingsError {
    /// The settings key the error is about, when it is about one (`faults[0].probability`).
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Value(v) => Some(&v.field),
            Self::File(_) | Self::Invalid(_) => None,
        }
    }
}

/// Longest registry password or bearer JWT lifetime: 10 years (time arithmetic stays far from
/// the calendar's limits).
pub const MAX_LIFETIME_SECS: u64 = 315_360_000;
/// Largest allowed clock skew of signed requests: one year.
pub const MAX_CLOCK_SKEW_SECS: i64 = 31_536_000;
/// Largest clock offset either way: 100 years.
pub const MAX_CLOCK_OFFSET_SECS: i64 = 3_155_760_000;
/// Longest injected latency: 10 minutes.
pub const MAX_LATENCY_MS: u64 = 600_000;

/// An input value (settings key or admin body field) the fake does not accept: names the field,
/// the value and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value} is not accepted: {accepted}")]
pub struct InvalidValue {
    /// The key, as in the document (`token_lifetime_secs`, `faults[0].status`).
    pub field: String,
    /// The value given (JSON text).
    pub value: String,
    /// What is accepted (`1..=315360000`).
    pub accepted: String,
}

impl InvalidValue {
    /// `field` = `value` (shown as JSON) is refused; `accepted` says what would do.
    pub fn new(
        field: impl Into<String>,
        value: impl Serialize,
        accepted: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            value: json_text(&value),
            accepted: accepted.into(),
        }
    }
}

/// `value` within `min..=max`, or an [`InvalidValue`] naming `field` and the range.
pub fn check_range<T: PartialOrd + Serialize + fmt::Display>(
    field: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), InvalidValue> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(InvalidValue::new(field, value, format!("{min}..={max}")))
    }
}

/// `text` non-empty, at most `max` characters, each allowed by `ok`; `accepted` describes it.
fn check_name(
    field: &str,
    text: &str,
    max: usize,
    ok: impl Fn(char) -> bool,
    accepted: &str,
) -> Result<(), InvalidValue> {
    if text.is_empty() || text.chars().count() > max || !text.chars().all(ok) {
        Err(InvalidValue::new(field, text, accepted))
    } else {
        Ok(())
    }
}

impl Settings {
    /// Reads a YAML or JSON config file; absent fields keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let s: Settings = fake_server_kit::settings_file::read(path)?;
        s.validate()?;
        Ok(s)
    }

    /// Checks every value and the cross-field rules: lifetimes and skew within their ranges,
    /// region ids, instance ids and names usable in host names and unique, known regions for
    /// instances, repository names `namespace/name`, fault rules ([`crate::faults::FaultRule::validate`]).
    pub fn validate(&self) -> Result<(), SettingsError> {
        check_range(
            "token_lifetime_secs",
            self.token_lifetime_secs,
            1,
            MAX_LIFETIME_SECS,
        )?;
        check_range(
            "bearer_lifetime_secs",
            self.bearer_lifetime_secs,
            1,
            MAX_LIFETIME_SECS,
        )?;
        check_range(
            "max_clock_skew_secs",
            self.max_clock_skew_secs,
            0,
            MAX_CLOCK_SKEW_SECS,
        )?;
        if let Some(port) = self.advertised_port {
            check_range("advertised_port", port, 1, u16::MAX)?;
        }
        let label = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        const LABEL: &str = "1 to 63 characters of a-z, 0-9 and -";
        let check_repos = |field: String, repos: &[Repository]| -> Result<(), InvalidValue> {
            for (k, r) in repos.iter().enumerate() {
                let ok = r.name.split_once('/').is_some_and(|(ns, name)| {
                    !ns.is_empty() && !name.is_empty() && !name.contains('/')
                }) && !r.name.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(InvalidValue::new(
                        format!("{field}[{k}].name"),
                        &r.name,
                        "namespace/name, both non-empty, without spaces",
                    ));
                }
            }
            Ok(())
        };
        for (k, r) in self.regions.iter().enumerate() {
            check_name(&format!("regions[{k}].id"), &r.id, 63, label, LABEL)?;
            if self.regions[..k].iter().any(|o| o.id == r.id) {
                return Err(InvalidValue::new(
                    format!("regions[{k}].id"),
                    &r.id,
                    "a region id not already listed",
                )
                .into());
            }
            check_repos(
                format!("regions[{k}].personal_repositories"),
                &r.personal_repositories,
            )?;
        }
        for (k, i) in self.instances.iter().enumerate() {
            check_name(
                &format!("instances[{k}].id"),
                &i.id,
                63,
                |c| c.is_ascii_alphanumeric() || c == '-',
                "1 to 63 characters of A-Z, a-z, 0-9 and -",
            )?;
            check_name(&format!("instances[{k}].name"), &i.name, 63, label, LABEL)?;
            if self.instances[..k].iter().any(|o| o.id == i.id) {
                return Err(InvalidValue::new(
                    format!("instances[{k}].id"),
                    &i.id,
                    "an instance id not already listed",
                )
                .into());
            }
            check_repos(format!("instances[{k}].repositories"), &i.repositories)?;
        }
        for (k, key) in self.access_keys.iter().enumerate() {
            if key.id.is_empty() {
                return Err(InvalidValue::new(
                    format!("access_keys[{k}].id"),
                    "",
                    "a non-empty AccessKeyId",
                )
                .into());
            }
        }
        for (k, rule) in self.faults.iter().enumerate() {
            rule.validate(&format!("faults[{k}]"))?;
        }
        for i in &self.instances {
            if !self.regions.iter().any(|r| r.id == i.region) {
                return Err(SettingsError::Invalid(format!(
                    "instance {} is in region {}, which is not in regions",
                    i.id, i.region
                )));
            }
        }
        Ok(())
    }

    /// A copy with every secret (account secret, AccessKey secrets) replaced by [`REDACTED`].
    pub fn redacted(&self) -> Settings {
        let mut s = self.clone();
        s.account_secret = REDACTED.to_owned();
        for k in &mut s.access_keys {
            k.secret = REDACTED.to_owned();
        }
        s
    }

    /// Puts `running`'s secrets back where `self` (a replacement, often edited from
    /// [`Settings::redacted`]) says [`REDACTED`]; an AccessKey must then exist in `running`.
    pub fn restore_redacted(&mut self, running: &Settings) -> Result<(), SettingsError> {
        if self.account_secret == REDACTED {
            self.account_secret = running.account_secret.clone();
        }
        for k in self.access_keys.iter_mut().filter(|k| k.secret == REDACTED) {
            let old = running
                .access_keys
                .iter()
                .find(|o| o.id == k.id)
                .ok_or_else(|| {
                    SettingsError::Invalid(format!(
                        "access key {}: secret is {REDACTED:?} but the running fake has no access key with that id to take it from",
                        k.id
                    ))
                })?;
            k.secret = old.secret.clone();
        }
        Ok(())
    }

    /// `self` (a replacement) with the listener-bound fields (`listen`, `admin_listen`,
    /// `plain_http`, `advertised_port`, `tls_ca_cert`, `tls_ca_key`) taken from `running`. Each may be left at its default
    /// (absent from a file) or equal the running value (`listen`/`admin_listen`: as configured
    /// or as bound); any other value cannot take effect on a live listener and is a conflict.
    pub fn adopt_live_fields(
        mut self,
        running: &Settings,
        bound: BoundAddrs,
    ) -> Result<Settings, LiveFieldConflict> {
        let d = Settings::default();
        let conflict = |field, running: String, requested: String| LiveFieldConflict {
            field,
            running,
            requested,
        };
        if ![d.listen, running.listen, bound.listen].contains(&self.listen) {
            return Err(conflict(
                "listen",
                json_text(&bound.listen),
                json_text(&self.listen),
            ));
        }
        if ![d.admin_listen, running.admin_listen, bound.admin_listen].contains(&self.admin_listen)
        {
            return Err(conflict(
                "admin_listen",
                json_text(&bound.admin_listen),
                json_text(&self.admin_listen),
            ));
        }
        if ![d.plain_http, running.plain_http].contains(&self.plain_http) {
            return Err(conflict(
                "plain_http",
                json_text(&running.plain_http),
                json_text(&self.plain_http),
            ));
        }
        if ![d.advertised_port, running.advertised_port].contains(&self.advertised_port) {
            return Err(conflict(
                "advertised_port",
                json_text(&running.advertised_port),
                json_text(&self.advertised_port),
            ));
        }
        for (field, asked, had) in [
            ("tls_ca_cert", &self.tls_ca_cert, &running.tls_ca_cert),
            ("tls_ca_key", &self.tls_ca_key, &running.tls_ca_key),
        ] {
            if asked.is_some() && asked != had {
                return Err(conflict(field, json_text(had), json_text(asked)));
            }
        }
        self.tls_ca_cert = running.tls_ca_cert.clone();
        self.tls_ca_key = running.tls_ca_key.clone();
        self.listen = running.listen;
        self.admin_listen = running.admin_listen;
        self.plain_http = running.plain_http;
        self.advertised_port = running.advertised_port;
        Ok(self)
    }

    /// The token lifetime as a Duration.
    pub fn token_lifetime(&self) -> Duration {
        Duration::from_secs(self.token_lifetime_secs)
    }
}

/// Parses a Go duration (`90s`, `15m`, `1h`; Go's `time.ParseDuration` grammar) into whole
/// seconds.
pub fn parse_duration_secs(text: &str) -> Result<u64, String> {
    let d = go_duration::parse(text).map_err(|e| {
        format!(
            "{text:?} is not a duration like 90s, 15m or 1h: {}",
            e.detail()
        )
    })?;
    if d.subsec_nanos() != 0 {
        return Err(format!("{text:?} is not a whole number of seconds"));
    }
    Ok(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_secs("1h"), Ok(3600));
        assert_eq!(parse_duration_secs("15m"), Ok(900));
        assert_eq!(parse_duration_secs("1h30m"), Ok(5400));
        // Go's grammar: a bare number is refused.
        for bad in ["7", "1 hour", "1.5s"] {
            let err = parse_duration_secs(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn file_overrides_only_given_fields_and_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "token_lifetime_secs: 30\n").unwrap();
        let s = Settings::from_file(&p).unwrap();
        assert_eq!(s.token_lifetime_secs, 30);
        assert_eq!(s.regions.len(), 2);
        std::fs::write(&p, "token_lifetim: 30\n").unwrap();
        let err = Settings::from_file(&p).unwrap_err().to_string();
        assert!(err.contains("token_lifetim"), "{err}");
        let dbg = format!("{:?}", Settings::default());
        assert!(!dbg.contains(DEFAULT_STATIC_ACCESS_KEY_SECRET));
        assert!(!dbg.contains(acs_wire::sts::DEFAULT_ACCOUNT_SECRET));
    }
}
