//! Backoffs: between failed watch polls, and between failed reconciles of one namespace.

use std::time::Duration;

/// The backoff between failed watch polls of the controller's watches.
///
/// kube's default (0.8 s doubling to 30 s, reset only by a successful event) grows so far while
/// an API server restarts (connection errors, then one "too old resource version" per watch) that
/// the controller stays deaf for tens of seconds afterwards. A short cap keeps recovery within a
/// couple of seconds; relists are cheap next to a window without credentials.
#[derive(Debug)]
pub struct WatchBackoff {
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

/// Exponential backoff with jitter for the `failures`-th consecutive failure of one object:
/// `base · 2^(failures-1)`, capped at `max`, then a random 50–100 % of it, so that namespaces
/// failing together do not retry in lockstep.
pub fn failure_delay(failures: u32, base: Duration, max: Duration, unit_random: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let full = base.saturating_mul(1 << exponent).min(max);
    full.mul_f64(0.5 + 0.5 * unit_random.clamp(0.0, 1.0))
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

    #[test]
    fn failure_delay_doubles_caps_and_jitters_downwards_only() {
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(60);
        assert_eq!(failure_delay(1, base, max, 1.0), base);
        assert_eq!(failure_delay(1, base, max, 0.0), base / 2);
        assert_eq!(failure_delay(3, base, max, 1.0), base * 4);
        assert_eq!(failure_delay(40, base, max, 1.0), max);
        assert!(failure_delay(40, base, max, 0.3) < max);
        assert!(failure_delay(40, base, max, 0.3) >= max / 2);
    }
}
