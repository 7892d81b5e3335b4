//! Prometheus metrics of the refresher, rendered by `prometheus-client` in the OpenMetrics text
//! format on `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::acr::{AcrError, TokenKey, edition_name};
use crate::token_cache::RenewalObserver;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the reconcile duration histogram.
const DURATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Label names and values of one sample, in exposition order.
type Labels = Vec<(&'static str, String)>;

/// The refresher's metrics; shared behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    token_expiry: Family<Labels, Gauge>,
    renewals: Family<Labels, Counter>,
    renewal_failures: Family<Labels, Counter>,
    acr_calls: Family<Labels, Counter>,
    reconciles: Family<Labels, Counter>,
    reconcile_duration: Histogram,
    api_writes: Family<Labels, Counter>,
    config_reloads: Family<Labels, Counter>,
    leader: Gauge,
    // Totals for tests and the benchmark, without walking the families.
    api_writes_total: AtomicU64,
    acr_calls_total: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        // prometheus-client ends every HELP text with a full stop and names a counter's family
        // without the `_total` its samples carry.
        let token_expiry = Family::default();
        registry.register(
            "acr_refresher_token_expiry_timestamp_seconds",
            "When the cached ACR token of each (edition, region, instance) expires",
            token_expiry.clone(),
        );
        let renewals = Family::default();
        registry.register(
            "acr_refresher_token_renewals",
            "Successful ACR token renewals",
            renewals.clone(),
        );
        let renewal_failures = Family::default();
        registry.register(
            "acr_refresher_token_renewal_failures",
            "Failed ACR token renewals, by reason",
            renewal_failures.clone(),
        );
        let acr_calls = Family::default();
        registry.register(
            "acr_refresher_acr_calls",
            "ACR OpenAPI calls, by action",
            acr_calls.clone(),
        );
        let reconciles = Family::default();
        registry.register(
            "acr_refresher_reconciles",
            "Namespace reconciles, by result",
            reconciles.clone(),
        );
        let reconcile_duration = Histogram::new(DURATION_BUCKETS);
        registry.register(
            "acr_refresher_reconcile_duration_seconds",
            "Time spent per namespace reconcile",
            reconcile_duration.clone(),
        );
        let api_writes = Family::default();
        registry.register(
            "acr_refresher_api_writes",
            "Writes to the Kubernetes API, by kind and verb",
            api_writes.clone(),
        );
        let config_reloads = Family::default();
        registry.register(
            "acr_refresher_config_reloads",
            "ConfigMap reads, by result",
            config_reloads.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "acr_refresher_leader",
            "Whether this replica holds the leader Lease",
            leader.clone(),
        );
        Self {
            registry,
            token_expiry,
            renewals,
            renewal_failures,
            acr_calls,
            reconciles,
            reconcile_duration,
            api_writes,
            config_reloads,
            leader,
            api_writes_total: AtomicU64::new(0),
            acr_calls_total: AtomicU64::new(0),
        }
    }
}

fn token_labels(key: &TokenKey) -> Labels {
    vec![
        ("edition", edition_name(key.edition).to_owned()),
        ("region", key.region.clone()),
        ("instance", key.instance_id.clone().unwrap_or_default()),
    ]
}

impl Metrics {
    /// One ACR OpenAPI call was made (`action`: `GetAuthorizationToken`, …).
    pub fn acr_call(&self, action: &str) {
        self.acr_calls
            .get_or_create(&vec![("action", action.to_owned())])
            .inc();
        self.acr_calls_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A reconcile finished with `result` (`ok` or `error`) after `elapsed`.
    pub fn reconciled(&self, result: &'static str, elapsed: Duration) {
        self.reconciles
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
        self.reconcile_duration.observe(elapsed.as_secs_f64());
    }

    /// The refresher wrote to the Kubernetes API (`kind`: Secret/ServiceAccount, `verb`: create/update/patch/delete).
    pub fn api_write(&self, kind: &'static str, verb: &'static str) {
        self.api_writes
            .get_or_create(&vec![("kind", kind.to_owned()), ("verb", verb.to_owned())])
            .inc();
        self.api_writes_total.fetch_add(1, Ordering::Relaxed);
    }

    /// The ConfigMap was read: `result` is `applied` or `rejected`.
    pub fn config_reload(&self, result: &'static str) {
        self.config_reloads
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
    }

    /// Whether this replica holds the leader Lease.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Total API writes so far (all kinds), for tests and the measurement in the README.
    pub fn api_writes_total(&self) -> u64 {
        self.api_writes_total.load(Ordering::Relaxed)
    }

    /// Total ACR calls so far (all actions).
    pub fn acr_calls_total(&self) -> u64 {
        self.acr_calls_total.load(Ordering::Relaxed)
    }

    /// The OpenMetrics text exposition (served as [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

impl RenewalObserver for Metrics {
    fn renewed(&self, key: &TokenKey, expires_at: Timestamp) {
        let labels = token_labels(key);
        self.renewals.get_or_create(&labels).inc();
        self.token_expiry
            .get_or_create(&labels)
            .set(expires_at.as_second());
    }

    fn renewal_failed(&self, key: &TokenKey, error: &AcrError) {
        let mut labels = token_labels(key);
        labels.push(("reason", error.reason().to_owned()));
        self.renewal_failures.get_or_create(&labels).inc();
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
            Timestamp::from_second(100).unwrap(),
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

    /// Every family's name, type and HELP text, in order, once each has a sample: what scrapers
    /// and dashboards rely on.
    #[test]
    fn the_exposition_has_exactly_these_families() {
        let metrics = Metrics::default();
        let key = TokenKey::personal("cn-hangzhou");
        metrics.renewed(&key, Timestamp::from_second(100).unwrap());
        metrics.acr_call("GetAuthorizationToken");
        metrics.config_reload("applied");
        metrics.api_write("Secret", "update");
        metrics.reconciled("error", Duration::from_secs(1));
        let error = AcrError::Malformed {
            action: "GetAuthorizationToken".into(),
            endpoint: "https://cr.cn-hangzhou.aliyuncs.com".into(),
            reason: "no token".into(),
        };
        metrics.renewal_failed(&key, &error);
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
            "acr_refresher_reconcile_duration_seconds_count 1",
            "acr_refresher_reconcile_duration_seconds_bucket{le=\"0.5\"} 0",
            "acr_refresher_leader 0",
        ] {
            assert!(
                text.lines().any(|l| l == sample),
                "no line {sample} in\n{text}"
            );
        }
    }
}
