//! [`WatcherKind`]: the built-in ways of noticing a change, chosen at run
//! time.

use std::fmt;
use std::str::FromStr;

use crate::strategy::Erased;

/// A built-in way of noticing that the config changed. Each is compiled in
/// by the crate feature of the same name, and available where its platform
/// supports it ([`WatcherKind::is_available`]).
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
        match self {
            Self::Inotify => cfg!(all(feature = "inotify", target_os = "linux")),
            Self::Notify => cfg!(feature = "notify"),
            Self::Poll => cfg!(feature = "poll"),
        }
    }

    /// The kinds available in this build.
    pub fn available() -> impl Iterator<Item = WatcherKind> {
        Self::ALL.into_iter().filter(|kind| kind.is_available())
    }

    pub(crate) fn strategy(self) -> Option<Erased> {
        match self {
            #[cfg(all(feature = "inotify", target_os = "linux"))]
            Self::Inotify => Some(Erased::of::<crate::inotify_watcher::InotifyWatcher>()),
            #[cfg(feature = "notify")]
            Self::Notify => Some(Erased::of::<crate::notify_watcher::NotifyWatcher>()),
            #[cfg(feature = "poll")]
            Self::Poll => Some(Erased::of::<crate::poll_watcher::PollWatcher>()),
            #[allow(unreachable_patterns)]
            _ => None,
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
