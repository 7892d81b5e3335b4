//! The fault-rule model both fakes share: which requests (path glob, method, the fake's own
//! selectors, time window, count, probability) get which fault (the fake's own kinds).
//!
//! A request is checked against every rule in order: each matching latency adds up, the first
//! matching fault that replaces the answer wins (later ones do not fire and are not counted).
//! A rule with a `count` stops matching once it fired that often.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Longest path glob of a rule.
pub const MAX_GLOB_CHARS: usize = 1024;

/// A fake's fault kinds.
pub trait Fault: Clone {
    /// Delay added before answering when the rule fires.
    fn latency(&self) -> Duration;
    /// Whether firing replaces the answer (status, drop, malformed, …).
    fn replaces_answer(&self) -> bool;
    /// Short name for logs and the request log.
    fn name(&self) -> &'static str;
}

/// A fake's selectors beyond path and method (fake-acr: action, region, host), over what it
/// knows of a request.
pub trait Selector<R: ?Sized> {
    /// Whether the request is selected.
    fn selects(&self, request: &R) -> bool;
}

/// No selectors beyond path and method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnyRequest {}

impl<R: ?Sized> Selector<R> for AnyRequest {
    fn selects(&self, _: &R) -> bool {
        true
    }
}

/// A fault and the requests it applies to.
// No deny_unknown_fields: serde does not support it together with `flatten`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRule<K, S = AnyRequest> {
    /// Glob over the request path: `*` any run of characters (including `/`), `?` one character.
    #[serde(default = "any_path")]
    pub path: String,
    /// HTTP method to match (case-insensitive); none matches every method.
    #[serde(default)]
    pub method: Option<String>,
    /// The fake's own selectors.
    #[serde(flatten)]
    pub select: S,
    /// The fault.
    #[serde(flatten)]
    pub fault: K,
    /// Fire this many times, then stop matching; none means unlimited.
    #[serde(default)]
    pub count: Option<u64>,
    /// Fire with this probability (0.0–1.0) when matched; none means always.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Active from this time of the fake's (offset) clock; none means from now.
    #[serde(default)]
    pub not_before: Option<Timestamp>,
    /// Active until this time of the fake's (offset) clock; none means forever.
    #[serde(default)]
    pub not_after: Option<Timestamp>,
}

fn any_path() -> String {
    "*".into()
}

/// A rule value the fake refuses: the field (prefixed as asked) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {value} is not accepted: {accepted}")]
pub struct InvalidRule {
    /// The field, e.g. `faults[0].probability`.
    pub field: String,
    /// The value as given.
    pub value: String,
    /// What is accepted.
    pub accepted: String,
}

impl<K, S: Default> FaultRule<K, S> {
    /// A rule applying `fault` to every request whose path matches `path_glob`.
    pub fn new(path_glob: &str, fault: K) -> Self {
        Self {
            path: path_glob.into(),
            method: None,
            select: S::default(),
            fault,
            count: None,
            probability: None,
            not_before: None,
            not_after: None,
        }
    }
}

impl<K, S> FaultRule<K, S> {
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
    pub fn window(mut self, not_before: Option<Timestamp>, not_after: Option<Timestamp>) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Checks the shared values: `path` at most [`MAX_GLOB_CHARS`] characters, `count` ≥ 1,
    /// `probability` within 0.0..=1.0, `not_before` before `not_after`. `field` prefixes the
    /// names in errors (`faults[0]`, or `fault` for `POST /faults`); the fake checks its kinds.
    pub fn validate(&self, field: &str) -> Result<(), InvalidRule> {
        let bad = |name: &str, value: String, accepted: String| InvalidRule {
            field: format!("{field}.{name}"),
            value,
            accepted,
        };
        let glob_chars = self.path.chars().count();
        if glob_chars > MAX_GLOB_CHARS {
            return Err(bad(
                "path",
                format!("a glob of {glob_chars} characters"),
                format!("at most {MAX_GLOB_CHARS} characters"),
            ));
        }
        if self.count == Some(0) {
            return Err(bad("count", "0".into(), format!("1..={}", u64::MAX)));
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            // NaN fails the range check too; JSON cannot carry it, the in-process API can.
            return Err(bad("probability", p.to_string(), "0.0..=1.0".into()));
        }
        if let (Some(from), Some(until)) = (self.not_before, self.not_after)
            && from >= until
        {
            return Err(bad(
                "not_after",
                until.to_string(),
                format!("a time after not_before ({from})"),
            ));
        }
        Ok(())
    }

    /// Whether the rule's static conditions (method, path, selectors, window) hold for a request;
    /// count and probability aside.
    pub fn matches<R: ?Sized>(&self, method: &str, path: &str, request: &R, now: Timestamp) -> bool
    where
        S: Selector<R>,
    {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && glob_matches(&self.path, path)
            && self.select.selects(request)
            && self.not_before.is_none_or(|t| now >= t)
            && self.not_after.is_none_or(|t| now < t)
    }
}

/// A rule as installed, with its id and how often it fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstalledFault<K, S = AnyRequest> {
    /// Id to refer to the rule.
    pub id: u64,
    /// The rule.
    #[serde(flatten)]
    pub rule: FaultRule<K, S>,
    /// How many times it fired so far.
    pub fired: u64,
}

impl<K, S> InstalledFault<K, S> {
    /// Whether the rule has fired its `count` and matches no more.
    pub fn exhausted(&self) -> bool {
        self.rule.count.is_some_and(|c| self.fired >= c)
    }
}

/// The faults to apply to one request, decided once when it arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPlan<K> {
    /// Total added latency.
    pub latency: Duration,
    /// The first answer-replacing fault, if any.
    pub action: Option<K>,
    /// Names of the faults that fired, for the request log.
    pub fired: Vec<&'static str>,
}

impl<K> Default for FaultPlan<K> {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            action: None,
            fired: Vec::new(),
        }
    }
}

/// Decides the faults for one request and counts them; `roll` gives uniform numbers in [0, 1).
pub fn plan<K: Fault, S: Selector<R>, R: ?Sized>(
    rules: &mut [InstalledFault<K, S>],
    method: &str,
    path: &str,
    request: &R,
    now: Timestamp,
    mut roll: impl FnMut() -> f64,
) -> FaultPlan<K> {
    let mut plan = FaultPlan::default();
    for installed in rules.iter_mut() {
        if installed.exhausted() || !installed.rule.matches(method, path, request, now) {
            continue;
        }
        let rule = &installed.rule;
        if let Some(p) = rule.probability
            && roll() >= p
        {
            continue;
        }
        if rule.fault.replaces_answer() {
            if plan.action.is_some() {
                // A second answer-replacing fault does not fire, so it is not counted either.
                continue;
            }
            plan.action = Some(rule.fault.clone());
        }
        plan.latency = plan.latency.saturating_add(rule.fault.latency());
        installed.fired += 1;
        plan.fired.push(rule.fault.name());
    }
    plan
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Kind {
        Latency { millis: u64 },
        Drop,
        Missing,
    }

    impl Fault for Kind {
        fn latency(&self) -> Duration {
            let Self::Latency { millis } = self else {
                return Duration::ZERO;
            };
            Duration::from_millis(*millis)
        }
        fn replaces_answer(&self) -> bool {
            !matches!(self, Self::Latency { .. })
        }
        fn name(&self) -> &'static str {
            if self.replaces_answer() {
                if *self == Self::Drop {
                    "drop"
                } else {
                    "missing"
                }
            } else {
                "latency"
            }
        }
    }

    /// Selects by a label, as fake-acr selects by action.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Label {
        #[serde(default)]
        label: Option<String>,
    }

    impl Selector<str> for Label {
        fn selects(&self, request: &str) -> bool {
            self.label.as_deref().is_none_or(|l| l == request)
        }
    }

    fn installed<S>(id: u64, rule: FaultRule<Kind, S>) -> InstalledFault<Kind, S> {
        InstalledFault { id, rule, fired: 0 }
    }

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
    fn count_probability_window_method_and_selectors() {
        let now = Timestamp::now();
        let ten = jiff::SignedDuration::from_secs(10);
        let mut rules: Vec<InstalledFault<Kind, Label>> = vec![
            installed(1, FaultRule::new("*", Kind::Drop).times(1).method("get")),
            installed(
                2,
                FaultRule::new("*", Kind::Latency { millis: 5 }).probability(0.5),
            ),
            installed(
                3,
                FaultRule::new("*", Kind::Missing).window(Some(now + ten), None),
            ),
            installed(
                4,
                FaultRule {
                    select: Label {
                        label: Some("other".into()),
                    },
                    ..FaultRule::new("/x", Kind::Latency { millis: 7 })
                },
            ),
        ];
        let p = plan(&mut rules, "GET", "/x", "this", now, || 0.9);
        assert_eq!(p.action, Some(Kind::Drop));
        assert_eq!(p.latency, Duration::ZERO);
        let p = plan(&mut rules, "GET", "/x", "this", now, || 0.1);
        assert_eq!(p.action, None, "count exhausted, window not open yet");
        assert_eq!(p.latency, Duration::from_millis(5));
        let later = now + jiff::SignedDuration::from_secs(11);
        let p = plan(&mut rules, "PUT", "/x", "other", later, || 0.9);
        assert_eq!(p.action, Some(Kind::Missing));
        assert_eq!(p.latency, Duration::from_millis(7), "selected by label");
        assert_eq!(p.fired, vec!["missing", "latency"]);
        assert_eq!(
            rules.iter().map(|r| r.fired).collect::<Vec<_>>(),
            vec![1, 1, 1, 1]
        );
        assert!(rules[0].exhausted() && !rules[1].exhausted());
    }

    #[test]
    fn validation_names_the_field_and_the_accepted_values() {
        let rule: FaultRule<Kind> = FaultRule::new("*", Kind::Drop).times(0);
        let err = rule.validate("faults[2]").unwrap_err();
        assert_eq!(err.field, "faults[2].count");
        let rule: FaultRule<Kind> = FaultRule::new("*", Kind::Drop).probability(1.5);
        assert!(
            rule.validate("fault")
                .unwrap_err()
                .to_string()
                .contains("0.0..=1.0")
        );
        let now = Timestamp::now();
        let rule: FaultRule<Kind> = FaultRule::new("*", Kind::Drop).window(Some(now), Some(now));
        assert_eq!(rule.validate("fault").unwrap_err().field, "fault.not_after");
        let long = "*".repeat(MAX_GLOB_CHARS + 1);
        assert!(
            FaultRule::<Kind>::new(&long, Kind::Drop)
                .validate("f")
                .is_err()
        );
        assert!(
            FaultRule::<Kind>::new("*", Kind::Drop)
                .validate("f")
                .is_ok()
        );
    }

    #[test]
    fn rules_read_from_json() {
        let rule: FaultRule<Kind> =
            serde_json::from_str(r#"{"path":"/a/*","kind":"latency","millis":3,"count":2,"not_before":"2030-01-01T00:00:00Z"}"#)
                .unwrap();
        assert_eq!(rule.fault, Kind::Latency { millis: 3 });
        assert_eq!((rule.count, rule.method.as_deref()), (Some(2), None));
        assert_eq!(
            rule.not_before,
            Some("2030-01-01T00:00:00Z".parse().unwrap())
        );
        assert!(serde_json::from_str::<FaultRule<Kind>>(r#"{"kind":"nope"}"#).is_err());
    }
}
