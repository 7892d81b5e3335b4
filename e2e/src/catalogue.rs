//! The scenario catalogue of docs/conformance.md: stable IDs, titles, groups and levels.
//!
//! This is data only; what each scenario does lives in `scenarios/`. Rules every scenario shares
//! (docs/conformance.md, "How a scenario runs"): a "cannot pull" or "no credentials" verdict must
//! hold over a 2.5 s window (the catalogue's 2 s plus a margin; `scenarios::NEGATIVE_WINDOW`);
//! a cluster-level scenario that passed ends with a sweep of every namespace (only what the
//! configuration selects carries the implementation's Secrets and entries, within 2.5 s) and
//! with every key it wrote justified by a pull from that key's host with that key's credential.
//!
//! ## Verdicts for credential sources
//!
//! A docker credential helper or kubelet plugin keeps no Secrets; it is judged on the
//! source-level scenarios (MR, CR, TR) by what its caller sees, through an adapter that behaves as
//! the caller does (docker: `get` on every pull, nothing cached; kubelet: its own plugin code and
//! cache, see `adapter`):
//! - every pull the scenario makes works (MR, CR: with the right token; TR: all the time);
//! - no caller gets a token that expires inside the time it will use it: docker uses an answer
//!   for that one pull, and the helper was told the `expiring-threshold`, so the token must have
//!   min(threshold, half its lifetime) left (less 1 s of rounding); kubelet keeps an answer for
//!   the `cacheDuration` the plugin returned, so every token kubelet hands out, cached or fresh,
//!   must still be valid for a pull (2 s);
//! - at most one ACR `GetAuthorizationToken` call per request, and none while no request is being
//!   answered (a helper without a cache, renewing on every `get`, is no hot loop);
//! - ACR calls per request is reported as the figure `acr-calls-per-request`; when a token is
//!   replaced is reported (`replaced-at`) but not judged: the L−T window of TR1 is a rule for
//!   implementations that keep Secrets.

use std::fmt;

/// The group a scenario belongs to (the letters of its ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Group {
    /// Namespace watching.
    Ns,
    /// Multi-registry matching.
    Mr,
    /// Cross-region pulls.
    Cr,
    /// Threshold-based refresh.
    Tr,
    /// Faults.
    Ft,
    /// Bad input.
    Bi,
}

impl Group {
    /// The ID prefix, as written in the catalogue (`NS`, `MR`, …).
    pub fn prefix(self) -> &'static str {
        match self {
            Group::Ns => "NS",
            Group::Mr => "MR",
            Group::Cr => "CR",
            Group::Tr => "TR",
            Group::Ft => "FT",
            Group::Bi => "BI",
        }
    }

    /// Every group, in catalogue order.
    pub const ALL: [Group; 6] = [
        Group::Ns,
        Group::Mr,
        Group::Cr,
        Group::Tr,
        Group::Ft,
        Group::Bi,
    ];
}

/// Which kind of implementation a scenario can judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Needs an implementation that writes Secrets and patches ServiceAccounts.
    Cluster,
    /// Also applies to credential-only implementations (credential helpers, kubelet plugins).
    Source,
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ScenarioInfo {
    /// Stable ID, e.g. `NS4`.
    pub id: &'static str,
    /// The group of the ID.
    pub group: Group,
    /// One-line title from the catalogue.
    pub title: &'static str,
    /// Which implementations it applies to.
    pub level: Level,
}

impl fmt::Display for ScenarioInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.title)
    }
}

const fn entry(id: &'static str, group: Group, level: Level, title: &'static str) -> ScenarioInfo {
    ScenarioInfo {
        id,
        group,
        title,
        level,
    }
}

use Group::*;
use Level::*;

/// Every scenario of docs/conformance.md, in catalogue order.
pub const CATALOGUE: &[ScenarioInfo] = &[
    entry(
        "NS1",
        Ns,
        Cluster,
        "default config: only namespace default gets pull credentials",
    ),
    entry(
        "NS2",
        Ns,
        Cluster,
        "watch-namespace list: exactly the listed namespaces",
    ),
    entry(
        "NS3",
        Ns,
        Cluster,
        "watch-namespace all (any case): every namespace, also later ones",
    ),
    entry(
        "NS4",
        Ns,
        Cluster,
        "a namespace created after start gets credentials within 2 s",
    ),
    entry(
        "NS5",
        Ns,
        Cluster,
        "ConfigMap edits take effect without a restart within 2 s",
    ),
    entry(
        "NS6",
        Ns,
        Cluster,
        "service-account list and *: listed / all SAs, also later ones",
    ),
    entry(
        "NS7",
        Ns,
        Cluster,
        "foreign entries and Secrets, also one with its name, are never changed",
    ),
    entry(
        "MR1",
        Mr,
        Source,
        "seed default registries match; hosts outside every pattern do not",
    ),
    entry(
        "MR2",
        Mr,
        Source,
        "Enterprise Edition instance from acr-registry-info: public and -vpc",
    ),
    entry(
        "MR3",
        Mr,
        Source,
        "two EE instances + Personal Edition: each pull uses its own token",
    ),
    entry(
        "MR4",
        Mr,
        Source,
        "kubelet keyring rules hold for every key written",
    ),
    entry(
        "MR5",
        Mr,
        Source,
        "domains narrowed to one domain: only that domain gets credentials",
    ),
    entry(
        "CR1",
        Cr,
        Source,
        "node in cn-hangzhou, EE instance in cn-beijing: cn-beijing token",
    ),
    entry(
        "CR2",
        Cr,
        Source,
        "Personal Edition registries of two regions at once: a token per region",
    ),
    entry(
        "CR3",
        Cr,
        Source,
        "a region without an instance: clear error, others unaffected",
    ),
    entry(
        "TR1",
        Tr,
        Source,
        "token replaced after L-T and before L (sources: never handed out too close to expiry); the probe never sees expiry",
    ),
    entry(
        "TR2",
        Tr,
        Source,
        "threshold >= lifetime: prompt refresh, but no hot loop (sources: at most one ACR call per request)",
    ),
    entry(
        "TR3",
        Tr,
        Source,
        "STS credentials rotated: the next ACR call uses the new ones",
    ),
    entry(
        "TR4",
        Tr,
        Source,
        "calls per cycle = distinct tokens, independent of namespaces",
    ),
    entry(
        "FT1",
        Ft,
        Cluster,
        "metadata server down: credentials stay valid, recovery after",
    ),
    entry(
        "FT2",
        Ft,
        Cluster,
        "ACR 5xx / Throttling.User bursts: backoff, hint honoured, nothing lost",
    ),
    entry(
        "FT3",
        Ft,
        Cluster,
        "Forbidden.RAM: Warning Event naming the permission, nothing deleted",
    ),
    entry(
        "FT4",
        Ft,
        Cluster,
        "STS token expired / clock skew: recovers by re-fetching credentials",
    ),
    entry(
        "FT5",
        Ft,
        Cluster,
        "managed Secret deleted or stripped from the SA: restored within 2 s",
    ),
    entry(
        "FT6",
        Ft,
        Cluster,
        "API server restarts: reconnects and converges",
    ),
    entry(
        "BI1",
        Bi,
        Cluster,
        "malformed ConfigMap values: Warning Event, last good config stays",
    ),
    entry("BI2", Bi, Cluster, "ConfigMap missing: seed defaults apply"),
    entry(
        "BI3",
        Bi,
        Cluster,
        "malformed cloud answers: error, no crash, no empty Secret",
    ),
];

/// Errors of `select`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    /// A filter item names neither a scenario nor a group.
    #[error(
        "--scenarios: '{0}' is neither a scenario ID (e.g. NS4) nor a group (NS, MR, CR, TR, FT, BI)"
    )]
    Unknown(String),
}

/// Looks a scenario up by ID (case-insensitive).
pub fn find(id: &str) -> Option<&'static ScenarioInfo> {
    CATALOGUE
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id.trim()))
}

/// The scenarios a `--scenarios` filter selects (IDs or groups, comma-separated), in catalogue
/// order; an empty filter selects everything.
pub fn select(filter: &str) -> Result<Vec<&'static ScenarioInfo>, SelectError> {
    let items: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Ok(CATALOGUE.iter().collect());
    }
    let mut chosen = vec![false; CATALOGUE.len()];
    for item in items {
        let mut hit = false;
        for (i, s) in CATALOGUE.iter().enumerate() {
            if s.id.eq_ignore_ascii_case(item) || s.group.prefix().eq_ignore_ascii_case(item) {
                chosen[i] = true;
                hit = true;
            }
        }
        if !hit {
            return Err(SelectError::Unknown(item.to_string()));
        }
    }
    Ok(CATALOGUE
        .iter()
        .zip(chosen)
        .filter(|(_, c)| *c)
        .map(|(s, _)| s)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_match_their_group() {
        let mut seen = std::collections::HashSet::new();
        for s in CATALOGUE {
            assert!(seen.insert(s.id), "duplicate {}", s.id);
            assert!(
                s.id.starts_with(s.group.prefix()),
                "{} not in {:?}",
                s.id,
                s.group
            );
        }
        assert_eq!(CATALOGUE.len(), 28);
    }

    #[test]
    fn select_accepts_groups_and_ids_in_any_case() {
        let ids: Vec<_> = select("mr2, NS").unwrap().iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            ["NS1", "NS2", "NS3", "NS4", "NS5", "NS6", "NS7", "MR2"]
        );
        assert_eq!(select("").unwrap().len(), CATALOGUE.len());
        assert_eq!(select("XX9"), Err(SelectError::Unknown("XX9".into())));
    }
}
