//! Leader election on a `coordination.k8s.io/v1` Lease, so that two replicas never both write.
//!
//! As client-go does it: a candidate judges expiry by its own monotonic clock — the Lease is
//! expired when its record (holder, renewTime, resourceVersion) has not changed for
//! `lease_duration` since this replica *observed* it — so clock skew between replicas cannot make
//! two leaders. The leader renews every `retry_period`; every attempt, API calls included, must
//! finish before `renew_deadline` (shorter than the lease) counted from the start of the last
//! successful renewal, or the leader steps down. A hung API server therefore cannot keep a
//! leader past the point where another replica may take over.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::time::Instant;

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
    /// How long the leader keeps trying to renew before it steps down (< `lease_duration`).
    pub renew_deadline: Duration,
    /// Time between two attempts (to renew, or to acquire).
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// Settings for `lease_duration` with client-go's proportions (15 s lease: renew deadline
    /// 10 s, attempts every 2 s).
    pub fn for_lease_duration(
        namespace: String,
        name: String,
        identity: String,
        lease_duration: Duration,
    ) -> Self {
        Self {
            namespace,
            name,
            identity,
            lease_duration,
            renew_deadline: lease_duration.mul_f64(2.0 / 3.0),
            retry_period: (lease_duration / 7).max(Duration::from_millis(100)),
        }
    }
}

/// What this replica last saw of the Lease, and when (by its own clock).
#[derive(Clone, Debug, PartialEq)]
struct Record {
    holder: String,
    renew_time: Option<MicroTime>,
    resource_version: Option<String>,
    lease_duration: Duration,
}

/// Acquires and holds a Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    observed: Mutex<Option<(Record, Instant)>>,
}

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// Why an attempt did not give this replica the Lease.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    /// The API server refused or failed.
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// The attempt did not finish before its deadline.
    #[error("no answer from the API server within {0:?}")]
    Timeout(Duration),
}

impl LeaderElector {
    /// An elector for `settings`.
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: Mutex::new(None),
        }
    }

    fn observe(&self, record: Record, at: Instant) -> Instant {
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        match observed.as_ref() {
            Some((seen, since)) if *seen == record => *since,
            _ => {
                *observed = Some((record, at));
                at
            }
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
                Ok(created) => {
                    self.observe(record_of(&created), Instant::now());
                    Ok(true)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let record = record_of(&lease);
        let observed_since = self.observe(record.clone(), Instant::now());
        let ours = record.holder == s.identity;
        let expired =
            record.holder.is_empty() || observed_since + record.lease_duration <= Instant::now();
        if !ours && !expired {
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
            Ok(renewed) => {
                self.observe(record_of(&renewed), Instant::now());
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One attempt that gives up at `deadline`.
    async fn attempt_until(&self, deadline: Instant) -> Result<bool, ElectionError> {
        let budget = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ElectionError::Timeout(budget)),
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) {
        loop {
            let deadline = Instant::now() + self.settings.renew_deadline;
            match self.attempt_until(deadline).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, lease = %self.settings.name, "leader election")
                }
            }
            tokio::time::sleep(self.settings.retry_period).await;
        }
    }

    /// Keeps renewing; returns when leadership is lost or was not confirmed within the renew
    /// deadline. Call right after [`LeaderElector::acquire`].
    pub async fn hold(&self) {
        // A renewal counts from the moment it was sent: the API server may have written it then.
        let mut last_renewal_sent = Instant::now();
        loop {
            let deadline = last_renewal_sent + self.settings.renew_deadline;
            tokio::time::sleep_until((Instant::now() + self.settings.retry_period).min(deadline))
                .await;
            if Instant::now() >= deadline {
                tracing::warn!(lease = %self.settings.name, "Lease not renewed within the renew deadline; stepping down");
                return;
            }
            let sent = Instant::now();
            match self.attempt_until(deadline).await {
                Ok(true) => last_renewal_sent = sent,
                Ok(false) => {
                    tracing::warn!(lease = %self.settings.name, "leadership taken by another replica");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, lease = %self.settings.name, "cannot renew the Lease");
                }
            }
        }
    }

    /// Gives the Lease up on shutdown so that a successor does not wait for it to expire.
    pub async fn release(&self) {
        let release = async {
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
        };
        let _ = tokio::time::timeout(self.settings.retry_period * 2, release).await;
    }
}

fn record_of(lease: &Lease) -> Record {
    let spec = lease.spec.clone().unwrap_or_default();
    Record {
        holder: spec.holder_identity.unwrap_or_default(),
        renew_time: spec.renew_time,
        resource_version: lease.metadata.resource_version.clone(),
        lease_duration: Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_end_well_inside_the_lease() {
        let s = LeaseSettings::for_lease_duration(
            "ns".into(),
            "l".into(),
            "me".into(),
            Duration::from_secs(15),
        );
        assert_eq!(s.renew_deadline, Duration::from_secs(10));
        assert!(s.retry_period * 2 < s.renew_deadline);
        let short = LeaseSettings::for_lease_duration(
            "ns".into(),
            "l".into(),
            "me".into(),
            Duration::from_secs(3),
        );
        assert!(short.renew_deadline < short.lease_duration);
        assert!(short.retry_period < short.renew_deadline);
    }
}
