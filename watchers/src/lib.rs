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
//! # Read more
//!
//! - [`docs::reload`]: what every watcher does the same way (debounce, read,
//!   compare, decode and validate, publish or report, retry), the resync,
//!   the watchdog, the threads.
//! - [`docs::watchers`]: inotify, notify and poll, and the table of every
//!   update pattern against each (each row a test).
//! - [`docs::kube`]: the Kubernetes API as a source, alone or beside the
//!   volume.
//! - [`docs::limits`]: what no watcher can do, which to choose, the
//!   platforms.

#![deny(missing_docs)]

mod current;
mod decode;
pub mod docs;
mod error;
mod field_path;
mod format;
#[cfg(feature = "kube")]
mod kube;
#[cfg(feature = "layers")]
mod layers;
mod options;
mod reload;
mod report;
mod source;
pub mod watcher;
// Rate-limited logging, shared with the service's listener: not part of
// the API.
#[doc(hidden)]
pub mod streak;
mod watch;

/// The manager designs readers read through ([`Builder::manager`]): the
/// `config-reload-managers` crate, re-exported so one dependency is enough.
pub use config_reload_managers as managers;
pub(crate) use current::Loaded;

pub use current::{CachedReader, Current, Published};
pub use decode::{Decode, Files};
pub use error::{
    DecodeError, LoadError, LoadErrorKind, ParseError, SchemaError, SchemaErrorKind, StartError,
    SyntaxError, ValidationError,
};
pub use format::Format;
#[cfg(feature = "kube")]
pub use kube::KubeSource;
pub use options::{Backoff, WatchOptions};
pub use reload::debounce::Debounce;
pub use report::{
    Disagreement, NoObserver, Observer, ReloadOutcome, ReloadReport, Skew, Trigger, WatchHealth,
};
pub use source::{ConfigSource, ContentHash};
pub use watch::{Builder, DefaultDesign, Watch};
pub use watcher::kind::{UnknownWatcher, WatcherKind};

#[cfg(feature = "testing")]
pub mod testing;
