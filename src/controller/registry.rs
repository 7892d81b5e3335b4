//! The registry state: one task owns discovery, keys and tokens, renews them in the background
//! and publishes the pull Secret's content. Reconciles only read what it published, so no
//! namespace ever waits for ACR, and every ACR call of the controller is made (and counted) here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::acr::{AcrClient, TokenKey};
use crate::config::Config;
use crate::desired::{self, Discovery, DiscoveryNeeds, SecretContent};
use crate::metrics::Metrics;
use crate::token_cache::{FetchToken, RenewalPolicy, TokenCache};

use super::warnings::Warnings;

/// The content every served namespace's Secret should have; `None` until the first pass is done.
pub type PublishedContent = watch::Receiver<Option<Arc<SecretContent>>>;

/// How soon a failed discovery is tried again.
const DISCOVERY_RETRY: Duration = Duration::from_secs(5);
/// Longest sleep between two passes (token expiries come sooner; this only bounds drift).
const LONGEST_SLEEP: Duration = Duration::from_secs(600);
/// Shortest sleep between two passes (the token cache's own floor applies too).
const SHORTEST_SLEEP: Duration = Duration::from_millis(200);

/// Settings of the registry state.
#[derive(Clone, Debug)]
pub struct RegistrySettings {
    /// The node's region.
    pub node_region: String,
    /// How long discovered instance domains/lists are reused.
    pub discovery_interval: Duration,
    /// When tokens may be renewed.
    pub renewal: RenewalPolicy,
}

/// The owner of discovery facts and tokens.
pub struct Registry {
    acr: AcrClient,
    cache: TokenCache,
    metrics: Arc<Metrics>,
    warnings: Arc<Warnings>,
    settings: RegistrySettings,
    discovery: Discovery,
    discovered_for: Option<DiscoveryNeeds>,
    discovery_due: Instant,
}

impl Registry {
    /// The registry state, calling `acr` and reporting to `metrics` and `warnings`.
    pub fn new(
        acr: AcrClient,
        metrics: Arc<Metrics>,
        warnings: Arc<Warnings>,
        settings: RegistrySettings,
    ) -> Self {
        let cache = TokenCache::new(
            fetch_token(acr.clone(), metrics.clone()),
            settings.renewal.clone(),
        )
        .with_observer(metrics.clone());
        Self {
            acr,
            cache,
            metrics,
            warnings,
            settings,
            discovery: Discovery::default(),
            discovered_for: None,
            discovery_due: Instant::now(),
        }
    }

    /// Keeps the content published until `config` closes: a pass at every configuration change
    /// and whenever a token or discovery fact is due.
    pub async fn run(
        mut self,
        mut config: watch::Receiver<Arc<Config>>,
        publish: watch::Sender<Option<Arc<SecretContent>>>,
    ) {
        loop {
            let current = config.borrow_and_update().clone();
            let wake_at = self.pass(&current, &publish).await;
            tokio::select! {
                _ = tokio::time::sleep_until(wake_at) => {}
                changed = config.changed() => if changed.is_err() { return },
            }
        }
    }

    /// One pass: discovery if due, keys, tokens, content. Returns when the next pass is due.
    async fn pass(
        &mut self,
        config: &Config,
        publish: &watch::Sender<Option<Arc<SecretContent>>>,
    ) -> Instant {
        self.refresh_discovery(config).await;
        let (keys, notes) =
            desired::registry_keys(config, &self.settings.node_region, &self.discovery);
        for note in notes {
            tracing::debug!("{note}");
        }
        let mut tokens = BTreeMap::new();
        let mut next_change: Option<Timestamp> = None;
        let mut earliest = |t: Timestamp| {
            next_change = Some(next_change.map_or(t, |n| n.min(t)));
        };
        for key in desired::tokens_needed(&keys) {
            match self.cache.get(&key, config.expiring_threshold).await {
                Ok(lookup) => {
                    if let Some(error) = &lookup.renewal_error {
                        self.warnings.acr(&key, error).await;
                    }
                    earliest(lookup.renew_at);
                    tokens.insert(key, lookup.token);
                }
                Err(unavailable) => {
                    self.warnings.acr(&key, &unavailable.source).await;
                    earliest(unavailable.retry_at);
                }
            }
        }
        let content = SecretContent::new(&keys, &tokens);
        publish.send_if_modified(|published| {
            if published.as_deref() == Some(&content) {
                return false;
            }
            tracing::info!(
                keys = keys.len(),
                complete = content.is_complete(),
                "pull Secret content changed"
            );
            *published = Some(Arc::new(content));
            true
        });
        let token_wait = next_change
            .map(|t| {
                Duration::try_from(t.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
            })
            .unwrap_or(LONGEST_SLEEP)
            .clamp(SHORTEST_SLEEP, LONGEST_SLEEP);
        (Instant::now() + token_wait).min(self.discovery_due)
    }

    /// Refreshes discovery (instance domains, instance lists) when the configuration needs other
    /// facts or the cached ones are old; a failure keeps the previous facts and is retried soon.
    async fn refresh_discovery(&mut self, config: &Config) {
        let needs = desired::discovery_needs(config, &self.settings.node_region);
        if self.discovered_for.as_ref() == Some(&needs) && Instant::now() < self.discovery_due {
            return;
        }
        let mut discovery = Discovery::default();
        let mut complete = true;
        for (region, instance_id) in &needs.instance_domains {
            self.metrics.acr_call("ListInstanceEndpoint");
            let id = (region.clone(), instance_id.clone());
            match self.acr.list_instance_domains(region, instance_id).await {
                Ok(domains) => {
                    discovery.instance_domains.insert(id, domains);
                }
                Err(error) => {
                    complete = false;
                    let key = TokenKey::enterprise(region, instance_id);
                    self.warnings.acr(&key, &error).await;
                    if let Some(old) = self.discovery.instance_domains.get(&id) {
                        discovery.instance_domains.insert(id, old.clone());
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
                    let key = TokenKey::enterprise(region, "*");
                    self.warnings.acr(&key, &error).await;
                    if let Some(old) = self.discovery.instances.get(region) {
                        discovery.instances.insert(region.clone(), old.clone());
                    }
                }
            }
        }
        self.discovery = discovery;
        self.discovered_for = Some(needs);
        self.discovery_due = Instant::now()
            + if complete {
                self.settings.discovery_interval
            } else {
                DISCOVERY_RETRY.min(self.settings.discovery_interval)
            };
    }
}

/// `GetAuthorizationToken` as the token cache calls it: counted and logged (never the password).
fn fetch_token(acr: AcrClient, metrics: Arc<Metrics>) -> FetchToken {
    Arc::new(move |key| {
        let acr = acr.clone();
        let metrics = metrics.clone();
        Box::pin(async move {
            metrics.acr_call("GetAuthorizationToken");
            let result = acr.get_authorization_token(&key).await;
            match &result {
                Ok(token) => {
                    tracing::info!(token = %key, expires_at = %token.expires_at, "ACR token renewed")
                }
                Err(error) => tracing::warn!(token = %key, %error, "ACR token renewal failed"),
            }
            result
        })
    })
}
