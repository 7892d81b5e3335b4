//! Leader election on a `coordination.k8s.io/v1` Lease, so that two replicas never both write.
//!
//! The holder renews every `renew_every`; another replica takes over only after the Lease has
//! not been renewed for `lease_duration`. A leader that cannot renew within `lease_duration`
//! stops (the caller shuts the controller down) rather than risk a second writer.

use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};

/// Where the Lease lives and how long it lasts.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Namespace of the Lease (the refresher's own namespace).
    pub namespace: String,
    /// Lease name.
    pub name: String,
    /// This replica's identity (the Pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews.
    pub renew_every: Duration,
}

/// Acquires and holds a Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
}

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl LeaderElector {
    /// An elector for `settings`.
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
        }
    }

    /// Tries once to take or renew the Lease; `Ok(true)` when this replica holds it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let s = &self.settings;
        let duration_secs = s.lease_duration.as_secs().max(1) as i32;
        let Some(lease) = self.api.get_opt(&s.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(s.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(s.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now_micro()),
                    renew_time: Some(now_micro()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == s.identity;
        let expired = match &spec.renew_time {
            Some(renewed) => {
                let held_for = i64::from(spec.lease_duration_seconds.unwrap_or(duration_secs));
                let renewed_ms = renewed.0.as_millisecond();
                Utc::now().timestamp_millis() > renewed_ms + held_for * 1000
            }
            None => true,
        };
        if !ours && !holder.is_empty() && !expired {
            return Ok(false);
        }
        let mut updated = lease.clone();
        let mut new_spec = spec.clone();
        if !ours {
            new_spec.acquire_time = Some(now_micro());
            new_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        new_spec.holder_identity = Some(s.identity.clone());
        new_spec.lease_duration_seconds = Some(duration_secs);
        new_spec.renew_time = Some(now_micro());
        updated.spec = Some(new_spec);
        // replace carries the resourceVersion read: two contenders cannot both win.
        match self
            .api
            .replace(&s.name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, lease = %self.settings.name, "leader election")
                }
            }
            tokio::time::sleep(self.settings.renew_every).await;
        }
    }

    /// Keeps renewing; returns when leadership is lost or cannot be confirmed in time.
    pub async fn hold(&self) {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.settings.renew_every).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::warn!(lease = %self.settings.name, "leadership taken by another replica");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, lease = %self.settings.name, "cannot renew the Lease");
                    // Stop before another replica may consider the Lease expired.
                    if last_renewal.elapsed() + self.settings.renew_every
                        >= self.settings.lease_duration
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Gives the Lease up on shutdown so that a successor does not wait for it to expire.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.settings.identity.as_str())
        {
            spec.holder_identity = None;
            spec.renew_time = None;
            let _ = self
                .api
                .replace(&self.settings.name, &PostParams::default(), &lease)
                .await;
        }
    }
}
