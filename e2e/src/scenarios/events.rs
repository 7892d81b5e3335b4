//! Warning Events: those created since the scenario started or since a mark, and polling until
//! the implementation (by the audit log, in mode `local`) wrote one that matches.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};

use super::{Ctx, Stop, fail};

impl Ctx<'_> {
    /// Warning Events created since the scenario started, in any namespace:
    /// `(namespace, name, reason, message)`.
    pub async fn warnings_since_start(
        &self,
    ) -> Result<Vec<(String, String, String, String)>, Stop> {
        let events: Api<Event> = Api::all(self.env.client());
        let list = events
            .list(&ListParams::default().fields("type=Warning"))
            .await?;
        let since = self.started_at - jiff::SignedDuration::from_secs(1);
        Ok(list
            .items
            .into_iter()
            .filter(|e| {
                let at = e
                    .last_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .or_else(|| e.event_time.as_ref().map(|t| t.0))
                    .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
                at.is_some_and(|t| t >= since)
            })
            .map(|e| {
                (
                    e.metadata.namespace.unwrap_or_default(),
                    e.metadata.name.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Every Warning Event now: uid → resourceVersion (a mark for [`Ctx::warnings_since_mark`]).
    pub async fn warning_mark(&self) -> Result<BTreeMap<String, String>, Stop> {
        let events: Api<Event> = Api::all(self.env.client());
        let list = events
            .list(&ListParams::default().fields("type=Warning"))
            .await?;
        Ok(list
            .items
            .into_iter()
            .map(|e| {
                (
                    e.metadata.uid.unwrap_or_default(),
                    e.metadata.resource_version.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Warning Events created or updated (a repeat counted) since `mark` was taken, in any
    /// namespace: `(namespace, name, reason, message)`.
    pub async fn warnings_since_mark(
        &self,
        mark: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String, String, String)>, Stop> {
        let events: Api<Event> = Api::all(self.env.client());
        let list = events
            .list(&ListParams::default().fields("type=Warning"))
            .await?;
        Ok(list
            .items
            .into_iter()
            .filter(|e| {
                let uid = e.metadata.uid.clone().unwrap_or_default();
                mark.get(&uid) != e.metadata.resource_version.as_ref()
            })
            .map(|e| {
                (
                    e.metadata.namespace.unwrap_or_default(),
                    e.metadata.name.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Polls until a Warning Event (since start) that the implementation wrote (mode `local`:
    /// by the audit log) satisfies `pred`; returns its message.
    pub async fn until_warning(
        &self,
        within: Duration,
        what: &str,
        pred: impl Fn(&str, &str) -> bool,
    ) -> Result<String, Stop> {
        let t0 = Instant::now();
        loop {
            let warnings = self.warnings_since_start().await?;
            for (ns, name, reason, message) in &warnings {
                if pred(reason, message) && self.written_by_implementation(ns, name)? {
                    return Ok(format!("{reason}: {message}"));
                }
            }
            if t0.elapsed() >= within {
                let seen: Vec<String> = warnings
                    .iter()
                    .map(|(ns, _, r, m)| format!("{ns}/{r}: {m}"))
                    .collect();
                fail!(
                    "no Warning Event by the implementation {what} within {:.0} s; Warning Events seen: [{}]",
                    within.as_secs_f64(),
                    seen.join(" | ")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
