//! Notice every real change of a config file and publish only complete, valid
//! configs.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod debounce;
mod decode;
#[cfg(any(feature = "notify", all(feature = "inotify", target_os = "linux")))]
mod dir_watch;
#[cfg(all(feature = "inotify", target_os = "linux"))]
mod inotify_watcher;
mod loader;
#[cfg(feature = "notify")]
mod notify_watcher;
#[cfg(feature = "poll")]
mod poll_watcher;
pub mod strategy;
mod watch;

pub use debounce::{Change, Debounce};
pub use decode::{Decode, Files, Validate, YamlFile, parse_yaml};
#[cfg(all(feature = "inotify", target_os = "linux"))]
pub use inotify_watcher::InotifyWatcher;
pub use loader::{load, read_files};
#[cfg(feature = "notify")]
pub use notify_watcher::NotifyWatcher;
#[cfg(feature = "poll")]
pub use poll_watcher::{PollWatcher, RACY_WINDOW};
pub use strategy::{Signals, Strategy};
pub use watch::Watch;

#[cfg(feature = "testing")]
pub mod testing;

/// The blake3 hash of the bytes a config was decoded from (all keys, in order).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl fmt::Display for ContentHash {
    /// Lower-case hex of the first 16 bytes: enough to tell versions apart in
    /// an `ETag` or a metric label.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0[..16]
            .iter()
            .try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// What a successful load publishes to the manager.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The decoded, validated config.
    pub config: T,
    /// The hash of the bytes it was decoded from.
    pub hash: ContentHash,
}

/// What to watch: one file, or several keys of one ConfigMap mount read as one
/// consistent snapshot.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The directory holding the keys (a ConfigMap mount, or any directory).
    pub dir: PathBuf,
    /// The file names read on every load, in this order.
    pub keys: Vec<String>,
}

impl ConfigSource {
    /// One config file. Its parent directory is watched; when that directory
    /// is a ConfigMap mount (`..data`), the file is read through `..data`.
    pub fn file(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let key = path.file_name().map_or_else(
            || path.to_string_lossy().into_owned(),
            |name| name.to_string_lossy().into_owned(),
        );
        Self {
            dir,
            keys: vec![key],
        }
    }

    /// Several keys of one directory, read under one resolution of `..data`.
    pub fn keys(
        dir: impl Into<PathBuf>,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            dir: dir.into(),
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// The path of the first key, for messages.
    pub fn primary_path(&self) -> PathBuf {
        self.dir.join(&self.keys[0])
    }

    /// True when the directory uses the kubelet's `..data` layout.
    pub fn is_configmap_mount(&self) -> bool {
        fs::symlink_metadata(self.dir.join(loader::DATA_LINK))
            .is_ok_and(|metadata| metadata.file_type().is_symlink())
    }
}

/// Settings shared by every strategy.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// When to reload after events.
    pub debounce: Debounce,
    /// Event strategies: re-read and compare the hash this often, to catch a
    /// change no event announced. `None` turns it off.
    pub resync_interval: Option<Duration>,
    /// `PollWatcher`: how often to stat the resolution chain.
    pub poll_interval: Duration,
    /// A config larger than this is rejected before it is read into memory.
    pub max_config_bytes: u64,
}

impl Default for WatchOptions {
    /// Resync every 60 s (a safety net, not the way changes are noticed),
    /// poll every 100 ms (ten cheap stats a second; a ConfigMap update
    /// already took the kubelet tens of seconds), reject configs over 1 MiB
    /// (a real config is a few KiB; anything bigger is a mistake).
    fn default() -> Self {
        Self {
            debounce: Debounce::default(),
            resync_interval: Some(Duration::from_secs(60)),
            poll_interval: Duration::from_millis(100),
            max_config_bytes: 1024 * 1024,
        }
    }
}

/// What caused a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The load at start-up.
    Initial,
    /// A filesystem event (after debounce).
    Event,
    /// The periodic resync of an event strategy.
    Resync,
    /// `PollWatcher` saw the resolution chain change.
    Poll,
    /// The event queue overflowed: events were lost, so reload everything.
    Overflow,
    /// [`Watch::reload_now`] (SIGHUP).
    Manual,
}

/// Why a load was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file (or directory) that could not be used.
    pub path: PathBuf,
    /// What was wrong, for a human.
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for LoadError {}

/// How one reload ended.
#[derive(Debug, Clone)]
pub enum ReloadOutcome {
    /// New content, valid, published as `version`.
    Published { version: u64, hash: ContentHash },
    /// The content hash equals the published one: nothing published.
    Unchanged,
    /// Rejected; the last good config stays published.
    Failed(LoadError),
}

/// One reload, as reported to the [`Observer`].
#[derive(Debug, Clone)]
pub struct ReloadReport {
    pub trigger: Trigger,
    pub outcome: ReloadOutcome,
    /// From the first event that caused it (or the start of the load) to the
    /// end of the publish.
    pub took: Duration,
}

/// Hooks the service turns into logs and metrics. All default to nothing.
pub trait Observer: Send + Sync + 'static {
    /// A raw filesystem event that concerns the config arrived.
    fn event(&self) {}
    /// A reload finished.
    fn reload(&self, report: &ReloadReport) {
        let _ = report;
    }
    /// The resync found changed content that no event had announced.
    fn resync_found_change(&self) {}
    /// The watch broke (and is being re-established, or cannot be).
    fn watch_error(&self, message: &str) {
        let _ = message;
    }
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Whether the watch still notices changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchHealth {
    /// Changes are being noticed.
    Watching,
    /// The watch is being re-established (e.g. the directory is gone).
    Degraded(String),
    /// The watcher stopped and will not notice changes again.
    Stopped(String),
}

/// Why [`Watch::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The watch could not be set up.
    #[error("cannot watch {path}: {source}")]
    Watch {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The initial config could not be loaded.
    #[error("{0}")]
    InitialLoad(LoadError),
}
