//! The ACR token cache: one token per (edition, region, instance), renewed before it expires.
//!
//! Rules:
//! - a token is renewed when less than `expiring_threshold` of its life is left;
//! - renewals are single-flight per key: however many namespaces ask at once, one ACR call is made;
//! - a failed renewal never evicts a token that is still valid — it is served until it expires;
//! - renewal attempts of one key are at least `min_renewal_interval` apart after a success and back
//!   off exponentially (with jitter) after failures, so a threshold at or above the token lifetime
//!   cannot turn into a hot loop against ACR.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;

use crate::acr::{AcrError, RegistryToken, TokenKey};
use crate::retry::RetryPolicy;

/// Fetches a fresh token from ACR; the cache calls it at most once per key at a time.
pub type FetchToken =
    Arc<dyn Fn(TokenKey) -> BoxFuture<'static, Result<RegistryToken, AcrError>> + Send + Sync>;

/// The current time; a parameter so that tests can move time.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How often renewals may be attempted.
#[derive(Clone, Debug)]
pub struct RenewalPolicy {
    /// Minimum time between two successful renewals of one key (bounds T ≥ L).
    pub min_renewal_interval: Duration,
    /// First wait after a failed renewal; doubled per consecutive failure.
    pub retry_base: Duration,
    /// Upper bound of the wait after failures.
    pub retry_max: Duration,
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        Self {
            min_renewal_interval: Duration::from_secs(10),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
        }
    }
}

/// What a lookup returns: the token to use and when the cache wants to be asked again.
#[derive(Clone, Debug)]
pub struct TokenLookup {
    /// A token valid at lookup time.
    pub token: RegistryToken,
    /// When this key's token should be renewed (or the renewal retried).
    pub renew_at: Timestamp,
    /// Set when the last renewal failed and a still-valid older token is being served.
    pub renewal_error: Option<Arc<AcrError>>,
}

/// Why no valid token could be returned.
#[derive(Clone, Debug, thiserror::Error)]
#[error("no valid ACR token for {key}: {source}")]
pub struct TokenUnavailable {
    /// The token that could not be obtained.
    pub key: TokenKey,
    /// The last ACR failure for that key.
    #[source]
    pub source: Arc<AcrError>,
    /// When the cache will try ACR again.
    pub retry_at: Timestamp,
}

/// Observes renewals, for metrics.
pub trait RenewalObserver: Send + Sync {
    /// A renewal of `key` succeeded with a token expiring at `expires_at`.
    fn renewed(&self, key: &TokenKey, expires_at: Timestamp);
    /// A renewal of `key` failed.
    fn renewal_failed(&self, key: &TokenKey, error: &AcrError);
}

struct NoObserver;
impl RenewalObserver for NoObserver {
    fn renewed(&self, _: &TokenKey, _: Timestamp) {}
    fn renewal_failed(&self, _: &TokenKey, _: &AcrError) {}
}

#[derive(Default)]
struct Slot {
    token: Option<RegistryToken>,
    /// No ACR call for this key before this instant.
    next_attempt_at: Option<Timestamp>,
    consecutive_failures: u32,
    last_error: Option<Arc<AcrError>>,
}

/// Caches ACR tokens per [`TokenKey`]; cheap to clone and share.
#[derive(Clone)]
pub struct TokenCache {
    fetch: FetchToken,
    clock: Clock,
    policy: RenewalPolicy,
    observer: Arc<dyn RenewalObserver>,
    slots: Arc<Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<Slot>>>>>,
}

impl TokenCache {
    /// A cache that fetches with `fetch` and reads the wall clock.
    pub fn new(fetch: FetchToken, policy: RenewalPolicy) -> Self {
        Self {
            fetch,
            clock: Arc::new(Timestamp::now),
            policy,
            observer: Arc::new(NoObserver),
            slots: Arc::default(),
        }
    }

    /// Replaces the clock (tests move time with it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Reports renewals and failures to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn RenewalObserver>) -> Self {
        self.observer = observer;
        self
    }

    fn slot(&self, key: &TokenKey) -> Arc<tokio::sync::Mutex<Slot>> {
        // Poisoning only happens if a thread panicked while holding this short lock; the map
        // itself is still consistent then, so keep using it.
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(key.clone()).or_default().clone()
    }

    /// Returns a valid token for `key`, renewing it first if less than `expiring_threshold` is left.
    pub async fn get(
        &self,
        key: &TokenKey,
        expiring_threshold: Duration,
    ) -> Result<TokenLookup, TokenUnavailable> {
        let threshold = to_signed(expiring_threshold);
        let slot = self.slot(key);
        // Holding the per-key lock across the ACR call is what makes renewals single-flight:
        // concurrent callers wait here and then find the fresh token.
        let mut slot = slot.lock().await;
        let now = (self.clock)();
        let valid = |s: &Slot| s.token.as_ref().filter(|t| t.expires_at > now).cloned();

        if let Some(token) = valid(&slot)
            && token.expires_at.duration_since(now) > threshold
        {
            let renew_at = self.renew_at(&slot, &token, threshold);
            return Ok(TokenLookup {
                token,
                renew_at,
                renewal_error: None,
            });
        }

        if let Some(not_before) = slot.next_attempt_at
            && now < not_before
        {
            return match valid(&slot) {
                Some(token) => Ok(TokenLookup {
                    renew_at: self.renew_at(&slot, &token, threshold),
                    renewal_error: slot.last_error.clone(),
                    token,
                }),
                None => Err(TokenUnavailable {
                    key: key.clone(),
                    source: slot.last_error.clone().unwrap_or_else(|| {
                        Arc::new(AcrError::Throttled {
                            retry_at: not_before,
                        })
                    }),
                    retry_at: not_before,
                }),
            };
        }

        match (self.fetch)(key.clone()).await {
            Ok(token) => {
                self.observer.renewed(key, token.expires_at);
                slot.consecutive_failures = 0;
                slot.last_error = None;
                slot.next_attempt_at = Some(now + to_signed(self.policy.min_renewal_interval));
                slot.token = Some(token.clone());
                let renew_at = self.renew_at(&slot, &token, threshold);
                Ok(TokenLookup {
                    token,
                    renew_at,
                    renewal_error: None,
                })
            }
            Err(error) => {
                self.observer.renewal_failed(key, &error);
                let error = Arc::new(error);
                slot.consecutive_failures = slot.consecutive_failures.saturating_add(1);
                let retry_at = now + to_signed(self.retry_delay(slot.consecutive_failures));
                slot.next_attempt_at = Some(retry_at);
                slot.last_error = Some(error.clone());
                match valid(&slot) {
                    Some(token) => Ok(TokenLookup {
                        renew_at: self.renew_at(&slot, &token, threshold),
                        renewal_error: Some(error),
                        token,
                    }),
                    None => Err(TokenUnavailable {
                        key: key.clone(),
                        source: error,
                        retry_at,
                    }),
                }
            }
        }
    }

    /// The token currently held for `key`, without renewing (for inspection and metrics).
    pub async fn peek(&self, key: &TokenKey) -> Option<RegistryToken> {
        self.slot(key).lock().await.token.clone()
    }

    fn renew_at(
        &self,
        slot: &Slot,
        token: &RegistryToken,
        threshold: jiff::SignedDuration,
    ) -> Timestamp {
        let due = token.expires_at - threshold;
        match slot.next_attempt_at {
            Some(not_before) if not_before > due => not_before,
            _ => due,
        }
    }

    fn retry_delay(&self, failures: u32) -> Duration {
        // Jitter spreads retries of many replicas/keys without ever retrying sooner than half
        // the scheduled delay.
        RetryPolicy::doubling(self.policy.retry_base, self.policy.retry_max).delay(failures)
    }
}

fn to_signed(duration: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(duration).unwrap_or(jiff::SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Script {
        calls: AtomicUsize,
        now: Mutex<Timestamp>,
        fail: Mutex<bool>,
        lifetime: jiff::SignedDuration,
    }

    fn cache(lifetime_secs: i64) -> (TokenCache, Arc<Script>) {
        let script = Arc::new(Script {
            calls: AtomicUsize::new(0),
            now: Mutex::new(Timestamp::from_second(1_800_000_000).unwrap()),
            fail: Mutex::new(false),
            lifetime: jiff::SignedDuration::from_secs(lifetime_secs),
        });
        let s = script.clone();
        let fetch: FetchToken = Arc::new(move |key: TokenKey| {
            let s = s.clone();
            Box::pin(async move {
                let n = s.calls.fetch_add(1, Ordering::SeqCst) + 1;
                // Yield so that concurrent callers really overlap with the call in flight.
                tokio::task::yield_now().await;
                if *s.fail.lock().unwrap() {
                    return Err(AcrError::Api {
                        action: "GetAuthorizationToken".into(),
                        endpoint: format!("cr.{}.aliyuncs.com", key.region),
                        status: 503,
                        code: "ServiceUnavailable".into(),
                        message: "scripted".into(),
                        request_id: None,
                    });
                }
                Ok(RegistryToken {
                    username: "cr_temp_user".into(),
                    password: format!("password-{n}"),
                    expires_at: *s.now.lock().unwrap() + s.lifetime,
                })
            })
        });
        let s = script.clone();
        let clock: Clock = Arc::new(move || *s.now.lock().unwrap());
        let policy = RenewalPolicy {
            min_renewal_interval: Duration::from_secs(10),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(30),
        };
        (TokenCache::new(fetch, policy).with_clock(clock), script)
    }

    fn advance(script: &Script, secs: i64) {
        *script.now.lock().unwrap() += jiff::SignedDuration::from_secs(secs);
    }

    const T: Duration = Duration::from_secs(900);

    #[tokio::test]
    async fn a_fresh_token_is_reused_until_the_threshold() {
        let (cache, script) = cache(3600);
        let key = TokenKey::personal("cn-hangzhou");
        let first = cache.get(&key, T).await.unwrap();
        assert_eq!(first.token.password, "password-1");
        assert_eq!(
            first.renew_at,
            first.token.expires_at - jiff::SignedDuration::from_secs(900)
        );
        advance(&script, 3600 - 900 - 1);
        assert_eq!(
            cache.get(&key, T).await.unwrap().token.password,
            "password-1"
        );
        assert_eq!(script.calls.load(Ordering::SeqCst), 1);
        advance(&script, 2);
        assert_eq!(
            cache.get(&key, T).await.unwrap().token.password,
            "password-2"
        );
        assert_eq!(script.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_lookups_make_one_acr_call_per_key() {
        let (cache, script) = cache(3600);
        let hangzhou = TokenKey::personal("cn-hangzhou");
        let beijing = TokenKey::enterprise("cn-beijing", "cri-1");
        let lookups = (0..50).map(|i| {
            let cache = cache.clone();
            let key = if i % 2 == 0 {
                hangzhou.clone()
            } else {
                beijing.clone()
            };
            tokio::spawn(async move { cache.get(&key, T).await.map(|l| l.token.password) })
        });
        let results = futures::future::join_all(lookups).await;
        assert!(results.iter().all(|r| matches!(r, Ok(Ok(_)))));
        assert_eq!(script.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_renewal_keeps_serving_the_valid_token() {
        let (cache, script) = cache(3600);
        let key = TokenKey::personal("cn-hangzhou");
        cache.get(&key, T).await.unwrap();
        advance(&script, 3000); // inside the threshold window, still valid
        *script.fail.lock().unwrap() = true;
        let lookup = cache.get(&key, T).await.unwrap();
        assert_eq!(lookup.token.password, "password-1");
        assert!(lookup.renewal_error.is_some());
        // The retry is scheduled after the backoff, not immediately.
        assert!(lookup.renew_at > *script.now.lock().unwrap());
        // Once expired, the failure surfaces as an error.
        advance(&script, 601);
        let error = cache.get(&key, T).await.unwrap_err();
        assert_eq!(error.key, key);
        // Recovery.
        *script.fail.lock().unwrap() = false;
        advance(&script, 31);
        assert_eq!(
            cache.get(&key, T).await.unwrap().token.password,
            "password-4"
        );
    }

    #[tokio::test]
    async fn failures_back_off_instead_of_calling_acr_on_every_lookup() {
        let (cache, script) = cache(3600);
        *script.fail.lock().unwrap() = true;
        let key = TokenKey::personal("cn-hangzhou");
        for _ in 0..20 {
            assert!(cache.get(&key, T).await.is_err());
        }
        assert_eq!(script.calls.load(Ordering::SeqCst), 1);
        advance(&script, 2); // at least base/2 = 1 s, at most 2 s
        assert!(cache.get(&key, T).await.is_err());
        assert_eq!(script.calls.load(Ordering::SeqCst), 2);
        let error = cache.get(&key, T).await.unwrap_err();
        assert!(error.retry_at > *script.now.lock().unwrap());
    }

    #[tokio::test]
    async fn a_threshold_above_the_lifetime_does_not_hot_loop() {
        let (cache, script) = cache(60);
        let key = TokenKey::personal("cn-hangzhou");
        let first = cache.get(&key, T).await.unwrap();
        // The renewal is bounded by the minimum interval, not "now".
        assert_eq!(
            first.renew_at,
            *script.now.lock().unwrap() + jiff::SignedDuration::from_secs(10)
        );
        for _ in 0..100 {
            cache.get(&key, T).await.unwrap();
        }
        assert_eq!(script.calls.load(Ordering::SeqCst), 1);
        advance(&script, 10);
        assert_eq!(
            cache.get(&key, T).await.unwrap().token.password,
            "password-2"
        );
        assert_eq!(script.calls.load(Ordering::SeqCst), 2);
    }
}
