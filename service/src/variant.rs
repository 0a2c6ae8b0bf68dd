//! Which managers and watchers this binary was compiled with, and picking
//! one of each at run time.
//!
//! Cargo features decide what is compiled in (`build.rs` turns them into
//! `manager_*` / `watcher_*` cfgs, fallbacks included); `--manager` and
//! `--watcher` only choose among those.

use clap::ValueEnum;
use clap::builder::PossibleValue;

/// A `managers` design compiled into this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerKind {
    #[cfg(manager_mutex)]
    Mutex,
    #[cfg(manager_rwlock)]
    RwLock,
    #[cfg(manager_arcswap)]
    ArcSwap,
    #[cfg(manager_channel)]
    Channel,
    #[cfg(manager_watch)]
    Watch,
}

/// A `watchers` strategy compiled into this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherKind {
    #[cfg(watcher_notify)]
    Notify,
    #[cfg(watcher_inotify)]
    Inotify,
    #[cfg(watcher_poll)]
    Poll,
}

/// Every manager compiled in, in a stable order.
pub const MANAGERS: &[ManagerKind] = &[
    #[cfg(manager_mutex)]
    ManagerKind::Mutex,
    #[cfg(manager_rwlock)]
    ManagerKind::RwLock,
    #[cfg(manager_arcswap)]
    ManagerKind::ArcSwap,
    #[cfg(manager_channel)]
    ManagerKind::Channel,
    #[cfg(manager_watch)]
    ManagerKind::Watch,
];

/// Every watcher compiled in, in a stable order.
pub const WATCHERS: &[WatcherKind] = &[
    #[cfg(watcher_notify)]
    WatcherKind::Notify,
    #[cfg(watcher_inotify)]
    WatcherKind::Inotify,
    #[cfg(watcher_poll)]
    WatcherKind::Poll,
];

/// A name for the command line, the logs and the metrics.
pub trait Named: Copy + 'static {
    /// The flag choosing this kind, for error messages.
    const FLAG: &'static str;
    /// The environment variable choosing this kind.
    const ENV: &'static str;
    /// All compiled-in values.
    fn all() -> &'static [Self];
    /// The value on the command line; equal to the implementation's `NAME`.
    fn name(self) -> &'static str;
}

impl Named for ManagerKind {
    const FLAG: &'static str = "--manager";
    const ENV: &'static str = "MANAGER";

    fn all() -> &'static [Self] {
        MANAGERS
    }

    fn name(self) -> &'static str {
        match self {
            #[cfg(manager_mutex)]
            Self::Mutex => "mutex",
            #[cfg(manager_rwlock)]
            Self::RwLock => "rwlock",
            #[cfg(manager_arcswap)]
            Self::ArcSwap => "arcswap",
            #[cfg(manager_channel)]
            Self::Channel => "channel",
            #[cfg(manager_watch)]
            Self::Watch => "watch",
        }
    }
}

impl Named for WatcherKind {
    const FLAG: &'static str = "--watcher";
    const ENV: &'static str = "WATCHER";

    fn all() -> &'static [Self] {
        WATCHERS
    }

    fn name(self) -> &'static str {
        match self {
            #[cfg(watcher_notify)]
            Self::Notify => "notify",
            #[cfg(watcher_inotify)]
            Self::Inotify => "inotify",
            #[cfg(watcher_poll)]
            Self::Poll => "poll",
        }
    }
}

// Written by hand rather than derived: the derive would list every variant
// of the source, not only the compiled-in ones.
impl ValueEnum for ManagerKind {
    fn value_variants<'a>() -> &'a [Self] {
        MANAGERS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for WatcherKind {
    fn value_variants<'a>() -> &'a [Self] {
        WATCHERS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

/// The requested kind, or the only one compiled in; an error naming the
/// choices when several are compiled in and none was requested.
pub fn choose<K: Named>(requested: Option<K>) -> Result<K, String> {
    match (requested, K::all()) {
        (Some(kind), _) => Ok(kind),
        (None, [only]) => Ok(*only),
        (None, all) => Err(format!(
            "several are compiled in ({}): choose one with {} or {}",
            names(all, ", "),
            K::FLAG,
            K::ENV
        )),
    }
}

fn names<K: Named>(all: &[K], separator: &str) -> String {
    all.iter()
        .map(|kind| kind.name())
        .collect::<Vec<_>>()
        .join(separator)
}
