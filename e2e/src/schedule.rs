//! How a run spreads its scenarios over concurrent lanes: how many lanes the machine can hold
//! (`--jobs`), which scenario a free lane takes next, and what a lane is.
//!
//! A lane is everything a scenario could share with another one and must not: its own local
//! control plane (so the cluster-global ConfigMap `kube-system/acr-configuration`, the
//! implementation's cluster-wide watches, the all-namespace sweep, the audit log and the
//! between-scenario reset see one implementation only, and FT6 may restart its own API server)
//! and, in netns mode, its own network namespace (each owns 100.100.100.200 and port 443).
//! Every scenario also starts its own fakes on free loopback ports. A lane runs its scenarios one
//! after another, as a run with one lane (`--jobs 1`) runs all of them; its worker starts the
//! lane for the first scenario it takes (with a plane from [`crate::pool`] when one is free) and
//! stops it when none is left (or gives the plane back to the pool).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::adapter::Implementation;
use crate::catalogue::{Group, ScenarioInfo};
use crate::clouds::FakesSource;
use crate::environment::Environment;
use crate::kubelet_keyring::KubeletKeyring;
use crate::netns::Netns;
use crate::probe::ProbeMode;
use crate::report::{ScenarioResult, progress_line};
use crate::runner::run_one;
use crate::scenarios::Setup;

/// Memory one lane needs: a control plane (etcd ~105 MiB, kube-apiserver ~280 MiB,
/// kube-controller-manager ~90 MiB resident) plus the implementation, the fakes and a margin.
pub const LANE_MEMORY: u64 = 1 << 30;
/// Lanes per core: a scenario mostly waits (token lifetimes, negative windows, polling every
/// 100–250 ms), so one keeps about a third of a core busy.
pub const LANES_PER_CORE: usize = 3;
/// No more lanes than this, however large the machine (the longest scenario bounds the wall
/// time long before).
pub const MAX_LANES: usize = 8;

/// The default `--jobs`: `min(3 × available parallelism, MemAvailable ÷ 1 GiB, 8)`, at least 1.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let by_memory = available_memory().map_or(MAX_LANES, |bytes| {
        usize::try_from(bytes / LANE_MEMORY).unwrap_or(MAX_LANES)
    });
    (cores * LANES_PER_CORE).min(by_memory).clamp(1, MAX_LANES)
}

/// The lanes of every run in this process (runs started side by side, as tests do, share the
/// machine): `default_jobs()` of them, and that number.
static LANES: std::sync::OnceLock<(tokio::sync::Semaphore, usize)> = std::sync::OnceLock::new();

/// Waits until `jobs` lanes are free in this process (at most all of them, so an explicit
/// `--jobs` above the default still runs), and holds them until the permit is dropped (`None`
/// only if the semaphore were closed, which it never is).
pub async fn reserve(jobs: usize) -> Option<tokio::sync::SemaphorePermit<'static>> {
    let (lanes, budget) = lanes();
    let n = u32::try_from(jobs.clamp(1, *budget)).unwrap_or(1);
    lanes.acquire_many(n).await.ok()
}

/// How many lanes this process runs at once across its runs (`default_jobs()` when first
/// asked); also how many idle control planes [`crate::pool`] keeps at most.
pub fn lane_budget() -> usize {
    lanes().1
}

fn lanes() -> &'static (tokio::sync::Semaphore, usize) {
    LANES.get_or_init(|| {
        let n = default_jobs();
        (tokio::sync::Semaphore::new(n), n)
    })
}

/// `MemAvailable` of `/proc/meminfo`, in bytes (`None` where there is no such file).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find_map(|line| {
        let kib = line
            .strip_prefix("MemAvailable:")?
            .trim()
            .strip_suffix("kB")?;
        kib.trim().parse::<u64>().ok().map(|k| k * 1024)
    })
}

/// Where a scenario's lane-bound state comes from: one lane per job.
pub struct Lane {
    /// The lane's cluster (its own control plane in mode `local`).
    pub env: Environment,
    /// What the lane's scenarios share: fakes source, probe, netns, keyring, deployment.
    pub setup: Setup,
}

/// How to make a lane's [`Setup`].
pub struct LaneSetup {
    /// In-process or external fakes.
    pub fakes: FakesSource,
    /// Who judges pulls.
    pub probe: ProbeMode,
    /// Netns mode: each lane gets its own network namespace.
    pub netns: bool,
    /// Nodes of each lane's local control plane (0 or 1: kubelet + containerd in the lane's
    /// network namespace).
    pub nodes: u8,
    /// kubelet's keyring, shared by every lane (it only answers lookups).
    pub keyring: Option<Arc<KubeletKeyring>>,
}

/// Why a lane could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    /// The lane's network namespace could not be set up.
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    /// The API server is not at an address a network namespace can reach.
    #[error(
        "netns mode: the API server {0} is not at an IP address the namespace can reach; use --network override"
    )]
    Unreachable(String),
}

impl LaneSetup {
    /// The lane's `Setup` for `env`: in netns mode a fresh namespace forwarding to its API
    /// server. The deployed implementation (one lane only) is added by the caller.
    pub async fn for_env(&self, env: &Environment) -> Result<Setup, LaneError> {
        let netns = if let (true, Some(node)) = (self.netns, env.node()) {
            // The node's namespace: kubelet and containerd reach the fakes there, and so does
            // the implementation.
            Some(node.netns())
        } else if self.netns {
            let server = env.server_url();
            let apiserver = crate::netns::server_address(&server)
                .ok_or_else(|| LaneError::Unreachable(server.clone()))?;
            Some(Arc::new(Netns::create(Some(apiserver)).await?))
        } else {
            None
        };
        Ok(Setup {
            fakes: self.fakes.clone(),
            probe: self.probe,
            deployed: None,
            netns,
            keyring: self.keyring.clone(),
        })
    }
}

/// The order free lanes take scenarios in (indices into `selected`). One lane: catalogue order.
/// Several: longest first (by the durations of the last report in `report_dir`, else by group,
/// the long groups TR, FT, BI first), so no long scenario starts last while the others idle.
pub fn order(
    selected: &[&'static ScenarioInfo],
    runnable: &[usize],
    jobs: usize,
    report_dir: &Path,
) -> VecDeque<usize> {
    let mut order = runnable.to_vec();
    if jobs > 1 {
        let last = last_durations(report_dir);
        let expected = |i: &usize| {
            let info = selected[*i];
            last.get(info.id)
                .copied()
                .unwrap_or_else(|| group_estimate(info.group))
        };
        // Stable: equal estimates keep catalogue order.
        order.sort_by(|a, b| expected(b).total_cmp(&expected(a)));
    }
    order.into()
}

/// Seconds a scenario of `group` usually takes, for ordering when there is no earlier report.
fn group_estimate(group: Group) -> f64 {
    match group {
        Group::Tr => 18.0,
        Group::Ft => 8.0,
        Group::Bi => 6.0,
        Group::Ns => 4.0,
        Group::Mr => 2.0,
        Group::Cr => 1.0,
    }
}

/// Scenario ID → seconds, from `summary.json` of the last run into `report_dir` (empty when
/// there is none or it cannot be read: the order is only a matter of speed).
fn last_durations(report_dir: &Path) -> BTreeMap<String, f64> {
    let Ok(text) = std::fs::read_to_string(report_dir.join("summary.json")) else {
        return BTreeMap::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return BTreeMap::new();
    };
    json["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["id"].as_str()?.to_string(), r["duration"].as_f64()?)))
        .collect()
}

/// What every lane's worker shares.
pub(crate) struct Shared<'a> {
    pub(crate) selected: &'a [&'static ScenarioInfo],
    pub(crate) queue: &'a std::sync::Mutex<std::collections::VecDeque<usize>>,
    pub(crate) results: std::sync::Mutex<Vec<Option<ScenarioResult>>>,
    pub(crate) done: std::sync::atomic::AtomicUsize,
    pub(crate) implementation: &'a Implementation,
    pub(crate) lane_setup: &'a LaneSetup,
    pub(crate) work_dir: &'a std::path::Path,
    pub(crate) quiet: bool,
}

/// One lane: takes the next scenario until none is left, starting its control plane (and
/// network namespace) before the first. `Err` stops the whole run.
pub(crate) async fn worker(
    lane: usize,
    slot: &mut Option<Lane>,
    shared: &Shared<'_>,
) -> Result<(), crate::runner::RunError> {
    let total = shared.selected.len();
    loop {
        let next = shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        let Some(i) = next else {
            // Nothing left for this lane: it stops now, while other lanes still run (stopping a
            // control plane waits for its processes to exit). A lane holding the deployed
            // implementation stays for its replica count to be restored.
            if slot
                .as_ref()
                .is_some_and(|lane| lane.setup.deployed.is_none())
                && let Some(Lane { env, setup }) = slot.take()
            {
                // The network namespace first: it forwards to the API server.
                let _ = tokio::task::spawn_blocking(move || drop(setup)).await;
                crate::pool::give_back(env).await;
            }
            return Ok(());
        };
        let info = shared.selected[i];
        let lane_now = match slot {
            Some(lane) => lane,
            None => slot.insert(start_lane(lane, shared).await?),
        };
        if !shared.quiet {
            eprintln!("[lane {lane}] {:<4} running… {}", info.id, info.title);
        }
        let result = run_one(
            info,
            &mut lane_now.env,
            shared.implementation,
            &lane_now.setup,
            shared.work_dir,
        )
        .await
        .map_err(crate::runner::RunError::Implementation)?;
        let n = shared
            .done
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if !shared.quiet {
            eprintln!("{}", progress_line(n, total, &result));
        }
        shared.results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
    }
}

/// Starts lane `n`'s local control plane and its `Setup`.
async fn start_lane(n: usize, shared: &Shared<'_>) -> Result<Lane, crate::runner::RunError> {
    let t = Instant::now();
    let pooled = if shared.lane_setup.nodes == 0 {
        crate::pool::take().await
    } else {
        None
    };
    let env = match pooled {
        Some(env) => {
            if !shared.quiet {
                eprintln!(
                    "acr-conformance: lane {n}: a local control plane of an earlier run of this process, reset"
                );
            }
            env
        }
        None => {
            if !shared.quiet {
                eprintln!(
                    "acr-conformance: lane {n}: starting the local control plane (built once, then cached)…"
                );
            }
            let start = crate::cluster::StartOptions {
                node: (shared.lane_setup.nodes > 0).then(crate::cluster::NodeOptions::default),
                ..Default::default()
            };
            crate::pool::note_started();
            Environment::local_with(start).await?
        }
    };
    let setup = shared.lane_setup.for_env(&env).await?;
    if !shared.quiet {
        let netns = setup
            .netns
            .as_ref()
            .map(|netns| {
                format!(
                    "; network namespace {}: 100.100.100.200:80 → fake-metadata, :443 → fake-acr, {} → the API server",
                    netns.name(),
                    env.server_url()
                )
            })
            .unwrap_or_default();
        eprintln!(
            "acr-conformance: lane {n}: control plane ready in {:.1} s{netns}",
            t.elapsed().as_secs_f64()
        );
        if let Some(node) = env.node() {
            eprintln!(
                "acr-conformance: lane {n}: node {} Ready in {:.1} s (kubelet + containerd RSS {} MiB)",
                node.name(),
                node.start_time().as_secs_f64(),
                node.rss_kib() / 1024
            );
        }
    }
    Ok(Lane { env, setup })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::CATALOGUE;

    fn ids(selected: &[&'static ScenarioInfo], order: &VecDeque<usize>) -> Vec<&'static str> {
        order.iter().map(|i| selected[*i].id).collect()
    }

    #[test]
    fn one_lane_keeps_catalogue_order_and_several_take_the_longest_first() {
        let selected: Vec<&'static ScenarioInfo> = CATALOGUE.iter().collect();
        let all: Vec<usize> = (0..selected.len()).collect();
        let dir = tempfile::tempdir().unwrap();
        let serial = order(&selected, &all, 1, dir.path());
        assert_eq!(
            ids(&selected, &serial),
            CATALOGUE.iter().map(|s| s.id).collect::<Vec<_>>()
        );
        let parallel = ids(&selected, &order(&selected, &all, 4, dir.path()));
        assert!(parallel[0].starts_with("TR"), "{parallel:?}");
        assert!(parallel.last().unwrap().starts_with("CR"), "{parallel:?}");

        // The last report's durations win over the group estimate.
        std::fs::write(
            dir.path().join("summary.json"),
            r#"{"results": [{"id": "CR1", "duration": 99.0}, {"id": "TR1", "duration": 0.5}]}"#,
        )
        .unwrap();
        let parallel = ids(&selected, &order(&selected, &all, 4, dir.path()));
        assert_eq!(parallel[0], "CR1", "{parallel:?}");
        let tr1 = parallel.iter().position(|id| *id == "TR1").unwrap();
        let tr2 = parallel.iter().position(|id| *id == "TR2").unwrap();
        assert!(tr1 > tr2, "{parallel:?}");
    }

    #[test]
    fn the_default_job_count_is_bounded() {
        let jobs = default_jobs();
        assert!((1..=MAX_LANES).contains(&jobs), "{jobs}");
        assert!(available_memory().is_some_and(|m| m > 0));
    }
}
