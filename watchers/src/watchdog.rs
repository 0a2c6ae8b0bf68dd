//! Telling a reload stuck in a hung filesystem from one that is merely
//! running: the driver marks each reload's start and end; a watchdog thread,
//! asleep unless a reload runs, tells the observer once when one has run for
//! longer than `stuck_after`, and again when it finally ends. Serving goes on
//! meanwhile: readers read the last published config, which needs no I/O.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::Observer;

/// The reload running now, shared by the driver, the watchdog and `Watch`.
#[derive(Default)]
pub(crate) struct Watchdog {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// When the reload running now started.
    running: Option<Instant>,
    stopped: bool,
}

impl Watchdog {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks a reload as running until the guard is dropped.
    pub(crate) fn start(&self) -> Running<'_> {
        self.lock().running = Some(Instant::now());
        self.wake.notify_all();
        Running(self)
    }

    /// How long the reload running now has been running.
    pub(crate) fn running_for(&self) -> Option<Duration> {
        self.lock().running.map(|started| started.elapsed())
    }

    /// Ends [`Watchdog::watch`].
    pub(crate) fn stop(&self) {
        self.lock().stopped = true;
        self.wake.notify_all();
    }

    /// The watchdog thread's body: until stopped, reports each reload that
    /// runs longer than `stuck_after`, once, and its end.
    pub(crate) fn watch(&self, stuck_after: Duration, observer: &Arc<dyn Observer>) {
        let mut state = self.lock();
        loop {
            state = self
                .wake
                .wait_while(state, |state| state.running.is_none() && !state.stopped)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let Some(started) = state.running.filter(|_| !state.stopped) else {
                return;
            };
            let (waited, timeout) = self
                .wake
                .wait_timeout_while(state, stuck_after, |state| {
                    state.running == Some(started) && !state.stopped
                })
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state = waited;
            if !timeout.timed_out() {
                continue;
            }
            drop(state);
            observer.reload_stuck(started.elapsed());
            state = self
                .wake
                .wait_while(self.lock(), |state| {
                    state.running == Some(started) && !state.stopped
                })
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if state.stopped {
                return;
            }
            drop(state);
            observer.stuck_reload_finished(started.elapsed());
            state = self.lock();
        }
    }
}

/// A reload in progress; dropping it marks the reload as ended.
pub(crate) struct Running<'a>(&'a Watchdog);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.lock().running = None;
        self.0.wake.notify_all();
    }
}
