//! The shared driver: one thread per [`Watch`] that debounces a strategy's
//! signals, reloads, resyncs and reports.

use std::marker::PhantomData;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::debounce::{Debouncer, Next};
use crate::loader::Loader;
use crate::strategy::{HealthCell, Signal, Signals, Strategy};
use crate::{
    ConfigSource, Decode, LoadError, Loaded, Observer, ReloadOutcome, ReloadReport, StartError,
    Trigger, WatchHealth, WatchOptions,
};

/// A running watch: the manager it publishes to and the threads that feed it.
/// Dropping it stops and joins them.
pub struct Watch<S: Strategy, T: Send + Sync + 'static, M: managers::ConfigManager<Loaded<T>>> {
    manager: Arc<M>,
    signals: Sender<Signal>,
    health: Arc<HealthCell>,
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
        let signals = Signals::new(sender.clone(), Arc::clone(&health), Arc::clone(&observer));
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
            last_failure: None,
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
        let _ = self.signals.send(Signal::Manual);
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
    }
}

struct Driver<T, M> {
    receiver: Receiver<Signal>,
    loader: Loader<T, M>,
    debouncer: Debouncer,
    observer: Arc<dyn Observer>,
    trigger: Trigger,
    resync_interval: Option<Duration>,
    /// The last failure reported, so a background check that meets the same
    /// broken file again stays quiet.
    last_failure: Option<LoadError>,
}

/// Whether a reload was asked for by someone (report everything) or is a
/// background check (report only what is new).
#[derive(Clone, Copy, PartialEq, Eq)]
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
                Next::Reload { since } => {
                    self.debouncer.reloading();
                    self.reload(self.trigger, since, Asked::Yes);
                    continue;
                }
                Next::WaitUntil(deadline) => Some(deadline),
                Next::Idle => None,
            };
            if let (Some(at), Some(every)) = (next_resync, self.resync_interval) {
                if now >= at {
                    next_resync = Some(now + every);
                    if let ReloadOutcome::Published { .. } =
                        self.reload(Trigger::Resync, now, Asked::Background)
                    {
                        self.observer.resync_found_change();
                    }
                    continue;
                }
                wake = Some(wake.map_or(at, |deadline| deadline.min(at)));
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
        let now = Instant::now();
        match signal {
            Signal::Change(change) => self.debouncer.record(change, now),
            Signal::Overflow => {
                self.reload(Trigger::Overflow, now, Asked::Yes);
            }
            Signal::Verify => {
                self.reload(self.trigger, now, Asked::Background);
            }
            Signal::Manual => {
                self.reload(Trigger::Manual, now, Asked::Yes);
            }
            Signal::Stop => return false,
        }
        true
    }

    fn reload(&mut self, trigger: Trigger, since: Instant, asked: Asked) -> ReloadOutcome {
        let outcome = self.loader.reload();
        let took = since.elapsed();
        let new = match &outcome {
            ReloadOutcome::Published { .. } => true,
            ReloadOutcome::Unchanged => asked == Asked::Yes,
            ReloadOutcome::Failed(error) => {
                asked == Asked::Yes || self.last_failure.as_ref() != Some(error)
            }
        };
        self.last_failure = match &outcome {
            ReloadOutcome::Failed(error) => Some(error.clone()),
            ReloadOutcome::Published { .. } | ReloadOutcome::Unchanged => None,
        };
        if new {
            self.observer.reload(&ReloadReport {
                trigger,
                outcome: outcome.clone(),
                took,
            });
        }
        outcome
    }
}
