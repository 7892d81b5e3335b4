//! The backoff between failed watch polls of the controller's watches, as kube's watcher asks
//! for it (an iterator that can be reset).

use std::time::Duration;

use crate::retry::{Jitter, RetryPolicy};

/// The backoff between failed watch polls of the controller's watches.
///
/// kube's default (0.8 s doubling to 30 s, reset only by a successful event) grows so far while
/// an API server restarts (connection errors, then one "too old resource version" per watch) that
/// the controller stays deaf for tens of seconds afterwards. A short cap keeps recovery within a
/// couple of seconds; relists are cheap next to a window without credentials.
#[derive(Debug, Default)]
pub struct WatchBackoff {
    failures: u32,
}

impl WatchBackoff {
    const POLICY: RetryPolicy = RetryPolicy {
        initial: Duration::from_millis(200),
        factor: 2,
        cap: Duration::from_secs(2),
        jitter: Jitter::None,
        max_tries: None,
    };
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        Some(Self::POLICY.delay(self.failures))
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.failures = 0;
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
        assert_eq!(first[0], WatchBackoff::POLICY.initial);
        assert_eq!(first[1], WatchBackoff::POLICY.initial * 2);
        assert!(first.iter().all(|d| *d <= WatchBackoff::POLICY.cap));
        assert_eq!(first[5], WatchBackoff::POLICY.cap);
        backoff.reset();
        assert_eq!(backoff.next(), Some(WatchBackoff::POLICY.initial));
    }
}
