//! Watch a config file, reload it when it changes, serve only complete,
//! valid versions: what a Kubernetes service needs from a ConfigMap volume,
//! and what any service needs from a file an editor or a script rewrites.
//!
//! ```no_run
//! #[derive(serde::Deserialize)]
//! struct AppConfig {
//!     message: String,
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = config_reload::Watch::<AppConfig>::file("/etc/config/app.yaml")?;
//! let current = config.get();           // derefs to AppConfig; .version(), .hash()
//! let mut changes = config.subscribe(); // changes.changed().await wakes after publishes (several coalesce)
//! # changes.changed().await?;
//! # Ok(())
//! # }
//! ```
//!
//! `AppConfig` needs only `serde::Deserialize`. The format comes from the
//! extension (`.yaml`/`.yml`, `.json`, `.toml`); the watcher is inotify on
//! Linux; readers read through an `ArcSwap` (no lock, scales with cores).
//! [`Watch::file`] returns once the watch is established and the file is
//! loaded and valid; from then on a change is served about 0.3 ms (p50,
//! inotify, measured in the project's `docs/results.md`) after its commit
//! (the kubelet's `..data` rename, an editor's rename, a writer's close), a
//! broken edit is rejected, logged through `tracing` (target
//! `config_reload`) and the last good config kept, and a reload that fails
//! for a reason that can go away is retried.
//!
//! Anything else goes through [`Watch::builder`]: several keys of one
//! ConfigMap read as one snapshot ([`ConfigSource::keys`] with a decoding
//! closure, [`Watch::decoding`]), the watcher ([`WatcherKind`]), the manager
//! design readers read through ([`Builder::manager`], from
//! [`managers::design`]), the format, a validation hook, defaults under the
//! file and environment overrides over it (feature `layers`:
//! `Builder::defaults`, `Builder::env_prefix`), an [`Observer`] for
//! metrics, the [`WatchOptions`]:
//!
//! ```no_run
//! use std::sync::Arc;
//! use config_reload::{ConfigSource, Files, Watch, WatcherKind};
//!
//! #[derive(serde::Deserialize)]
//! struct App { port: u16 }
//! #[derive(serde::Deserialize)]
//! struct Limits { max_connections: u32 }
//! struct Config { app: App, limits: Limits }
//!
//! let source = ConfigSource::keys("/etc/config", ["app.yaml", "limits.toml"]);
//! let config = Watch::<Config>::decoding(source, |files: &Files| {
//!     Ok(Config { app: files.parse("app.yaml")?, limits: files.parse("limits.toml")? })
//! })
//!     .watcher(WatcherKind::Poll)
//!     .manager::<config_reload::managers::design::Mutex>()
//!     .start()?;
//! println!("{} connections on port {}", config.get().limits.max_connections, config.get().app.port);
//! # Ok::<(), config_reload::StartError>(())
//! ```
//!
//! The crate's `examples/` hold the three-line start, a multi-key ConfigMap,
//! and an axum service that holds a `Watch` in its state and reacts to
//! `subscribe`.
//!
//! # How a reload works, whatever noticed it
//!
//! Every watcher only *notices*; one driver thread per [`Watch`] does the
//! rest, the same way for all of them:
//!
//! 1. **Debounce** ([`Debounce`]): an atomic commit (a rename, a delete, a
//!    symlink swap, the writer's close) reloads at once; an in-place write
//!    waits for its writer's close (`IN_CLOSE_WRITE`), never for a quiet
//!    timer, because every prefix of a YAML file can parse.
//! 2. **Read**: in a ConfigMap mount `..data` is resolved
//!    once and every key is read from that one directory, so keys updated
//!    together are read together; if the kubelet deletes that directory
//!    mid-read, the read is retried against the new `..data`. Files over
//!    `max_config_bytes` are refused from their size, before being read.
//! 3. **Compare**: the blake3 hash of every key's name and bytes equals the
//!    published one → nothing to do (a `touch`, a same-content rewrite).
//! 4. **Decode and validate** ([`Format`], [`Decode`]): YAML (serde-saphyr,
//!    with its budgets against alias bombs and deep nesting, duplicate keys
//!    rejected), JSON (serde_json) or TOML (`toml`), then the validation hook.
//! 5. **Publish** or **report**: a new valid config is published; anything
//!    else is a [`ReloadOutcome::Failed`] with a typed [`LoadError`], logged
//!    (`warn`, once per streak for repeated trouble) and sent to the
//!    [`Observer`], and the last good config stays. Its
//!    [`LoadErrorKind`] says what to fix, and its [`label`](LoadErrorKind::label)
//!    is what metrics count: [`Syntax`](LoadErrorKind::Syntax) (`syntax`: not
//!    a document of the format), [`Schema`](LoadErrorKind::Schema) (a
//!    document that does not fit the type, by [`SchemaErrorKind`]:
//!    `wrong_type`, `missing_field`, `unknown_field`, `duplicate_key`),
//!    [`Invalid`](LoadErrorKind::Invalid) (`invalid`: refused by the
//!    validation hook, a [`ValidationError`]), or a reason the file could not
//!    be read (`missing`, `permission_denied`, `io`, ...). A reason never
//!    quotes the file: a decoding error gives the line, the column and the
//!    field's path as the type names it (`servers[2].port`; a map's keys,
//!    which are the file's, show as `<key>`).
//! 6. **Retry** what can go away: a load that failed with `EMFILE`, `EIO`,
//!    `ESTALE`, ... ([`LoadError::is_transient`]) is tried again with capped
//!    exponential backoff ([`Backoff`]) until it succeeds or fails for a
//!    content reason; each retry goes to [`Observer::retrying`].
//!
//! Event watchers also **resync**: every `resync_interval` the content is
//! re-read and compared (never while an in-place write is open), so a change
//! no event announced (written through a hard link elsewhere, events lost) is
//! still published, and counted ([`Observer::resync_found_change`]). A
//! **watchdog** reports a reload that runs longer than
//! [`WatchOptions::stuck_after`] ([`Observer::reload_stuck`],
//! [`Watch::reload_running_for`]): a read blocked in a hung filesystem.
//!
//! **Threads.** A watch runs two: its watcher's (inotify's reader, the
//! poller, the Kubernetes API's runtime) and its reload thread; the `notify`
//! watcher four (notify's own, one forwarding its events, one watching the
//! mount table, the reload thread). One watchdog thread serves every watch
//! of the process. Dropping a [`Watch`] joins its threads.
//!
//! # The Kubernetes API as a source (feature `kube`)
//!
//! `KubeSource` reads one ConfigMap or Secret through the API (a
//! list-then-watch loop on kube-rs's client, on a small tokio runtime of its
//! own thread) and hands each version's keys to the driver, which hashes,
//! decodes, validates, publishes and reports them exactly as a load of the
//! files ([`watcher::Signals::content`]). Alone
//! (`Watch::builder(ConfigSource::kube(..))`) a change is served about a
//! millisecond after the API server sends it, instead of the kubelet's
//! minute. A watch that goes silent without closing is abandoned after
//! `KubeSource::silence_timeout` (45 s), a server whose history went back
//! (an etcd restore) is listed again, and every failed watch backs off.
//! Beside the volume (`ConfigSource::with_kube`) the API decides while it can
//! deliver: the volume never brings back a version the API replaced,
//! however far behind; each report says its [`ReloadReport::source`], the
//! [`Observer::skew`] between the two, the propagation delay from the
//! object's write, and [`Observer::sources_disagree`] when they differ for
//! longer than the volume may lag. If the API is unreachable or forbidden,
//! the volume carries on and the health says why. `docs/kube.md` has the
//! model of a real cluster, the failure modes, RBAC and the load.
//!
//! # The watchers ([`WatcherKind`], chosen at run time)
//!
//! - `Inotify` (Linux): inotify used directly on its own thread.
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
//! - `Notify`: the same design on the portable `notify` crate
//!   (inotify, FSEvents, kqueue, ReadDirectoryChangesW).
//! - `Poll`: no events; every `poll_interval` it stats the whole
//!   resolution chain (each symlink's target, `..data`, the file's inode,
//!   size, mtime and ctime) and reads content only when something differs,
//!   or while an mtime is too recent to be trusted (2 s). An
//!   in-place change is published once it has stayed the same for
//!   [`Debounce::poll_settle`]. Works where events do not: network
//!   filesystems, some container runtimes' overlays.
//!
//! # Pattern × watcher
//!
//! Every row is a test run against every watcher, each pattern several
//! times in a row on one running watcher (`watchers/tests/matrix.rs` and
//! `reliability_faults.rs`); every bad input of `watchers/tests/bad_inputs.rs`
//! (invalid YAML, empty, wrong shape, missing field, non-UTF-8, over the
//! limit, alias bomb, deep nesting, a directory, a dangling symlink, a
//! symlink loop, permission denied) is rejected with its reason by every
//! watcher, and the next good file published.
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
//! | 1000 kubelet updates in a burst | last one served | last one served | last one served | commits reload at once, so event watchers publish many intermediate versions (each complete and valid); the poller sees one state per tick |
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
//! Latency, idle cost and reload cost of each watcher, measured, are in
//! `docs/results.md` (regenerated by `cargo run -p results --release -- all`).
//! **Which to choose:** `Inotify` on Linux (the lowest latency, no idle
//! wake-ups: the default there); `Notify` where the code must also run on
//! macOS or the BSDs (the default there); `Poll` only where file events do
//! not arrive (network filesystems, some FUSE and bind mounts), with the
//! longest interval the service can wait.
//!
//! # Platforms
//!
//! Unix: Linux (every watcher; inotify and the mount-table watch are
//! Linux-only), macOS and the BSDs (`Notify`, `Poll`). The loader and the
//! watchers use Unix file identities (device, inode) and symlinks;
//! Windows is not supported.

#![deny(missing_docs)]

mod authority;
#[cfg(any(feature = "notify", all(feature = "inotify", target_os = "linux")))]
mod chain_watch;
mod current;
mod debounce;
mod decode;
mod driver;
mod error;
mod field_path;
mod format;
#[cfg(all(feature = "inotify", target_os = "linux"))]
mod inotify_watcher;
mod kind;
#[cfg(feature = "kube")]
mod kube;
#[cfg(feature = "layers")]
mod layers;
mod ledger;
#[cfg(all(target_os = "linux", any(feature = "notify", feature = "inotify")))]
mod limits;
mod loader;
mod log_observer;
#[cfg(all(target_os = "linux", any(feature = "notify", feature = "inotify")))]
mod mounts;
#[cfg(feature = "notify")]
mod notify_watcher;
mod options;
#[cfg(feature = "poll")]
mod poll_watcher;
mod report;
mod source;
pub mod watcher;
// Rate-limited logging, shared with the service's listener: not part of
// the API.
#[doc(hidden)]
pub mod streak;
#[cfg(all(target_os = "linux", any(feature = "notify", feature = "inotify")))]
mod wake;
mod watch;
mod watchdog;

/// The manager designs readers read through ([`Builder::manager`]): the
/// `config-reload-managers` crate, re-exported so one dependency is enough.
pub use config_reload_managers as managers;
pub(crate) use current::Loaded;

pub use current::{CachedReader, Current, Published};
pub use debounce::Debounce;
pub use decode::{Decode, Files};
pub use error::{
    DecodeError, LoadError, LoadErrorKind, ParseError, SchemaError, SchemaErrorKind, StartError,
    SyntaxError, ValidationError,
};
pub use format::Format;
pub use kind::{UnknownWatcher, WatcherKind};
#[cfg(feature = "kube")]
pub use kube::KubeSource;
pub use options::{Backoff, WatchOptions};
pub use report::{
    Disagreement, NoObserver, Observer, ReloadOutcome, ReloadReport, Skew, Trigger, WatchHealth,
};
pub use source::{ConfigSource, ContentHash};
pub use watch::{Builder, DefaultDesign, Watch};

#[cfg(feature = "testing")]
pub mod testing;
