//! Telling a reload stuck in a hung filesystem from one that is merely
//! running: the driver marks each reload's start and end; one watchdog
//! thread for the whole process, asleep unless a reload runs, tells a
//! watch's observer once when its reload has run for longer than
//! `stuck_after`, and again when it finally ends. Serving goes on meanwhile:
//! readers read the last published config, which needs no I/O.
//!
//! One thread for every watch rather than one each: a watch costs its
//! reload thread (where the built-in file watchers run too), not a second
//! that sleeps.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::Observer;

/// One watch's reloads, shared by its driver, `Watch` and the process's
/// watchdog thread.
pub(crate) struct Watchdog {
    state: Mutex<State>,
    stuck_after: Duration,
    observer: Arc<dyn Observer>,
}

#[derive(Default)]
struct State {
    /// When the reload running now started.
    running: Option<Instant>,
    /// The start of the reload reported stuck, until its end is reported.
    reported: Option<Instant>,
}

/// What the watchdog thread tells an observer.
enum Report {
    Stuck(Duration),
    Finished(Duration),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Watchdog {
    /// A watch's reloads, watched by the process's watchdog thread (started
    /// with the first watch).
    pub(crate) fn new(
        stuck_after: Duration,
        observer: Arc<dyn Observer>,
    ) -> std::io::Result<Arc<Self>> {
        let watchdog = Arc::new(Self {
            state: Mutex::default(),
            stuck_after,
            observer,
        });
        start_thread()?;
        let mut watchdogs = lock(&WATCHED.watchdogs);
        // Dropped watches go here too, not only when the thread next looks.
        watchdogs.retain(|watchdog| watchdog.strong_count() > 0);
        watchdogs.push(Arc::downgrade(&watchdog));
        Ok(watchdog)
    }

    /// Marks a reload as running until the guard is dropped.
    pub(crate) fn start(&self) -> Running<'_> {
        lock(&self.state).running = Some(Instant::now());
        wake();
        Running(self)
    }

    /// How long the reload running now has been running.
    pub(crate) fn running_for(&self) -> Option<Duration> {
        lock(&self.state).running.map(|started| started.elapsed())
    }

    /// What to report now, if anything; else when to look again.
    fn check(&self, now: Instant) -> Result<Report, Option<Instant>> {
        let mut state = lock(&self.state);
        match (state.running, state.reported) {
            (Some(started), Some(reported)) if started == reported => Err(None),
            (_, Some(reported)) => {
                state.reported = None;
                Ok(Report::Finished(now.saturating_duration_since(reported)))
            }
            (Some(started), None) => {
                let due = started + self.stuck_after;
                if now < due {
                    return Err(Some(due));
                }
                state.reported = Some(started);
                Ok(Report::Stuck(now.saturating_duration_since(started)))
            }
            (None, None) => Err(None),
        }
    }
}

/// A reload in progress; dropping it marks the reload as ended.
pub(crate) struct Running<'a>(&'a Watchdog);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).running = None;
        wake();
    }
}

/// Every live watch's [`Watchdog`], and the condition the thread sleeps on.
struct Watched {
    watchdogs: Mutex<Vec<Weak<Watchdog>>>,
    changed: Condvar,
}

/// Every live watch's watchdog, for the one thread.
static WATCHED: Watched = Watched {
    watchdogs: Mutex::new(Vec::new()),
    changed: Condvar::new(),
};

/// Starts the thread with the first watch; a failed spawn is that watch's
/// start-up error, and the next watch tries again.
fn start_thread() -> std::io::Result<()> {
    static STARTED: Mutex<bool> = Mutex::new(false);
    let mut started = lock(&STARTED);
    if !*started {
        thread::Builder::new()
            .name("config-reload-watchdog".into())
            .spawn(|| run(&WATCHED))?;
        *started = true;
    }
    Ok(())
}

/// Wakes the watchdog thread: a reload started or ended. Taking the list's
/// lock orders the wake-up after the thread's last look, so none is lost.
fn wake() {
    let _list = lock(&WATCHED.watchdogs);
    WATCHED.changed.notify_one();
}

/// The watchdog thread: reports each reload that runs longer than its
/// watch's `stuck_after`, once, and its end; sleeps while nothing is due.
fn run(watched: &'static Watched) {
    let mut list = lock(&watched.watchdogs);
    loop {
        list.retain(|watchdog| watchdog.strong_count() > 0);
        let now = Instant::now();
        let mut due: Vec<(Arc<Watchdog>, Report)> = Vec::new();
        let mut next: Option<Instant> = None;
        for watchdog in list.iter().filter_map(Weak::upgrade) {
            match watchdog.check(now) {
                Ok(report) => due.push((watchdog, report)),
                Err(Some(at)) => next = Some(next.map_or(at, |next| next.min(at))),
                Err(None) => {}
            }
        }
        if due.is_empty() {
            list = match next {
                Some(at) => {
                    let timeout = at.saturating_duration_since(now);
                    lock_result(watched.changed.wait_timeout(list, timeout)).0
                }
                None => lock_result(watched.changed.wait(list)),
            };
            continue;
        }
        // Observers are the user's code: called without the lock, and one
        // that panics does not stop the watching of the others.
        drop(list);
        for (watchdog, report) in due {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| match report {
                Report::Stuck(running_for) => watchdog.observer.reload_stuck(running_for),
                Report::Finished(took) => watchdog.observer.stuck_reload_finished(took),
            }));
        }
        list = lock(&watched.watchdogs);
    }
}

fn lock_result<G>(result: Result<G, std::sync::PoisonError<G>>) -> G {
    result.unwrap_or_else(|poisoned| poisoned.into_inner())
}
