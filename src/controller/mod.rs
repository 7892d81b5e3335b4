//! The controller's wiring: the registry-state task, the stores and their watches, the
//! ConfigMap watch, the rollouts that requeue namespaces when the content or configuration
//! changes, and a bounded pool of workers reconciling namespaces from the work queue.
//!
//! Parts: `stores` (what the cluster looks like, from watches), `registry` (discovery, keys,
//! tokens → the pull Secret's content), `config_watch` (the ConfigMap), `queue` (which namespace
//! next), `reconcile` (plan and apply one namespace), `warnings` (Events), `backoff` (between failed watch polls).

mod backoff;
mod config_watch;
mod queue;
mod reconcile;
mod registry;
mod stores;
mod warnings;

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::Reporter;
use tokio::sync::watch;

use crate::acr::AcrClient;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::retry::RetryPolicy;
use crate::token_cache::RenewalPolicy;

pub use config_watch::{ConfigOutcome, config_from, read_config_map};
pub use reconcile::ReconcileError;

use queue::{Lane, WorkQueue};
use reconcile::Context;
use registry::{Registry, RegistrySettings};
use stores::{OnChange, Stores};
use warnings::Warnings;

/// Name the refresher reports Events and Leases under.
pub const CONTROLLER_NAME: &str = "acr-refresher";

/// First wait before retrying a namespace whose write conflicted (the store is catching up).
const CONFLICT_RETRY: Duration = Duration::from_millis(100);
/// Longest wait before retrying a namespace whose writes keep conflicting.
const CONFLICT_RETRY_MAX: Duration = Duration::from_secs(5);
/// First wait before retrying a namespace whose write failed.
const FAILURE_RETRY: Duration = Duration::from_secs(1);
/// How long a stopping controller lets running reconciles finish.
const DRAIN: Duration = Duration::from_secs(5);

/// Settings of the controller that do not come from the ConfigMap.
#[derive(Clone, Debug)]
pub struct ControllerSettings {
    /// Name of the pull Secret in each served namespace.
    pub secret_name: String,
    /// Namespace of the configuration ConfigMap.
    pub config_namespace: String,
    /// Name of the configuration ConfigMap.
    pub config_name: String,
    /// The node's region (the default region of tokens).
    pub node_region: String,
    /// How long discovered instance domains/lists are reused.
    pub discovery_interval: Duration,
    /// Longest time between two checks of every namespace against the stores (a safety net).
    pub resync_interval: Duration,
    /// Reporting instance for Events (the Pod name).
    pub instance: Option<String>,
    /// Namespaces reconciled at once.
    pub concurrency: usize,
    /// How long a change waits for more changes to the same namespace.
    pub debounce: Duration,
    /// Longest backoff after failed writes of one namespace.
    pub retry_max: Duration,
    /// When tokens may be renewed.
    pub renewal: RenewalPolicy,
}

/// The pieces `run` builds and hands to the controller.
pub struct ControllerParts {
    /// Kubernetes client.
    pub client: Client,
    /// Settings.
    pub settings: ControllerSettings,
    /// The configuration in force at start.
    pub initial_config: Config,
    /// The ACR client (tokens and discovery).
    pub acr: AcrClient,
    /// Metrics sink.
    pub metrics: Arc<Metrics>,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(parts: ControllerParts, shutdown: impl std::future::Future<Output = ()> + Send) {
    let ControllerParts {
        client,
        settings,
        initial_config,
        acr,
        metrics,
    } = parts;
    let reporter = Reporter {
        controller: CONTROLLER_NAME.into(),
        instance: settings.instance.clone(),
    };
    let config_map = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        namespace: Some(settings.config_namespace.clone()),
        name: Some(settings.config_name.clone()),
        ..Default::default()
    };
    let warnings = Arc::new(Warnings::new(client.clone(), reporter, config_map));
    let (config_tx, config_rx) = watch::channel(Arc::new(initial_config));
    let (content_tx, content_rx) = watch::channel(None);
    let mut tasks = tokio::task::JoinSet::new();

    tasks.spawn(
        Registry::new(
            acr,
            metrics.clone(),
            warnings.clone(),
            RegistrySettings {
                node_region: settings.node_region.clone(),
                discovery_interval: settings.discovery_interval,
                renewal: settings.renewal.clone(),
            },
        )
        .run(config_rx.clone(), content_tx),
    );
    tasks.spawn(config_watch::watch_config(
        client.clone(),
        settings.config_namespace.clone(),
        settings.config_name.clone(),
        warnings.clone(),
        metrics.clone(),
        config_tx,
    ));

    let stores = Arc::new(Stores::default());
    let queue = Arc::new(WorkQueue::new(settings.debounce));
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings: settings.clone(),
        config: config_rx,
        content: content_rx,
        stores: stores.clone(),
        metrics: metrics.clone(),
        warnings,
    });
    let on_change: OnChange = {
        let (ctx, queue) = (ctx.clone(), queue.clone());
        Arc::new(move |ns: &str| {
            if ctx.needs_work(ns) {
                queue.add(ns, Lane::Change);
            }
        })
    };
    {
        let stores = stores.clone();
        let secret_name = settings.secret_name.clone();
        tasks.spawn(async move { stores.feed(client, &secret_name, on_change).await });
    }

    let mut shutdown = std::pin::pin!(shutdown);
    let started = Instant::now();
    let ready = async {
        stores.wait_ready().await;
        let mut content = ctx.content.clone();
        let _ = content.wait_for(Option::is_some).await;
    };
    tokio::select! {
        _ = ready => {}
        _ = &mut shutdown => {
            tasks.shutdown().await;
            return;
        }
    }
    tracing::info!(
        namespaces = stores.namespaces().len(),
        after = ?started.elapsed(),
        "stores and pull Secret content ready; reconciling"
    );
    tasks.spawn(rollouts(ctx.clone(), queue.clone()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency.max(1) {
        workers.spawn(work(ctx.clone(), queue.clone()));
    }
    shutdown.await;
    queue.close();
    if tokio::time::timeout(DRAIN, async {
        while workers.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        workers.shutdown().await;
    }
    tasks.shutdown().await;
}

/// Queues, in the bulk lane, every namespace whose plan is not empty: at start, whenever the
/// configuration or the content changes, and every resync interval.
async fn rollouts(ctx: Arc<Context>, queue: Arc<WorkQueue>) {
    let mut config = ctx.config.clone();
    let mut content = ctx.content.clone();
    loop {
        config.borrow_and_update();
        content.borrow_and_update();
        let mut queued = 0usize;
        for ns in ctx.stores.namespaces() {
            if ctx.needs_work(&ns) {
                queue.add(&ns, Lane::Bulk);
                queued += 1;
            }
        }
        if queued > 0 {
            tracing::info!(namespaces = queued, "queued namespaces to bring up to date");
        }
        tokio::select! {
            changed = config.changed() => if changed.is_err() { return },
            changed = content.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(ctx.settings.resync_interval) => {}
        }
    }
}

/// One worker: reconciles the queue's namespaces one at a time until the queue closes.
async fn work(ctx: Arc<Context>, queue: Arc<WorkQueue>) {
    while let Some(ns) = queue.next().await {
        let started = Instant::now();
        let result = reconcile::reconcile(&ctx, &ns).await;
        ctx.metrics.reconciled(
            if result.is_ok() { "ok" } else { "error" },
            started.elapsed(),
        );
        match result {
            Ok(()) => {
                queue.done(&ns, true);
            }
            Err(error @ ReconcileError::Conflict { .. }) => {
                let failures = queue.done(&ns, false);
                tracing::debug!(%error, "requeued");
                let delay =
                    RetryPolicy::doubling(CONFLICT_RETRY, CONFLICT_RETRY_MAX).delay(failures);
                queue.add_after(&ns, Lane::Change, delay);
            }
            Err(error) => {
                let failures = queue.done(&ns, false);
                let delay =
                    RetryPolicy::doubling(FAILURE_RETRY, ctx.settings.retry_max).delay(failures);
                let code = match &error {
                    ReconcileError::Write { source, .. } => reconcile::status_code(source),
                    ReconcileError::Conflict { .. } => None,
                };
                tracing::warn!(namespace = %ns, status = ?code, retry_in = ?delay, %error, "write failed");
                if let Some(regarding) = error.regarding() {
                    ctx.warnings
                        .warn(
                            format!("write/{ns}/{}", code.unwrap_or_default()),
                            regarding,
                            "WriteFailed",
                            format!("{error}; retrying in {delay:.1?}"),
                        )
                        .await;
                }
                queue.add_after(&ns, Lane::Bulk, delay);
            }
        }
    }
}
