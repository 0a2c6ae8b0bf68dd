//! For implementors of a new way of noticing changes: the [`Strategy`]
//! trait, the [`Signals`] a strategy reports through, and the [`Change`]s it
//! classifies events into. The built-in strategies are chosen with
//! [`WatcherKind`](crate::WatcherKind); a custom one with
//! [`Builder::strategy`](crate::Builder::strategy).
//!
//! A strategy only notices; the shared driver debounces, loads, publishes,
//! retries and resyncs, so every strategy reloads the same way. A strategy
//! that reads the content itself from somewhere else than the files (the
//! Kubernetes API) hands it over with [`Signals::content`]: the driver
//! hashes, decodes, validates, publishes and reports it exactly as it does a
//! load of the files. A strategy
//! that needs threads spawns them with [`Signals::spawn`]: a thread that
//! panics then turns the watch's health to `Stopped` instead of leaving it
//! looking healthy while nothing watches.

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Instant, SystemTime};

use crossbeam_channel::Sender;

pub use crate::debounce::Change;
use crate::{ConfigSource, Files, LoadError, Observer, Trigger, WatchHealth, WatchOptions};

/// A way of noticing changes of a [`ConfigSource`].
pub trait Strategy: Send + 'static {
    /// A short name for logs and metrics (`"inotify"`, `"notify"`, `"poll"`).
    const NAME: &'static str;

    /// The trigger a reload caused by this strategy's changes reports.
    const TRIGGER: Trigger = Trigger::Event;

    /// Whether the driver runs the periodic resync: event strategies need it
    /// as a safety net; a poller already looks on every tick.
    const RESYNC: bool = true;

    /// Whether the strategy answers [`Watch::reload_now`](crate::Watch::reload_now)
    /// itself: it registers a hook with [`Signals::on_reload_now`] and calls
    /// [`Signals::reload_now`] once a write in progress would not be read
    /// half done, instead of the driver reloading at once. A strategy that
    /// sees writers' closes leaves this `false` (the driver already waits
    /// for a close it was told of); a poller, which cannot see a close,
    /// waits for its stability window first.
    const ANSWERS_RELOAD_NOW: bool = false;

    /// Starts noticing changes of `source`, reporting them to `signals`.
    /// Returns once the watch is established; dropping the value stops it
    /// and joins its threads.
    fn establish(
        source: &ConfigSource,
        options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Self>
    where
        Self: Sized;
}

/// What the driver thread receives. Each carries the moment it happened
/// (the event was read, the reload asked for), so a reload's `took` counts
/// the hop to the driver and its wake-up too.
#[derive(Debug)]
pub(crate) enum Signal {
    Change(Change, Instant),
    /// Events were lost: reload everything.
    Overflow(Instant),
    /// Metadata cannot rule out a change: reload, and say nothing if the
    /// content is the same.
    Verify(Instant),
    Manual(Instant),
    /// Content a strategy read itself, from the strategy named.
    Content(Box<Content>, &'static str, Instant),
    Stop,
}

/// Content a strategy read itself (from an API rather than the files), for
/// [`Signals::content`]: the driver hashes, decodes, validates and publishes
/// it as it does a load of the files, and reports it with the same observer.
#[derive(Debug, Clone)]
pub struct Content {
    /// What was read, for messages and errors: `configmap/NAMESPACE/NAME`.
    /// A key's problem is reported at `path/KEY`.
    pub path: PathBuf,
    /// Every key's bytes in the source's order, or why they could not be had
    /// (the object deleted, a key missing). Keys over the size limit or
    /// empty are rejected as a file's would be.
    pub files: Result<Files, LoadError>,
    /// When the content was last written at its origin, if known (a
    /// ConfigMap's latest `managedFields` time): the propagation delay is
    /// measured from it.
    pub written_at: Option<SystemTime>,
    /// What read it: [`Trigger::Event`] for a change announced by the
    /// source, [`Trigger::Resync`] for a (re-)list (quiet when nothing
    /// changed), [`Trigger::Manual`] for a read asked by
    /// [`Watch::reload_now`](crate::Watch::reload_now).
    pub trigger: Trigger,
}

impl Content {
    /// Where the first key is, for a decoding error.
    pub(crate) fn primary_path(&self) -> PathBuf {
        match &self.files {
            Ok(files) => match files.entries.first() {
                Some((key, _)) => self.path.join(key),
                None => self.path.clone(),
            },
            Err(_) => self.path.clone(),
        }
    }
}

/// Where a strategy reports what it notices and how it is doing.
#[derive(Clone)]
pub struct Signals {
    /// The strategy these are the signals of.
    name: &'static str,
    sender: Sender<Signal>,
    health: Arc<HealthCell>,
    observer: Arc<dyn Observer>,
    batches: Arc<Batches>,
    reload_hooks: Arc<ReloadHooks>,
}

/// What [`Watch::reload_now`](crate::Watch::reload_now) calls beside the
/// reload of the files: strategies that read their content themselves read
/// it again.
#[derive(Default)]
pub(crate) struct ReloadHooks(Mutex<Vec<Box<dyn Fn() + Send + Sync>>>);

impl ReloadHooks {
    pub(crate) fn call(&self) {
        for hook in self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
        {
            hook();
        }
    }
}

/// What a reload asks before it publishes an in-place write's content:
/// whether every event that happened before it read the file has reached the
/// driver. A writer that reopens the file right after the close that started
/// the reload may have been read half done; its first event is then either
/// in the driver's channel, in a batch the strategy is forwarding, or still
/// in the kernel.
#[derive(Default)]
pub(crate) struct Batches {
    /// Held by a strategy while it forwards a batch of events it read.
    forwarding: Mutex<()>,
    /// Whether the kernel holds events the strategy has not read yet.
    unread: OnceLock<Box<dyn Fn() -> bool + Send + Sync>>,
}

impl Batches {
    /// Waits for a batch being forwarded, then says whether events are
    /// still unread; `f` runs with the batch lock held, so no batch starts.
    pub(crate) fn settled<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        let _batch = self
            .forwarding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let unread = self.unread.get().is_some_and(|unread| unread());
        f(unread)
    }
}

impl Signals {
    pub(crate) fn new(
        name: &'static str,
        sender: Sender<Signal>,
        health: Arc<HealthCell>,
        observer: Arc<dyn Observer>,
        batches: Arc<Batches>,
        reload_hooks: Arc<ReloadHooks>,
    ) -> Self {
        Self {
            name,
            sender,
            health,
            observer,
            batches,
            reload_hooks,
        }
    }

    /// Calls `hook` on every [`Watch::reload_now`](crate::Watch::reload_now)
    /// (SIGHUP): a strategy that reads its content itself (from an API)
    /// reads it again and hands it over with [`Signals::content`] and
    /// [`Trigger::Manual`], so "reload now" never means "the last content
    /// received". The hook must not block.
    pub fn on_reload_now(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.reload_hooks
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Box::new(hook));
    }

    /// Hold the returned guard while classifying and forwarding a batch of
    /// events read from the kernel: a reload about to publish waits for it,
    /// so it cannot miss a write that happened before its read.
    pub fn forwarding(&self) -> impl Drop + '_ {
        self.batches
            .forwarding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How to ask whether the kernel holds events not read yet (for inotify:
    /// its descriptor is readable). Set once; without it, only the events
    /// already forwarded are considered.
    pub fn unread_events(&self, probe: impl Fn() -> bool + Send + Sync + 'static) {
        let _ = self.batches.unread.set(Box::new(probe));
    }

    /// A change of the config's files (a raw event, classified), read now.
    pub fn change(&self, change: Change) {
        self.change_at(change, Instant::now());
    }

    /// A change of the config's files, read from the kernel at `at`.
    pub fn change_at(&self, change: Change, at: Instant) {
        self.observer.event();
        // A closed channel means the watch is being dropped: nothing to do.
        let _ = self.sender.send(Signal::Change(change, at));
    }

    /// The kernel dropped events: everything must be re-read.
    pub fn overflow(&self) {
        let at = Instant::now();
        self.observer
            .watch_error("event queue overflowed: events were lost, reloading");
        let _ = self.sender.send(Signal::Overflow(at));
    }

    /// Content this strategy read itself: hashed, decoded, validated and
    /// published by the driver as a load of the files is, reported with this
    /// strategy as its source.
    pub fn content(&self, content: Content) {
        self.observer.event();
        let _ = self.sender.send(Signal::Content(
            Box::new(content),
            self.name,
            Instant::now(),
        ));
    }

    /// The reload asked by [`Watch::reload_now`](crate::Watch::reload_now)
    /// may go ahead: for a strategy that
    /// [answers it itself](Strategy::ANSWERS_RELOAD_NOW).
    pub fn reload_now(&self) {
        let _ = self.sender.send(Signal::Manual(Instant::now()));
    }

    /// Metadata looks the same but cannot prove the content is: compare it.
    pub fn verify(&self) {
        let _ = self.sender.send(Signal::Verify(Instant::now()));
    }

    /// Changes are noticed (again).
    pub fn watching(&self) {
        if self.health.replace(WatchHealth::Watching) != WatchHealth::Watching {
            self.observer.watch_restored();
        }
    }

    /// The watch is broken and being re-established.
    pub fn degraded(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.observer.watch_error(&reason);
        self.health.set(WatchHealth::Degraded(reason));
    }

    /// The watch is broken for good.
    pub fn stopped(&self, reason: impl Into<String>) {
        let reason = reason.into();
        // Health first: the observer is someone else's code and may panic.
        self.health.set(WatchHealth::Stopped(reason.clone()));
        self.observer.watch_error(&reason);
    }

    /// Spawns a thread running `body`; if it panics (a bug here, or in an
    /// observer called from it) the watch says it `Stopped` instead of
    /// looking healthy while nothing watches any more.
    pub fn spawn(
        &self,
        name: &str,
        body: impl FnOnce(&Signals) + Send + 'static,
    ) -> io::Result<JoinHandle<()>> {
        let signals = self.clone();
        let name = name.to_owned();
        thread::Builder::new().name(name.clone()).spawn(move || {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| body(&signals))) {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|message| message.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                signals.stopped(format!("the {name} thread panicked: {message}"));
            }
        })
    }

    /// Whether the health is now `Watching`.
    pub fn is_watching(&self) -> bool {
        self.health.get() == WatchHealth::Watching
    }
}

/// The health a strategy last reported.
pub(crate) struct HealthCell(Mutex<WatchHealth>);

impl HealthCell {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(WatchHealth::Watching))
    }

    pub(crate) fn get(&self) -> WatchHealth {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn set(&self, health: WatchHealth) {
        self.replace(health);
    }

    /// Sets `health`, returning the previous one.
    pub(crate) fn replace(&self, health: WatchHealth) -> WatchHealth {
        std::mem::replace(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            health,
        )
    }
}

/// A strategy chosen at run time: what the driver needs of it, its type
/// erased. Dropping the value it establishes stops it.
pub(crate) struct Erased {
    pub(crate) name: &'static str,
    pub(crate) trigger: Trigger,
    pub(crate) resync: bool,
    pub(crate) answers_reload_now: bool,
    pub(crate) establish: EstablishFn,
}

pub(crate) type EstablishFn = Box<
    dyn FnOnce(&ConfigSource, &WatchOptions, Signals) -> io::Result<Box<dyn Any + Send>> + Send,
>;

impl Erased {
    pub(crate) fn of<S: Strategy>() -> Self {
        Self {
            name: S::NAME,
            trigger: S::TRIGGER,
            resync: S::RESYNC,
            answers_reload_now: S::ANSWERS_RELOAD_NOW,
            establish: Box::new(|source, options, signals| {
                S::establish(source, options, signals).map(|strategy| Box::new(strategy) as _)
            }),
        }
    }

    pub(crate) fn establish(
        self,
        source: &ConfigSource,
        options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Box<dyn Any + Send>> {
        (self.establish)(source, options, signals)
    }
}
