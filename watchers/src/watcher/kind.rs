//! [`WatcherKind`]: the built-in ways of noticing a change, chosen at run
//! time.

use std::fmt;
use std::io;
use std::str::FromStr;

use crate::watcher::{Running, Signals, Watcher};
use crate::{ConfigSource, Trigger, WatchOptions};

/// A built-in way of noticing that the config changed, as a [`Watcher`]
/// value for [`Builder::watcher`](crate::Builder::watcher). Each is compiled
/// in by the crate feature of the same name, and available where its
/// platform supports it ([`WatcherKind::is_available`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WatcherKind {
    /// Linux inotify, used directly: the lowest latency, no idle wake-ups.
    Inotify,
    /// The portable `notify` crate (inotify, FSEvents, kqueue,
    /// ReadDirectoryChangesW).
    Notify,
    /// Stats the whole symlink chain every `poll_interval`: for filesystems
    /// that report no events (NFS, some FUSE and overlay mounts).
    Poll,
}

impl WatcherKind {
    /// Every kind, in a stable order.
    pub const ALL: [WatcherKind; 3] = [Self::Inotify, Self::Notify, Self::Poll];

    /// `"inotify"`, `"notify"`, `"poll"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Inotify => "inotify",
            Self::Notify => "notify",
            Self::Poll => "poll",
        }
    }

    /// Whether this kind is compiled in (its crate feature) and runs on this
    /// platform.
    pub fn is_available(self) -> bool {
        // The same `cfg`s that compile its code in: one fact, not two.
        self.builtin().is_some()
    }

    /// The kinds available in this build.
    pub fn available() -> impl Iterator<Item = WatcherKind> {
        Self::ALL.into_iter().filter(|kind| kind.is_available())
    }

    /// The built-in's code, where it is compiled in.
    fn builtin(self) -> Option<Builtin> {
        match self {
            #[cfg(all(feature = "inotify", target_os = "linux"))]
            Self::Inotify => Some(Builtin::of::<crate::watcher::inotify::InotifyWatcher>()),
            #[cfg(feature = "notify")]
            Self::Notify => Some(Builtin::of::<crate::watcher::notify::NotifyWatcher>()),
            #[cfg(feature = "poll")]
            Self::Poll => Some(Builtin::of::<crate::watcher::poll::PollWatcher>()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

impl Watcher for WatcherKind {
    fn name(&self) -> &'static str {
        WatcherKind::name(*self)
    }

    fn trigger(&self) -> Trigger {
        self.builtin()
            .map_or(Trigger::Event, |builtin| builtin.trigger)
    }

    fn resync(&self) -> bool {
        self.builtin().is_none_or(|builtin| builtin.resync)
    }

    fn answers_reload_now(&self) -> bool {
        self.builtin()
            .is_some_and(|builtin| builtin.answers_reload_now)
    }

    fn establish(
        self: Box<Self>,
        source: &ConfigSource,
        options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Running> {
        match self.builtin() {
            Some(builtin) => (builtin.establish)(source, options, signals),
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                NotAvailable(*self),
            )),
        }
    }
}

/// A built-in watcher's code: what it reports and how it starts. Each
/// implements it as a type; [`WatcherKind`] turns the one named into a
/// [`Watcher`] value.
// Unused in a build with no built-in watcher (no default features).
#[cfg_attr(
    not(any(feature = "inotify", feature = "notify", feature = "poll")),
    allow(dead_code)
)]
pub(crate) trait BuiltinWatcher: Send + Sized + 'static {
    const TRIGGER: Trigger = Trigger::Event;
    const RESYNC: bool = true;
    const ANSWERS_RELOAD_NOW: bool = false;

    /// Starts watching; dropping the value stops it and joins its threads.
    fn establish(
        source: &ConfigSource,
        options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Self>;
}

struct Builtin {
    trigger: Trigger,
    resync: bool,
    answers_reload_now: bool,
    establish: fn(&ConfigSource, &WatchOptions, Signals) -> io::Result<Running>,
}

#[cfg_attr(
    not(any(feature = "inotify", feature = "notify", feature = "poll")),
    allow(dead_code)
)]
impl Builtin {
    fn of<W: BuiltinWatcher>() -> Self {
        Self {
            trigger: W::TRIGGER,
            resync: W::RESYNC,
            answers_reload_now: W::ANSWERS_RELOAD_NOW,
            establish: |source, options, signals| {
                W::establish(source, options, signals).map(|running| Box::new(running) as Running)
            },
        }
    }
}

impl Default for WatcherKind {
    /// inotify on Linux, `notify` elsewhere, `poll` where neither is compiled in.
    fn default() -> Self {
        Self::available().next().unwrap_or(Self::Poll)
    }
}

impl fmt::Display for WatcherKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an unknown watcher name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWatcher(String);

impl fmt::Display for UnknownWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = WatcherKind::ALL.iter().map(|kind| kind.name()).collect();
        write!(
            f,
            "unknown watcher {:?} (one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownWatcher {}

impl FromStr for WatcherKind {
    type Err = UnknownWatcher;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| UnknownWatcher(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in WatcherKind::ALL {
            assert_eq!(kind.name().parse::<WatcherKind>(), Ok(kind));
        }
        assert!("inotifyy".parse::<WatcherKind>().is_err());
    }

    #[test]
    fn the_default_is_available_and_inotify_on_linux() {
        assert!(WatcherKind::default().is_available());
        if cfg!(all(feature = "inotify", target_os = "linux")) {
            assert_eq!(WatcherKind::default(), WatcherKind::Inotify);
        }
    }
}

/// Why a [`WatcherKind`] left out of the build could not be established:
/// [`Builder::start`](crate::Builder::start) turns it into
/// [`StartError::WatcherNotAvailable`](crate::StartError::WatcherNotAvailable).
#[derive(Debug, thiserror::Error)]
#[error("the {0} watcher is not available in this build or on this platform")]
pub(crate) struct NotAvailable(pub(crate) WatcherKind);
