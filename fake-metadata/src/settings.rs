//! Every knob of the fake, with the documented defaults; also the config-file format (YAML or JSON).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::faults::FaultRule;

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file could not be read, or is neither valid YAML nor valid JSON for these
    /// settings.
    #[error(transparent)]
    File(#[from] fake_server_kit::settings_file::FileError),
    /// A duration that is not Go duration text like `90s`, `15m`, `6h` or `1h30m`.
    #[error("{value:?} is not a duration like 90s, 15m, 6h or 1h30m: {reason}")]
    Duration {
        /// The rejected text.
        value: String,
        /// Why (go-duration's reason).
        reason: String,
    },
    /// A hardened mode other than `optional` or `required`.
    #[error("{value:?} is not a hardened mode: expected optional or required")]
    HardenedMode {
        /// The rejected text.
        value: String,
    },
    /// Settings sent at run time (admin `PUT /settings`) that do not parse.
    #[error("settings: {reason}")]
    Body {
        /// What the parser said (the account secret, if echoed, is redacted).
        reason: String,
    },
    /// A listener address that differs from the running one: a live listener cannot move.
    #[error(
        "{field}: {requested} is not the running {running}; a live listener cannot move (leave {field} out or send the running address)"
    )]
    Unchangeable {
        /// `listen` or `admin-listen`.
        field: &'static str,
        /// The address the fake listens on.
        running: SocketAddr,
        /// The address asked for.
        requested: SocketAddr,
    },
    /// A value the fake cannot use.
    #[error("{field}: {reason}")]
    Invalid {
        /// The setting, as in the config file (e.g. `faults[0].probability`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl SettingsError {
    /// The setting the error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Unchangeable { field, .. } => Some(field),
            Self::Invalid { field, .. } => Some(field),
            Self::HardenedMode { .. } => Some("hardened"),
            Self::File(_) | Self::Body { .. } | Self::Duration { .. } => None,
        }
    }
}

/// IMDS hardened mode (`HttpTokens` of the instance, docs/wire.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HardenedMode {
    /// Tokens accepted and checked when sent, but not required (the real default).
    #[default]
    Optional,
    /// Every GET needs a valid token; otherwise 401.
    Required,
}

impl std::str::FromStr for HardenedMode {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            _ => Err(SettingsError::HardenedMode {
                value: s.to_owned(),
            }),
        }
    }
}

/// What `GET /settings` shows instead of the account secret.
pub const REDACTED: &str = "<redacted>";

/// The account secret shared with fake-acr; Debug never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountSecret(pub String);

impl std::fmt::Debug for AccountSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountSecret(<redacted>)")
    }
}

impl Default for AccountSecret {
    fn default() -> Self {
        Self(acs_wire::sts::DEFAULT_ACCOUNT_SECRET.to_owned())
    }
}

/// Parses a Go duration (`90s`, `15m`, `6h`, `1h30m`; Go's `time.ParseDuration` grammar).
pub fn parse_duration(text: &str) -> Result<Duration, SettingsError> {
    go_duration::parse(text).map_err(|e| SettingsError::Duration {
        value: text.to_owned(),
        reason: e.detail(),
    })
}

/// Formats a duration compactly in Go's grammar (`6h`, `90s`, `1h30m`): what `GET /settings`
/// shows and [`parse_duration`] reads back. Fractions of a second use Go's own form.
pub fn format_duration(duration: Duration) -> String {
    if duration.subsec_nanos() != 0 {
        return go_duration::format(duration);
    }
    let mut s = duration.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, name) in [(3600, 'h'), (60, 'm'), (1, 's')] {
        if s >= unit {
            out.push_str(&format!("{}{name}", s / unit));
            s %= unit;
        }
    }
    out
}

mod duration_text {
    use super::*;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Seconds(u64),
            Text(String),
        }
        match Text::deserialize(d)? {
            Text::Seconds(s) => Ok(Duration::from_secs(s)),
            Text::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// The instance the fake pretends to be: the values of the metadata paths (docs/wire.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct InstanceMetadata {
    /// `region-id`.
    pub region_id: String,
    /// `zone-id`; empty means `<region-id>-h`.
    pub zone_id: String,
    /// `instance-id`.
    pub instance_id: String,
    /// `owner-account-id`; empty means the account id of the settings.
    pub owner_account_id: String,
    /// `hostname`.
    pub hostname: String,
    /// `image-id`.
    pub image_id: String,
    /// `serial-number`.
    pub serial_number: String,
    /// `source-address` (the yum/apt mirror of the region).
    pub source_address: String,
    /// `instance/instance-type`.
    pub instance_type: String,
    /// `instance/instance-name`.
    pub instance_name: String,
    /// `vpc-id`.
    pub vpc_id: String,
    /// `vpc-cidr-block`.
    pub vpc_cidr_block: String,
    /// `vswitch-id`.
    pub vswitch_id: String,
    /// `vswitch-cidr-block`.
    pub vswitch_cidr_block: String,
    /// `private-ipv4`.
    pub private_ipv4: String,
    /// `public-ipv4`.
    pub public_ipv4: String,
    /// `eipv4`.
    pub eipv4: String,
    /// `network-type`.
    pub network_type: String,
    /// `mac`.
    pub mac: String,
    /// `dns-conf/nameservers`, one per line.
    pub nameservers: Vec<String>,
    /// `ntp-conf/ntp-servers`, one per line.
    pub ntp_servers: Vec<String>,
    /// `/latest/user-data`.
    pub user_data: String,
    /// `instance/spot/termination-time`; none means 404 (not scheduled).
    pub spot_termination_time: Option<String>,
}

impl Default for InstanceMetadata {
    fn default() -> Self {
        Self {
            region_id: "cn-hangzhou".into(),
            zone_id: String::new(),
            instance_id: "i-bp1fakemetadata0001".into(),
            owner_account_id: String::new(),
            hostname: "iZbp1fakemetadata0001Z".into(),
            image_id: "aliyun_3_x64_20G_alibase_20240819.vhd".into(),
            serial_number: "4e1d3f0a-0b6c-4f2e-9a7d-fa1ce0000001".into(),
            source_address: "http://mirrors.cloud.aliyuncs.com".into(),
            instance_type: "ecs.g7.xlarge".into(),
            instance_name: "fake-worker-0001".into(),
            vpc_id: "vpc-bp1fakevpc0001".into(),
            vpc_cidr_block: "192.168.0.0/16".into(),
            vswitch_id: "vsw-bp1fakevsw0001".into(),
            vswitch_cidr_block: "192.168.0.0/24".into(),
            private_ipv4: "192.168.0.10".into(),
            public_ipv4: "203.0.113.10".into(),
            eipv4: "203.0.113.10".into(),
            network_type: "vpc".into(),
            mac: "00:16:3e:00:00:01".into(),
            nameservers: vec!["100.100.2.136".into(), "100.100.2.138".into()],
            ntp_servers: vec![
                "ntp.cloud.aliyuncs.com".into(),
                "ntp7.cloud.aliyuncs.com".into(),
                "ntp8.cloud.aliyuncs.com".into(),
            ],
            user_data: String::new(),
            spot_termination_time: None,
        }
    }
}

/// All settings of the fake. `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// Metadata listener; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Admin API listener; port 0 picks a free port.
    pub admin_listen: SocketAddr,
    /// Hardened mode.
    pub hardened: HardenedMode,
    /// The attached RAM role; none means "no role attached" (404 on the listing).
    pub role: Option<String>,
    /// The account id put in the STS claims.
    pub account_id: String,
    /// The account secret shared with fake-acr.
    pub account_secret: AccountSecret,
    /// Lifetime of each set of STS credentials.
    #[serde(with = "duration_text")]
    pub credential_lifetime: Duration,
    /// New credentials are issued this long before the current ones expire.
    #[serde(with = "duration_text")]
    pub rotation_lead_time: Duration,
    /// Requests kept in the request log (oldest dropped first).
    pub request_log_capacity: usize,
    /// Fault rules active from start-up.
    pub faults: Vec<FaultRule>,
    /// The instance's metadata values.
    pub instance: InstanceMetadata,
}

/// Longest credential lifetime: 10 years (time arithmetic stays far from the calendar's limits).
pub const MAX_LIFETIME: Duration = Duration::from_secs(315_360_000);
/// Largest clock offset either way: 100 years.
pub const MAX_CLOCK_OFFSET_SECONDS: i64 = 3_155_760_000;
/// Most requests kept in the request log.
pub const MAX_REQUEST_LOG_CAPACITY: usize = 1_000_000;
/// Longest role name (RAM allows 64).
pub const MAX_ROLE_CHARS: usize = 64;

/// A RAM role name: 1 to [`MAX_ROLE_CHARS`] characters of `A-Z a-z 0-9 . - _` (it is a path
/// segment of the metadata service).
pub fn check_role(field: &str, role: &str) -> Result<(), SettingsError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if role.is_empty() || role.chars().count() > MAX_ROLE_CHARS || !role.chars().all(ok) {
        return Err(SettingsError::Invalid {
            field: field.to_owned(),
            reason: format!(
                "{role:?} is not accepted: 1 to {MAX_ROLE_CHARS} characters of A-Z, a-z, 0-9, '.', '-' and '_'"
            ),
        });
    }
    Ok(())
}

/// An RFC 3339 time such as `2026-11-28T20:00:00Z`.
pub fn check_rfc3339(field: &str, text: &str) -> Result<(), SettingsError> {
    text.parse::<jiff::Timestamp>()
        .map(|_| ())
        .map_err(|e| SettingsError::Invalid {
            field: field.to_owned(),
            reason: format!(
                "{text:?} is not accepted: an RFC 3339 time like 2026-11-28T20:00:00Z ({e})"
            ),
        })
}

/// The default RAM role name (an ACK worker role).
pub const DEFAULT_ROLE: &str = "KubernetesWorkerRole-fake";

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            hardened: HardenedMode::Optional,
            role: Some(DEFAULT_ROLE.into()),
            account_id: acs_wire::sts::DEFAULT_ACCOUNT_ID.into(),
            account_secret: AccountSecret::default(),
            credential_lifetime: Duration::from_secs(6 * 3600),
            rotation_lead_time: Duration::from_secs(30 * 60),
            request_log_capacity: 10_000,
            faults: Vec::new(),
            instance: InstanceMetadata::default(),
        }
    }
}

impl Settings {
    /// Reads a YAML or JSON config file (JSON is YAML, so one parser reads both).
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        Ok(fake_server_kit::settings_file::read(path)?)
    }

    /// The zone id, derived from the region when not configured.
    pub fn zone_id(&self) -> String {
        if self.instance.zone_id.is_empty() {
            format!("{}-h", self.instance.region_id)
        } else {
            self.instance.zone_id.clone()
        }
    }

    /// The owner account id, the STS account id when not configured.
    pub fn owner_account_id(&self) -> String {
        if self.instance.owner_account_id.is_empty() {
            self.account_id.clone()
        } else {
            self.instance.owner_account_id.clone()
        }
    }

    /// Puts `running`'s account secret back when these settings (a replacement, often a
    /// `GET /settings` answer edited) carry the [`REDACTED`] placeholder.
    pub fn restore_redacted(&mut self, running: &Settings) {
        if self.account_secret.0 == REDACTED {
            self.account_secret = running.account_secret.clone();
        }
    }

    /// These settings with the account secret replaced by [`REDACTED`] (for output).
    pub fn redacted(&self) -> Self {
        Self {
            account_secret: AccountSecret(REDACTED.to_owned()),
            ..self.clone()
        }
    }

    /// Checks every value the fake must be able to compute with: `credential-lifetime`
    /// 1s..=[`MAX_LIFETIME`], `rotation-lead-time` shorter than it, `request-log-capacity` ≤
    /// [`MAX_REQUEST_LOG_CAPACITY`], the role name ([`check_role`]), the spot termination time
    /// (RFC 3339), every fault rule ([`FaultRule::validate`]).
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |field: &str, value: String, accepted: String| SettingsError::Invalid {
            field: field.to_owned(),
            reason: format!("{value} is not accepted: {accepted}"),
        };
        let lifetime = self.credential_lifetime;
        if lifetime < Duration::from_secs(1) || lifetime > MAX_LIFETIME {
            return Err(invalid(
                "credential-lifetime",
                format_duration(lifetime),
                format!("1s..={}", format_duration(MAX_LIFETIME)),
            ));
        }
        if self.rotation_lead_time >= lifetime {
            return Err(invalid(
                "rotation-lead-time",
                format_duration(self.rotation_lead_time),
                format!(
                    "shorter than credential-lifetime ({})",
                    format_duration(lifetime)
                ),
            ));
        }
        if self.request_log_capacity > MAX_REQUEST_LOG_CAPACITY {
            return Err(invalid(
                "request-log-capacity",
                self.request_log_capacity.to_string(),
                format!("0..={MAX_REQUEST_LOG_CAPACITY}"),
            ));
        }
        if let Some(role) = &self.role {
            check_role("role", role)?;
        }
        if let Some(t) = &self.instance.spot_termination_time {
            check_rfc3339("instance.spot-termination-time", t)?;
        }
        for (i, rule) in self.faults.iter().enumerate() {
            crate::faults::validate(rule, &format!("faults[{i}]"))?;
        }
        Ok(())
    }
}

/// Settings sent to a running fake (admin `PUT /settings`), with the listener addresses the
/// sender named (none: left out).
#[derive(Clone, Debug, PartialEq)]
pub struct Replacement {
    /// The settings; listener fields left out hold their defaults until [`Listeners::accept`].
    pub settings: Settings,
    /// `listen`, when sent.
    pub listen: Option<SocketAddr>,
    /// `admin-listen`, when sent.
    pub admin_listen: Option<SocketAddr>,
}

impl Replacement {
    /// Parses a JSON (or YAML) body in the config-file format; an empty body means every
    /// default. Parser messages never echo the account secret.
    pub fn parse(body: &[u8]) -> Result<Self, SettingsError> {
        let text = String::from_utf8_lossy(body);
        let bad = |reason: String| SettingsError::Body { reason };
        let mut value: serde_norway::Value =
            serde_norway::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if value.is_null() {
            value = serde_norway::Value::Mapping(serde_norway::Mapping::new());
        }
        let Some(map) = value.as_mapping() else {
            return Err(bad("expected a mapping of settings (a JSON object)".into()));
        };
        let secret = map
            .get("account-secret")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let scrub = |reason: String| match &secret {
            Some(s) => reason.replace(s.as_str(), REDACTED),
            None => reason,
        };
        let has = |key: &str| map.contains_key(key);
        let (has_listen, has_admin_listen) = (has("listen"), has("admin-listen"));
        let settings: Settings =
            serde_norway::from_value(value).map_err(|e| bad(scrub(e.to_string())))?;
        Ok(Self {
            listen: has_listen.then_some(settings.listen),
            admin_listen: has_admin_listen.then_some(settings.admin_listen),
            settings,
        })
    }
}

/// Where a running fake listens: the addresses configured at start-up and those bound (they
/// differ when the configured port was 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listeners {
    /// `listen` as configured.
    pub listen: SocketAddr,
    /// `admin-listen` as configured.
    pub admin_listen: SocketAddr,
    /// The metadata listener's bound address.
    pub bound: SocketAddr,
    /// The admin listener's bound address.
    pub admin_bound: SocketAddr,
}

impl Listeners {
    /// Accepts `settings` as a replacement for a running fake's: each listener address must be
    /// the configured or the bound one (`None`: left out, the configured one is kept). Returns
    /// the settings with the configured addresses, validated.
    pub fn accept(
        &self,
        mut settings: Settings,
        listen: Option<SocketAddr>,
        admin_listen: Option<SocketAddr>,
    ) -> Result<Settings, SettingsError> {
        let check = |field, requested: Option<SocketAddr>, configured, bound| match requested {
            Some(r) if r != configured && r != bound => Err(SettingsError::Unchangeable {
                field,
                running: bound,
                requested: r,
            }),
            _ => Ok(configured),
        };
        settings.listen = check("listen", listen, self.listen, self.bound)?;
        settings.admin_listen = check(
            "admin-listen",
            admin_listen,
            self.admin_listen,
            self.admin_bound,
        )?;
        settings.validate()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        // Go's grammar: no bare numbers, no days.
        for bad in ["", "6 hours", "h", "5x", "12m3", "90", "1d"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(6 * 3600)), "6h");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "24h");
        for d in [Duration::from_secs(86_461), Duration::from_millis(1500)] {
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }

    #[test]
    fn config_file_overrides_only_what_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "region: x\n", // unknown key → error naming it
        )
        .unwrap();
        let err = Settings::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("region"), "{err}");
        std::fs::write(
            &path,
            "hardened: required\ncredential-lifetime: 1h\ninstance:\n  region-id: cn-beijing\n",
        )
        .unwrap();
        let s = Settings::from_file(&path).unwrap();
        assert_eq!(s.hardened, HardenedMode::Required);
        assert_eq!(s.credential_lifetime, Duration::from_secs(3600));
        assert_eq!(s.instance.region_id, "cn-beijing");
        assert_eq!(s.zone_id(), "cn-beijing-h");
        assert_eq!(s.role.as_deref(), Some(DEFAULT_ROLE));
        std::fs::write(&path, r#"{"role": null, "credential-lifetime": 600}"#).unwrap();
        let s = Settings::from_file(&path).unwrap();
        assert_eq!(s.role, None);
        assert_eq!(s.credential_lifetime, Duration::from_secs(600));
    }

    #[test]
    fn debug_redacts_the_account_secret() {
        let text = format!("{:?}", Settings::default());
        assert!(!text.contains(acs_wire::sts::DEFAULT_ACCOUNT_SECRET));
    }

    #[test]
    fn replacement_notes_which_listeners_were_sent() {
        let r = Replacement::parse(b"").unwrap();
        assert_eq!(r.settings, Settings::default());
        assert_eq!((r.listen, r.admin_listen), (None, None));
        let r = Replacement::parse(
            br#"{"listen": "127.0.0.1:80", "instance": {"region-id": "cn-beijing"}, "credential-lifetime": "1h"}"#,
        )
        .unwrap();
        assert_eq!(r.listen, Some("127.0.0.1:80".parse().unwrap()));
        assert_eq!(r.admin_listen, None);
        assert_eq!(r.settings.instance.region_id, "cn-beijing");
        assert_eq!(r.settings.credential_lifetime, Duration::from_secs(3600));
        // YAML is accepted too (the config-file format).
        let r = Replacement::parse(b"role: null\nhardened: required\n").unwrap();
        assert_eq!(
            (r.settings.role, r.settings.hardened),
            (None, HardenedMode::Required)
        );
        let err = Replacement::parse(b"[1, 2]").unwrap_err().to_string();
        assert!(err.contains("mapping"), "{err}");
        let err = Replacement::parse(br#"{"region": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("region"), "{err}");
    }

    #[test]
    fn replacement_errors_never_echo_the_account_secret() {
        // The secret pasted into a duration field by mistake: the parser would quote it.
        let body = br#"{"account-secret": "s3cr3t-value", "credential-lifetime": "s3cr3t-value"}"#;
        let err = Replacement::parse(body).unwrap_err().to_string();
        assert!(!err.contains("s3cr3t-value"), "{err}");
        assert!(err.contains(REDACTED), "{err}");
    }

    #[test]
    fn a_running_fake_accepts_its_configured_or_bound_listeners_only() {
        let listeners = Listeners {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "0.0.0.0:8101".parse().unwrap(),
            bound: "127.0.0.1:40001".parse().unwrap(),
            admin_bound: "0.0.0.0:8101".parse().unwrap(),
        };
        let s = Settings::default();
        for listen in [None, Some("127.0.0.1:0"), Some("127.0.0.1:40001")] {
            let accepted = listeners
                .accept(s.clone(), listen.map(|l| l.parse().unwrap()), None)
                .unwrap();
            assert_eq!(accepted.listen, listeners.listen, "{listen:?}");
            assert_eq!(accepted.admin_listen, listeners.admin_listen);
        }
        let err = listeners
            .accept(s.clone(), Some("127.0.0.1:40002".parse().unwrap()), None)
            .unwrap_err();
        assert_eq!(err.field(), Some("listen"));
        assert!(err.to_string().contains("127.0.0.1:40001"), "{err}");
        let err = listeners
            .accept(s, None, Some("127.0.0.1:8101".parse().unwrap()))
            .unwrap_err();
        assert_eq!(err.field(), Some("admin-listen"));
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = Settings::default();
        assert!(s.validate().is_ok());
        s.faults
            .push(FaultRule::new("*", crate::faults::FaultKind::MissingCode).probability(1.5));
        let err = s.validate().unwrap_err();
        assert_eq!(err.field(), Some("faults[0].probability"));
    }

    #[test]
    fn the_placeholder_keeps_the_running_secret() {
        let running = Settings {
            account_secret: AccountSecret("running-secret".into()),
            ..Settings::default()
        };
        let mut sent = running.redacted();
        assert_eq!(sent.account_secret.0, REDACTED);
        sent.restore_redacted(&running);
        assert_eq!(sent.account_secret.0, "running-secret");
        let mut new = Settings {
            account_secret: AccountSecret("new-secret".into()),
            ..Settings::default()
        };
        new.restore_redacted(&running);
        assert_eq!(new.account_secret.0, "new-secret");
    }
}
