//! The pool of local control planes of one process: while a pool session is open (each test of a
//! binary opens one, see [`crate::testing`]), a lane that has no scenario left gives its control
//! plane back — reset as between scenarios, so the next user sees a clean cluster — instead of
//! stopping it, and the next lane to start in this process takes it instead of starting one.
//! When the last session ends and no other opens within its linger, every pooled plane is
//! stopped, so no control-plane process outlives the tests. Without a session (the CLI) nothing
//! is pooled: lanes stop their planes as they always did.
//!
//! Only plain planes are pooled: mode `local` without a node (a node's kubelet and network
//! namespace belong to one run). A plane whose API server a scenario restarted (FT6) is pooled
//! like any other: same arguments, same port, same etcd, as later scenarios of its lane already
//! see it. Idle planes are capped at `--jobs`' default, the number of planes the machine holds.

use std::io::Write as _;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cluster::ControlPlane;
use crate::environment::Environment;
use crate::sweep::Baseline;

/// How long a pooled plane gets to prove it is still ready when taken.
const TAKE_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the reset before a plane is pooled may take.
const RESET_TIMEOUT: Duration = Duration::from_secs(60);

/// A control plane waiting in the pool, with what the next run on it needs.
pub(crate) struct Pooled {
    pub(crate) plane: ControlPlane,
    /// Pull Secrets and entries that were there before its first scenario.
    pub(crate) baseline: Option<Baseline>,
    /// The implementation's kubeconfig, minted when the plane started.
    pub(crate) implementation_kubeconfig: std::path::PathBuf,
}

struct State {
    idle: Vec<Pooled>,
    sessions: usize,
    /// Counts sessions ever opened, so a lingering last session sees that another came and went.
    opened: u64,
    /// Planes the runner started, and how many times one was taken from the pool instead.
    started: usize,
    taken: usize,
}

static STATE: Mutex<State> = Mutex::new(State {
    idle: Vec::new(),
    sessions: 0,
    opened: 0,
    started: 0,
    taken: 0,
});
static SESSION_OPENED: Condvar = Condvar::new();

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Planes started by lanes in this process and planes taken from the pool, so far.
pub fn figures() -> (usize, usize) {
    let state = state();
    (state.started, state.taken)
}

/// An open pool session: planes are pooled while one is open. When the last one is dropped it
/// waits up to its linger for another session to open; if none does, it stops every pooled
/// plane (blocking: drop it outside async code).
#[must_use = "planes are pooled only while the session is held"]
pub struct Session {
    linger: Duration,
}

impl Session {
    /// Opens a session. `linger`: how long the last session to end waits for the next one
    /// (e.g. the next test of the binary) before stopping the pooled planes.
    pub fn open(linger: Duration) -> Self {
        let mut state = state();
        state.sessions += 1;
        state.opened += 1;
        SESSION_OPENED.notify_all();
        Session { linger }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut state = state();
        state.sessions -= 1;
        if state.sessions > 0 {
            return;
        }
        let opened = state.opened;
        let deadline = Instant::now() + self.linger;
        while state.opened == opened {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = SESSION_OPENED
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        // A session opened meanwhile: whoever ends last stops the planes.
        if state.opened != opened {
            return;
        }
        let idle = std::mem::take(&mut state.idle);
        let (started, taken) = (state.started, state.taken);
        drop(state);
        // Written past the test harness's output capture: how much the pool saved shows in logs.
        let _ = writeln!(
            std::io::stderr(),
            "acr-conformance: control-plane pool: {started} plane(s) started, {taken} taken from the pool; stopping {} idle",
            idle.len()
        );
        stop(idle);
    }
}

/// Stops planes side by side (each waits for its processes to exit).
fn stop(planes: Vec<Pooled>) {
    std::thread::scope(|scope| {
        for pooled in planes {
            scope.spawn(move || drop(pooled));
        }
    });
}

/// Counts a plane a lane started (for [`figures`]).
pub(crate) fn note_started() {
    state().started += 1;
}

/// A pooled plane as a lane's environment, ready and with a fresh client; `None` when no
/// session is open or none is idle (a plane that is no longer ready is stopped and the next
/// tried).
pub(crate) async fn take() -> Option<Environment> {
    loop {
        let mut pooled = {
            let mut state = state();
            if state.sessions == 0 {
                return None;
            }
            state.idle.pop()?
        };
        let ready = tokio::time::timeout(
            TAKE_READY_TIMEOUT,
            pooled.plane.reconnect(TAKE_READY_TIMEOUT),
        )
        .await;
        match ready {
            Ok(Ok(())) => {
                state().taken += 1;
                return Some(Environment::from_pooled(pooled));
            }
            Ok(Err(e)) => eprintln!("acr-conformance: a pooled control plane is not ready: {e}"),
            Err(_) => eprintln!(
                "acr-conformance: a pooled control plane did not answer within {TAKE_READY_TIMEOUT:?}"
            ),
        }
        drop_blocking(pooled).await;
    }
}

/// Gives a lane's environment back: pooled after a reset when a session is open, the plane is
/// plain and the pool has room; otherwise stopped.
pub(crate) async fn give_back(mut env: Environment) {
    let wanted = {
        let state = state();
        state.sessions > 0 && state.idle.len() < crate::schedule::lane_budget()
    };
    if !wanted || !env.poolable() {
        drop_blocking(env).await;
        return;
    }
    match tokio::time::timeout(RESET_TIMEOUT, env.reset()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("acr-conformance: not pooling a control plane whose reset failed: {e}");
            drop_blocking(env).await;
            return;
        }
        Err(_) => {
            eprintln!(
                "acr-conformance: not pooling a control plane whose reset took over {RESET_TIMEOUT:?}"
            );
            drop_blocking(env).await;
            return;
        }
    }
    let pooled = match env.into_pooled() {
        Ok(pooled) => pooled,
        Err(env) => {
            drop_blocking(env).await;
            return;
        }
    };
    let refused = {
        let mut state = state();
        if state.sessions > 0 && state.idle.len() < crate::schedule::lane_budget() {
            state.idle.push(pooled);
            None
        } else {
            Some(pooled)
        }
    };
    if let Some(pooled) = refused {
        drop_blocking(pooled).await;
    }
}

/// Drops off the async threads: stopping a control plane waits for its processes.
async fn drop_blocking<T: Send + 'static>(value: T) {
    let _ = tokio::task::spawn_blocking(move || drop(value)).await;
}
