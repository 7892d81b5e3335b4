//! The controller: per namespace, compute the desired pull Secret and ServiceAccount entries and
//! apply only the difference (level-triggered, kube-rs `Controller`).
//!
//! Triggers: Namespaces (the primary object), ServiceAccounts and the refresher's own Secrets
//! (mapped to their namespace), the ConfigMap (hot reload → every namespace), and each
//! namespace's requeue at its tokens' renewal time. Nothing polls.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::channel::mpsc;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, LocalObjectReference, Namespace, ObjectReference, Secret, ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::Mutex as AsyncMutex;

use crate::acr::{AcrClient, AcrError, RegistryToken, TokenKey};
use crate::config::{self, Config};
use crate::desired::{
    self, Discovery, DiscoveryNeeds, MANAGED_BY_LABEL, MANAGED_BY_VALUE, NamespaceInputs,
    RegistryKey, SecretWrite,
};
use crate::metrics::Metrics;
use crate::token_cache::TokenCache;

/// Name the refresher reports Events and Leases under.
pub const CONTROLLER_NAME: &str = "acr-refresher";

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
    /// Longest time between two reconciles of a served namespace (a safety net, not a trigger).
    pub resync_interval: Duration,
    /// Reporting instance for Events (the Pod name).
    pub instance: Option<String>,
}

/// Why a reconcile failed; retried by the error policy.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A Kubernetes API call failed.
    #[error("{verb} {kind} {namespace}/{name}: {source}")]
    Kube {
        /// What was being done.
        verb: &'static str,
        /// Object kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Object name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Concurrent writers kept changing the object.
    #[error("{kind} {namespace}/{name} kept changing under us; will retry")]
    Conflict {
        /// Object kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Object name.
        name: String,
    },
}

#[derive(Default)]
struct DiscoveryState {
    discovery: Discovery,
    needs: Option<DiscoveryNeeds>,
    refreshed_at: Option<Instant>,
}

/// Everything a reconcile needs; shared by all reconciles.
pub struct Context {
    client: Client,
    settings: ControllerSettings,
    config: RwLock<Arc<Config>>,
    cache: TokenCache,
    acr: AcrClient,
    metrics: Arc<Metrics>,
    /// Who publishes our Events. A fresh `Recorder` per Event: kube's Recorder folds Events with
    /// the same reason into one series and keeps the first note, which would hide a later,
    /// different problem (e.g. a second bad ConfigMap key). `warned` keeps repeats quiet instead.
    reporter: Reporter,
    discovery: AsyncMutex<DiscoveryState>,
    /// Last time a warning with a given key was published, to keep Events and logs quiet.
    warned: std::sync::Mutex<HashMap<String, Instant>>,
}

/// The tokens and keys in force for one reconcile round.
struct RegistryState {
    keys: Vec<RegistryKey>,
    tokens: BTreeMap<TokenKey, RegistryToken>,
    next_change: Option<chrono::DateTime<Utc>>,
}

impl Context {
    fn current_config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn config_reference(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            namespace: Some(self.settings.config_namespace.clone()),
            name: Some(self.settings.config_name.clone()),
            ..Default::default()
        }
    }

    /// Publishes a Warning Event (at most once a minute per `dedup_key`) and logs it.
    async fn warn(
        &self,
        dedup_key: String,
        reference: ObjectReference,
        reason: &str,
        note: String,
    ) {
        {
            let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if warned
                .get(&dedup_key)
                .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60))
            {
                return;
            }
            warned.insert(dedup_key, now);
        }
        tracing::warn!(reason, object = ?reference.name, "{note}");
        let event = KubeEvent {
            type_: EventType::Warning,
            reason: reason.to_owned(),
            note: Some(truncate(&note, 1000)),
            action: "Reconcile".into(),
            secondary: None,
        };
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        if let Err(error) = recorder.publish(&event, &reference).await {
            tracing::warn!(%error, reason, "cannot publish Event");
        }
    }

    async fn warn_acr(&self, key: &TokenKey, error: &AcrError) {
        let note = match error.missing_permission() {
            Some(permission) => {
                format!("ACR token {key}: the RAM role lacks permission {permission}: {error}")
            }
            None => format!("ACR token {key}: {error}"),
        };
        self.warn(
            format!("acr/{key}/{}", error.reason()),
            self.config_reference(),
            error.reason(),
            note,
        )
        .await;
    }

    /// Refreshes discovery (instance domains, instance lists) when the config needs other
    /// facts or the cached ones are old; failures keep the previous facts.
    async fn discovery(&self, config: &Config) -> Discovery {
        let needs = desired::discovery_needs(config, &self.settings.node_region);
        let mut state = self.discovery.lock().await;
        let fresh = state.needs.as_ref() == Some(&needs)
            && state
                .refreshed_at
                .is_some_and(|t| t.elapsed() < self.settings.discovery_interval);
        if fresh {
            return state.discovery.clone();
        }
        let mut discovery = Discovery::default();
        let mut complete = true;
        for (region, instance_id) in &needs.instance_domains {
            self.metrics.acr_call("ListInstanceEndpoint");
            match self.acr.list_instance_domains(region, instance_id).await {
                Ok(domains) => {
                    discovery
                        .instance_domains
                        .insert((region.clone(), instance_id.clone()), domains);
                }
                Err(error) => {
                    complete = false;
                    let key = TokenKey::enterprise(region, instance_id);
                    self.warn_acr(&key, &error).await;
                    if let Some(old) = state
                        .discovery
                        .instance_domains
                        .get(&(region.clone(), instance_id.clone()))
                    {
                        discovery
                            .instance_domains
                            .insert((region.clone(), instance_id.clone()), old.clone());
                    }
                }
            }
        }
        for region in &needs.instance_lists {
            self.metrics.acr_call("ListInstance");
            match self.acr.list_instances(region).await {
                Ok(instances) => {
                    discovery.instances.insert(region.clone(), instances);
                }
                Err(error) => {
                    complete = false;
                    self.warn_acr(&TokenKey::enterprise(region, "*"), &error)
                        .await;
                    if let Some(old) = state.discovery.instances.get(region) {
                        discovery.instances.insert(region.clone(), old.clone());
                    }
                }
            }
        }
        state.discovery = discovery.clone();
        state.needs = Some(needs);
        // An incomplete discovery is retried soon rather than after the full interval.
        state.refreshed_at = Some(if complete {
            Instant::now()
        } else {
            Instant::now()
                .checked_sub(
                    self.settings
                        .discovery_interval
                        .saturating_sub(Duration::from_secs(5)),
                )
                .unwrap_or_else(Instant::now)
        });
        discovery
    }

    async fn registry_state(&self, config: &Config) -> RegistryState {
        let discovery = self.discovery(config).await;
        let (keys, notes) = desired::registry_keys(config, &self.settings.node_region, &discovery);
        for note in notes {
            tracing::debug!("{note}");
        }
        let mut tokens = BTreeMap::new();
        let mut next_change: Option<chrono::DateTime<Utc>> = None;
        let mut earliest = |t: chrono::DateTime<Utc>| {
            next_change = Some(next_change.map_or(t, |n| n.min(t)));
        };
        for key in desired::tokens_needed(&keys) {
            match self.cache.get(&key, config.expiring_threshold).await {
                Ok(lookup) => {
                    if let Some(error) = &lookup.renewal_error {
                        self.warn_acr(&key, error).await;
                    }
                    earliest(lookup.renew_at);
                    tokens.insert(key, lookup.token);
                }
                Err(unavailable) => {
                    self.warn_acr(&key, &unavailable.source).await;
                    earliest(unavailable.retry_at);
                }
            }
        }
        RegistryState {
            keys,
            tokens,
            next_change,
        }
    }
}

/// The label selector of the refresher's own Secrets.
fn managed_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn kube_error(
    verb: &'static str,
    kind: &'static str,
    namespace: &str,
    name: &str,
) -> impl FnOnce(kube::Error) -> ReconcileError {
    let (namespace, name) = (namespace.to_owned(), name.to_owned());
    move |source| ReconcileError::Kube {
        verb,
        kind,
        namespace,
        name,
        source,
    }
}

fn is_status(error: &kube::Error, codes: &[u16]) -> bool {
    matches!(error, kube::Error::Api(status) if codes.contains(&status.code))
}

/// Reconciles one namespace: the pull Secret and ServiceAccount entries it should have.
pub async fn reconcile(
    namespace: Arc<Namespace>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let result = reconcile_namespace(&namespace, &ctx).await;
    ctx.metrics.reconciled(
        if result.is_ok() { "ok" } else { "error" },
        started.elapsed(),
    );
    result
}

async fn reconcile_namespace(
    namespace: &Namespace,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let ns = namespace.name_any();
    tracing::debug!(namespace = %ns, "reconcile");
    if namespace.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let config = ctx.current_config();
    let served = config.watch_namespace.includes(&ns);
    let registry = if served {
        Some(ctx.registry_state(&config).await)
    } else {
        None
    };

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let accounts: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    let name = ctx.settings.secret_name.as_str();

    // A few rounds: a write may race with a user or a stale cache; each round starts from a
    // fresh read, so the outcome is always computed from the current state.
    for _round in 0..4 {
        let existing = secrets
            .get_opt(name)
            .await
            .map_err(kube_error("get", "Secret", &ns, name))?;
        let current_auths = existing
            .as_ref()
            .filter(|s| desired::is_managed(s))
            .and_then(desired::secret_auths);
        let desired_auths = registry
            .as_ref()
            .map(|r| desired::desired_auths(&r.keys, &r.tokens, current_auths.as_ref()));
        // Read fresh from the API server (not a cache): the plan must see what is there now.
        let service_accounts = accounts
            .list(&ListParams::default())
            .await
            .map_err(kube_error("list", "ServiceAccount", &ns, "*"))?
            .items;
        let stale_managed: Vec<String> = secrets
            .list(&ListParams::default().labels(&managed_selector()))
            .await
            .map_err(kube_error("list", "Secret", &ns, "*"))?
            .items
            .iter()
            .map(|s| s.name_any())
            .filter(|n| n != name)
            .collect();
        let plan = desired::plan_namespace(&NamespaceInputs {
            served,
            service_accounts_selected: &config.service_accounts,
            secret_name: name,
            desired: desired_auths.as_ref(),
            existing: existing.as_ref(),
            stale_managed,
            service_accounts: &service_accounts,
        });
        if plan.foreign_secret && served {
            let reference = ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Secret".into()),
                namespace: Some(ns.clone()),
                name: Some(name.to_owned()),
                uid: existing.as_ref().and_then(|s| s.metadata.uid.clone()),
                ..Default::default()
            };
            ctx.warn(
                format!("foreign/{ns}/{name}"),
                reference,
                "ForeignSecret",
                format!(
                    "Secret {ns}/{name} exists without label {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}; \
                     acr-refresher leaves it untouched and does not serve namespace {ns}"
                ),
            )
            .await;
        }
        if plan.is_empty() {
            return Ok(next_action(served, registry.as_ref(), &ctx.settings));
        }
        tracing::debug!(namespace = %ns, ?plan, "applying");
        match apply_plan(ctx, &ns, &secrets, &accounts, existing.as_ref(), &plan).await {
            Ok(()) => {}
            Err(Retry) => continue,
        }
    }
    Err(ReconcileError::Conflict {
        kind: "Secret/ServiceAccount",
        namespace: ns,
        name: name.to_owned(),
    })
}

fn next_action(
    served: bool,
    registry: Option<&RegistryState>,
    settings: &ControllerSettings,
) -> Action {
    if !served {
        return Action::await_change();
    }
    let resync = settings.resync_interval;
    let wait = registry
        .and_then(|r| r.next_change)
        .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
        .unwrap_or(resync)
        .clamp(Duration::from_millis(200), resync);
    Action::requeue(wait)
}

/// A write lost a race; recompute from a fresh read.
struct Retry;

async fn apply_plan(
    ctx: &Context,
    ns: &str,
    secrets: &Api<Secret>,
    accounts: &Api<ServiceAccount>,
    existing: Option<&Secret>,
    plan: &desired::NamespacePlan,
) -> Result<(), Retry> {
    let name = ctx.settings.secret_name.as_str();
    let result: Result<(), ReconcileErrorOrRetry> = async {
        match &plan.secret {
            SecretWrite::Unchanged => {}
            SecretWrite::Create(bytes) => {
                let secret = managed_secret(ns, name, bytes, None);
                match secrets.create(&PostParams::default(), &secret).await {
                    Ok(_) => {
                        ctx.metrics.api_write("Secret", "create");
                        tracing::info!(namespace = ns, secret = name, "created pull Secret");
                    }
                    Err(e) if is_status(&e, &[409]) => return Err(ReconcileErrorOrRetry::Retry),
                    Err(e) => return Err(kube_error("create", "Secret", ns, name)(e).into()),
                }
            }
            SecretWrite::Update(bytes) => {
                let current = existing.ok_or(ReconcileErrorOrRetry::Retry)?;
                if current.type_.as_deref() != Some(desired::DOCKERCONFIGJSON_TYPE) {
                    // The type is immutable: replace the object (it is ours).
                    secrets
                        .delete(
                            name,
                            &DeleteParams::default().preconditions(Preconditions {
                                uid: current.metadata.uid.clone(),
                                resource_version: current.metadata.resource_version.clone(),
                            }),
                        )
                        .await
                        .map_err(kube_error("delete", "Secret", ns, name))?;
                    ctx.metrics.api_write("Secret", "delete");
                    return Err(ReconcileErrorOrRetry::Retry);
                }
                let secret = managed_secret(ns, name, bytes, Some(&current.metadata));
                match secrets.replace(name, &PostParams::default(), &secret).await {
                    Ok(_) => {
                        ctx.metrics.api_write("Secret", "update");
                        tracing::info!(namespace = ns, secret = name, "updated pull Secret");
                    }
                    Err(e) if is_status(&e, &[409, 404]) => {
                        return Err(ReconcileErrorOrRetry::Retry);
                    }
                    Err(e) => return Err(kube_error("update", "Secret", ns, name)(e).into()),
                }
            }
        }
        for account in &plan.add_pull_secret {
            patch_pull_secrets(ctx, ns, accounts, account, name, true).await?;
        }
        for (account, secret) in &plan.remove_pull_secret {
            patch_pull_secrets(ctx, ns, accounts, account, secret, false).await?;
        }
        for secret in &plan.delete_secrets {
            match secrets.delete(secret, &DeleteParams::default()).await {
                Ok(_) => {
                    ctx.metrics.api_write("Secret", "delete");
                    tracing::info!(namespace = ns, secret, "deleted pull Secret");
                }
                Err(e) if is_status(&e, &[404]) => {}
                Err(e) => return Err(kube_error("delete", "Secret", ns, secret)(e).into()),
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(ReconcileErrorOrRetry::Retry) => Err(Retry),
        Err(ReconcileErrorOrRetry::Error(error)) => {
            tracing::warn!(%error, "write failed");
            Err(Retry)
        }
    }
}

enum ReconcileErrorOrRetry {
    Retry,
    Error(ReconcileError),
}

impl From<ReconcileError> for ReconcileErrorOrRetry {
    fn from(error: ReconcileError) -> Self {
        Self::Error(error)
    }
}

/// Appends `secret` to (or removes it from) `imagePullSecrets` of `account` with a merge patch
/// guarded by the resourceVersion read: every other entry stays as it is, and a concurrent
/// change makes the patch fail instead of being overwritten.
async fn patch_pull_secrets(
    ctx: &Context,
    ns: &str,
    accounts: &Api<ServiceAccount>,
    account: &str,
    secret: &str,
    add: bool,
) -> Result<(), ReconcileErrorOrRetry> {
    let Some(current) = accounts.get_opt(account).await.map_err(kube_error(
        "get",
        "ServiceAccount",
        ns,
        account,
    ))?
    else {
        return Ok(()); // deleted meanwhile: nothing to patch
    };
    let mut entries = current.image_pull_secrets.clone().unwrap_or_default();
    let position = entries.iter().position(|e| e.name == secret);
    match (add, position) {
        (true, Some(_)) | (false, None) => return Ok(()),
        (true, None) => entries.push(LocalObjectReference {
            name: secret.to_owned(),
        }),
        (false, Some(index)) => {
            entries.remove(index);
        }
    }
    let names: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| serde_json::json!({"name": e.name}))
        .collect();
    // The resourceVersion makes the API server refuse the patch (409) if the object changed
    // since it was read, so the full list sent here never overwrites someone else's edit.
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": current.metadata.resource_version},
        "imagePullSecrets": names,
    });
    match accounts
        .patch(account, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            ctx.metrics.api_write("ServiceAccount", "patch");
            tracing::info!(
                namespace = ns,
                service_account = account,
                secret,
                added = add,
                "patched imagePullSecrets"
            );
            Ok(())
        }
        // 409: the object changed since it was read; 404: it is gone.
        Err(e) if is_status(&e, &[409, 404]) => Err(ReconcileErrorOrRetry::Retry),
        Err(e) => Err(kube_error("patch", "ServiceAccount", ns, account)(e).into()),
    }
}

fn managed_secret(ns: &str, name: &str, bytes: &[u8], previous: Option<&ObjectMeta>) -> Secret {
    let mut metadata = previous.cloned().unwrap_or_default();
    metadata.name = Some(name.to_owned());
    metadata.namespace = Some(ns.to_owned());
    metadata.managed_fields = None;
    metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned());
    Secret {
        metadata,
        type_: Some(desired::DOCKERCONFIGJSON_TYPE.to_owned()),
        data: Some(BTreeMap::from([(
            desired::DOCKERCONFIGJSON_KEY.to_owned(),
            ByteString(bytes.to_vec()),
        )])),
        ..Default::default()
    }
}

/// Retries a failed reconcile soon; the failure was already logged by the runtime.
pub fn error_policy(
    _namespace: Arc<Namespace>,
    error: &ReconcileError,
    _ctx: Arc<Context>,
) -> Action {
    tracing::warn!(%error, "reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

/// Reads the ConfigMap now: `Ok(None)` when it does not exist (the seed's defaults apply).
pub async fn read_config_map(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<ConfigMap>, kube::Error> {
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
}

/// Outcome of reading a ConfigMap.
pub enum ConfigOutcome {
    /// Valid: apply it.
    Valid(Config),
    /// Invalid: keep the last good configuration; the errors, for an Event.
    Invalid(String),
}

/// Parses the ConfigMap (absent → the seed's defaults).
pub fn config_from(config_map: Option<&ConfigMap>) -> ConfigOutcome {
    let data = config_map.and_then(|c| c.data.clone()).unwrap_or_default();
    match config::parse(&data) {
        Ok((config, warnings)) => {
            for warning in warnings {
                tracing::warn!("configuration: {warning:?}");
            }
            ConfigOutcome::Valid(config)
        }
        Err(errors) => ConfigOutcome::Invalid(errors.to_string()),
    }
}

/// The pieces `run` builds and hands to the controller.
pub struct ControllerParts {
    /// Kubernetes client.
    pub client: Client,
    /// Settings.
    pub settings: ControllerSettings,
    /// The configuration in force at start.
    pub initial_config: Config,
    /// The token cache (its fetch function calls `acr`).
    pub cache: TokenCache,
    /// The ACR client (discovery calls).
    pub acr: AcrClient,
    /// Metrics sink.
    pub metrics: Arc<Metrics>,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    parts: ControllerParts,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ControllerParts {
        client,
        settings,
        initial_config,
        cache,
        acr,
        metrics,
    } = parts;
    let reporter = Reporter {
        controller: CONTROLLER_NAME.into(),
        instance: settings.instance.clone(),
    };

    let ctx = Arc::new(Context {
        client: client.clone(),
        config: RwLock::new(Arc::new(initial_config)),
        cache,
        acr,
        metrics: metrics.clone(),
        reporter,
        discovery: AsyncMutex::new(DiscoveryState::default()),
        warned: Default::default(),
        settings,
    });

    let (reload_tx, reload_rx) = mpsc::unbounded::<()>();
    let config_task = tokio::spawn(watch_config(ctx.clone(), reload_tx));

    let to_namespace =
        |namespace: Option<String>| namespace.map(|ns| ObjectRef::<Namespace>::new(&ns));
    Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<ServiceAccount>::all(client.clone()),
        watcher::Config::default(),
        move |sa| to_namespace(sa.namespace()),
    )
    .watches(
        Api::<Secret>::all(client),
        watcher::Config::default().labels(&managed_selector()),
        move |s| to_namespace(s.namespace()),
    )
    .trigger_backoff(WatchBackoff::default())
    .reconcile_all_on(reload_rx)
    .graceful_shutdown_on(async move {
        shutdown.await;
    })
    .run(reconcile, error_policy, ctx.clone())
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "controller");
        }
    })
    .await;
    config_task.abort();
}

/// The backoff between failed watch polls of the controller's trigger streams.
///
/// One backoff serves all three watches (Namespaces, ServiceAccounts, Secrets), and kube's
/// default (0.8 s doubling to 30 s, reset only by a successful event) grows so far while an API
/// server restarts (connection errors, then one "too old resource version" per watch) that the
/// controller stays deaf for tens of seconds afterwards. A short cap keeps recovery within a
/// couple of seconds; relists are cheap next to a window without credentials.
#[derive(Debug)]
struct WatchBackoff {
    next: Duration,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(200);
    const CAP: Duration = Duration::from_secs(2);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = (current * 2).min(Self::CAP);
        Some(current)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Watches the ConfigMap; a valid change replaces the configuration and reconciles every
/// namespace, an invalid one gives a Warning Event and keeps the last good configuration.
async fn watch_config(ctx: Arc<Context>, reload: mpsc::UnboundedSender<()>) {
    let api = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ctx.settings.config_namespace);
    let config =
        watcher::Config::default().fields(&format!("metadata.name={}", ctx.settings.config_name));
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut seen_in_init = false;
    loop {
        let event = match stream.try_next().await {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "ConfigMap watch");
                continue;
            }
        };
        let config_map = match event {
            watcher::Event::Init => {
                seen_in_init = false;
                continue;
            }
            watcher::Event::InitApply(cm) => {
                seen_in_init = true;
                Some(cm)
            }
            watcher::Event::InitDone if seen_in_init => continue,
            watcher::Event::InitDone | watcher::Event::Delete(_) => None,
            watcher::Event::Apply(cm) => Some(cm),
        };
        match config_from(config_map.as_ref()) {
            ConfigOutcome::Valid(config) => {
                ctx.metrics.config_reload("applied");
                let changed = {
                    let mut current = ctx.config.write().unwrap_or_else(|p| p.into_inner());
                    let changed = **current != config;
                    if changed {
                        *current = Arc::new(config);
                    }
                    changed
                };
                if changed {
                    tracing::info!("configuration changed; reconciling every namespace");
                    let _ = reload.unbounded_send(());
                }
            }
            ConfigOutcome::Invalid(errors) => {
                ctx.metrics.config_reload("rejected");
                let mut reference = ctx.config_reference();
                reference.uid = config_map.as_ref().and_then(|c| c.metadata.uid.clone());
                ctx.warn(
                    format!("config/{}", config_map.as_ref().and_then(|c| c.metadata.resource_version.clone()).unwrap_or_default()),
                    reference,
                    "InvalidConfiguration",
                    format!("ConfigMap {}/{} rejected, the last good configuration stays in force: {errors}",
                        ctx.settings.config_namespace, ctx.settings.config_name),
                )
                .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff;

    #[test]
    fn watch_backoff_doubles_to_its_cap_and_resets() {
        let mut backoff = WatchBackoff::default();
        let first: Vec<Duration> = backoff.by_ref().take(6).collect();
        assert_eq!(first[0], WatchBackoff::FIRST);
        assert_eq!(first[1], WatchBackoff::FIRST * 2);
        assert!(first.iter().all(|d| *d <= WatchBackoff::CAP));
        assert_eq!(first[5], WatchBackoff::CAP);
        backoff.reset();
        assert_eq!(backoff.next(), Some(WatchBackoff::FIRST));
    }
}
