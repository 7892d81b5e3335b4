//! Warning Events and their logs, each repeated at most once a minute per subject.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};

use crate::acr::{AcrError, TokenKey};

/// How long a repeated warning (same subject) stays quiet.
const QUIET_FOR: Duration = Duration::from_secs(60);

/// Publishes Warning Events on behalf of the controller.
///
/// A fresh `Recorder` per Event: kube's Recorder folds Events with the same reason into one series
/// and keeps the first note, which would hide a later, different problem (e.g. a second bad
/// ConfigMap key). The quiet period keeps repeats out instead.
pub struct Warnings {
    client: Client,
    reporter: Reporter,
    config_map: ObjectReference,
    published: Mutex<HashMap<String, Instant>>,
}

impl Warnings {
    /// Warnings published by `reporter`; ACR problems are reported on `config_map`.
    pub fn new(client: Client, reporter: Reporter, config_map: ObjectReference) -> Self {
        Self {
            client,
            reporter,
            config_map,
            published: Mutex::default(),
        }
    }

    /// The configuration ConfigMap, which ACR and configuration Events are about.
    pub fn config_map(&self) -> ObjectReference {
        self.config_map.clone()
    }

    /// Publishes a Warning Event (at most once a minute per `subject`) and logs it.
    pub async fn warn(
        &self,
        subject: String,
        regarding: ObjectReference,
        reason: &str,
        note: String,
    ) {
        {
            let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            published.retain(|_, at| now.duration_since(*at) < QUIET_FOR);
            if published.contains_key(&subject) {
                return;
            }
            published.insert(subject, now);
        }
        tracing::warn!(reason, object = ?regarding.name, namespace = ?regarding.namespace, "{note}");
        let event = KubeEvent {
            type_: EventType::Warning,
            reason: reason.to_owned(),
            note: Some(truncate(&note, 1000)),
            action: "Reconcile".into(),
            secondary: None,
        };
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        if let Err(error) = recorder.publish(&event, &regarding).await {
            tracing::warn!(%error, reason, "cannot publish Event");
        }
    }

    /// Reports an ACR failure for `key` on the ConfigMap, naming a missing RAM permission.
    pub async fn acr(&self, key: &TokenKey, error: &AcrError) {
        let note = match error.missing_permission() {
            Some(permission) => {
                format!("ACR token {key}: the RAM role lacks permission {permission}: {error}")
            }
            None => format!("ACR token {key}: {error}"),
        };
        self.warn(
            format!("acr/{key}/{}", error.reason()),
            self.config_map(),
            error.reason(),
            note,
        )
        .await;
    }
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

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("aé", 2), "a…");
    }
}
