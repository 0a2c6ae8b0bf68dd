//! The shared driver: one thread per [`Watch`](crate::Watch) that debounces
//! a watcher's signals, reloads, retries what can go away, resyncs and
//! reports. A built-in file watcher runs on the same thread (its
//! [`Pump`]), so a watch is one thread.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::reload::authority::News;
use crate::reload::debounce::{Debouncer, Next, Why};
use crate::reload::ledger::Arrival;
use crate::reload::loader::{Loader, Reloaded};
use crate::reload::watchdog::Watchdog;
use crate::watcher::inbox::Pump;
use crate::watcher::{Batches, Change, Content, Signal};
use crate::{Backoff, LoadError, Loaded, Observer, ReloadOutcome, ReloadReport, Trigger};

pub(crate) struct Driver<T, M> {
    pub(crate) receiver: Receiver<Signal>,
    /// The files' watcher, when it runs on this thread: waited in instead
    /// of the channel.
    pub(crate) pump: Option<Box<dyn Pump>>,
    pub(crate) loader: Loader<T, M>,
    pub(crate) debouncer: Debouncer,
    pub(crate) observer: Arc<dyn Observer>,
    pub(crate) trigger: Trigger,
    pub(crate) resync_interval: Option<Duration>,
    pub(crate) backoff: Backoff,
    pub(crate) watchdog: Arc<Watchdog>,
    /// The last failure reported, so a background check that meets the same
    /// broken file again stays quiet.
    pub(crate) last_failure: Option<LoadError>,
    /// A load that failed for a transient reason, to be tried again.
    pub(crate) retry: Option<Retry>,
    /// Signals taken from the channel during a reload, handled after it.
    pub(crate) deferred: VecDeque<Signal>,
    pub(crate) batches: Arc<Batches>,
}

/// A pending retry of a load that failed for a reason that can go away.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
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
    M: config_reload_managers::ConfigManager<Loaded<T>>,
{
    pub(crate) fn run(mut self) {
        let mut next_resync = self.resync_interval.map(|every| Instant::now() + every);
        loop {
            let now = Instant::now();
            self.tell_sources_news(now);
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
            if let Some(at) = self.loader.next_sources_news() {
                wake = earliest(wake, at);
            }
            // A volume's version held back by the API: served alone once the
            // API has been unable to deliver for longer than the lag, without
            // waiting for the volume to change again.
            // (A write in progress reloads on its close, which decides too.)
            if let Some(at) = self.loader.held_check(now)
                && !self.debouncer.write_pending()
            {
                if at <= now {
                    self.reload(Trigger::Resync, now, Asked::Background);
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
            match self.receive(wake) {
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

    /// The next signal, waiting for it until `deadline` at most: on the
    /// channel, or in the watcher's pump, which forwards what it sees.
    fn receive(&mut self, deadline: Option<Instant>) -> Result<Signal, RecvTimeoutError> {
        if self.pump.is_none() {
            return match deadline {
                Some(deadline) => self.receiver.recv_deadline(deadline),
                None => self
                    .receiver
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
        };
        match self.receiver.try_recv() {
            Ok(signal) => return Ok(signal),
            Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => {}
        }
        self.pump(deadline);
        self.receiver.try_recv().map_err(|error| match error {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
        })
    }

    /// Lets the watcher running on this thread wait until `deadline` and
    /// forward what it sees.
    fn pump(&mut self, deadline: Option<Instant>) {
        if let Some(pump) = &mut self.pump
            && !pump.wait(&self.receiver, deadline)
        {
            // The watcher stopped for good (its health says so): resyncs
            // and asked reloads go on.
            self.pump = None;
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
            Signal::Content(content, origin, at) => self.deliver(*content, origin, at),
            Signal::Nudge => {}
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
        // Events the kernel already holds are forwarded first: a reload
        // must see a write that began before its read (below), and on this
        // thread nobody else reads them.
        self.pump(Some(Instant::now()));
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
            self.loader.reload(arrival(trigger), || {
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
                        // Look again once the watcher has read them.
                        debouncer.record(Change::Recheck, Instant::now());
                    }
                    !unread && !written && !debouncer.write_pending()
                })
            })
        };
        let Some(reloaded) = outcome else {
            self.retry = None;
            return ReloadOutcome::Unchanged;
        };
        let took = since.elapsed();
        let outcome = reloaded.outcome.clone();
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
                self.report(trigger, &reloaded, took);
            }
            self.observer.retrying(error, attempt, delay);
            return outcome;
        }
        let ended_streak = self.retry.take().is_some();
        self.settle(trigger, reloaded, took, asked, ended_streak)
    }

    /// Content a watcher read itself: the same publish, the same reports.
    fn deliver(&mut self, content: Content, origin: &'static str, at: Instant) {
        let trigger = content.trigger;
        let asked = if trigger == Trigger::Resync {
            Asked::Background
        } else {
            Asked::Yes
        };
        let reloaded = {
            let _running = self.watchdog.start();
            self.loader.deliver(origin, content, arrival(trigger))
        };
        let listed_change = trigger == Trigger::Resync
            && matches!(reloaded.outcome, ReloadOutcome::Published { .. });
        self.settle(trigger, reloaded, at.elapsed(), asked, false);
        if listed_change {
            self.observer.resync_found_change();
        }
    }

    /// Reports a load that ended (not to be retried) as new to the observer
    /// if it is, with its skew.
    fn settle(
        &mut self,
        trigger: Trigger,
        reloaded: Reloaded,
        took: Duration,
        asked: Asked,
        ended_streak: bool,
    ) -> ReloadOutcome {
        let outcome = reloaded.outcome.clone();
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
            self.report(trigger, &reloaded, took);
        }
        if let Some(skew) = &reloaded.skew {
            self.observer.skew(skew);
        }
        if let ReloadOutcome::Published { .. } = outcome {
            self.loader.announce();
        }
        outcome
    }

    /// Tells the observer what the sources' ledger has to say.
    fn tell_sources_news(&mut self, now: Instant) {
        for news in self.loader.sources_news(now) {
            match news {
                News::Disagree(disagreement) => self.observer.sources_disagree(&disagreement),
                News::Agree { source, lasted } => self.observer.sources_agree(source, lasted),
            }
        }
    }

    fn report(&self, trigger: Trigger, reloaded: &Reloaded, took: Duration) {
        self.observer.reload(&ReloadReport {
            trigger,
            outcome: reloaded.outcome.clone(),
            took,
            source: reloaded.source,
            propagation: reloaded.propagation,
        });
    }
}

/// Whether a reload so caused measures propagation: only what an event
/// (or a poll, the poller's event) brought, not a start, resync or manual
/// reload.
fn arrival(trigger: Trigger) -> Arrival {
    match trigger {
        Trigger::Event | Trigger::Poll | Trigger::UnclosedWrite | Trigger::Overflow => {
            Arrival::Event
        }
        Trigger::Initial | Trigger::Resync | Trigger::Manual => Arrival::Other,
    }
}

fn earliest(wake: Option<Instant>, at: Instant) -> Option<Instant> {
    Some(wake.map_or(at, |deadline| deadline.min(at)))
}
