//! Fault rules: which requests (path glob, method, count or probability, time window) get which fault.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest injected latency of one rule: 10 minutes.
pub const MAX_LATENCY_MILLIS: u64 = 600_000;
/// Longest path glob of a rule.
pub const MAX_GLOB_CHARS: usize = 1024;

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

/// A fault and the requests it applies to.
// No deny_unknown_fields: serde does not support it together with `flatten`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Glob over the request path: `*` any run of characters (including `/`), `?` one character.
    #[serde(default = "any_path")]
    pub path: String,
    /// HTTP method to match (case-insensitive); none matches every method.
    #[serde(default)]
    pub method: Option<String>,
    /// The fault.
    #[serde(flatten)]
    pub fault: FaultKind,
    /// Fire this many times, then stop matching; none means unlimited.
    #[serde(default)]
    pub count: Option<u64>,
    /// Fire with this probability (0.0–1.0) when matched; none means always.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Active from this time of the fake's (offset) clock; none means from now.
    #[serde(default)]
    pub not_before: Option<DateTime<Utc>>,
    /// Active until this time of the fake's (offset) clock; none means forever.
    #[serde(default)]
    pub not_after: Option<DateTime<Utc>>,
}

fn any_path() -> String {
    "*".into()
}

impl FaultRule {
    /// A rule applying `fault` to every request whose path matches `path_glob`.
    pub fn new(path_glob: &str, fault: FaultKind) -> Self {
        Self {
            path: path_glob.into(),
            method: None,
            fault,
            count: None,
            probability: None,
            not_before: None,
            not_after: None,
        }
    }

    /// Only for this method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Only the first `count` matching requests.
    pub fn times(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Only with this probability.
    pub fn probability(mut self, probability: f64) -> Self {
        self.probability = Some(probability);
        self
    }

    /// Only inside this window of the fake's clock.
    pub fn window(
        mut self,
        not_before: Option<DateTime<Utc>>,
        not_after: Option<DateTime<Utc>>,
    ) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Checks the rule's values: `path` at most [`MAX_GLOB_CHARS`] characters, `millis` ≤
    /// [`MAX_LATENCY_MILLIS`], `status` 100..=599, `count` ≥ 1, `probability` within
    /// 0.0..=1.0, `not_before` before `not_after`. `field` prefixes the names in errors
    /// (`faults[0]`, or `fault` for `POST /faults`).
    pub fn validate(&self, field: &str) -> Result<(), crate::settings::SettingsError> {
        let bad =
            |name: &str, value: String, accepted: &str| crate::settings::SettingsError::Invalid {
                field: format!("{field}.{name}"),
                reason: format!("{value} is not accepted: {accepted}"),
            };
        let glob_chars = self.path.chars().count();
        if glob_chars > MAX_GLOB_CHARS {
            return Err(bad(
                "path",
                format!("a glob of {glob_chars} characters"),
                &format!("at most {MAX_GLOB_CHARS} characters"),
            ));
        }
        match &self.fault {
            FaultKind::Latency { millis } if *millis > MAX_LATENCY_MILLIS => {
                return Err(bad(
                    "millis",
                    millis.to_string(),
                    &format!("0..={MAX_LATENCY_MILLIS}"),
                ));
            }
            FaultKind::Status { status, .. } if !(100..=599).contains(status) => {
                return Err(bad("status", status.to_string(), "100..=599"));
            }
            _ => {}
        }
        if self.count == Some(0) {
            return Err(bad("count", "0".into(), &format!("1..={}", u64::MAX)));
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(bad("probability", p.to_string(), "0.0..=1.0"));
        }
        if let (Some(from), Some(until)) = (self.not_before, self.not_after)
            && from >= until
        {
            return Err(bad(
                "not_after",
                until.to_rfc3339(),
                &format!("a time after not_before ({})", from.to_rfc3339()),
            ));
        }
        Ok(())
    }

    /// Whether the rule's static conditions (method, path, window) hold; count/probability aside.
    pub fn matches(&self, method: &str, path: &str, now: DateTime<Utc>) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && glob_matches(&self.path, path)
            && self.not_before.is_none_or(|t| now >= t)
            && self.not_after.is_none_or(|t| now < t)
    }
}

/// A rule as installed, with its id and how often it fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstalledFault {
    /// Id to refer to the rule.
    pub id: u64,
    /// The rule.
    #[serde(flatten)]
    pub rule: FaultRule,
    /// How many times it fired so far.
    pub fired: u64,
}

/// The faults to apply to one request, decided once when it arrives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// Total added latency.
    pub latency: Duration,
    /// The first answer-replacing fault (status, drop, credential shaping), if any.
    pub action: Option<FaultKind>,
    /// Names of the faults that fired, for the request log.
    pub fired: Vec<&'static str>,
}

/// Matches `path` against a glob of `*` (any run) and `?` (any one character).
pub fn glob_matches(glob: &str, path: &str) -> bool {
    let g: Vec<char> = glob.chars().collect();
    let p: Vec<char> = path.chars().collect();
    // Iterative matcher with backtracking to the last `*`: linear in practice, no recursion.
    let (mut gi, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while pi < p.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == p[pi]) {
            gi += 1;
            pi += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, pi));
            gi += 1;
        } else if let Some((sg, sp)) = star {
            gi = sg + 1;
            pi = sp + 1;
            star = Some((sg, sp + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

/// Decides the faults for one request and counts them; `roll` gives uniform numbers in [0, 1).
pub fn plan(
    rules: &mut [InstalledFault],
    method: &str,
    path: &str,
    now: DateTime<Utc>,
    mut roll: impl FnMut() -> f64,
) -> FaultPlan {
    let mut plan = FaultPlan::default();
    for installed in rules.iter_mut() {
        let rule = &installed.rule;
        if rule.count.is_some_and(|c| installed.fired >= c) || !rule.matches(method, path, now) {
            continue;
        }
        if let Some(p) = rule.probability
            && roll() >= p
        {
            continue;
        }
        match &rule.fault {
            FaultKind::Latency { millis } => {
                plan.latency = plan.latency.saturating_add(Duration::from_millis(*millis));
            }
            other if plan.action.is_none() => plan.action = Some(other.clone()),
            // A second answer-replacing fault does not fire, so it is not counted either.
            _ => continue,
        }
        installed.fired += 1;
        plan.fired.push(rule.fault.name());
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("*", "/latest/meta-data/"));
        assert!(glob_matches(
            "/latest/meta-data/ram/*",
            "/latest/meta-data/ram/security-credentials/r"
        ));
        assert!(glob_matches("/latest/api/toke?", "/latest/api/token"));
        assert!(glob_matches("*region*", "/latest/meta-data/region-id"));
        assert!(!glob_matches(
            "/latest/meta-data/ram/*",
            "/latest/meta-data/region-id"
        ));
        assert!(!glob_matches("/a", "/a/b"));
        assert!(glob_matches("/a*b*c", "/axxbyyc"));
        assert!(!glob_matches("/a*b*c", "/axxbyy"));
    }

    #[test]
    fn count_probability_window_and_method() {
        let now = Utc::now();
        let mut rules = vec![
            InstalledFault {
                id: 1,
                rule: FaultRule::new("*", FaultKind::DropConnection)
                    .times(1)
                    .method("get"),
                fired: 0,
            },
            InstalledFault {
                id: 2,
                rule: FaultRule::new("*", FaultKind::Latency { millis: 5 }).probability(0.5),
                fired: 0,
            },
            InstalledFault {
                id: 3,
                rule: FaultRule::new("*", FaultKind::MissingCode)
                    .window(Some(now + chrono::Duration::seconds(10)), None),
                fired: 0,
            },
        ];
        let p = plan(&mut rules, "GET", "/x", now, || 0.9);
        assert_eq!(p.action, Some(FaultKind::DropConnection));
        assert_eq!(p.latency, Duration::ZERO);
        let p = plan(&mut rules, "GET", "/x", now, || 0.1);
        assert_eq!(p.action, None, "count exhausted, window not open yet");
        assert_eq!(p.latency, Duration::from_millis(5));
        let later = now + chrono::Duration::seconds(11);
        let p = plan(&mut rules, "PUT", "/x", later, || 0.9);
        assert_eq!(p.action, Some(FaultKind::MissingCode));
        assert_eq!(
            rules.iter().map(|r| r.fired).collect::<Vec<_>>(),
            vec![1, 1, 1]
        );
    }

    /// Reference matcher: plain recursion, obviously right, exponential (fine for short inputs).
    fn reference(g: &[char], p: &[char]) -> bool {
        match (g.first(), p.first()) {
            (None, None) => true,
            (Some('*'), _) => reference(&g[1..], p) || (!p.is_empty() && reference(g, &p[1..])),
            (Some('?'), Some(_)) => reference(&g[1..], &p[1..]),
            (Some(a), Some(b)) if a == b => reference(&g[1..], &p[1..]),
            _ => false,
        }
    }

    proptest::proptest! {
        #[test]
        fn glob_agrees_with_the_reference(glob in "[ab/*?]{0,8}", path in "[ab/]{0,10}") {
            let g: Vec<char> = glob.chars().collect();
            let p: Vec<char> = path.chars().collect();
            proptest::prop_assert_eq!(glob_matches(&glob, &path), reference(&g, &p));
        }
    }

    #[test]
    fn rules_read_from_json() {
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
    }
}
