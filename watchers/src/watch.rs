//! The shared driver: one thread per [`Watch`] that debounces a strategy's
//! signals, reloads, resyncs and reports.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::Change;
use crate::debounce::{Debouncer, Next, Why};
use crate::loader::Loader;
use crate::strategy::{Batches, HealthCell, Signal, Signals, Strategy};
use crate::watchdog::Watchdog;
use crate::{
    Backoff, ConfigSource, Decode, LoadError, Loaded, Observer, ReloadOutcome, ReloadReport,
    StartError, Trigger, WatchHealth, WatchOptions,
};

/// A running watch: the manager it publishes to and the threads that feed it.
/// Dropping it stops and joins them.
pub struct Watch<S: Strategy, T: Send + Sync + 'static, M: managers::ConfigManager<Loaded<T>>> {
    manager: Arc<M>,
    signals: Sender<Signal>,
    health: Arc<HealthCell>,
    watchdog: Arc<Watchdog>,
    watchdog_thread: Option<JoinHandle<()>>,
    // Dropped before the driver is stopped: no signal arrives after `Stop`.
    strategy: Option<S>,
    driver: Option<JoinHandle<()>>,
    _marker: PhantomData<fn() -> T>,
}

impl<S, T, M> Watch<S, T, M>
where
    S: Strategy,
    T: Send + Sync + 'static,
    M: managers::ConfigManager<Loaded<T>>,
{
    /// Establishes the watch, then loads and publishes the initial config
    /// (so a change between the two is never lost), then starts watching.
    pub fn start(
        source: ConfigSource,
        decode: impl Decode<T>,
        options: WatchOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, StartError> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let health = Arc::new(HealthCell::new());
        let batches = Arc::new(Batches::default());
        let signals = Signals::new(
            sender.clone(),
            Arc::clone(&health),
            Arc::clone(&observer),
            Arc::clone(&batches),
        );
        let strategy = S::establish(&source, &options, signals.clone()).map_err(|error| {
            StartError::Watch {
                path: source.dir.clone(),
                source: error,
            }
        })?;

        let started = Instant::now();
        let loader =
            Loader::<T, M>::start(source.clone(), Box::new(decode), options.max_config_bytes)
                .map_err(StartError::InitialLoad)?;
        let manager = Arc::clone(loader.manager());
        observer.reload(&ReloadReport {
            trigger: Trigger::Initial,
            outcome: ReloadOutcome::Published {
                version: manager.version(),
                hash: loader.published(),
            },
            took: started.elapsed(),
        });

        let watchdog = Arc::new(Watchdog::default());
        let watchdog_thread = {
            let watchdog = Arc::clone(&watchdog);
            let observer = Arc::clone(&observer);
            let stuck_after = options.stuck_after;
            signals
                .spawn(&format!("watchers-{}-watchdog", S::NAME), move |_| {
                    watchdog.watch(stuck_after, &observer);
                })
                .map_err(|error| StartError::Watch {
                    path: source.dir.clone(),
                    source: error,
                })?
        };
        let driver = Driver {
            receiver,
            loader,
            debouncer: Debouncer::new(options.debounce),
            observer,
            trigger: S::TRIGGER,
            resync_interval: if S::RESYNC {
                options.resync_interval
            } else {
                None
            },
            backoff: options.retry,
            watchdog: Arc::clone(&watchdog),
            last_failure: None,
            retry: None,
            deferred: VecDeque::new(),
            batches,
        };
        let driver = signals
            .spawn(&format!("watchers-{}-reload", S::NAME), move |_| {
                driver.run()
            })
            .map_err(|error| StartError::Watch {
                path: source.dir.clone(),
                source: error,
            })?;
        Ok(Self {
            manager,
            signals: sender,
            health,
            watchdog,
            watchdog_thread: Some(watchdog_thread),
            strategy: Some(strategy),
            driver: Some(driver),
            _marker: PhantomData,
        })
    }

    /// The manager readers read from.
    pub fn manager(&self) -> &Arc<M> {
        &self.manager
    }

    /// Reloads now (SIGHUP), whatever the events said.
    pub fn reload_now(&self) {
        let _ = self.signals.send(Signal::Manual(Instant::now()));
    }

    /// How long the reload running now has been running, if one is. A large
    /// value means a read is stuck (a hung filesystem): the last good config
    /// is still served, but no change can be published until it returns.
    pub fn reload_running_for(&self) -> Option<Duration> {
        self.watchdog.running_for()
    }

    /// Whether changes are still being noticed.
    pub fn health(&self) -> WatchHealth {
        if self.driver.as_ref().is_none_or(JoinHandle::is_finished) {
            return WatchHealth::Stopped("the reload thread ended".into());
        }
        self.health.get()
    }
}

impl<S, T, M> Drop for Watch<S, T, M>
where
    S: Strategy,
    T: Send + Sync + 'static,
    M: managers::ConfigManager<Loaded<T>>,
{
    fn drop(&mut self) {
        drop(self.strategy.take());
        let _ = self.signals.send(Signal::Stop);
        if let Some(driver) = self.driver.take() {
            // A panic in the driver was already visible as `Stopped`.
            let _ = driver.join();
        }
        self.watchdog.stop();
        if let Some(watchdog) = self.watchdog_thread.take() {
            let _ = watchdog.join();
        }
    }
}

struct Driver<T, M> {
    receiver: Receiver<Signal>,
    loader: Loader<T, M>,
    debouncer: Debouncer,
    observer: Arc<dyn Observer>,
    trigger: Trigger,
    resync_interval: Option<Duration>,
    backoff: Backoff,
    watchdog: Arc<Watchdog>,
    /// The last failure reported, so a background check that meets the same
    /// broken file again stays quiet.
    last_failure: Option<LoadError>,
    /// A load that failed for a transient reason, to be tried again.
    retry: Option<Retry>,
    /// Signals taken from the channel during a reload, handled after it.
    deferred: VecDeque<Signal>,
    batches: Arc<Batches>,
}

/// A pending retry of a load that failed for a reason that can go away.
#[derive(Debug, Clone, Copy)]
struct Retry {
    at: Instant,
    /// Retries so far in this streak.
    attempt: u32,
    /// What the streak's first reload was, reported when it ends.
    trigger: Trigger,
    since: Instant,
    asked: Asked,
}

/// Whether a reload was asked for by someone (report everything) or is a
/// background check (report only what is new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Yes,
    Background,
}

impl<T, M> Driver<T, M>
where
    T: Send + Sync + 'static,
    M: managers::ConfigManager<Loaded<T>>,
{
    fn run(mut self) {
        let mut next_resync = self.resync_interval.map(|every| Instant::now() + every);
        loop {
            let now = Instant::now();
            let mut wake = match self.debouncer.next(now) {
                Next::Reload { since, why } => {
                    self.debouncer.reloading();
                    let trigger = match why {
                        Why::Complete => self.trigger,
                        Why::UnclosedWrite => Trigger::UnclosedWrite,
                    };
                    self.reload(trigger, since, Asked::Yes);
                    continue;
                }
                Next::WaitUntil(deadline) => Some(deadline),
                Next::Idle => None,
            };
            if let Some(retry) = self.retry {
                if now >= retry.at {
                    self.reload(retry.trigger, retry.since, retry.asked);
                    continue;
                }
                wake = earliest(wake, retry.at);
            }
            if let (Some(at), Some(every)) = (next_resync, self.resync_interval) {
                if now >= at {
                    next_resync = Some(now + every);
                    // A writer still writing in place would be read half done;
                    // its close brings a reload anyway.
                    if !self.debouncer.write_pending()
                        && let ReloadOutcome::Published { .. } =
                            self.reload(Trigger::Resync, now, Asked::Background)
                    {
                        self.observer.resync_found_change();
                    }
                    continue;
                }
                wake = earliest(wake, at);
            }
            if let Some(signal) = self.deferred.pop_front() {
                if !self.handle(signal) {
                    return;
                }
                continue;
            }
            let received = match wake {
                Some(deadline) => self.receiver.recv_deadline(deadline),
                None => self
                    .receiver
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(signal) => {
                    // Take everything already queued before deciding, so a
                    // burst of events is one reload.
                    let mut next = Some(signal);
                    while let Some(signal) = next {
                        if !self.handle(signal) {
                            return;
                        }
                        next = self.receiver.try_recv().ok();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Applies one signal; `false` means stop.
    fn handle(&mut self, signal: Signal) -> bool {
        match signal {
            Signal::Change(change, at) => self.debouncer.record(change, at),
            Signal::Overflow(at) => {
                self.reload(Trigger::Overflow, at, Asked::Yes);
            }
            // A poller's "cannot rule out a change": not while a write is in
            // progress (the settle or the close reloads it).
            Signal::Verify(at) => {
                if !self.debouncer.write_pending() {
                    self.reload(self.trigger, at, Asked::Background);
                }
            }
            Signal::Manual(at) => {
                self.reload(Trigger::Manual, at, Asked::Yes);
            }
            Signal::Stop => return false,
        }
        true
    }

    fn reload(&mut self, trigger: Trigger, since: Instant, asked: Asked) -> ReloadOutcome {
        // A streak of transient failures reports as the reload that began it.
        let (trigger, since, asked) = match self.retry {
            Some(retry) => (
                retry.trigger,
                retry.since.min(since),
                if retry.asked == Asked::Yes {
                    Asked::Yes
                } else {
                    asked
                },
            ),
            None => (trigger, since, asked),
        };
        let outcome = {
            let _running = self.watchdog.start();
            let (receiver, debouncer, deferred, batches) = (
                &self.receiver,
                &mut self.debouncer,
                &mut self.deferred,
                &self.batches,
            );
            // A writer that reopened the file in place right after the close
            // that started this reload may have been read half done: publish
            // only once every event from before the read has arrived, and
            // none was a write (its close reloads).
            self.loader.reload(|| {
                batches.settled(|unread| {
                    // A write since the read began, even one already closed,
                    // means what was read may be its beginning.
                    let mut written = false;
                    for signal in receiver.try_iter() {
                        match signal {
                            Signal::Change(change, at) => {
                                written |= change == Change::Write;
                                debouncer.record(change, at);
                            }
                            other => deferred.push_back(other),
                        }
                    }
                    if unread {
                        // Look again once the strategy has read them.
                        debouncer.record(Change::Recheck, Instant::now());
                    }
                    !unread && !written && !debouncer.write_pending()
                })
            })
        };
        let Some(outcome) = outcome else {
            self.retry = None;
            return ReloadOutcome::Unchanged;
        };
        let took = since.elapsed();
        if let ReloadOutcome::Failed(error) = &outcome
            && error.is_transient()
        {
            let first = self.retry.is_none();
            let attempt = self.retry.map_or(1, |retry| retry.attempt + 1);
            let delay = self.backoff.delay(attempt);
            self.retry = Some(Retry {
                at: Instant::now() + delay,
                attempt,
                trigger,
                since,
                asked,
            });
            if first {
                self.report(trigger, &outcome, took);
            }
            self.observer.retrying(error, attempt, delay);
            return outcome;
        }
        let ended_streak = self.retry.take().is_some();
        let new = match &outcome {
            ReloadOutcome::Published { .. } => true,
            ReloadOutcome::Unchanged => asked == Asked::Yes || ended_streak,
            ReloadOutcome::Failed(error) => {
                asked == Asked::Yes || ended_streak || self.last_failure.as_ref() != Some(error)
            }
        };
        self.last_failure = match &outcome {
            ReloadOutcome::Failed(error) => Some(error.clone()),
            ReloadOutcome::Published { .. } | ReloadOutcome::Unchanged => None,
        };
        if new {
            self.report(trigger, &outcome, took);
        }
        outcome
    }

    fn report(&self, trigger: Trigger, outcome: &ReloadOutcome, took: Duration) {
        self.observer.reload(&ReloadReport {
            trigger,
            outcome: outcome.clone(),
            took,
        });
    }
}

fn earliest(wake: Option<Instant>, at: Instant) -> Option<Instant> {
    Some(wake.map_or(at, |deadline| deadline.min(at)))
}
