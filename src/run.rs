//! `acr-refresher run`: the refresher as a long-running process (in a Pod, or outside the
//! cluster with `--kubeconfig`). Wires the clients, the HTTP endpoints, leader election and the
//! controller; the logic lives in the modules it calls.
//!
//! Settings: command-line flag > environment variable > default (`--help` lists them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::Args;

use crate::acr::AcrClient;
use crate::cloud_args::{CloudArgs, duration};
use crate::controller::{self, ConfigOutcome, ControllerParts, ControllerSettings};
use crate::credentials::{EcsMetadataClient, SharedCredentials, StaticAccessKey};
use crate::desired::DEFAULT_SECRET_NAME;
use crate::leader_election::{LeaderElector, LeaseSettings};
use crate::metrics::Metrics;
use crate::telemetry::{self, LogFormat};
use crate::token_cache::RenewalPolicy;

/// Settings of `acr-refresher run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Kubeconfig file; without it, the in-cluster ServiceAccount (or $KUBECONFIG) is used.
    #[arg(long, env = "ACR_REFRESHER_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The node's region; read from ECS metadata (region-id) when not given.
    #[arg(long, env = "ACR_REFRESHER_REGION")]
    pub region: Option<String>,
    /// How to reach the metadata server and ACR.
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// Use a static AccessKey from this Secret (NAMESPACE/NAME, keys access-key-id and
    /// access-key-secret) instead of the RAM role, e.g. kube-system/alibaba-addon-secret.
    #[arg(long, env = "ACR_REFRESHER_ACCESS_KEY_SECRET")]
    pub access_key_secret: Option<String>,
    /// Minimum time between two renewals of one token (bounds a threshold >= lifetime).
    #[arg(long, env = "ACR_REFRESHER_MIN_RENEWAL_INTERVAL", default_value = "10s", value_parser = duration)]
    pub min_renewal_interval: Duration,
    /// Longest backoff between failed renewals of one token, and between failed writes in one
    /// namespace.
    #[arg(long, env = "ACR_REFRESHER_MAX_RETRY_INTERVAL", default_value = "1m", value_parser = duration)]
    pub max_retry_interval: Duration,
    /// Namespace of the configuration ConfigMap.
    #[arg(long, env = "ACR_REFRESHER_CONFIG_NAMESPACE", default_value = crate::config::CONFIGMAP_NAMESPACE)]
    pub config_namespace: String,
    /// Name of the configuration ConfigMap.
    #[arg(long, env = "ACR_REFRESHER_CONFIG_NAME", default_value = crate::config::CONFIGMAP_NAME)]
    pub config_name: String,
    /// Name of the pull Secret written into each served namespace.
    #[arg(long, env = "ACR_REFRESHER_SECRET_NAME", default_value = DEFAULT_SECRET_NAME)]
    pub secret_name: String,
    /// How long discovered instance domains are reused.
    #[arg(long, env = "ACR_REFRESHER_DISCOVERY_INTERVAL", default_value = "10m", value_parser = duration)]
    pub discovery_interval: Duration,
    /// How often every namespace is checked against the watched state (safety net; no API reads).
    #[arg(long, env = "ACR_REFRESHER_RESYNC_INTERVAL", default_value = "5m", value_parser = duration)]
    pub resync_interval: Duration,
    /// Namespaces reconciled at once (bounds in-flight API writes).
    #[arg(long, env = "ACR_REFRESHER_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// How long a change in a namespace waits for further changes before it is reconciled.
    #[arg(long, env = "ACR_REFRESHER_DEBOUNCE", default_value = "50ms", value_parser = duration)]
    pub debounce: Duration,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "ACR_REFRESHER_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Elect a leader on a Lease (turn off only for a single replica outside the cluster).
    #[arg(long, env = "ACR_REFRESHER_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader Lease (the Pod's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kube-system")]
    pub lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(
        long,
        env = "ACR_REFRESHER_LEASE_NAME",
        default_value = "acr-refresher"
    )]
    pub lease_name: String,
    /// Lease validity without renewal (Go duration).
    #[arg(long, env = "ACR_REFRESHER_LEASE_DURATION", default_value = "15s", value_parser = duration)]
    pub lease_duration: Duration,
    /// This replica's identity in the Lease and Events; defaults to the host name.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Log format.
    #[arg(
        long,
        env = "ACR_REFRESHER_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// Why `run` could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The kubeconfig could not be loaded.
    #[error("Kubernetes client configuration: {0}")]
    Kubeconfig(String),
    /// `--access-key-secret` is not NAMESPACE/NAME.
    #[error("--access-key-secret '{0}' is not NAMESPACE/NAME")]
    AccessKeySecretName(String),
    /// Credentials could not be set up.
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialsError),
    /// The ACR client could not be built.
    #[error(transparent)]
    AcrClient(#[from] crate::acr::client::AcrClientError),
    /// The HTTP endpoint could not listen.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Entry point of `acr-refresher run`.
pub fn main(args: RunArgs) -> ExitCode {
    telemetry::init(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("acr-refresher: {}", RunError::Runtime(e));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "acr-refresher stopped");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutdown requested");
}

#[derive(Clone)]
struct HttpState {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
}

async fn kube_client(args: &RunArgs) -> Result<kube::Client, RunError> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| RunError::Kubeconfig(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| RunError::Kubeconfig(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| RunError::Kubeconfig(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| RunError::Kubeconfig(e.to_string()))
}

/// Runs the refresher until `shutdown` resolves (or leadership is lost).
///
/// kube's client takes rustls' process-wide crypto provider: a process with several providers
/// compiled in installs one before calling this (`main.rs` does; the library never does).
pub async fn run(
    args: RunArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let client = kube_client(&args).await?;
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| RunError::Listen {
            address: args.listen,
            source,
        })?;
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(s): State<HttpState>| async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        crate::metrics::CONTENT_TYPE,
                    )],
                    s.metrics.render(),
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<HttpState>| async move {
                if s.ready.load(Ordering::SeqCst) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        )
        .with_state(HttpState {
            metrics: metrics.clone(),
            ready: ready.clone(),
        });
    tracing::info!(address = %listener.local_addr().unwrap_or(args.listen), "serving /metrics, /healthz, /readyz");
    let http = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "HTTP endpoint stopped");
        }
    });

    let metadata = Arc::new(EcsMetadataClient::new(args.cloud.metadata_settings())?);
    let credentials: SharedCredentials = match &args.access_key_secret {
        Some(reference) => {
            let (namespace, name) = reference
                .split_once('/')
                .ok_or_else(|| RunError::AccessKeySecretName(reference.clone()))?;
            Arc::new(StaticAccessKey::from_secret(client.clone(), namespace, name).await?)
        }
        None => metadata.clone(),
    };
    let node_region = match &args.region {
        Some(region) => region.clone(),
        None => loop {
            match metadata.region().await {
                Ok(region) => break region,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the node's region from ECS metadata; retrying (or pass --region)");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        },
    };
    tracing::info!(region = %node_region, "node region");

    let acr = AcrClient::new(args.cloud.acr_settings(), credentials)?;

    // The first configuration comes from a direct read, so that no reconcile ever runs with
    // defaults that the real ConfigMap would contradict.
    let initial_config = loop {
        match controller::read_config_map(&client, &args.config_namespace, &args.config_name).await
        {
            Ok(config_map) => match controller::config_from(config_map.as_ref()) {
                ConfigOutcome::Valid(config) => break config,
                ConfigOutcome::Invalid(errors) => {
                    tracing::error!(
                        "ConfigMap {}/{} is invalid, using the seed's defaults until it is fixed: {errors}",
                        args.config_namespace,
                        args.config_name
                    );
                    break crate::config::Config::default();
                }
            },
            Err(error) => {
                tracing::warn!(%error, "cannot read the ConfigMap; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };

    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "acr-refresher".into());
        format!("{host}-{}", hex::encode(rand::random::<[u8; 4]>()))
    });
    let settings = ControllerSettings {
        secret_name: args.secret_name.clone(),
        config_namespace: args.config_namespace.clone(),
        config_name: args.config_name.clone(),
        node_region,
        discovery_interval: args.discovery_interval,
        resync_interval: args.resync_interval,
        instance: Some(identity.clone()),
        concurrency: usize::from(args.concurrency),
        debounce: args.debounce,
        retry_max: args.max_retry_interval,
        renewal: RenewalPolicy {
            min_renewal_interval: args.min_renewal_interval,
            retry_base: Duration::from_secs(1),
            retry_max: args.max_retry_interval,
        },
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = {
        let stop_rx = stop_rx.clone();
        move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        }
    };

    let elector = args.leader_election.then(|| {
        LeaderElector::new(
            client.clone(),
            LeaseSettings::for_lease_duration(
                args.lease_namespace.clone(),
                args.lease_name.clone(),
                identity.clone(),
                args.lease_duration,
            ),
        )
    });
    // A standby replica is ready (it serves its endpoints and waits for the Lease).
    ready.store(true, Ordering::SeqCst);
    if let Some(elector) = &elector {
        tracing::info!(lease = %args.lease_name, identity = %identity, "waiting for leadership");
        tokio::select! {
            _ = elector.acquire() => {}
            _ = stopped() => { http.abort(); return Ok(()); }
        }
        tracing::info!("leader; starting the controller");
    }
    metrics.set_leader(true);

    let parts = ControllerParts {
        client,
        settings,
        initial_config,
        acr,
        metrics: metrics.clone(),
    };
    let controller = tokio::spawn(controller::run(parts, stopped()));
    let lost = match &elector {
        Some(elector) => {
            tokio::select! {
                _ = elector.hold() => true,
                _ = stopped() => false,
            }
        }
        None => {
            stopped().await;
            false
        }
    };
    if lost {
        // No drain: another replica may be leader soon, and nothing may be written after this.
        controller.abort();
        let _ = controller.await;
        metrics.set_leader(false);
        tracing::warn!("leadership lost; stopped writing");
        http.abort();
        return Ok(());
    }
    let _ = controller.await;
    if let Some(elector) = &elector {
        elector.release().await;
    }
    metrics.set_leader(false);
    http.abort();
    tracing::info!("stopped");
    Ok(())
}
