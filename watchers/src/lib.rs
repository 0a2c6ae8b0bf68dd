//! Notice every real change of a config file and publish only complete, valid
//! configs.
//!
//! A running process reads its config on every request; an operator changes
//! the file under it: the kubelet swaps a ConfigMap volume's `..data`
//! symlink, an editor renames a new file over the old one, a script rewrites
//! it in place. This crate notices each of those, reads the new content as
//! one consistent snapshot, decodes and validates it, and publishes it to a
//! [`managers::ConfigManager`] only when it is new and valid. A broken edit
//! is reported with its reason and the last good config keeps being served.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use managers::{ArcSwapManager, ConfigManager};
//! use watchers::{ConfigSource, InotifyWatcher, Loaded, NoObserver, Validate, Watch, WatchOptions, YamlFile};
//!
//! #[derive(serde::Deserialize)]
//! struct MyConfig {
//!     message: String,
//! }
//!
//! impl Validate for MyConfig {
//!     fn validate(&self) -> Result<(), String> {
//!         if self.message.is_empty() { Err("message must not be empty".into()) } else { Ok(()) }
//!     }
//! }
//!
//! let watch = Watch::<InotifyWatcher, _, ArcSwapManager<Loaded<MyConfig>>>::start(
//!     ConfigSource::file("/etc/config/app.yaml"),
//!     YamlFile::<MyConfig>::new(),
//!     WatchOptions::default(),
//!     Arc::new(NoObserver),
//! )?; // watch established, then the initial config loaded and published
//! let current = watch.manager().snapshot(); // Snapshot<Loaded<MyConfig>>
//! println!("{} (content {})", current.config.config.message, current.config.hash);
//! watch.reload_now(); // what SIGHUP does
//! println!("{:?}", watch.health()); // Watching / Degraded / Stopped
//! drop(watch); // stops and joins every thread
//! # Ok::<(), watchers::StartError>(())
//! ```
//!
//! # How a reload works, whatever noticed it
//!
//! Every strategy only *notices*; one driver thread per [`Watch`] does the
//! rest, the same way for all of them:
//!
//! 1. **Debounce** ([`Debounce`]): an atomic commit (a rename, a delete, a
//!    symlink swap, the writer's close) reloads at once; an in-place write
//!    waits for its writer's close (`IN_CLOSE_WRITE`), never for a quiet
//!    timer, because every prefix of a YAML file can parse.
//! 2. **Read** ([`read_files`]): in a ConfigMap mount `..data` is resolved
//!    once and every key is read from that one directory, so keys updated
//!    together are read together; if the kubelet deletes that directory
//!    mid-read, the read is retried against the new `..data`. Files over
//!    `max_config_bytes` are refused from their size, before being read.
//! 3. **Compare**: the blake3 hash of every key's name and bytes equals the
//!    published one → nothing to do (a `touch`, a same-content rewrite).
//! 4. **Decode and validate** ([`Decode`], [`YamlFile`], [`parse_yaml`]):
//!    serde-saphyr with its budgets (alias bombs, deep nesting), duplicate
//!    keys rejected, then the type's own [`Validate`].
//! 5. **Publish** or **report**: a new valid config is published; anything
//!    else is a [`ReloadOutcome::Failed`] with a typed [`LoadError`], sent to
//!    the [`Observer`], and the last good config stays. A reason never quotes
//!    the file (a parse error gives the line, the column and the names the
//!    type expects).
//! 6. **Retry** what can go away: a load that failed with `EMFILE`, `EIO`,
//!    `ESTALE`, ... ([`LoadError::is_transient`]) is tried again with capped
//!    exponential backoff ([`Backoff`]) until it succeeds or fails for a
//!    content reason; each retry goes to [`Observer::retrying`].
//!
//! Event strategies also **resync**: every `resync_interval` the content is
//! re-read and compared (never while an in-place write is open), so a change
//! no event announced (written through a hard link elsewhere, events lost) is
//! still published, and counted ([`Observer::resync_found_change`]). A
//! **watchdog** reports a reload that runs longer than
//! [`WatchOptions::stuck_after`] ([`Observer::reload_stuck`],
//! [`Watch::reload_running_for`]): a read blocked in a hung filesystem.
//!
//! # The strategies
//!
//! - [`InotifyWatcher`] (Linux): inotify used directly on its own thread.
//!   Watches directories, never the file (a watched file is replaced, never
//!   written, by the kubelet and by editors), and matches events by *name*
//!   (a key or `..data`), whatever their kind. It resolves the config's path
//!   component by component and watches every directory it passes through
//!   where a change could redirect it: the one holding the files, its parent,
//!   and every directory holding a symlink on the way. After a name on the
//!   way changes, a watch is lost (`IN_IGNORED`, `IN_UNMOUNT`, the directory
//!   deleted or moved) or the mount table changes (`/proc/self/mountinfo`),
//!   it resolves the path again and moves the watches; meanwhile the health
//!   is `Degraded` with the reason. `IN_Q_OVERFLOW` reloads everything.
//! - [`NotifyWatcher`]: the same design on the portable `notify` crate
//!   (inotify, FSEvents, kqueue, ReadDirectoryChangesW).
//! - [`PollWatcher`]: no events; every `poll_interval` it stats the whole
//!   resolution chain (each symlink's target, `..data`, the file's inode,
//!   size, mtime and ctime) and reads content only when something differs,
//!   or while an mtime is too recent to be trusted ([`RACY_WINDOW`]). An
//!   in-place change is published once it has stayed the same for
//!   [`Debounce::poll_settle`]. Works where events do not: network
//!   filesystems, some container runtimes' overlays.
//!
//! # Pattern × strategy
//!
//! Every row is a test run against every strategy, each pattern several
//! times in a row on one running watcher (`watchers/tests/matrix.rs` and
//! `reliability_faults.rs`); every bad input of `watchers/tests/bad_inputs.rs`
//! (invalid YAML, empty, wrong shape, missing field, non-UTF-8, over the
//! limit, alias bomb, deep nesting, a directory, a dangling symlink, a
//! symlink loop, permission denied) is rejected with its reason by every
//! strategy, and the next good file published.
//!
//! | pattern | notify | inotify | poll | notes |
//! |---|---|---|---|---|
//! | kubelet update, either symlink order | yes | yes | yes | the `..data` rename, matched by name; poll sees `..data`'s target change |
//! | several keys of one ConfigMap | yes | yes | yes | read under one `..data` resolution: never a mix of two updates |
//! | a key added or removed | yes | yes | yes | the watched key removed: reported as missing, last good kept |
//! | rename-replace (vim, `sed -i`, `mv`) | yes | yes | yes | new inode: `IN_MOVED_TO`; poll: inode |
//! | in-place rewrite (`>`, `cp`) | yes | yes | yes | reloads on the writer's close; poll: once stable for `poll_settle` |
//! | slow writer, every prefix valid YAML | only the whole file | only the whole file | only the whole file | waits for the close; poll: a pause longer than `poll_settle` would be taken for the end |
//! | delete, then create | yes | yes | yes | the missing file is reported; the new one published on its close |
//! | plain symlink swap (`ln -sfn`) | yes | yes | yes | the link's rename; poll: the link's target |
//! | the path a symlink into another directory, or a chain of them relinked | yes | yes | yes | every directory on the way watched |
//! | the config directory swapped by rename, deleted and re-created | yes | yes | yes | `health()` is `Degraded` while it is gone |
//! | the filesystem unmounted and mounted again, or a mount over the directory | yes | yes | yes | `IN_UNMOUNT`/`IN_IGNORED` and the mount table |
//! | `EIO`, `EMFILE` while reading | retried | retried | retried | backoff 100 ms … 5 s |
//! | a read that never returns (hung filesystem) | reported | reported | reported | the last good config served meanwhile |
//! | `touch`, same content rewritten | nothing published | nothing published | nothing published | looked at, equal hash |
//! | 1000 kubelet updates in a burst | last one served | last one served | last one served | commits reload at once, so event strategies publish many intermediate versions (each complete and valid); the poller sees one state per tick |
//! | a write no event announces (hard link elsewhere) | by resync | by resync | yes | resync counted |
//! | a `subPath` mount | never updated | never updated | never updated | the kubelet does not update `subPath` mounts: mount the directory |
//!
//! # Limits
//!
//! - A poller cannot see a writer's close: a writer pausing longer than
//!   `poll_settle` between two writes is taken for done, and a file created
//!   in place is not told apart from one renamed in.
//! - A writer that reopens the file in place within microseconds of its
//!   previous close can race the reload that close started. Before it
//!   publishes, a reload checks that every event from before its read has
//!   arrived and that none was a write; inotify's event batches are fenced
//!   against that check, `notify`'s reading thread cannot be, so with
//!   `NotifyWatcher` such a burst can publish a prefix (measured: about 1
//!   burst in 15 of 300 back-to-back rewrites).
//! - A writer that never closes the file is taken for done after
//!   [`Debounce::unclosed_write_timeout`] without a write
//!   ([`Trigger::UnclosedWrite`]); `notify`'s macOS and BSD backends report
//!   no close, so there every in-place write waits for it.
//! - A thread blocked in the kernel on a hung filesystem cannot be woken: the
//!   stuck reload is reported, not cancelled, and later changes wait for it.
//! - Directories above the config's parent are not watched; the resync
//!   covers them.
//!
//! Latency, idle cost and reload cost of each strategy, measured, are in
//! `docs/results.md` (regenerated by `cargo run -p results --release -- all`).
//! **Which to choose:** `InotifyWatcher` on Linux (the lowest latency, no
//! idle wake-ups); `NotifyWatcher` where the code must also run on macOS or
//! Windows; `PollWatcher` only where file events do not arrive (network
//! filesystems, some FUSE and bind mounts), with the longest interval the
//! service can wait.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(any(feature = "notify", all(feature = "inotify", target_os = "linux")))]
mod chain_watch;
mod debounce;
mod decode;
mod error;
#[cfg(all(feature = "inotify", target_os = "linux"))]
mod inotify_watcher;
mod loader;
#[cfg(all(target_os = "linux", any(feature = "notify", feature = "inotify")))]
mod mounts;
#[cfg(feature = "notify")]
mod notify_watcher;
#[cfg(feature = "poll")]
mod poll_watcher;
mod strategy;
#[cfg(all(target_os = "linux", any(feature = "notify", feature = "inotify")))]
mod wake;
mod watch;
mod watchdog;

pub use debounce::{Change, Debounce};
pub use decode::{Decode, Files, Validate, YamlFile, parse_yaml};
pub use error::{DecodeError, LoadError, LoadErrorKind, ParseError};
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
    /// `PollWatcher`: how often to stat the resolution chain. Event
    /// strategies: how often to retry re-establishing a lost directory watch.
    pub poll_interval: Duration,
    /// A config larger than this is rejected before it is read into memory.
    pub max_config_bytes: u64,
    /// How a load that failed for a reason that can go away
    /// ([`LoadError::is_transient`]) is retried.
    pub retry: Backoff,
    /// A reload running longer than this is reported once
    /// ([`Observer::reload_stuck`]): its filesystem is probably hung.
    pub stuck_after: Duration,
}

/// Capped exponential backoff: `initial`, then twice the previous delay, never
/// more than `max`, until the load succeeds or fails for a content reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub initial: Duration,
    /// The longest delay between two retries.
    pub max: Duration,
}

impl Default for Backoff {
    /// 100 ms, then 200 ms, 400 ms, ... up to 5 s: a full descriptor table or a
    /// flaky network filesystem usually clears within seconds, and a retry is
    /// one open and one read.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1_u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
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
            retry: Backoff::default(),
            stuck_after: Duration::from_secs(5),
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
    /// An in-place write whose writer never closed the file, after
    /// [`Debounce::unclosed_write_timeout`] without another write.
    UnclosedWrite,
}

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
    /// The watch broke (and is being re-established, or cannot be). Called
    /// for every failure, also each failed retry of a broken watch.
    fn watch_error(&self, message: &str) {
        let _ = message;
    }
    /// The watch is established again after [`Observer::watch_error`].
    fn watch_restored(&self) {}
    /// A reload has been running for `running_for`, longer than
    /// [`WatchOptions::stuck_after`]: a read is probably stuck in a hung
    /// filesystem. Called once per such reload; the last good config is
    /// still served, but no change is published until it returns.
    fn reload_stuck(&self, running_for: Duration) {
        let _ = running_for;
    }
    /// The reload [`Observer::reload_stuck`] reported ended after `took`.
    fn stuck_reload_finished(&self, took: Duration) {
        let _ = took;
    }
    /// A load failed for a reason that can go away and is retried after
    /// `delay`; `attempt` counts the retries of this streak from 1. The first
    /// failure of a streak is also reported as a failed reload; the streak
    /// ends with the next reported reload.
    fn retrying(&self, error: &LoadError, attempt: u32, delay: Duration) {
        let _ = (error, attempt, delay);
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
