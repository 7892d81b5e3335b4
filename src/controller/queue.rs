//! The work queue of namespaces to reconcile: each namespace at most once queued and once
//! running; changes seen by the watches ahead of bulk rollouts (a renewal, a configuration edit),
//! after a short debounce; delayed requeues (after a conflict or a failure).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Which lane a namespace waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Something changed in the namespace (or a write there must be retried): served first.
    Change,
    /// A rollout to many namespaces: served when no change is waiting.
    Bulk,
}

#[derive(Default)]
struct State {
    changes: VecDeque<(String, Instant)>,
    bulk: VecDeque<String>,
    queued: HashMap<String, Lane>,
    running: HashSet<String>,
    again: HashMap<String, Lane>,
    delayed: BTreeMap<(Instant, u64), (String, Lane)>,
    failures: HashMap<String, u32>,
    sequence: u64,
    closed: bool,
}

impl State {
    fn add(&mut self, ns: &str, lane: Lane, debounce: Duration) -> bool {
        if self.running.contains(ns) {
            let entry = self.again.entry(ns.to_owned()).or_insert(lane);
            if lane == Lane::Change {
                *entry = Lane::Change;
            }
            return false;
        }
        match (self.queued.get(ns), lane) {
            (Some(Lane::Change), _) | (Some(Lane::Bulk), Lane::Bulk) => return false,
            _ => {}
        }
        // A namespace moved from the bulk lane leaves a stale entry there; `pop` skips it.
        self.queued.insert(ns.to_owned(), lane);
        match lane {
            Lane::Change => self
                .changes
                .push_back((ns.to_owned(), Instant::now() + debounce)),
            Lane::Bulk => self.bulk.push_back(ns.to_owned()),
        }
        true
    }

    /// The next namespace ready to run, or when to look again.
    fn pop(&mut self, now: Instant, debounce: Duration) -> Result<String, Option<Instant>> {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (ns, lane) = entry.remove();
            self.add(&ns, lane, debounce);
        }
        let mut wake = self.delayed.keys().next().map(|(at, _)| *at);
        while let Some((ns, ready)) = self.changes.front() {
            if self.queued.get(ns) != Some(&Lane::Change) {
                self.changes.pop_front();
                continue;
            }
            if *ready > now {
                wake = Some(wake.map_or(*ready, |w| w.min(*ready)));
                break;
            }
            let (ns, _) = self.changes.pop_front().expect("front exists");
            return Ok(self.start(ns));
        }
        while let Some(ns) = self.bulk.pop_front() {
            if self.queued.get(&ns) == Some(&Lane::Bulk) {
                return Ok(self.start(ns));
            }
        }
        Err(wake)
    }

    fn start(&mut self, ns: String) -> String {
        self.queued.remove(&ns);
        self.running.insert(ns.clone());
        ns
    }

    fn has_ready(&self) -> bool {
        !self.bulk.is_empty() || !self.changes.is_empty()
    }
}

/// The queue; shared behind an `Arc` by the watches (producers) and the workers.
pub struct WorkQueue {
    state: Mutex<State>,
    wake: Notify,
    debounce: Duration,
}

impl WorkQueue {
    /// A queue whose changes wait `debounce` (repeats within it are one reconcile).
    pub fn new(debounce: Duration) -> Self {
        Self {
            state: Mutex::default(),
            wake: Notify::new(),
            debounce,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `ns` in `lane` (a queued or running namespace is not queued twice).
    pub fn add(&self, ns: &str, lane: Lane) {
        if self.state().add(ns, lane, self.debounce) {
            self.wake.notify_one();
        }
    }

    /// Queues `ns` in `lane` after `delay`.
    pub fn add_after(&self, ns: &str, lane: Lane, delay: Duration) {
        {
            let mut state = self.state();
            state.sequence += 1;
            let key = (Instant::now() + delay, state.sequence);
            state.delayed.insert(key, (ns.to_owned(), lane));
        }
        self.wake.notify_one();
    }

    /// Waits for the next namespace to reconcile; `None` once the queue is closed.
    pub async fn next(&self) -> Option<String> {
        loop {
            let notified = self.wake.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut state = self.state();
                if state.closed {
                    return None;
                }
                match state.pop(Instant::now(), self.debounce) {
                    Ok(ns) => {
                        if state.has_ready() {
                            self.wake.notify_one();
                        }
                        return Some(ns);
                    }
                    Err(wake_at) => wake_at,
                }
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// `ns` finished; `Ok` resets its failure count, `Err` counts one more failure and returns
    /// how many in a row. A change seen while it ran queues it again.
    pub fn done(&self, ns: &str, succeeded: bool) -> u32 {
        let mut state = self.state();
        state.running.remove(ns);
        let failures = if succeeded {
            state.failures.remove(ns);
            0
        } else {
            let failures = state.failures.entry(ns.to_owned()).or_default();
            *failures += 1;
            *failures
        };
        if let Some(lane) = state.again.remove(ns)
            && state.add(ns, lane, self.debounce)
        {
            self.wake.notify_one();
        }
        failures
    }

    /// Stops handing out work; every `next` returns `None`.
    pub fn close(&self) {
        self.state().closed = true;
        self.wake.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> WorkQueue {
        WorkQueue::new(Duration::ZERO)
    }

    async fn take(queue: &WorkQueue) -> String {
        tokio::time::timeout(Duration::from_secs(5), queue.next())
            .await
            .expect("work within the deadline")
            .expect("queue open")
    }

    #[tokio::test]
    async fn changes_overtake_a_bulk_rollout_and_nothing_is_queued_twice() {
        let queue = queue();
        for ns in ["a", "b", "c"] {
            queue.add(ns, Lane::Bulk);
        }
        queue.add("b", Lane::Bulk);
        queue.add("new", Lane::Change);
        queue.add("new", Lane::Change);
        queue.add("c", Lane::Change);
        let order = [
            take(&queue).await,
            take(&queue).await,
            take(&queue).await,
            take(&queue).await,
        ];
        assert_eq!(order, ["new", "c", "a", "b"]);
        assert!(queue.state().queued.is_empty());
        assert!(queue.state().pop(Instant::now(), Duration::ZERO).is_err());
    }

    #[tokio::test]
    async fn a_change_while_running_runs_again_after_it_finishes() {
        let queue = queue();
        queue.add("a", Lane::Bulk);
        assert_eq!(take(&queue).await, "a");
        queue.add("a", Lane::Change);
        assert!(queue.state().pop(Instant::now(), Duration::ZERO).is_err());
        assert_eq!(queue.done("a", false), 1);
        assert_eq!(take(&queue).await, "a");
        assert_eq!(queue.done("a", false), 2);
        assert_eq!(queue.done("a", true), 0);
    }

    #[tokio::test]
    async fn delayed_work_waits_for_its_time_and_debounce_merges_repeats() {
        let queue = WorkQueue::new(Duration::from_millis(100));
        queue.add_after("later", Lane::Change, Duration::from_millis(300));
        queue.add("soon", Lane::Change);
        queue.add("soon", Lane::Change);
        let started = Instant::now();
        assert_eq!(take(&queue).await, "soon");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(take(&queue).await, "later");
        assert!(started.elapsed() >= Duration::from_millis(300));
        queue.close();
        assert_eq!(queue.next().await, None);
    }
}
