//! [`Watch`]: a running watch of one config, and the [`Builder`] that starts
//! one with anything but the defaults.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use config_reload_managers::{ConfigManager, Design};
use tokio::sync::watch as channel;

use crate::current::PublishHook;
use crate::decode::{FormatDecoder, Validator};
use crate::reload::authority::{Authority, Shown};
use crate::reload::debounce::Debouncer;
use crate::reload::driver::Driver;
use crate::reload::loader::{Initial, Loader, load, load_content, read_files};
use crate::reload::log_observer::LogObserver;
use crate::reload::watchdog::Watchdog;
use crate::watcher::inbox::Inbox;
use crate::watcher::kind::NotAvailable;
use crate::watcher::{Batches, HealthCell, ReloadHooks, Running, Signal, Signals, Watcher};
use crate::{
    ConfigSource, Current, Decode, Disagreement, Format, LoadError, LoadErrorKind, Loaded,
    NoObserver, Observer, Published, ReloadOutcome, ReloadReport, StartError, Trigger,
    ValidationError, WatchHealth, WatchOptions, WatcherKind,
};

/// The manager a watch reads from unless told otherwise: `ArcSwap`, whose
/// reads take no lock and scale with cores.
pub type DefaultDesign = config_reload_managers::design::ArcSwap;

/// A running watch of one config: the config is loaded at start, every
/// change is noticed, read whole, decoded, validated and, if new and valid,
/// published; readers always read the last good one. Dropping it stops and
/// joins every thread it started.
///
/// `T` is the config type (anything `Deserialize`); `D` the manager design
/// readers read through ([`crate::managers::design`], `ArcSwap` by default).
///
/// ```no_run
/// #[derive(serde::Deserialize)]
/// struct AppConfig { message: String }
///
/// let config = config_reload::Watch::<AppConfig>::file("/etc/config/app.yaml")?;
/// let current = config.get();           // derefs to AppConfig; .version(), .hash()
/// let mut changes = config.subscribe(); // changes.changed().await wakes on every publish
/// # Ok::<(), config_reload::StartError>(())
/// ```
pub struct Watch<T, D = DefaultDesign>
where
    T: Send + Sync + 'static,
    D: Design,
{
    manager: Arc<D::Manager<Loaded<T>>>,
    changes: channel::Receiver<Current<T>>,
    inbox: Arc<Inbox>,
    /// Called by `reload_now` beside the reload of the files.
    reload_hooks: Arc<ReloadHooks>,
    /// Whether `reload_now` reloads the files at once: there are files, and
    /// their watcher does not answer it itself (the poller).
    reloads_files_now: bool,
    /// The sources' disagreement, once reported.
    disagreement: Arc<Mutex<Option<Shown>>>,
    /// Each watcher's health, by name.
    healths: Vec<(&'static str, Arc<HealthCell>)>,
    /// The driver's: `Stopped` if it panicked.
    own_health: Arc<HealthCell>,
    watchdog: Arc<Watchdog>,
    watcher: &'static str,
    // Dropped before the driver is stopped: no signal arrives after `Stop`.
    watchers: Mutex<Vec<Running>>,
    driver: Option<JoinHandle<()>>,
}

impl<T> Watch<T>
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    /// Watches one file with every default: the format from its extension
    /// (`.yaml`, `.yml`, `.json`, `.toml`), inotify on Linux (`notify`
    /// elsewhere), the `ArcSwap` manager, [`WatchOptions::default`]. Returns
    /// once the watch is established and the file loaded and valid.
    ///
    /// ```no_run
    /// #[derive(serde::Deserialize)]
    /// struct AppConfig { port: u16 }
    ///
    /// let config = config_reload::Watch::<AppConfig>::file("/etc/config/app.toml")?;
    /// println!("port {}", config.get().port);
    /// # Ok::<(), config_reload::StartError>(())
    /// ```
    pub fn file(path: impl AsRef<Path>) -> Result<Self, StartError> {
        Self::builder(ConfigSource::file(path)).start()
    }

    /// A builder for anything but the defaults: several ConfigMap keys, the
    /// watcher, the manager, the format, a validation hook, an observer, the
    /// options.
    ///
    /// ```no_run
    /// use config_reload::{ConfigSource, Format, Watch, WatcherKind};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct AppConfig { port: u16 }
    ///
    /// let config = Watch::<AppConfig>::builder(ConfigSource::file("/etc/config/app.conf"))
    ///     .format(Format::Toml)
    ///     .watcher(WatcherKind::Poll)
    ///     .validate(|config: &AppConfig| if config.port == 0 { Err("port 0".into()) } else { Ok(()) })
    ///     .manager::<config_reload::managers::design::Mutex>()
    ///     .start()?;
    /// # Ok::<(), config_reload::StartError>(())
    /// ```
    pub fn builder(source: ConfigSource) -> Builder<T> {
        Builder::new(
            source,
            Decoding::Format {
                format: None,
                make: FormatDecoder::shared,
                #[cfg(feature = "layers")]
                layers: Default::default(),
            },
        )
    }
}

impl<T> Watch<T>
where
    T: Send + Sync + 'static,
{
    /// A builder whose snapshots `decode` turns into a `T`, which need not be
    /// `Deserialize`: the way to combine several ConfigMap keys into one
    /// config (a closure that parses each key with
    /// [`Files::parse`](crate::Files::parse)).
    ///
    /// ```no_run
    /// use config_reload::{ConfigSource, Files, Watch};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct App { port: u16 }
    /// #[derive(serde::Deserialize)]
    /// struct Limits { max_connections: u32 }
    /// struct Config { app: App, limits: Limits }
    ///
    /// let source = ConfigSource::keys("/etc/config", ["app.yaml", "limits.toml"]);
    /// let config = Watch::<Config>::decoding(source, |files: &Files| {
    ///     Ok(Config { app: files.parse("app.yaml")?, limits: files.parse("limits.toml")? })
    /// })
    /// .start()?;
    /// # Ok::<(), config_reload::StartError>(())
    /// ```
    pub fn decoding(source: ConfigSource, decode: impl Decode<T>) -> Builder<T> {
        Builder::new(source, Decoding::Custom(Arc::new(decode)))
    }
}

impl<T, D> Watch<T, D>
where
    T: Send + Sync + 'static,
    D: Design,
{
    /// The config served now, owned: it stays whole for as long as it is held.
    pub fn get(&self) -> Current<T> {
        Current::new(self.manager.snapshot())
    }

    /// Calls `f` with the config served now: the cheapest read the manager
    /// has, for a use that ends before `read` returns.
    pub fn read<R>(&self, f: impl FnOnce(Published<'_, T>) -> R) -> R {
        self.manager.read(|current| f(Published::new(current)))
    }

    /// A receiver that holds the config served now and wakes
    /// (`changed().await`) once per publish (after the observer heard of it), never for a reload that found
    /// the content unchanged. Several publishes between two awaits wake it
    /// once, with the latest.
    pub fn subscribe(&self) -> channel::Receiver<Current<T>> {
        let mut changes = self.changes.clone();
        changes.mark_unchanged();
        changes
    }

    /// Reloads now (what SIGHUP does), whatever the watcher saw: reads the
    /// files again, and asks the Kubernetes API again (a GET) if it is a
    /// source. A write in progress is not read half done.
    pub fn reload_now(&self) {
        if self.reloads_files_now {
            self.inbox.send(Signal::Manual(Instant::now()));
        }
        self.reload_hooks.call();
    }

    /// Whether changes are still being noticed. With several sources (the
    /// files and the Kubernetes API), `Degraded` while any of them is not
    /// watching, the reason prefixed by its name, and `Stopped` only when
    /// none of them is left.
    pub fn health(&self) -> WatchHealth {
        if self.driver.as_ref().is_none_or(JoinHandle::is_finished) {
            return WatchHealth::Stopped("the reload thread ended".into());
        }
        if let stopped @ WatchHealth::Stopped(_) = self.own_health.get() {
            return stopped;
        }
        if let [(_, only)] = self.healths.as_slice() {
            return only.get();
        }
        let healths: Vec<_> = self
            .healths
            .iter()
            .map(|(name, health)| (*name, health.get()))
            .collect();
        let troubles: Vec<String> = healths
            .iter()
            .filter_map(|(name, health)| match health {
                WatchHealth::Watching => None,
                WatchHealth::Degraded(reason) => Some(format!("{name}: {reason}")),
                WatchHealth::Stopped(reason) => Some(format!("{name} stopped: {reason}")),
            })
            .collect();
        if troubles.is_empty() {
            WatchHealth::Watching
        } else if healths
            .iter()
            .all(|(_, health)| matches!(health, WatchHealth::Stopped(_)))
        {
            WatchHealth::Stopped(troubles.join("; "))
        } else {
            WatchHealth::Degraded(troubles.join("; "))
        }
    }

    /// With the Kubernetes API beside the volume: their disagreement, once
    /// it has lasted longer than the volume may lag
    /// (`KubeSource::volume_lag`, feature `kube`) or the
    /// volume's content is served alone; `None` while they agree.
    pub fn disagreement(&self) -> Option<Disagreement> {
        self.disagreement
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .map(|shown| shown.now())
    }

    /// How long the reload running now has been running, if one is. A large
    /// value means a read is stuck (a hung filesystem): the last good config
    /// is still served, but no change can be published until it returns.
    pub fn reload_running_for(&self) -> Option<Duration> {
        self.watchdog.running_for()
    }

    /// The name of the watcher noticing changes of the files (`"inotify"`,
    /// ...), or `"kube"` for the Kubernetes API alone.
    pub fn watcher(&self) -> &'static str {
        self.watcher
    }

    /// Every source feeding this watch, by the name of the watcher that
    /// reads it (the files' watcher, then `"kube"` if the Kubernetes API is
    /// one), with its own health: for a metric per source.
    pub fn sources(&self) -> Vec<(&'static str, WatchHealth)> {
        self.healths
            .iter()
            .map(|(name, health)| (*name, health.get()))
            .collect()
    }

    /// The name of the manager design readers read through (`"arcswap"`, ...).
    pub fn manager(&self) -> &'static str {
        config_reload_managers::design::name::<D>()
    }
}

impl<T> Watch<T, config_reload_managers::design::ArcSwap>
where
    T: Send + Sync + 'static,
{
    /// A reader for one thread whose reads cost what a plain `Arc` deref
    /// costs. **It keeps the config it last read alive until its next read**:
    /// keep one per worker thread that reads often.
    pub fn cached_reader(&self) -> crate::CachedReader<T> {
        crate::CachedReader::new(self.manager.cached_reader())
    }
}

impl<T, D> Drop for Watch<T, D>
where
    T: Send + Sync + 'static,
    D: Design,
{
    fn drop(&mut self) {
        drop(std::mem::take(
            &mut *self
                .watchers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        ));
        self.inbox.send(Signal::Stop);
        if let Some(driver) = self.driver.take() {
            // A panic in the driver was already visible as `Stopped`.
            let _ = driver.join();
        }
    }
}

/// Starts a [`Watch`] with anything but the defaults; from
/// [`Watch::builder`]. Every setting is optional.
#[must_use = "a builder does nothing until `start`"]
pub struct Builder<T, D = DefaultDesign> {
    source: ConfigSource,
    watcher: Box<dyn Watcher>,
    decoding: Decoding<T>,
    validate: Option<Validator<T>>,
    observer: Arc<dyn Observer>,
    on_publish: Vec<PublishHook<T>>,
    options: WatchOptions,
    design: PhantomData<fn() -> D>,
}

/// Makes the decoder of one file in a format, where `T: Deserialize` is known.
type MakeDecoder<T> = fn(FormatDecoder<T>) -> Arc<dyn Decode<T>>;

/// How snapshots become configs.
enum Decoding<T> {
    /// One file in a format (from its extension unless given), by a decoder
    /// made where `T: Deserialize` is known.
    Format {
        format: Option<Format>,
        make: MakeDecoder<T>,
        #[cfg(feature = "layers")]
        layers: crate::layers::Layers,
    },
    /// The caller's decoder.
    Custom(Arc<dyn Decode<T>>),
}

impl<T> Builder<T> {
    fn new(source: ConfigSource, decoding: Decoding<T>) -> Self {
        Self {
            source,
            watcher: Box::new(WatcherKind::default()),
            decoding,
            validate: None,
            observer: Arc::new(NoObserver),
            on_publish: Vec::new(),
            options: WatchOptions::default(),
            design: PhantomData,
        }
    }
}

impl<T, D> Builder<T, D>
where
    T: Send + Sync + 'static,
    D: Design,
{
    /// What notices changes of the files: a built-in [`WatcherKind`]
    /// (default: inotify on Linux, `poll` where no event watcher is
    /// compiled in) or a [`Watcher`] of your own.
    pub fn watcher(mut self, watcher: impl Watcher) -> Self {
        self.watcher = Box::new(watcher);
        self
    }

    /// The manager design readers read through (default: `ArcSwap`).
    pub fn manager<D2: Design>(self) -> Builder<T, D2> {
        Builder {
            source: self.source,
            watcher: self.watcher,
            decoding: self.decoding,
            validate: self.validate,
            observer: self.observer,
            on_publish: self.on_publish,
            options: self.options,
            design: PhantomData,
        }
    }

    /// The format of the file, when its extension does not say it. No
    /// effect with [`Watch::decoding`].
    pub fn format(mut self, format: Format) -> Self {
        if let Decoding::Format { format: chosen, .. } = &mut self.decoding {
            *chosen = Some(format);
        }
        self
    }

    /// Defaults under the file (feature `layers`): a field the file does
    /// not set takes its value from `defaults` (any `Serialize` value: the
    /// config type itself, a struct of some of its fields, a
    /// `serde_json::json!` map). Merged again on every reload. No effect
    /// with [`Watch::decoding`].
    ///
    /// ```no_run
    /// use config_reload::{ConfigSource, Watch};
    ///
    /// #[derive(serde::Deserialize, serde::Serialize)]
    /// struct AppConfig { message: String, limit: u32 }
    ///
    /// let config = Watch::<AppConfig>::builder(ConfigSource::file("/etc/config/app.yaml"))
    ///     .defaults(AppConfig { message: "hello".into(), limit: 10 })
    ///     .env_prefix("APP_") // APP_LIMIT=5 wins over the file's `limit`
    ///     .start()?;
    /// # Ok::<(), config_reload::StartError>(())
    /// ```
    #[cfg(feature = "layers")]
    pub fn defaults(mut self, defaults: impl serde::Serialize) -> Self {
        if let Decoding::Format { layers, .. } = &mut self.decoding {
            layers.set_defaults(&defaults);
        }
        self
    }

    /// Environment overrides over the file (feature `layers`): `PREFIX` and
    /// a field's name, upper or lower case, set that field whatever the file
    /// says (`APP_LIMIT=5` over `limit`); `__` separates nested fields
    /// (`APP_LIMITS__MAX_CONNECTIONS`). A value is parsed as a number, a
    /// boolean or a string as it reads. Read again on every reload, so an
    /// override survives every edit of the file. No effect with
    /// [`Watch::decoding`].
    #[cfg(feature = "layers")]
    pub fn env_prefix(mut self, prefix: &str) -> Self {
        if let Decoding::Format { layers, .. } = &mut self.decoding {
            layers.set_env_prefix(prefix);
        }
        self
    }

    /// Checks every parsed config; `Err` (a reason for a human, and the field
    /// it is about if any) rejects it as [`LoadErrorKind::Invalid`] and the
    /// last good config stays. A type with its own checks passes its method
    /// (`.validate(AppConfig::validate)`). Not applied with
    /// [`Watch::decoding`], whose decoder validates what it builds.
    ///
    /// ```no_run
    /// use config_reload::{ConfigSource, ValidationError, Watch};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct AppConfig { servers: Vec<String>, max_connections: u32 }
    ///
    /// impl AppConfig {
    ///     fn validate(&self) -> Result<(), ValidationError> {
    ///         if self.servers.is_empty() {
    ///             return Err("at least one server is needed".into());
    ///         }
    ///         if self.max_connections == 0 {
    ///             return Err(ValidationError::new("must be at least 1").at("max_connections"));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let config = Watch::<AppConfig>::builder(ConfigSource::file("/etc/config/app.yaml"))
    ///     .validate(AppConfig::validate)
    ///     .start()?;
    /// # Ok::<(), config_reload::StartError>(())
    /// ```
    pub fn validate(
        mut self,
        validate: impl Fn(&T) -> Result<(), ValidationError> + Send + Sync + 'static,
    ) -> Self {
        self.validate = Some(Arc::new(validate));
        self
    }

    /// Receives every reload's outcome, watch trouble and events (for
    /// metrics). The watch logs them through `tracing` either way: an
    /// observer adds to the log, it does not replace it.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Called with every config published, the initial one included, on the
    /// reload thread: after readers can see it and its reload was reported
    /// to the observer, before subscribers are woken.
    pub fn on_publish(mut self, hook: impl Fn(&Current<T>) + Send + Sync + 'static) -> Self {
        self.on_publish.push(Box::new(hook));
        self
    }

    /// Debounce, resync, poll interval, size limit, retry and stuck-reload
    /// settings (default: [`WatchOptions::default`]).
    pub fn options(mut self, options: WatchOptions) -> Self {
        self.options = options;
        self
    }

    /// Reads and decodes the source once, as a watch's first load does, and
    /// returns the config without watching anything: what a `--check`
    /// (validate the config and exit) needs.
    pub fn load(&self) -> Result<T, LoadError> {
        let decode = self.decoder().map_err(|error| {
            let why = match error {
                StartError::UnknownFormat(_) => {
                    "cannot tell the format from the extension (.yaml, .yml, .json or .toml)"
                }
                _ => "a source of several keys needs a decoder that combines them",
            };
            LoadError::new(
                self.source.primary_path(),
                LoadErrorKind::Invalid(why.into()),
            )
        })?;
        let files = read_files(&self.source, self.options.max_config_bytes)?;
        decode
            .decode(&files)
            .map_err(|error| LoadError::new(self.source.primary_path(), error.into()))
    }

    /// The decoder this builder describes: the caller's, or one file's
    /// format (from its extension unless given) and the validation hook.
    fn decoder(&self) -> Result<Arc<dyn Decode<T>>, StartError> {
        match (&self.decoding, self.source.names()) {
            (Decoding::Custom(decode), _) => Ok(Arc::clone(decode)),
            (
                Decoding::Format {
                    format,
                    make,
                    #[cfg(feature = "layers")]
                    layers,
                },
                [key],
            ) => match format.or_else(|| Format::from_path(key)) {
                Some(format) => Ok(make(FormatDecoder {
                    format,
                    validate: self.validate.clone(),
                    #[cfg(feature = "layers")]
                    layers: layers.clone(),
                })),
                None => Err(StartError::UnknownFormat(self.source.primary_path())),
            },
            (Decoding::Format { .. }, _) => Err(StartError::SeveralKeysNeedADecoder),
        }
    }

    /// Establishes the watch, then loads and publishes the initial config
    /// (so a change between the two is never lost), then starts watching.
    pub fn start(self) -> Result<Watch<T, D>, StartError> {
        #[cfg(feature = "kube")]
        if let Some(api) = self.source.api() {
            if api.keys().is_empty() {
                return Err(StartError::NoKeys);
            }
            if self.source.has_files() && api.keys() != self.source.names() {
                return Err(StartError::KeysDiffer {
                    volume: self.source.names().to_vec(),
                    api: api.keys().to_vec(),
                });
            }
        }
        let decode = self.decoder()?;
        let watcher = self.source.has_files().then_some(self.watcher);
        start(
            self.source,
            decode,
            watcher,
            self.observer,
            self.on_publish,
            self.options,
        )
    }
}

fn start<T, D>(
    source: ConfigSource,
    decode: Arc<dyn Decode<T>>,
    watcher: Option<Box<dyn Watcher>>,
    observer: Arc<dyn Observer>,
    on_publish: Vec<PublishHook<T>>,
    options: WatchOptions,
) -> Result<Watch<T, D>, StartError>
where
    T: Send + Sync + 'static,
    D: Design,
{
    let observer: Arc<dyn Observer> = Arc::new(LogObserver::wrapping(observer));
    let watch_error = |error| StartError::Watch {
        path: source.dir().to_path_buf(),
        source: error,
    };
    let (sender, receiver) = crossbeam_channel::unbounded();
    let inbox = Arc::new(Inbox::new(sender));
    let batches = Arc::new(Batches::default());
    let reload_hooks = Arc::new(ReloadHooks::default());
    let signals_of = |name: &'static str| {
        let health = Arc::new(HealthCell::new());
        let signals = Signals::new(
            name,
            Arc::clone(&inbox),
            Arc::clone(&health),
            Arc::clone(&observer),
            Arc::clone(&batches),
            Arc::clone(&reload_hooks),
        );
        (signals, health)
    };
    let mut watchers = Vec::new();
    let mut healths = Vec::new();
    // The files' watcher, the one whose events the debouncer sees.
    let (mut files_watcher, mut trigger, mut resync) = (None, Trigger::Event, false);
    let mut files_answer_reload_now = false;
    let mut pump = None;
    if let Some(watcher) = watcher {
        let (mut name, mut signals) = (watcher.name(), signals_of(watcher.name()));
        let mut properties = (
            watcher.trigger(),
            watcher.resync(),
            watcher.answers_reload_now(),
        );
        let established = match watcher.establish(&source, &options, signals.0) {
            Ok(established) => established,
            // The kernel's watch budget (or instances) exhausted: polling
            // that path needs none, degraded but not blind.
            Err(error) if polling_can_stand_in(&error) => {
                let reason = format!(
                    "{name}: {error}; polling every {:?} instead",
                    options.poll_interval
                );
                let poll = polling().ok_or_else(|| watch_error(error))?;
                properties = (poll.trigger(), poll.resync(), poll.answers_reload_now());
                (name, signals) = (poll.name(), signals_of(poll.name()));
                let established = poll
                    .establish(&source, &options, signals.0)
                    .map_err(watch_error)?;
                signals.1.set(WatchHealth::Degraded(reason.clone()));
                observer.watch_error(&reason);
                established
            }
            Err(error) => {
                let left_out = error.get_ref().and_then(|inner| inner.downcast_ref());
                return Err(match left_out {
                    Some(NotAvailable(kind)) => StartError::WatcherNotAvailable(*kind),
                    None => watch_error(error),
                });
            }
        };
        // Taken at once: a start that fails later drops it with the rest.
        pump = inbox.take_pump();
        files_watcher = Some(name);
        (trigger, resync, files_answer_reload_now) = properties;
        watchers.push(established);
        healths.push((name, signals.1));
    }
    #[cfg(feature = "kube")]
    if let Some(api) = source.api() {
        let api: Box<dyn Watcher> = Box::new(crate::kube::ApiWatcher(api.clone()));
        let (name, signals) = (api.name(), signals_of(api.name()));
        watchers.push(
            api.establish(&source, &options, signals.0)
                .map_err(watch_error)?,
        );
        healths.push((name, signals.1));
    }
    let (monitor, own_health) = signals_of(files_watcher.unwrap_or("watch"));

    let started = Instant::now();
    let files = files_watcher
        .filter(|_| source.has_files())
        .map(|name| (source.clone(), name));
    let initial = match &files {
        Some((source, name)) => Initial {
            loaded: load(source, decode.as_ref(), options.max_config_bytes)
                .map_err(StartError::InitialLoad)?,
            source: name,
            content: None,
        },
        None => first_delivery(&receiver, decode.as_ref(), &source, &options, &healths)?,
    };
    let watcher = files_watcher.unwrap_or(initial.source);
    let has_files = files.is_some();
    let disagreement = Arc::new(Mutex::new(None));
    let authority = authority(&source, &healths, has_files, &disagreement);
    let loader = Loader::<T, D::Manager<Loaded<T>>>::start(
        initial,
        files,
        decode,
        options.max_config_bytes,
        on_publish,
        authority,
    );
    let manager = Arc::clone(loader.manager());
    let changes = loader.changes();
    observer.reload(&ReloadReport {
        trigger: Trigger::Initial,
        outcome: ReloadOutcome::Published {
            version: manager.version(),
            hash: loader.published(),
        },
        took: started.elapsed(),
        source: loader.files_source().unwrap_or(watcher),
        propagation: None,
    });

    let watchdog =
        Watchdog::new(options.stuck_after, Arc::clone(&observer)).map_err(watch_error)?;
    let driver = Driver {
        receiver,
        pump,
        loader,
        debouncer: Debouncer::new(options.debounce),
        observer,
        trigger,
        resync_interval: if resync {
            options.resync_interval
        } else {
            None
        },
        backoff: options.retry,
        watchdog: Arc::clone(&watchdog),
        last_failure: None,
        retry: None,
        deferred: VecDeque::new(),
        batches,
    };
    // A panic of the driver shows as the driver's end in `Watch::health`.
    let driver = monitor
        .spawn(&format!("watchers-{watcher}-reload"), move |_| driver.run())
        .map_err(watch_error)?;
    Ok(Watch {
        manager,
        changes,
        inbox,
        reload_hooks,
        reloads_files_now: has_files && !files_answer_reload_now,
        disagreement,
        healths,
        own_health,
        watchdog,
        watcher,
        watchers: Mutex::new(watchers),
        driver: Some(driver),
    })
}

/// Whether the files' watcher failed for a limit polling does not have.
fn polling_can_stand_in(error: &std::io::Error) -> bool {
    #[cfg(all(target_os = "linux", any(feature = "notify", feature = "inotify")))]
    return crate::watcher::limits::is_exhausted(error);
    #[cfg(not(all(target_os = "linux", any(feature = "notify", feature = "inotify"))))]
    {
        let _ = error;
        false
    }
}

/// The poller, where it is compiled in.
fn polling() -> Option<Box<dyn Watcher>> {
    WatcherKind::Poll
        .is_available()
        .then(|| Box::new(WatcherKind::Poll) as Box<dyn Watcher>)
}

/// With files and the Kubernetes API both, the API decides while it can
/// deliver ([`Authority`]).
fn authority(
    source: &ConfigSource,
    healths: &[(&'static str, Arc<HealthCell>)],
    has_files: bool,
    shown: &Arc<Mutex<Option<Shown>>>,
) -> Option<Authority> {
    #[cfg(feature = "kube")]
    if let Some(api) = source.api()
        && has_files
        && let Some((name, health)) = healths.iter().find(|(name, _)| *name == crate::kube::NAME)
    {
        return Some(Authority::new(
            name,
            Arc::clone(health),
            api.volume_lag_value(),
            Arc::clone(shown),
        ));
    }
    let _ = (source, healths, has_files, shown);
    None
}

/// Without files, the first version is the API's first answer: waits for it
/// (up to the API source's start timeout) and decodes it.
fn first_delivery<T: 'static>(
    receiver: &crossbeam_channel::Receiver<Signal>,
    decode: &dyn Decode<T>,
    source: &ConfigSource,
    options: &WatchOptions,
    healths: &[(&'static str, Arc<HealthCell>)],
) -> Result<Initial<T>, StartError> {
    #[cfg(feature = "kube")]
    let waited = source
        .api()
        .map_or(Duration::ZERO, crate::KubeSource::start_timeout_value);
    #[cfg(not(feature = "kube"))]
    let waited = {
        let _ = source;
        Duration::ZERO
    };
    let deadline = Instant::now() + waited;
    loop {
        match receiver.recv_deadline(deadline) {
            Ok(Signal::Content(content, origin, _)) => {
                let loaded = load_content(&content, decode, options.max_config_bytes)
                    .map_err(StartError::InitialLoad)?;
                return Ok(Initial {
                    loaded,
                    source: origin,
                    content: Some(*content),
                });
            }
            Ok(_) => {}
            Err(_) => {
                let reason = healths
                    .iter()
                    .find_map(|(_, health)| match health.get() {
                        WatchHealth::Watching => None,
                        WatchHealth::Degraded(reason) | WatchHealth::Stopped(reason) => {
                            Some(reason)
                        }
                    })
                    .unwrap_or_else(|| "no answer".to_owned());
                return Err(StartError::NoFirstVersion { waited, reason });
            }
        }
    }
}
