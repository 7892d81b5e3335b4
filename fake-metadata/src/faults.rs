//! fake-metadata's fault kinds, on fake-server-kit's fault-rule model (path glob, method,
//! count, probability, time window): the rule JSON is `{"path", "method", "kind", …kind's
//! fields, "count", "probability", "not_before", "not_after"}`.

use std::time::Duration;

use fake_server_kit::faults::{self as kit, AnyRequest, Fault};
use serde::{Deserialize, Serialize};

pub use fake_server_kit::faults::MAX_GLOB_CHARS;

/// Longest injected latency of one rule: 10 minutes.
pub const MAX_LATENCY_MILLIS: u64 = 600_000;

/// What happens to a request a rule matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait this long before answering (other faults still apply).
    Latency {
        /// Added delay in milliseconds.
        millis: u64,
    },
    /// Answer with this status and body instead.
    Status {
        /// HTTP status code.
        status: u16,
        /// Response body (text/plain).
        #[serde(default)]
        body: String,
    },
    /// Close the connection without answering.
    DropConnection,
    /// Serve credentials that expired a minute ago (properly signed).
    ExpiredCredentials,
    /// Serve a credentials document cut in the middle (not valid JSON).
    MalformedJson,
    /// Serve the credentials document without `"Code"` (credentials-go v1.4 panics on it).
    MissingCode,
}

impl FaultKind {
    /// Short name for logs and the request log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::Status { .. } => "status",
            Self::DropConnection => "drop_connection",
            Self::ExpiredCredentials => "expired_credentials",
            Self::MalformedJson => "malformed_json",
            Self::MissingCode => "missing_code",
        }
    }
}

impl Fault for FaultKind {
    fn latency(&self) -> Duration {
        match self {
            Self::Latency { millis } => Duration::from_millis(*millis),
            _ => Duration::ZERO,
        }
    }

    fn replaces_answer(&self) -> bool {
        !matches!(self, Self::Latency { .. })
    }

    fn name(&self) -> &'static str {
        FaultKind::name(self)
    }
}

/// A fault and the requests it applies to.
pub type FaultRule = kit::FaultRule<FaultKind>;

/// A rule as installed, with its id and how often it fired.
pub type InstalledFault = kit::InstalledFault<FaultKind>;

/// The faults to apply to one request, decided once when it arrives.
pub type FaultPlan = kit::FaultPlan<FaultKind>;

/// Checks a rule: the shared values ([`kit::FaultRule::validate`]), `millis` ≤
/// [`MAX_LATENCY_MILLIS`], `status` 100..=599. `field` prefixes the names in errors
/// (`faults[0]`, or `fault` for `POST /faults`).
pub fn validate(rule: &FaultRule, field: &str) -> Result<(), crate::settings::SettingsError> {
    let bad = |name: &str, value: String, accepted: &str| crate::settings::SettingsError::Invalid {
        field: format!("{field}.{name}"),
        reason: format!("{value} is not accepted: {accepted}"),
    };
    if let Err(e) = rule.validate(field) {
        return Err(crate::settings::SettingsError::Invalid {
            field: e.field,
            reason: format!("{} is not accepted: {}", e.value, e.accepted),
        });
    }
    match &rule.fault {
        FaultKind::Latency { millis } if *millis > MAX_LATENCY_MILLIS => Err(bad(
            "millis",
            millis.to_string(),
            &format!("0..={MAX_LATENCY_MILLIS}"),
        )),
        FaultKind::Status { status, .. } if !(100..=599).contains(status) => {
            Err(bad("status", status.to_string(), "100..=599"))
        }
        _ => Ok(()),
    }
}

/// Decides the faults for one request and counts them; `roll` gives uniform numbers in [0, 1).
pub fn plan(
    rules: &mut [InstalledFault],
    method: &str,
    path: &str,
    now: jiff::Timestamp,
    roll: impl FnMut() -> f64,
) -> FaultPlan {
    kit::plan(rules, method, path, &AnyRequest {}, now, roll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_from_json_and_kinds_are_checked() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"path":"/latest/meta-data/ram/*","kind":"status","status":500,"body":"boom","count":2}"#,
        )
        .unwrap();
        assert_eq!(
            rule.fault,
            FaultKind::Status {
                status: 500,
                body: "boom".into()
            }
        );
        assert_eq!(rule.count, Some(2));
        assert!(serde_json::from_str::<FaultRule>(r#"{"kind":"nope"}"#).is_err());
        let slow = FaultRule::new(
            "*",
            FaultKind::Latency {
                millis: MAX_LATENCY_MILLIS + 1,
            },
        );
        let err = validate(&slow, "fault").unwrap_err().to_string();
        assert!(err.contains("fault.millis"), "{err}");
        let odd = FaultRule::new(
            "*",
            FaultKind::Status {
                status: 99,
                body: String::new(),
            },
        );
        assert!(
            validate(&odd, "faults[1]")
                .unwrap_err()
                .to_string()
                .contains("faults[1].status")
        );
        let never = FaultRule::new("*", FaultKind::MissingCode).times(0);
        assert!(
            validate(&never, "fault")
                .unwrap_err()
                .to_string()
                .contains("fault.count")
        );
    }

    #[test]
    fn latency_adds_up_and_the_first_answer_wins() {
        let now = jiff::Timestamp::now();
        let mut rules: Vec<InstalledFault> = [
            FaultRule::new("*", FaultKind::Latency { millis: 5 }),
            FaultRule::new("*", FaultKind::MissingCode),
            FaultRule::new("*", FaultKind::DropConnection),
            FaultRule::new("*", FaultKind::Latency { millis: 6 }),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, rule)| InstalledFault {
            id: i as u64 + 1,
            rule,
            fired: 0,
        })
        .collect();
        let p = plan(&mut rules, "GET", "/x", now, || 0.0);
        assert_eq!(p.latency, Duration::from_millis(11));
        assert_eq!(p.action, Some(FaultKind::MissingCode));
        assert_eq!(
            rules.iter().map(|r| r.fired).collect::<Vec<_>>(),
            vec![1, 1, 0, 1]
        );
    }
}
