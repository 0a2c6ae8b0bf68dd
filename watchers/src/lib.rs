//! Notice every real change of a config file and publish only complete, valid
//! configs.
//!
//! TODO(helper): crate docs, example, the measured pattern x strategy table.
//!
//! # The public API (fixed: the service is written against it)
//!
//! ```text
//! let watch = Watch::<InotifyWatcher, _, ArcSwapManager<Loaded<MyConfig>>>::start(
//!     ConfigSource::file("/etc/config/app.yaml"),
//!     YamlFile::<MyConfig>::new(),
//!     WatchOptions::default(),
//!     Arc::new(MyObserver),
//! )?;                                  // watch established, then initial load published
//! let current = watch.manager().snapshot();   // Snapshot<Loaded<MyConfig>>
//! watch.reload_now();                  // SIGHUP
//! watch.health();                      // Watching / Degraded / Stopped
//! drop(watch);                         // stops and joins every thread
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "testing")]
pub mod testing;

/// The blake3 hash of the bytes a config was decoded from (all keys, in order).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl fmt::Display for ContentHash {
    /// Lower-case hex of the first 16 bytes: enough to tell versions apart in
    /// an `ETag` or a metric label.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0[..16].iter().try_for_each(|byte| write!(f, "{byte:02x}"))
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
        let _ = path;
        todo!("helper")
    }

    /// Several keys of one directory, read under one resolution of `..data`.
    pub fn keys(dir: impl Into<PathBuf>, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self { dir: dir.into(), keys: keys.into_iter().map(Into::into).collect() }
    }

    /// The path of the first key, for messages.
    pub fn primary_path(&self) -> PathBuf {
        self.dir.join(&self.keys[0])
    }

    /// True when the directory uses the kubelet's `..data` layout.
    pub fn is_configmap_mount(&self) -> bool {
        todo!("helper")
    }
}

/// The contents of every key of a [`ConfigSource`], read under one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// `(key, bytes)` in the source's key order.
    pub entries: Vec<(String, Vec<u8>)>,
}

/// Turns the files of one load into a config; `Err` is the reason it is
/// rejected (the last good config stays published).
pub trait Decode<T>: Send + Sync + 'static {
    /// Decodes and validates one snapshot of the files.
    fn decode(&self, files: &Files) -> Result<T, String>;
}

/// A config type's own checks, run after parsing.
pub trait Validate {
    /// `Err` says, for a human, what is wrong.
    fn validate(&self) -> Result<(), String>;
}

/// The one YAML parse function of the project (serde-saphyr, with its budgets).
pub fn parse_yaml<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let _ = bytes;
    todo!("helper")
}

/// Decodes the first key of the source as YAML into `T` and validates it.
pub struct YamlFile<T>(std::marker::PhantomData<fn() -> T>);

impl<T> YamlFile<T> {
    /// The decoder.
    pub fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<T> Default for YamlFile<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Decode<T> for YamlFile<T>
where
    T: serde::de::DeserializeOwned + Validate + Send + Sync + 'static,
{
    fn decode(&self, files: &Files) -> Result<T, String> {
        let _ = files;
        todo!("helper")
    }
}

/// When a reload runs after the filesystem changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// After an in-place write with no close yet, wait this long without
    /// further writes before reloading.
    pub quiet: Duration,
    /// Reload no later than this after the first pending write, even if
    /// writes never stop.
    pub max_delay: Duration,
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
    Watch { path: PathBuf, source: std::io::Error },
    /// The initial config could not be loaded.
    #[error("{0}")]
    InitialLoad(LoadError),
}

/// A way of noticing changes: `NotifyWatcher`, `InotifyWatcher`, `PollWatcher`.
pub trait Strategy: Send + 'static {
    /// `"notify"`, `"inotify"` or `"poll"`.
    const NAME: &'static str;
    // TODO(helper): the internal hooks the shared driver needs.
}

/// A running watch: the manager it publishes to and the threads that feed it.
/// Dropping it stops and joins them.
pub struct Watch<S: Strategy, T: Send + Sync + 'static, M: managers::ConfigManager<Loaded<T>>> {
    manager: Arc<M>,
    _marker: std::marker::PhantomData<(S, fn() -> T)>,
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
        let _ = (source, decode, options, observer);
        todo!("helper")
    }

    /// The manager readers read from.
    pub fn manager(&self) -> &Arc<M> {
        &self.manager
    }

    /// Reloads now (SIGHUP), whatever the events said.
    pub fn reload_now(&self) {
        todo!("helper")
    }

    /// Whether changes are still being noticed.
    pub fn health(&self) -> WatchHealth {
        todo!("helper")
    }
}
