//! For implementors of a new way of noticing changes: the [`Watcher`]
//! trait, the [`Signals`] a watcher reports through, and the [`Change`]s it
//! classifies events into. A watcher is a value handed to
//! [`Builder::watcher`](crate::Builder::watcher): a built-in one
//! ([`WatcherKind`](crate::WatcherKind)) or one of your own.
//!
//! A watcher only notices; the shared driver debounces, loads, publishes,
//! retries and resyncs, so every watcher reloads the same way. A watcher
//! that reads the content itself from somewhere else than the files (the
//! Kubernetes API watcher is one, written against this trait like any
//! other) hands it over with [`Signals::content`]: the driver hashes,
//! decodes, validates, publishes and reports it exactly as it does a load of
//! the files. A watcher that needs threads spawns them with
//! [`Signals::spawn`]: a thread that panics then turns the watch's health to
//! `Stopped` instead of leaving it looking healthy while nothing watches.

pub(crate) mod inbox;
pub(crate) mod kind;

#[cfg(any(feature = "notify", all(feature = "inotify", target_os = "linux")))]
mod chain;
#[cfg(all(feature = "inotify", target_os = "linux"))]
pub(crate) mod inotify;
#[cfg(all(target_os = "linux", any(feature = "notify", feature = "inotify")))]
pub(crate) mod limits;
#[cfg(all(target_os = "linux", any(feature = "notify", feature = "inotify")))]
mod mounts;
#[cfg(feature = "notify")]
pub(crate) mod notify;
#[cfg(feature = "poll")]
pub(crate) mod poll;
#[cfg(all(target_os = "linux", any(feature = "notify", feature = "inotify")))]
mod wake;

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Instant, SystemTime};

pub use crate::reload::debounce::Change;
use crate::watcher::inbox::{Inbox, Pump};
use crate::{ConfigSource, Files, LoadError, Observer, Trigger, WatchHealth, WatchOptions};

/// A way of noticing changes of a [`ConfigSource`], as a value: its settings
/// are its fields, and [`Watcher::establish`] starts it.
///
/// ```
/// use std::io;
/// use config_reload::watcher::{Change, JoinOnDrop, Running, Signals, Watcher};
/// use config_reload::{ConfigSource, WatchOptions};
///
/// /// Reloads whenever a line arrives on a channel (a control socket, say).
/// struct OnRequest(std::sync::mpsc::Receiver<()>);
///
/// impl Watcher for OnRequest {
///     fn name(&self) -> &'static str {
///         "on-request"
///     }
///
///     fn establish(
///         self: Box<Self>,
///         _source: &ConfigSource,
///         _options: &WatchOptions,
///         signals: Signals,
///     ) -> io::Result<Running> {
///         let requests = self.0;
///         let thread = signals.spawn("on-request", move |signals| {
///             while requests.recv().is_ok() {
///                 signals.change(Change::Commit);
///             }
///         })?;
///         // The thread ends when the sender is dropped; the watch joins it.
///         Ok(Box::new(JoinOnDrop::new(thread, || {})))
///     }
/// }
/// ```
pub trait Watcher: Send + 'static {
    /// A short name for logs and metrics (`"inotify"`, `"notify"`, `"poll"`,
    /// `"kube"`).
    fn name(&self) -> &'static str;

    /// The trigger a reload caused by this watcher's changes reports.
    fn trigger(&self) -> Trigger {
        Trigger::Event
    }

    /// Whether the driver runs the periodic resync: event watchers need it
    /// as a safety net; a poller already looks on every tick, and a watcher
    /// that delivers the content itself has no files to re-read.
    fn resync(&self) -> bool {
        true
    }

    /// Whether the watcher answers [`Watch::reload_now`](crate::Watch::reload_now)
    /// itself: it registers a hook with [`Signals::on_reload_now`] and calls
    /// [`Signals::reload_now`] once a write in progress would not be read
    /// half done, instead of the driver reloading at once. A watcher that
    /// sees writers' closes leaves this `false` (the driver already waits
    /// for a close it was told of); a poller, which cannot see a close,
    /// waits for its stability window first.
    fn answers_reload_now(&self) -> bool {
        false
    }

    /// Starts noticing changes of `source`, reporting them to `signals`.
    /// Returns once the watch is established, with what keeps it running:
    /// dropping that stops it (and should join its threads).
    fn establish(
        self: Box<Self>,
        source: &ConfigSource,
        options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Running>;
}

/// What keeps an established [`Watcher`] running; dropping it stops it.
pub type Running = Box<dyn Send>;

/// A watcher's thread, stopped and joined when dropped: a [`Running`] for a
/// watcher with one thread (box it), and what the built-in ones hold.
pub struct JoinOnDrop {
    stop: Option<Box<dyn FnOnce() + Send>>,
    thread: Option<JoinHandle<()>>,
}

impl JoinOnDrop {
    /// `thread`, which `stop` makes return (a wake-up, a closed channel);
    /// on drop, `stop` is called, then the thread joined.
    pub fn new(thread: JoinHandle<()>, stop: impl FnOnce() + Send + 'static) -> Self {
        Self {
            stop: Some(Box::new(stop)),
            thread: Some(thread),
        }
    }
}

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(thread) = self.thread.take() {
            // A panic was already reported: `Signals::spawn` turned it into
            // a `Stopped` health.
            let _ = thread.join();
        }
    }
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
    /// Nothing for the driver: wakes a [`Pump`] to look (a reload asked of
    /// a watcher that answers it itself: the poller).
    #[cfg_attr(not(feature = "poll"), allow(dead_code))]
    Nudge,
    /// Content a watcher read itself, from the watcher named.
    Content(Box<Content>, &'static str, Instant),
    Stop,
}

/// Content a watcher read itself (from an API rather than the files), for
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

/// Where a watcher reports what it notices and how it is doing.
#[derive(Clone)]
pub struct Signals {
    /// The watcher these are the signals of.
    name: &'static str,
    inbox: Arc<Inbox>,
    health: Arc<HealthCell>,
    observer: Arc<dyn Observer>,
    batches: Arc<Batches>,
    reload_hooks: Arc<ReloadHooks>,
}

/// What [`Watch::reload_now`](crate::Watch::reload_now) calls beside the
/// reload of the files: watchers that read their content themselves read
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
/// in the driver's channel, in a batch the watcher is forwarding, or still
/// in the kernel.
#[derive(Default)]
pub(crate) struct Batches {
    /// Held by a watcher while it forwards a batch of events it read.
    forwarding: Mutex<()>,
    /// Whether the kernel holds events the watcher has not read yet.
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
        inbox: Arc<Inbox>,
        health: Arc<HealthCell>,
        observer: Arc<dyn Observer>,
        batches: Arc<Batches>,
        reload_hooks: Arc<ReloadHooks>,
    ) -> Self {
        Self {
            name,
            inbox,
            health,
            observer,
            batches,
            reload_hooks,
        }
    }

    /// Calls `hook` on every [`Watch::reload_now`](crate::Watch::reload_now)
    /// (SIGHUP): a watcher that reads its content itself (from an API)
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
        self.inbox.send(Signal::Change(change, at));
    }

    /// The kernel dropped events: everything must be re-read.
    pub fn overflow(&self) {
        let at = Instant::now();
        self.observer
            .watch_error("event queue overflowed: events were lost, reloading");
        self.inbox.send(Signal::Overflow(at));
    }

    /// Content this watcher read itself: hashed, decoded, validated and
    /// published by the driver as a load of the files is, reported with this
    /// watcher as its source.
    pub fn content(&self, content: Content) {
        self.observer.event();
        self.inbox.send(Signal::Content(
            Box::new(content),
            self.name,
            Instant::now(),
        ));
    }

    /// The reload asked by [`Watch::reload_now`](crate::Watch::reload_now)
    /// may go ahead: for a watcher that
    /// [answers it itself](Watcher::answers_reload_now).
    pub fn reload_now(&self) {
        self.inbox.send(Signal::Manual(Instant::now()));
    }

    /// Metadata looks the same but cannot prove the content is: compare it.
    pub fn verify(&self) {
        self.inbox.send(Signal::Verify(Instant::now()));
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

    /// Runs `pump` on the watch's reload thread instead of a thread of its
    /// own: the driver waits in it between reloads, and `bell` wakes it
    /// when another signal is sent.
    // Used by the built-in watchers that run on the driver: inotify, poll.
    #[cfg_attr(
        not(any(feature = "poll", all(feature = "inotify", target_os = "linux"))),
        allow(dead_code)
    )]
    pub(crate) fn run_on_driver(
        &self,
        pump: impl Pump + 'static,
        bell: impl Fn() + Send + Sync + 'static,
    ) {
        self.inbox.run_on_driver(Box::new(pump), Box::new(bell));
    }

    /// What wakes this watcher's [`Pump`] from another thread (a reload
    /// hook), without keeping the watcher's own signals alive.
    #[cfg_attr(not(feature = "poll"), allow(dead_code))]
    pub(crate) fn nudger(&self) -> impl Fn() + Send + Sync + 'static {
        let inbox = Arc::clone(&self.inbox);
        move || inbox.send(Signal::Nudge)
    }

    /// Whether the health is now `Watching`.
    pub fn is_watching(&self) -> bool {
        self.health.get() == WatchHealth::Watching
    }
}

/// The health a watcher last reported.
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
