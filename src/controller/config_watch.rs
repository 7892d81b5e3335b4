//! The configuration ConfigMap: read once at start, then watched; a valid change replaces the
//! configuration in force, an invalid one gives a Warning Event and the last good one stays.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;

use crate::config::{self, Config};
use crate::metrics::Metrics;

use super::warnings::Warnings;

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

/// Watches ConfigMap `namespace/name` and publishes each valid, different configuration.
pub async fn watch_config(
    client: Client,
    namespace: String,
    name: String,
    warnings: Arc<Warnings>,
    metrics: Arc<Metrics>,
    publish: watch::Sender<Arc<Config>>,
) {
    let api = Api::<ConfigMap>::namespaced(client, &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
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
                metrics.config_reload("applied");
                let changed = publish.send_if_modified(|current| {
                    let changed = **current != config;
                    if changed {
                        *current = Arc::new(config);
                    }
                    changed
                });
                if changed {
                    tracing::info!("configuration changed");
                }
            }
            ConfigOutcome::Invalid(errors) => {
                metrics.config_reload("rejected");
                let mut reference = warnings.config_map();
                reference.uid = config_map.as_ref().and_then(|c| c.metadata.uid.clone());
                let version = config_map
                    .as_ref()
                    .and_then(|c| c.metadata.resource_version.clone())
                    .unwrap_or_default();
                warnings
                    .warn(
                        format!("config/{version}"),
                        reference,
                        "InvalidConfiguration",
                        format!(
                            "ConfigMap {namespace}/{name} rejected, the last good configuration \
                             stays in force: {errors}"
                        ),
                    )
                    .await;
            }
        }
    }
}
