//! A watch whose threads die must say so: a process that keeps serving a
//! config nobody watches any more while reporting itself healthy is the
//! silent stop this project exists to prevent. The service turns
//! `WatchHealth::Stopped` into a 503 on `/readyz`.

#![cfg(all(
    feature = "testing",
    feature = "notify",
    feature = "inotify",
    feature = "poll"
))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Harness, Recorder, TestConfig, file_source, wait_until, yaml};
use watchers::DecodeError;
use watchers::testing::rename_replace;
use watchers::{Decode, Files, Observer, ReloadReport, Strategy, Watch, WatchHealth, YamlFile};

/// A decoder with a bug: panics on one input.
struct PanicsOn(&'static str);

impl Decode<TestConfig> for PanicsOn {
    fn decode(&self, files: &Files) -> Result<TestConfig, DecodeError> {
        let config = YamlFile::<TestConfig>::new().decode(files)?;
        assert_ne!(config.message, self.0, "a decoder bug");
        Ok(config)
    }
}

/// The reload thread dies (a decoder panic): the watch reports `Stopped`.
fn reload_thread_death_is_reported<S: Strategy>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, yaml("fine")).unwrap();
    let harness = Harness::<S>::start_with(
        file_source(dir.path(), "app.yaml"),
        PanicsOn("boom"),
        common::options(),
    );
    rename_replace(&path, yaml("boom").as_bytes()).unwrap();
    wait_until(
        format_args!("{} reports the dead reload thread", S::NAME),
        || matches!(harness.watch.health(), WatchHealth::Stopped(_)),
    );
    assert_eq!(harness.message(), "fine", "nothing half-done was published");
}

/// An observer with a bug: panics on the first raw event once armed. It
/// runs on the strategy's own thread, so that thread dies.
#[derive(Default)]
struct PanicsOnEvent {
    armed: AtomicBool,
    inner: Recorder,
}

impl Observer for PanicsOnEvent {
    fn event(&self) {
        assert!(!self.armed.load(Ordering::SeqCst), "an observer bug");
        self.inner.event();
    }
    fn reload(&self, report: &ReloadReport) {
        self.inner.reload(report);
    }
}

/// The strategy's thread dies: afterwards either the change is still
/// noticed, or the health says the watch stopped (before f0ee438 neither
/// happened: the thread was gone, `health()` said `Watching` and the change
/// was never published).
fn strategy_thread_death_is_reported<S: Strategy>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, yaml("v0")).unwrap();
    let observer = Arc::new(PanicsOnEvent::default());
    let watch = Watch::<S, TestConfig, common::RecordingManager>::start(
        file_source(dir.path(), "app.yaml"),
        YamlFile::new(),
        common::options(),
        Arc::clone(&observer) as Arc<dyn Observer>,
    )
    .expect("the watch starts");
    observer.armed.store(true, Ordering::SeqCst);
    rename_replace(&path, yaml("v1").as_bytes()).unwrap();
    wait_until(
        format_args!("{}: v1 published, or the dead watch reported", S::NAME),
        || {
            let message = watch.manager().history().last().cloned();
            message.as_deref() == Some("v1") || watch.health() != WatchHealth::Watching
        },
    );
}

macro_rules! death {
    ($($module:ident => $strategy:ty),* $(,)?) => {$(
        mod $module {
            type S = $strategy;
            #[test] fn reload_thread_death_is_reported() { super::reload_thread_death_is_reported::<S>() }
            #[test] fn strategy_thread_death_is_reported() { super::strategy_thread_death_is_reported::<S>() }
        }
    )*};
}

death! {
    notify => watchers::NotifyWatcher,
    inotify => watchers::InotifyWatcher,
    poll => watchers::PollWatcher,
}
