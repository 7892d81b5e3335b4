//! fake-acr's faults on fake-server-kit's fault-rule model. The admin JSON (and the config
//! file's `faults`) keep fake-acr's own shape, [`FaultRule`]: selectors `action`, `region`,
//! `host`, a `path` prefix, `latency_ms` and one effect of `drop`, `throttle`, `malformed`,
//! `status`+`code`. Each becomes a kit rule: the prefix a glob `prefix*`, the selectors fake-acr's
//! [`AcrSelect`], the rest an [`AcrFault`]. Matching follows the kit, as fake-metadata's does:
//! every matching rule's latency adds up and the first one with an effect answers.

use std::time::Duration;

use fake_server_kit::faults::{self as kit, Fault, Selector};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::settings::{InvalidValue, MAX_LATENCY_MS, check_range};

/// A fault: when a request matches every given selector, apply the effect (after
/// `latency_ms`; the first of `drop`, `throttle`, `malformed`, `status` that is set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Action name (`GetAuthorizationToken`, `ListInstance`, `Registry.GetManifest`, `Registry.Token`, …).
    pub action: Option<String>,
    /// Region id.
    pub region: Option<String>,
    /// Host name (without port).
    pub host: Option<String>,
    /// Path prefix.
    pub path: Option<String>,
    /// Delay before answering, milliseconds.
    pub latency_ms: u64,
    /// Answer with this HTTP status …
    pub status: Option<u16>,
    /// … and this error code (POP code for the OpenAPI, registry code for /v2).
    pub code: Option<String>,
    /// Close the connection without answering.
    pub drop: bool,
    /// Answer `Throttling.User` (OpenAPI, 400) or `TOOMANYREQUESTS` (registry, 429).
    pub throttle: bool,
    /// With `throttle` on the OpenAPI: the retry hint in the answer's `x-ratelimit-user-api`
    /// header (`TimeLeft`, milliseconds), as Alibaba's gateway sends it.
    pub time_left_ms: Option<u64>,
    /// Answer HTTP 200 with a body that is not valid JSON (a truncated object), to judge a
    /// client's parse-error handling.
    pub malformed: bool,
    /// Apply to this many matching requests only, then retire.
    pub count: Option<u32>,
    /// Apply with this probability (0..=1) per matching request.
    pub probability: Option<f64>,
}

impl FaultRule {
    /// Checks the rule's values: `latency_ms` ≤ [`MAX_LATENCY_MS`], `status` 100..=599,
    /// `count` ≥ 1, `probability` within 0.0..=1.0, `code` only with `status`. `field` prefixes
    /// the names in errors (`faults[0]`, or `fault` for `POST /faults`).
    pub fn validate(&self, field: &str) -> Result<(), InvalidValue> {
        check_range(
            &format!("{field}.latency_ms"),
            self.latency_ms,
            0,
            MAX_LATENCY_MS,
        )?;
        if let Some(status) = self.status {
            check_range(&format!("{field}.status"), status, 100, 599)?;
        }
        if let Some(count) = self.count {
            check_range(&format!("{field}.count"), count, 1, u32::MAX)?;
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            // NaN fails the range check too; JSON cannot carry it, the in-process API can.
            return Err(InvalidValue::new(
                format!("{field}.probability"),
                p,
                "0.0..=1.0",
            ));
        }
        if let (Some(code), None) = (&self.code, self.status) {
            return Err(InvalidValue::new(
                format!("{field}.code"),
                code,
                "a code only together with a status",
            ));
        }
        Ok(())
    }
}

/// What a fault asks the server to do after its latency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultEffect {
    /// Close the connection.
    Drop,
    /// Throttle (with the `TimeLeft` hint, milliseconds, if any).
    Throttle {
        /// The hint.
        time_left_ms: Option<u64>,
    },
    /// HTTP 200 with a truncated JSON body.
    Malformed,
    /// Answer `status` with `code`.
    Error {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
    },
}

/// What fake-acr knows of a request when it picks faults.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestFacts<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Request path.
    pub path: &'a str,
    /// OpenAPI action or `Registry.*`.
    pub action: &'a str,
    /// Region the host belongs to.
    pub region: Option<&'a str>,
    /// Host name without port.
    pub host: &'a str,
}

/// fake-acr's selectors beyond path and method.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcrSelect {
    /// Action name.
    pub action: Option<String>,
    /// Region id.
    pub region: Option<String>,
    /// Host name (case-insensitive).
    pub host: Option<String>,
}

impl Selector<RequestFacts<'_>> for AcrSelect {
    fn selects(&self, r: &RequestFacts<'_>) -> bool {
        self.action.as_deref().is_none_or(|a| a == r.action)
            && self.region.as_deref().is_none_or(|g| Some(g) == r.region)
            && self
                .host
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(r.host))
    }
}

/// fake-acr's fault kind: a delay and, optionally, an effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcrFault {
    /// Delay before answering, milliseconds.
    pub latency_ms: u64,
    /// What replaces the answer, if anything.
    pub effect: Option<FaultEffect>,
}

impl Fault for AcrFault {
    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    fn replaces_answer(&self) -> bool {
        self.effect.is_some()
    }

    fn name(&self) -> &'static str {
        match self.effect {
            None => "latency",
            Some(FaultEffect::Drop) => "drop",
            Some(FaultEffect::Throttle { .. }) => "throttle",
            Some(FaultEffect::Malformed) => "malformed",
            Some(FaultEffect::Error { .. }) => "status",
        }
    }
}

type KitRule = kit::InstalledFault<AcrFault, AcrSelect>;

impl FaultRule {
    /// The kit rule this wire rule means: the path prefix as a glob, the first effect set.
    fn to_kit(&self) -> kit::FaultRule<AcrFault, AcrSelect> {
        let effect = if self.drop {
            Some(FaultEffect::Drop)
        } else if self.throttle {
            Some(FaultEffect::Throttle {
                time_left_ms: self.time_left_ms,
            })
        } else if self.malformed {
            Some(FaultEffect::Malformed)
        } else {
            self.status.map(|status| FaultEffect::Error {
                status,
                code: self.code.clone().unwrap_or_else(|| "InternalError".into()),
            })
        };
        let fault = AcrFault {
            latency_ms: self.latency_ms,
            effect,
        };
        let mut rule = kit::FaultRule {
            select: AcrSelect {
                action: self.action.clone(),
                region: self.region.clone(),
                host: self.host.clone(),
            },
            count: self.count.map(u64::from),
            probability: self.probability,
            ..kit::FaultRule::new("*", fault)
        };
        if let Some(prefix) = &self.path {
            rule.path = format!("{prefix}*");
        }
        rule
    }
}

/// The installed rules, each as given (for `GET /faults`) and as the kit matches it.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    given: Vec<FaultRule>,
    installed: Vec<KitRule>,
}

impl Faults {
    /// These rules, none fired yet.
    pub fn new(rules: &[FaultRule]) -> Self {
        let mut faults = Self::default();
        for rule in rules {
            faults.add(rule.clone());
        }
        faults
    }

    /// Installs one more rule after the others.
    pub fn add(&mut self, rule: FaultRule) {
        let id = self.installed.len() as u64 + 1;
        self.installed.push(kit::InstalledFault {
            id,
            rule: rule.to_kit(),
            fired: 0,
        });
        self.given.push(rule);
    }

    /// The rules still active, each `count` lowered by the times it fired.
    pub fn remaining(&self) -> Vec<FaultRule> {
        self.given
            .iter()
            .zip(&self.installed)
            .filter(|(_, installed)| !installed.exhausted())
            .map(|(given, installed)| FaultRule {
                count: given
                    .count
                    .map(|c| c.saturating_sub(u32::try_from(installed.fired).unwrap_or(u32::MAX))),
                ..given.clone()
            })
            .collect()
    }

    /// The latency (milliseconds) and effect for one request, if any rule fired.
    pub fn plan(
        &mut self,
        request: &RequestFacts<'_>,
        now: Timestamp,
    ) -> Option<(u64, Option<FaultEffect>)> {
        let plan = kit::plan(
            &mut self.installed,
            request.method,
            request.path,
            request,
            now,
            rand::random::<f64>,
        );
        if plan.fired.is_empty() {
            return None;
        }
        let latency_ms = u64::try_from(plan.latency.as_millis()).unwrap_or(u64::MAX);
        Some((latency_ms, plan.action.and_then(|f| f.effect)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(action: &'a str, path: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            method: "GET",
            path,
            action,
            region: Some("cn-hangzhou"),
            host: "Registry.cn-hangzhou.aliyuncs.com",
        }
    }

    #[test]
    fn selectors_prefix_count_and_composition() {
        let now = Timestamp::now();
        let mut faults = Faults::new(&[
            FaultRule {
                action: Some("ListInstance".into()),
                status: Some(503),
                code: Some("ServiceUnavailable".into()),
                count: Some(1),
                ..Default::default()
            },
            FaultRule {
                path: Some("/v2/".into()),
                host: Some("registry.cn-hangzhou.aliyuncs.com".into()),
                latency_ms: 7,
                ..Default::default()
            },
            FaultRule {
                region: Some("cn-beijing".into()),
                drop: true,
                ..Default::default()
            },
        ]);
        assert_eq!(faults.plan(&facts("GetAuthorizationToken", "/"), now), None);
        assert_eq!(
            faults.plan(&facts("ListInstance", "/"), now),
            Some((
                0,
                Some(FaultEffect::Error {
                    status: 503,
                    code: "ServiceUnavailable".into()
                })
            ))
        );
        assert_eq!(faults.remaining().len(), 2, "the counted rule retired");
        assert_eq!(faults.plan(&facts("ListInstance", "/"), now), None);
        assert_eq!(
            faults.plan(
                &facts("Registry.GetManifest", "/v2/ns/repo/manifests/1"),
                now
            ),
            Some((7, None)),
            "host case-insensitive, path a prefix; the beijing rule does not select hangzhou"
        );
        assert_eq!(faults.plan(&facts("Registry.Ping", "/v2"), now), None);
    }

    #[test]
    fn the_remaining_count_is_shown() {
        let mut faults = Faults::new(&[FaultRule {
            throttle: true,
            time_left_ms: Some(1500),
            count: Some(3),
            ..Default::default()
        }]);
        let now = Timestamp::now();
        assert_eq!(
            faults.plan(&facts("ListInstance", "/"), now),
            Some((
                0,
                Some(FaultEffect::Throttle {
                    time_left_ms: Some(1500)
                })
            ))
        );
        assert_eq!(faults.remaining()[0].count, Some(2));
    }
}
