//! The retry policy every retry loop of the refresher follows: exponential delays from `initial`
//! by `factor` up to `cap`, a jitter, and how many tries a loop makes.

use std::time::Duration;

/// How much of a delay is random, so that clients failing together do not retry in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the scheduled delay.
    None,
    /// A random 50–100 % of the scheduled delay: never later than scheduled.
    LowerHalf,
    /// A random 100–150 % of the scheduled delay: never sooner than scheduled.
    UpperHalf,
}

/// A retry schedule: after the n-th consecutive failure, wait `initial · factor^(n-1)` (at most
/// `cap`), jittered; give up after `max_tries` tries (`None`: never).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failure.
    pub initial: Duration,
    /// How much each further failure multiplies the delay by.
    pub factor: u32,
    /// The largest delay, before jitter.
    pub cap: Duration,
    /// The random part of each delay.
    pub jitter: Jitter,
    /// Tries in all (the first included), or `None` for a loop that never gives up.
    pub max_tries: Option<u32>,
}

impl RetryPolicy {
    /// Doubling from `initial` to `cap`, a random 50–100 % of each delay, never giving up.
    pub fn doubling(initial: Duration, cap: Duration) -> Self {
        Self {
            initial,
            factor: 2,
            cap,
            jitter: Jitter::LowerHalf,
            max_tries: None,
        }
    }

    /// The same policy giving up after `tries` tries (at least one).
    pub fn with_max_tries(self, tries: u32) -> Self {
        Self {
            max_tries: Some(tries.max(1)),
            ..self
        }
    }

    /// The same policy with another jitter.
    pub fn with_jitter(self, jitter: Jitter) -> Self {
        Self { jitter, ..self }
    }

    /// Whether another try may follow `tries` tries that all failed.
    pub fn retries_after(&self, tries: u32) -> bool {
        self.max_tries.is_none_or(|max| tries < max)
    }

    /// The delay after the `failures`-th consecutive failure (1 for the first), before jitter.
    pub fn scheduled(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1);
        self.factor
            .checked_pow(exponent)
            .map_or(self.cap, |f| self.initial.saturating_mul(f))
            .min(self.cap)
    }

    /// The delay after the `failures`-th consecutive failure, jittered by `unit_random` (0..=1).
    pub fn delay_with(&self, failures: u32, unit_random: f64) -> Duration {
        let scheduled = self.scheduled(failures);
        let half = scheduled / 2;
        let random = half.mul_f64(unit_random.clamp(0.0, 1.0));
        match self.jitter {
            Jitter::None => scheduled,
            Jitter::LowerHalf => scheduled - half + random,
            Jitter::UpperHalf => scheduled + random,
        }
    }

    /// The delay after the `failures`-th consecutive failure, randomly jittered.
    pub fn delay(&self, failures: u32) -> Duration {
        self.delay_with(failures, rand::random())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let policy = RetryPolicy::doubling(500 * MS, 20_000 * MS).with_jitter(Jitter::None);
        let schedule: Vec<u128> = (1..=8).map(|n| policy.delay(n).as_millis()).collect();
        assert_eq!(schedule, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
        let tripling = RetryPolicy {
            factor: 3,
            ..policy
        };
        assert_eq!(tripling.scheduled(3), 4500 * MS);
        // Huge failure counts saturate at the cap instead of overflowing.
        assert_eq!(policy.scheduled(u32::MAX), policy.cap);
        assert_eq!(policy.scheduled(0), policy.initial);
    }

    #[test]
    fn jitter_stays_within_its_half() {
        let policy = RetryPolicy::doubling(400 * MS, 60_000 * MS);
        assert_eq!(policy.delay_with(1, 1.0), 400 * MS);
        assert_eq!(policy.delay_with(1, 0.0), 200 * MS);
        assert_eq!(policy.delay_with(2, 0.5), 600 * MS);
        let upper = policy.with_jitter(Jitter::UpperHalf);
        assert_eq!(upper.delay_with(1, 0.0), 400 * MS);
        assert_eq!(upper.delay_with(1, 1.0), 600 * MS);
        // Out-of-range randomness is clamped, never a delay outside the band.
        assert_eq!(upper.delay_with(1, 7.0), 600 * MS);
        for n in 1..30 {
            let d = policy.delay(n);
            assert!(
                d >= policy.scheduled(n) / 2 && d <= policy.scheduled(n),
                "{n}: {d:?}"
            );
        }
    }

    #[test]
    fn max_tries_bounds_the_loop() {
        let policy = RetryPolicy::doubling(MS, MS).with_max_tries(3);
        assert!(policy.retries_after(1));
        assert!(policy.retries_after(2));
        assert!(!policy.retries_after(3));
        assert!(
            !RetryPolicy::doubling(MS, MS)
                .with_max_tries(0)
                .retries_after(1)
        );
        assert!(RetryPolicy::doubling(MS, MS).retries_after(u32::MAX - 1));
    }
}
