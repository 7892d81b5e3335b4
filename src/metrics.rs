//! Prometheus metrics of the refresher, rendered in the text exposition format on `/metrics`.
//!
//! Hand-rolled on purpose: a handful of counters and gauges with labels do not justify a
//! metrics framework, and the output format is simple and stable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::acr::{AcrError, TokenKey, edition_name};
use crate::token_cache::RenewalObserver;

/// Upper bounds (seconds) of the reconcile duration histogram.
const DURATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Families {
    token_expiry: BTreeMap<Labels, f64>,
    renewals: BTreeMap<Labels, u64>,
    renewal_failures: BTreeMap<Labels, u64>,
    acr_calls: BTreeMap<Labels, u64>,
    reconciles: BTreeMap<Labels, u64>,
    reconcile_buckets: [u64; DURATION_BUCKETS.len()],
    reconcile_sum: f64,
    reconcile_count: u64,
    api_writes: BTreeMap<Labels, u64>,
    config_reloads: BTreeMap<Labels, u64>,
    leader: f64,
}

/// The refresher's metrics; shared behind an `Arc`.
#[derive(Default)]
pub struct Metrics {
    families: Mutex<Families>,
}

fn token_labels(key: &TokenKey) -> Labels {
    vec![
        ("edition", edition_name(key.edition).to_owned()),
        ("region", key.region.clone()),
        ("instance", key.instance_id.clone().unwrap_or_default()),
    ]
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Families) -> R) -> R {
        // A panic while holding this lock cannot leave the counters inconsistent enough to matter.
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut families)
    }

    /// One ACR OpenAPI call was made (`action`: `GetAuthorizationToken`, …).
    pub fn acr_call(&self, action: &str) {
        self.with(|f| {
            *f.acr_calls
                .entry(vec![("action", action.to_owned())])
                .or_default() += 1
        });
    }

    /// A reconcile finished with `result` (`ok` or `error`) after `elapsed`.
    pub fn reconciled(&self, result: &'static str, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.with(|f| {
            *f.reconciles
                .entry(vec![("result", result.to_owned())])
                .or_default() += 1;
            for (bucket, bound) in f.reconcile_buckets.iter_mut().zip(DURATION_BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            f.reconcile_sum += seconds;
            f.reconcile_count += 1;
        });
    }

    /// The refresher wrote to the Kubernetes API (`kind`: Secret/ServiceAccount, `verb`: create/update/patch/delete).
    pub fn api_write(&self, kind: &'static str, verb: &'static str) {
        self.with(|f| {
            *f.api_writes
                .entry(vec![("kind", kind.to_owned()), ("verb", verb.to_owned())])
                .or_default() += 1
        });
    }

    /// The ConfigMap was read: `result` is `applied` or `rejected`.
    pub fn config_reload(&self, result: &'static str) {
        self.with(|f| {
            *f.config_reloads
                .entry(vec![("result", result.to_owned())])
                .or_default() += 1
        });
    }

    /// Whether this replica holds the leader Lease.
    pub fn set_leader(&self, leader: bool) {
        self.with(|f| f.leader = if leader { 1.0 } else { 0.0 });
    }

    /// Total API writes so far (all kinds), for tests and the measurement in the README.
    pub fn api_writes_total(&self) -> u64 {
        self.with(|f| f.api_writes.values().sum())
    }

    /// Total ACR calls so far (all actions).
    pub fn acr_calls_total(&self) -> u64 {
        self.with(|f| f.acr_calls.values().sum())
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        self.with(|f| {
            let mut out = String::new();
            family(&mut out, "acr_refresher_token_expiry_timestamp_seconds", "gauge",
                "When the cached ACR token of each (edition, region, instance) expires.", &f.token_expiry);
            family(&mut out, "acr_refresher_token_renewals_total", "counter",
                "Successful ACR token renewals.", &f.renewals);
            family(&mut out, "acr_refresher_token_renewal_failures_total", "counter",
                "Failed ACR token renewals, by reason.", &f.renewal_failures);
            family(&mut out, "acr_refresher_acr_calls_total", "counter",
                "ACR OpenAPI calls, by action.", &f.acr_calls);
            family(&mut out, "acr_refresher_reconciles_total", "counter",
                "Namespace reconciles, by result.", &f.reconciles);
            let _ = writeln!(out, "# HELP acr_refresher_reconcile_duration_seconds Time spent per namespace reconcile.");
            let _ = writeln!(out, "# TYPE acr_refresher_reconcile_duration_seconds histogram");
            for (count, bound) in f.reconcile_buckets.iter().zip(DURATION_BUCKETS) {
                let _ = writeln!(out, "acr_refresher_reconcile_duration_seconds_bucket{{le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "acr_refresher_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {}", f.reconcile_count);
            let _ = writeln!(out, "acr_refresher_reconcile_duration_seconds_sum {}", f.reconcile_sum);
            let _ = writeln!(out, "acr_refresher_reconcile_duration_seconds_count {}", f.reconcile_count);
            family(&mut out, "acr_refresher_api_writes_total", "counter",
                "Writes to the Kubernetes API, by kind and verb.", &f.api_writes);
            family(&mut out, "acr_refresher_config_reloads_total", "counter",
                "ConfigMap reads, by result.", &f.config_reloads);
            let _ = writeln!(out, "# HELP acr_refresher_leader Whether this replica holds the leader Lease.");
            let _ = writeln!(out, "# TYPE acr_refresher_leader gauge");
            let _ = writeln!(out, "acr_refresher_leader {}", f.leader);
            out
        })
    }
}

fn family<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &BTreeMap<Labels, V>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let rendered: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let _ = writeln!(out, "{name}{{{}}} {value}", rendered.join(","));
    }
}

impl RenewalObserver for Metrics {
    fn renewed(&self, key: &TokenKey, expires_at: DateTime<Utc>) {
        self.with(|f| {
            *f.renewals.entry(token_labels(key)).or_default() += 1;
            f.token_expiry
                .insert(token_labels(key), expires_at.timestamp() as f64);
        });
    }

    fn renewal_failed(&self, key: &TokenKey, error: &AcrError) {
        let mut labels = token_labels(key);
        labels.push(("reason", error.reason().to_owned()));
        self.with(|f| *f.renewal_failures.entry(labels).or_default() += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels_and_the_histogram() {
        let metrics = Metrics::default();
        metrics.renewed(
            &TokenKey::personal("cn-hangzhou"),
            DateTime::from_timestamp(100, 0).unwrap(),
        );
        metrics.api_write("Secret", "create");
        metrics.reconciled("ok", Duration::from_millis(20));
        let text = metrics.render();
        assert!(text.contains("acr_refresher_token_expiry_timestamp_seconds{edition=\"personal\",region=\"cn-hangzhou\",instance=\"\"} 100"), "{text}");
        assert!(text.contains("acr_refresher_api_writes_total{kind=\"Secret\",verb=\"create\"} 1"));
        assert!(text.contains("acr_refresher_reconcile_duration_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("acr_refresher_reconcile_duration_seconds_bucket{le=\"0.01\"} 0"));
        assert_eq!(metrics.api_writes_total(), 1);
    }

    /// Every family's `# HELP` and `# TYPE` line, in order: what scrapers and dashboards rely on.
    #[test]
    fn the_exposition_has_exactly_these_families() {
        let metrics = Metrics::default();
        let key = TokenKey::personal("cn-hangzhou");
        metrics.renewed(&key, DateTime::from_timestamp(100, 0).unwrap());
        metrics.acr_call("GetAuthorizationToken");
        metrics.config_reload("applied");
        let text = metrics.render();
        // (family, type, help); OpenMetrics names a counter family without its `_total` suffix,
        // the samples keep it: compare by the samples' name.
        let mut families = Vec::new();
        let mut help = std::collections::HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').expect("HELP name text");
                help.insert(name.to_owned(), text.to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                let sample_name = if kind == "counter" && !name.ends_with("_total") {
                    format!("{name}_total")
                } else {
                    name.to_owned()
                };
                let help = help.get(name).cloned().unwrap_or_default();
                families.push((sample_name, kind.to_owned(), help));
            }
        }
        let expected: Vec<(String, String, String)> = [
            (
                "acr_refresher_token_expiry_timestamp_seconds",
                "gauge",
                "When the cached ACR token of each (edition, region, instance) expires.",
            ),
            (
                "acr_refresher_token_renewals_total",
                "counter",
                "Successful ACR token renewals.",
            ),
            (
                "acr_refresher_token_renewal_failures_total",
                "counter",
                "Failed ACR token renewals, by reason.",
            ),
            (
                "acr_refresher_acr_calls_total",
                "counter",
                "ACR OpenAPI calls, by action.",
            ),
            (
                "acr_refresher_reconciles_total",
                "counter",
                "Namespace reconciles, by result.",
            ),
            (
                "acr_refresher_reconcile_duration_seconds",
                "histogram",
                "Time spent per namespace reconcile.",
            ),
            (
                "acr_refresher_api_writes_total",
                "counter",
                "Writes to the Kubernetes API, by kind and verb.",
            ),
            (
                "acr_refresher_config_reloads_total",
                "counter",
                "ConfigMap reads, by result.",
            ),
            (
                "acr_refresher_leader",
                "gauge",
                "Whether this replica holds the leader Lease.",
            ),
        ]
        .into_iter()
        .map(|(n, k, h)| (n.to_owned(), k.to_owned(), h.to_owned()))
        .collect();
        assert_eq!(families, expected, "{text}");
        for sample in [
            "acr_refresher_token_renewals_total{edition=\"personal\",region=\"cn-hangzhou\",instance=\"\"} 1",
            "acr_refresher_acr_calls_total{action=\"GetAuthorizationToken\"} 1",
            "acr_refresher_config_reloads_total{result=\"applied\"} 1",
            "acr_refresher_reconcile_duration_seconds_count 0",
            "acr_refresher_leader 0",
        ] {
            assert!(
                text.lines().any(|l| l == sample),
                "no line {sample} in\n{text}"
            );
        }
    }
}
