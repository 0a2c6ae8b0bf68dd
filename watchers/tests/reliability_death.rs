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

use common::{Harness, Recorder, Subject, TestConfig, file_source, wait_until, yaml};
use config_reload::DecodeError;
use config_reload::testing::rename_replace;
use config_reload::{Decode, Files, Observer, ReloadReport, WatchHealth};

/// A decoder with a bug: panics on one input.
struct PanicsOn(&'static str);

impl Decode<TestConfig> for PanicsOn {
    fn decode(&self, files: &Files) -> Result<TestConfig, DecodeError> {
        let config = common::decode_test_config(files)?;
        assert_ne!(config.message, self.0, "a decoder bug");
        Ok(config)
    }
}

/// The reload thread dies (a decoder panic): the watch reports `Stopped`.
fn reload_thread_death_is_reported<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, yaml("fine")).unwrap();
    let harness = Harness::<S>::start_decoding(
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
/// runs on the thread that reads the events (notify's forwarder; the reload
/// thread for inotify and the poller), so that thread dies.
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
fn strategy_thread_death_is_reported<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, yaml("v0")).unwrap();
    let observer = Arc::new(PanicsOnEvent::default());
    let watch = common::builder::<S>(file_source(dir.path(), "app.yaml"))
        .observer(Arc::clone(&observer) as Arc<dyn Observer>)
        .start()
        .expect("the watch starts");
    observer.armed.store(true, Ordering::SeqCst);
    rename_replace(&path, yaml("v1").as_bytes()).unwrap();
    wait_until(
        format_args!("{}: v1 published, or the dead watch reported", S::NAME),
        || watch.get().message == "v1" || watch.health() != WatchHealth::Watching,
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

common::every_watcher!(death);
