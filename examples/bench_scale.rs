//! Benchmark: the refresher (release binary, its own process) against a local control plane with
//! N namespaces (`watch-namespace: all`) and both fakes. Prints, per phase, the time, the
//! refresher's writes, ACR calls and reconciles (its /metrics), the API requests by verb and
//! resource (the API server's own `apiserver_request_total`), and the refresher's peak RSS.
//!
//! Phases: initial sync (N namespaces exist before the refresher starts); 120 s with no change;
//! one token renewal (a ConfigMap edit makes the token due); a ConfigMap edit that changes
//! nothing the Secrets hold. During the renewal and the edit a new namespace is created and the
//! time until its default ServiceAccount is patched is measured.
//!
//! `cargo build --release --bin acr-refresher && cargo run --release --example bench_scale -- N`
//! (`just bench-scale N`; N defaults to 10000).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acr_conformance::cluster::ControlPlane;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;

const IDLE: Duration = Duration::from_secs(120);
const SECRET_NAME: &str = "aliyun-acr-credential";

type Requests = BTreeMap<(String, String), f64>;

/// `apiserver_request_total` summed by (verb, resource), resource requests only.
async fn apiserver_requests(client: &kube::Client) -> Requests {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .expect("request");
    let text = client
        .request_text(request)
        .await
        .expect("apiserver /metrics");
    let mut out = Requests::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| {
            let start = line.find(&format!("{name}=\""))? + name.len() + 2;
            let end = start + line[start..].find('"')?;
            Some(line[start..end].to_owned())
        };
        let (Some(verb), Some(resource)) = (label("verb"), label("resource")) else {
            continue;
        };
        if resource.is_empty() {
            continue;
        }
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *out.entry((verb, resource)).or_default() += value;
    }
    out
}

fn delta(before: &Requests, after: &Requests) -> Requests {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

const READ_VERBS: [&str; 3] = ["GET", "LIST", "WATCH"];
/// Resources the refresher reads or writes (Leases, Events apart).
const REFRESHER_RESOURCES: [&str; 4] = ["namespaces", "serviceaccounts", "secrets", "configmaps"];

fn sum(requests: &Requests, reads: bool) -> f64 {
    requests
        .iter()
        .filter(|((verb, resource), _)| {
            REFRESHER_RESOURCES.contains(&resource.as_str())
                && READ_VERBS.contains(&verb.as_str()) == reads
        })
        .map(|(_, v)| v)
        .sum::<f64>()
        .max(0.0)
}

fn describe(requests: &Requests) -> String {
    let total: f64 = requests.values().sum();
    let parts: Vec<String> = requests
        .iter()
        .map(|((verb, resource), n)| format!("{verb} {resource} {n}"))
        .collect();
    format!("{total} ({})", parts.join(", "))
}

struct Refresher {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

impl Refresher {
    async fn metrics(&self) -> String {
        self.http
            .get(format!("http://127.0.0.1:{}/metrics", self.port))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("refresher /metrics")
            .text()
            .await
            .expect("metrics body")
    }

    async fn sample(&self, prefix: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn counters(&self) -> Counters {
        let text = self.metrics().await;
        let sample = |prefix: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        Counters {
            writes: sample("acr_refresher_api_writes_total"),
            secret_updates: sample(
                "acr_refresher_api_writes_total{kind=\"Secret\",verb=\"update\"}",
            ),
            sa_patches: sample("acr_refresher_api_writes_total{kind=\"ServiceAccount\""),
            acr_calls: sample("acr_refresher_acr_calls_total"),
            reconciles: sample("acr_refresher_reconciles_total"),
        }
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, Default)]
struct Counters {
    writes: f64,
    secret_updates: f64,
    sa_patches: f64,
    acr_calls: f64,
    reconciles: f64,
}

impl std::ops::Sub for Counters {
    type Output = Counters;
    fn sub(self, o: Counters) -> Counters {
        Counters {
            writes: self.writes - o.writes,
            secret_updates: self.secret_updates - o.secret_updates,
            sa_patches: self.sa_patches - o.sa_patches,
            acr_calls: self.acr_calls - o.acr_calls,
            reconciles: self.reconciles - o.reconciles,
        }
    }
}

async fn until<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn namespace(name: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn set_config(client: &kube::Client, data: &[(&str, &str)]) {
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some("acr-configuration".into()),
            namespace: Some("kube-system".into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), "kube-system")
        .patch(
            "acr-configuration",
            &PatchParams::apply("bench-scale").force(),
            &Patch::Apply(&config_map),
        )
        .await
        .expect("ConfigMap applied");
}

/// Creates namespace `name` and returns how long until its default SA carries the pull Secret
/// (one LIST + WATCH of that SA, no polling).
async fn time_new_namespace(client: &kube::Client, name: &str) -> Duration {
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), name);
    let started = Instant::now();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace(name))
        .await
        .expect("namespace created");
    let mut stream = watcher::watch_object(accounts, "default")
        .try_filter(|sa| {
            let patched = sa.as_ref().is_some_and(|sa| {
                sa.image_pull_secrets
                    .iter()
                    .flatten()
                    .any(|r| r.name == SECRET_NAME)
            });
            futures::future::ready(patched)
        })
        .boxed();
    tokio::time::timeout(Duration::from_secs(120), stream.next())
        .await
        .expect("new namespace served within 120 s");
    started.elapsed()
}

fn refresher_binary() -> PathBuf {
    let examples = std::env::current_exe().expect("own path");
    let dir = examples
        .parent()
        .and_then(|p| p.parent())
        .expect("target/<profile>/examples");
    let binary = dir.join("acr-refresher");
    assert!(
        binary.exists(),
        "{} missing: cargo build --release --bin acr-refresher",
        binary.display()
    );
    binary
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N: a number of namespaces"))
        .unwrap_or(10_000);
    let binary = refresher_binary();
    eprintln!("== control plane, fakes, {n} namespaces");
    let plane = ControlPlane::start().await.expect("control plane");
    let admin = plane.client();
    let metadata = fake_metadata::FakeMetadata::start(fake_metadata::Settings::default())
        .await
        .expect("fake-metadata");
    let acr = fake_acr::FakeAcr::start(fake_acr::Settings::default())
        .await
        .expect("fake-acr");
    let scratch = tempfile::tempdir().expect("temp dir");
    let ca_file = scratch.path().join("fake-acr-ca.pem");
    std::fs::write(&ca_file, acr.ca_pem()).expect("CA written");
    set_config(&admin, &[("watch-namespace", "all")]).await;

    let namespaces = Api::<Namespace>::all(admin.clone());
    futures::stream::iter(0..n)
        .map(|i| {
            let namespaces = namespaces.clone();
            async move {
                namespaces
                    .create(&PostParams::default(), &namespace(&format!("bench-{i:05}")))
                    .await
                    .expect("namespace created");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let total_namespaces = namespaces
        .list_metadata(&ListParams::default())
        .await
        .expect("namespaces")
        .items
        .len();
    let accounts = Api::<ServiceAccount>::all(admin.clone());
    until(
        "every default ServiceAccount",
        Duration::from_secs(600),
        || async {
            let mut count = 0;
            let mut params = ListParams::default()
                .fields("metadata.name=default")
                .limit(5000);
            loop {
                let page = accounts.list_metadata(&params).await.expect("SAs");
                count += page.items.len();
                match page.metadata.continue_ {
                    Some(token) if !token.is_empty() => params = params.continue_token(&token),
                    _ => break,
                }
            }
            count >= total_namespaces
        },
    )
    .await;
    eprintln!(
        "== {total_namespaces} namespaces with a default ServiceAccount; starting the refresher"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log = std::fs::File::create(scratch.path().join("refresher.log")).expect("log file");
    let before_start = apiserver_requests(&admin).await;
    let started = Instant::now();
    let child = Command::new(&binary)
        .args(["run", "--kubeconfig"])
        .arg(plane.kubeconfig_path())
        .args(["--metadata-endpoint", &metadata.base_url()])
        .args([
            "--endpoint-template",
            &format!("https://cr.{{region}}.aliyuncs.com:{}", acr.addr().port()),
        ])
        .arg("--ca-file")
        .arg(&ca_file)
        .args(["--resolve", "cr.cn-hangzhou.aliyuncs.com=127.0.0.1"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--identity", "bench"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("refresher starts");
    let refresher = Refresher {
        child,
        port,
        http: reqwest::Client::new(),
    };
    until("refresher /metrics", Duration::from_secs(60), || async {
        refresher
            .http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .is_ok()
    })
    .await;
    let expected = total_namespaces as f64;
    until(
        "every default ServiceAccount patched",
        Duration::from_secs(900),
        || async {
            refresher
                .sample("acr_refresher_api_writes_total{kind=\"ServiceAccount\"")
                .await
                >= expected
        },
    )
    .await;
    let sync_time = started.elapsed();
    let after_sync = apiserver_requests(&admin).await;
    let sync = refresher.counters().await;
    let sync_requests = delta(&before_start, &after_sync);
    let rss_after_sync = refresher.peak_rss_mib();

    eprintln!("== initial sync done in {sync_time:.1?}; {IDLE:?} with no change");
    let idle_before = refresher.counters().await;
    let idle_requests_before = apiserver_requests(&admin).await;
    tokio::time::sleep(IDLE).await;
    let idle_requests = delta(&idle_requests_before, &apiserver_requests(&admin).await);
    let idle = refresher.counters().await - idle_before;

    eprintln!("== one token renewal (the ConfigMap makes the token due)");
    // Tokens fetched from now on live 2 h, so a threshold of 58 min makes only the current one due.
    acr.admin().set_token_lifetime_secs(7200);
    let renewal_before = refresher.counters().await;
    let renewal_requests_before = apiserver_requests(&admin).await;
    let renewal_started = Instant::now();
    set_config(
        &admin,
        &[("watch-namespace", "all"), ("expiring-threshold", "58m")],
    )
    .await;
    // A namespace created while the renewal rolls out.
    let new_namespace = {
        let admin = admin.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            time_new_namespace(&admin, "bench-during-renewal").await
        })
    };
    let expected_updates = expected;
    until("every Secret updated", Duration::from_secs(900), || async {
        refresher
            .sample("acr_refresher_api_writes_total{kind=\"Secret\",verb=\"update\"")
            .await
            - renewal_before.secret_updates
            >= expected_updates
    })
    .await;
    let renewal_time = renewal_started.elapsed();
    let during_renewal = new_namespace.await.expect("namespace timing");
    // Let stragglers show up in the counters before reading them.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let renewal = refresher.counters().await - renewal_before;
    let renewal_requests = delta(&renewal_requests_before, &apiserver_requests(&admin).await);

    eprintln!("== a ConfigMap edit that changes no Secret");
    let edit_before = refresher.counters().await;
    let edit_requests_before = apiserver_requests(&admin).await;
    set_config(
        &admin,
        &[("watch-namespace", "all"), ("expiring-threshold", "15m")],
    )
    .await;
    let during_edit = time_new_namespace(&admin, "bench-during-edit").await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let edit = refresher.counters().await - edit_before;
    let edit_requests = delta(&edit_requests_before, &apiserver_requests(&admin).await);
    let peak_rss = refresher.peak_rss_mib();

    println!("\n## bench-scale N = {n} ({total_namespaces} namespaces with the system ones)\n");
    println!("| | measured |");
    println!("|---|---|");
    println!(
        "| all {total_namespaces} default SAs patched after start | {:.1} s |",
        sync_time.as_secs_f64()
    );
    println!(
        "| writes (initial sync) | {} ({} Secret creates + {} SA patches) |",
        sync.writes,
        sync.writes - sync.sa_patches,
        sync.sa_patches
    );
    println!("| ACR calls (initial sync) | {} |", sync.acr_calls);
    println!("| reconciles (initial sync) | {} |", sync.reconciles);
    println!(
        "| API requests, initial sync (refresher's kinds: {} reads, {} writes) | {} |",
        sum(&sync_requests, true),
        sum(&sync_requests, false),
        describe(&sync_requests)
    );
    println!("| peak RSS after the initial sync | {rss_after_sync:.1} MiB |");
    println!(
        "| {} s with no change: refresher's writes, reconciles | {}, {} |",
        IDLE.as_secs(),
        idle.writes,
        idle.reconciles
    );
    println!(
        "| {} s with no change: API requests (refresher's kinds: {} reads, {} writes) | {} |",
        IDLE.as_secs(),
        sum(&idle_requests, true),
        sum(&idle_requests, false),
        describe(&idle_requests)
    );
    println!(
        "| one renewal: Secret updates, ACR calls, time | {}, {}, {:.1} s |",
        renewal.secret_updates,
        renewal.acr_calls,
        renewal_time.as_secs_f64()
    );
    println!(
        "| one renewal: writes, reconciles | {}, {} |",
        renewal.writes, renewal.reconciles
    );
    println!(
        "| one renewal: API requests (refresher's kinds: {} reads, {} writes) | {} |",
        sum(&renewal_requests, true),
        sum(&renewal_requests, false),
        describe(&renewal_requests)
    );
    println!(
        "| namespace created during the renewal: SA patched after | {:.2} s |",
        during_renewal.as_secs_f64()
    );
    println!(
        "| ConfigMap edit changing no Secret: writes, ACR calls, reconciles | {}, {}, {} (the new namespace's) |",
        edit.writes, edit.acr_calls, edit.reconciles
    );
    println!(
        "| ConfigMap edit: API requests (refresher's kinds: {} reads, {} writes) | {} |",
        sum(&edit_requests, true),
        sum(&edit_requests, false),
        describe(&edit_requests)
    );
    println!(
        "| namespace created during the edit: SA patched after | {:.2} s |",
        during_edit.as_secs_f64()
    );
    println!("| peak RSS of the refresher (VmHWM) | {peak_rss:.1} MiB |");
    println!(
        "\nAPI requests include the benchmark's own (namespace creation, ConfigMap apply, the new \
         namespaces' LIST+WATCH of their SA) and the controller-manager's; Leases are both \
         components' leader election."
    );
    drop(refresher);
}
