//! Warning Events: those created since the scenario started or since a mark, and polling until
//! the implementation (by the audit log, in mode `local`) wrote one that matches.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};

use super::{Ctx, Stop, fail};

/// One Warning Event, as the scenarios judge it.
#[derive(Debug)]
pub struct Warning {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its reason.
    pub reason: String,
    /// Its message.
    pub message: String,
}

impl Warning {
    fn of(event: Event) -> Self {
        Self {
            namespace: event.metadata.namespace.unwrap_or_default(),
            name: event.metadata.name.unwrap_or_default(),
            reason: event.reason.unwrap_or_default(),
            message: event.message.unwrap_or_default(),
        }
    }

    /// `reason: message`, as failures and figures show it.
    pub fn said(&self) -> String {
        format!("{}: {}", self.reason, self.message)
    }
}

impl Ctx<'_> {
    /// Every Warning Event now, in any namespace.
    async fn warning_events(&self) -> Result<Vec<Event>, Stop> {
        let events: Api<Event> = Api::all(self.env.client());
        let list = events
            .list(&ListParams::default().fields("type=Warning"))
            .await?;
        Ok(list.items)
    }

    /// Every Warning Event now, in any namespace, that `keep` keeps.
    async fn warnings(&self, keep: impl Fn(&Event) -> bool) -> Result<Vec<Warning>, Stop> {
        let events = self.warning_events().await?;
        Ok(events
            .into_iter()
            .filter(|e| keep(e))
            .map(Warning::of)
            .collect())
    }

    /// Warning Events created since the scenario started, in any namespace.
    pub async fn warnings_since_start(&self) -> Result<Vec<Warning>, Stop> {
        let since = self.started_at - jiff::SignedDuration::from_secs(1);
        self.warnings(|e| {
            let at = e
                .last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or_else(|| e.event_time.as_ref().map(|t| t.0))
                .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
            at.is_some_and(|t| t >= since)
        })
        .await
    }

    /// Every Warning Event now: uid → resourceVersion (a mark for [`Ctx::warnings_since_mark`]).
    pub async fn warning_mark(&self) -> Result<BTreeMap<String, String>, Stop> {
        let events = self.warning_events().await?;
        Ok(events
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
    /// namespace.
    pub async fn warnings_since_mark(
        &self,
        mark: &BTreeMap<String, String>,
    ) -> Result<Vec<Warning>, Stop> {
        self.warnings(|e| {
            let uid = e.metadata.uid.clone().unwrap_or_default();
            mark.get(&uid) != e.metadata.resource_version.as_ref()
        })
        .await
    }

    /// The first of `warnings` that the implementation wrote (mode `local`: by the audit log) and
    /// `pred(reason, message)` accepts.
    pub fn by_implementation<'w>(
        &self,
        warnings: &'w [Warning],
        pred: impl Fn(&str, &str) -> bool,
    ) -> Result<Option<&'w Warning>, Stop> {
        for w in warnings {
            if pred(&w.reason, &w.message)
                && self.written_by_implementation(&w.namespace, &w.name)?
            {
                return Ok(Some(w));
            }
        }
        Ok(None)
    }

    /// Polls until a Warning Event (since start) that the implementation wrote (mode `local`:
    /// by the audit log) satisfies `pred`; returns its `reason: message`.
    pub async fn until_warning(
        &self,
        within: Duration,
        what: &str,
        pred: impl Fn(&str, &str) -> bool,
    ) -> Result<String, Stop> {
        let t0 = Instant::now();
        loop {
            let warnings = self.warnings_since_start().await?;
            if let Some(w) = self.by_implementation(&warnings, &pred)? {
                return Ok(w.said());
            }
            if t0.elapsed() >= within {
                let seen: Vec<String> = warnings
                    .iter()
                    .map(|w| format!("{}/{}", w.namespace, w.said()))
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
