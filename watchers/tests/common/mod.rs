//! What every watchers test shares: the test config, a harness that starts a
//! watch through the public builder and records every report and publish,
//! and waiting with generous deadlines.

#![allow(dead_code)] // Each test binary uses a different part.

mod scripted;
#[allow(unused_imports)] // Only the driver tests script a watch.
pub use scripted::Scripted;

use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use config_reload::{
    Builder, ConfigSource, Current, Decode, DecodeError, Disagreement, Files, Format, LoadError,
    Observer, ReloadOutcome, ReloadReport, Skew, Trigger, ValidationError, Watch, WatchHealth,
    WatchOptions, WatcherKind,
};

/// The config every test loads: one message, which must not be empty.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct TestConfig {
    pub message: String,
}

impl TestConfig {
    /// The checks a parsed config must pass, for `Builder::validate`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.message.is_empty() {
            Err("message must not be empty".into())
        } else {
            Ok(())
        }
    }
}

/// What the harness's default decoding does, for decoders that add to it:
/// the first key as YAML, validated.
pub fn decode_test_config(files: &Files) -> Result<TestConfig, DecodeError> {
    let (_, bytes) = files.entries.first().ok_or("no file")?;
    let config: TestConfig = config_reload::Format::Yaml.parse(bytes)?;
    config.validate().map_err(DecodeError::Invalid)?;
    Ok(config)
}

/// The YAML of a config carrying `message`.
pub fn yaml(message: &str) -> String {
    format!("message: {message:?}\n")
}

/// An observer that records every report and counts every hook.
#[derive(Default)]
pub struct Recorder {
    pub reports: Mutex<Vec<ReloadReport>>,
    pub events: AtomicUsize,
    pub resync_changes: AtomicUsize,
    pub watch_errors: Mutex<Vec<String>>,
    pub watch_restored: AtomicUsize,
    /// `(reason, attempt)` of every retry.
    pub retries: Mutex<Vec<(String, u32)>>,
    pub stuck: Mutex<Vec<Duration>>,
    pub stuck_finished: AtomicUsize,
    pub skews: Mutex<Vec<Skew>>,
    pub disagreements: Mutex<Vec<Disagreement>>,
    /// The source of every disagreement reported over.
    pub agreements: Mutex<Vec<&'static str>>,
}

impl Observer for Recorder {
    fn event(&self) {
        self.events.fetch_add(1, Ordering::SeqCst);
    }
    fn reload(&self, report: &ReloadReport) {
        self.reports.lock().unwrap().push(report.clone());
    }
    fn resync_found_change(&self) {
        self.resync_changes.fetch_add(1, Ordering::SeqCst);
    }
    fn watch_error(&self, message: &str) {
        self.watch_errors.lock().unwrap().push(message.to_owned());
    }
    fn watch_restored(&self) {
        self.watch_restored.fetch_add(1, Ordering::SeqCst);
    }
    fn retrying(&self, error: &LoadError, attempt: u32, _delay: Duration) {
        self.retries
            .lock()
            .unwrap()
            .push((error.to_string(), attempt));
    }
    fn reload_stuck(&self, running_for: Duration) {
        self.stuck.lock().unwrap().push(running_for);
    }
    fn stuck_reload_finished(&self, _took: Duration) {
        self.stuck_finished.fetch_add(1, Ordering::SeqCst);
    }
    fn skew(&self, skew: &Skew) {
        self.skews.lock().unwrap().push(skew.clone());
    }
    fn sources_disagree(&self, disagreement: &Disagreement) {
        self.disagreements
            .lock()
            .unwrap()
            .push(disagreement.clone());
    }
    fn sources_agree(&self, source: &'static str, _lasted: Duration) {
        self.agreements.lock().unwrap().push(source);
    }
}

impl Recorder {
    /// Reasons of every failed reload so far.
    pub fn failures(&self) -> Vec<String> {
        self.reports
            .lock()
            .unwrap()
            .iter()
            .filter_map(|report| match &report.outcome {
                ReloadOutcome::Failed(error) => Some(error.to_string()),
                _ => None,
            })
            .collect()
    }

    /// How many reloads found the content unchanged.
    pub fn unchanged(&self) -> usize {
        let reports = self.reports.lock().unwrap();
        reports
            .iter()
            .filter(|report| matches!(report.outcome, ReloadOutcome::Unchanged))
            .count()
    }

    /// The triggers of every published reload after the initial one.
    pub fn publish_triggers(&self) -> Vec<Trigger> {
        let reports = self.reports.lock().unwrap();
        reports
            .iter()
            .filter(|report| matches!(report.outcome, ReloadOutcome::Published { .. }))
            .map(|report| report.trigger)
            .filter(|trigger| *trigger != Trigger::Initial)
            .collect()
    }
}

/// Deadline for anything a test waits for: generous, the machine is shared.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `condition` until it holds, panicking with `what` after [`PATIENCE`].
pub fn wait_until(what: impl std::fmt::Display, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < PATIENCE,
            "waited {PATIENCE:?} for: {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Options for tests: the defaults, with the resync off so a change only an
/// event (or a poll) notices is the only way a test can pass.
pub fn options() -> WatchOptions {
    WatchOptions {
        resync_interval: None,
        ..WatchOptions::default()
    }
}

/// What a test runs against: a built-in watcher, or a scripted strategy.
pub trait Subject {
    /// For messages.
    const NAME: &'static str;
    /// The trigger its changes report (`Poll` for the poller).
    const TRIGGER: Trigger = Trigger::Event;
    /// Chooses it on a builder.
    fn choose<T: Send + Sync + 'static>(builder: Builder<T>) -> Builder<T>;
}

/// Every built-in watcher as a test subject, written once: a unit type per
/// watcher, and `every_watcher!(callback)`, which calls
/// `callback! { inotify => crate::common::Inotify, ... }` so each test file
/// instantiates its scenarios over the same list. (`$d` is a literal `$`
/// for the inner macro.)
macro_rules! subjects {
    ($d:tt $($module:ident => $name:ident, $trigger:ident);* $(;)?) => {
        $(
            pub struct $name;
            impl Subject for $name {
                const NAME: &'static str = WatcherKind::$name.name();
                const TRIGGER: Trigger = Trigger::$trigger;
                fn choose<T: Send + Sync + 'static>(builder: Builder<T>) -> Builder<T> {
                    builder.watcher(WatcherKind::$name)
                }
            }
        )*

        /// Calls `$callback!` with every built-in watcher's module name and
        /// subject type.
        #[allow(unused_macros)]
        macro_rules! every_watcher {
            ($d callback:ident) => {
                $d callback! { $($module => crate::common::$name,)* }
            };
        }
        #[allow(unused_imports)]
        pub(crate) use every_watcher;
    };
}

subjects! {
    $
    notify => Notify, Event;
    inotify => Inotify, Event;
    poll => Poll, Poll;
}

/// A builder for the test config on `S`, as every harness starts: YAML,
/// validated, the resync off.
pub fn builder<S: Subject>(source: ConfigSource) -> Builder<TestConfig> {
    S::choose(
        Watch::<TestConfig>::builder(source)
            .format(Format::Yaml)
            .validate(TestConfig::validate)
            .options(options()),
    )
}

/// A running watch with its recorder and the history of every publish.
pub struct Harness<S: Subject> {
    pub watch: Watch<TestConfig>,
    pub recorder: Arc<Recorder>,
    history: Arc<Mutex<Vec<String>>>,
    subject: PhantomData<S>,
}

impl<S: Subject> Harness<S> {
    pub fn start(source: ConfigSource) -> Self {
        Self::start_with(source, options(), |builder| builder)
    }

    /// Starts with `options`, the recorder as observer, the history as a
    /// publish hook and the config's own validation; `customize` adds more.
    pub fn start_with(
        source: ConfigSource,
        options: WatchOptions,
        customize: impl FnOnce(Builder<TestConfig>) -> Builder<TestConfig>,
    ) -> Self {
        let builder = Watch::<TestConfig>::builder(source)
            .format(Format::Yaml)
            .validate(TestConfig::validate);
        Self::start_from(builder, options, customize)
    }

    /// Starts with a decoder of its own.
    pub fn start_decoding(
        source: ConfigSource,
        decode: impl Decode<TestConfig>,
        options: WatchOptions,
    ) -> Self {
        let builder = Watch::<TestConfig>::decoding(source, decode);
        Self::start_from(builder, options, |builder| builder)
    }

    fn start_from(
        builder: Builder<TestConfig>,
        options: WatchOptions,
        customize: impl FnOnce(Builder<TestConfig>) -> Builder<TestConfig>,
    ) -> Self {
        let recorder = Arc::new(Recorder::default());
        let observer: Arc<dyn Observer> = recorder.clone();
        let history = Arc::new(Mutex::new(Vec::new()));
        let published = Arc::clone(&history);
        let builder = builder.observer(observer).options(options).on_publish(
            move |current: &Current<TestConfig>| {
                published.lock().unwrap().push(current.message.clone());
            },
        );
        let watch = customize(S::choose(builder))
            .start()
            .expect("the watch starts");
        Self {
            watch,
            recorder,
            history,
            subject: PhantomData,
        }
    }

    pub fn message(&self) -> String {
        self.watch.get().message.clone()
    }

    pub fn version(&self) -> u64 {
        self.watch.get().version()
    }

    /// Every message published, the initial one first.
    pub fn history(&self) -> Vec<String> {
        self.history.lock().unwrap().clone()
    }

    /// Waits until `message` is the published config and its publish hook
    /// has run: its reload was reported by then.
    pub fn wait_for(&self, message: &str) {
        wait_until(
            format_args!("{:?} published ({} watcher)", message, S::NAME),
            || {
                self.message() == message
                    && self.history().last().map(String::as_str) == Some(message)
            },
        );
    }

    /// Waits until a failed reload whose reason contains `needle` was reported.
    pub fn wait_for_failure(&self, needle: &str) {
        wait_until(
            format_args!("a failure containing {needle:?} ({} watcher)", S::NAME),
            || {
                self.recorder
                    .failures()
                    .iter()
                    .any(|reason| reason.contains(needle))
            },
        );
    }

    /// Waits until the watch is healthy.
    pub fn wait_watching(&self) {
        wait_until(format_args!("{} watcher healthy", S::NAME), || {
            self.watch.health() == WatchHealth::Watching
        });
    }
}

/// The path of `name` in `dir`, as a `ConfigSource::file`.
pub fn file_source(dir: &Path, name: &str) -> ConfigSource {
    ConfigSource::file(dir.join(name))
}
