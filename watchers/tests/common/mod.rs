//! What every watchers test shares: the test config, an observer and a
//! manager that record everything, and waiting with generous deadlines.

#![allow(dead_code)] // Each test binary uses a different part.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use managers::{ConfigManager, Snapshot, Versioned};
use watchers::{
    ConfigSource, Decode, LoadError, Loaded, Observer, ReloadOutcome, ReloadReport, Strategy,
    Trigger, Validate, Watch, WatchHealth, WatchOptions, YamlFile,
};

/// The config every test loads: one message, which must not be empty.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct TestConfig {
    pub message: String,
}

impl Validate for TestConfig {
    fn validate(&self) -> Result<(), String> {
        if self.message.is_empty() {
            Err("message must not be empty".into())
        } else {
            Ok(())
        }
    }
}

/// The YAML of a config carrying `message`.
pub fn yaml(message: &str) -> String {
    format!("message: {message:?}\n")
}

/// A manager that remembers every config it was given, so a test can assert
/// what was ever published, not only what is published now.
pub struct RecordingManager {
    state: Mutex<(Snapshot<Loaded<TestConfig>>, Vec<String>)>,
}

impl RecordingManager {
    /// Every message published, the initial one first.
    pub fn history(&self) -> Vec<String> {
        self.state.lock().unwrap().1.clone()
    }
}

impl ConfigManager<Loaded<TestConfig>> for RecordingManager {
    const NAME: &'static str = "recording";

    fn new(initial: Loaded<TestConfig>) -> Self {
        let history = vec![initial.config.message.clone()];
        Self {
            state: Mutex::new((
                Arc::new(Versioned {
                    version: 1,
                    config: initial,
                }),
                history,
            )),
        }
    }

    fn publish(&self, config: Loaded<TestConfig>) -> u64 {
        let mut state = self.state.lock().unwrap();
        let version = state.0.version + 1;
        state.1.push(config.config.message.clone());
        state.0 = Arc::new(Versioned { version, config });
        version
    }

    fn snapshot(&self) -> Snapshot<Loaded<TestConfig>> {
        Arc::clone(&self.state.lock().unwrap().0)
    }
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

/// A running watch with its recorder.
pub struct Harness<S: Strategy> {
    pub watch: Watch<S, TestConfig, RecordingManager>,
    pub recorder: Arc<Recorder>,
}

impl<S: Strategy> Harness<S> {
    pub fn start(source: ConfigSource) -> Self {
        Self::start_with(source, YamlFile::<TestConfig>::new(), options())
    }

    pub fn start_with(
        source: ConfigSource,
        decode: impl Decode<TestConfig>,
        options: WatchOptions,
    ) -> Self {
        let recorder = Arc::new(Recorder::default());
        let observer: Arc<dyn Observer> = recorder.clone();
        let watch = Watch::start(source, decode, options, observer).expect("the watch starts");
        Self { watch, recorder }
    }

    pub fn message(&self) -> String {
        self.watch
            .manager()
            .snapshot()
            .config
            .config
            .message
            .clone()
    }

    pub fn version(&self) -> u64 {
        self.watch.manager().version()
    }

    pub fn history(&self) -> Vec<String> {
        self.watch.manager().history()
    }

    /// Waits until `message` is the published config.
    pub fn wait_for(&self, message: &str) {
        wait_until(
            format_args!("{:?} published ({} watcher)", message, S::NAME),
            || self.message() == message,
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
