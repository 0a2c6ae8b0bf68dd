//! A watch is loud by default: with no observer set, a rejected edit and its
//! recovery reach the log through `tracing`, without the file's content; an
//! observer adds to the log, it does not silence it.

mod common;

use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use common::wait_until;
use config_reload::{ConfigSource, Observer, ReloadOutcome, ReloadReport, Watch};

#[derive(Debug, serde::Deserialize)]
struct Config {
    #[allow(dead_code)]
    message: String,
}

/// Every line any test's watch logged, through one global subscriber: the
/// watches log from their own threads.
fn log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static Mutex<Vec<u8>> = Box::leak(Box::default());
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Writer(log))
            .init();
        log
    })
}

struct Writer(&'static Mutex<Vec<u8>>);

impl Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines logged about `path`.
fn lines_about(path: &std::path::Path) -> Vec<String> {
    let log = log().lock().unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| line.contains(&*path.to_string_lossy()))
        .map(str::to_owned)
        .collect()
}

/// Starts a watch on a valid file, breaks it with content that must never
/// be quoted, and returns the lines logged about it.
fn break_the_file(start: impl FnOnce(&std::path::Path) -> Watch<Config>) -> Vec<String> {
    log();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "message: hello\n").unwrap();
    let watch = start(&path);
    fs::write(&path, "message: [s3cr3t-token\n").unwrap();
    wait_until("the rejection is logged", || {
        lines_about(&path)
            .iter()
            .any(|line| line.contains("config rejected"))
    });
    drop(watch);
    lines_about(&path)
}

#[test]
fn a_rejected_edit_is_logged_with_no_observer_set() {
    let lines = break_the_file(|path| Watch::<Config>::file(path).unwrap());
    let rejected = lines
        .iter()
        .find(|line| line.contains("config rejected"))
        .unwrap();
    assert!(rejected.contains("WARN"), "{rejected}");
    assert!(rejected.contains("config_reload"), "the target: {rejected}");
    assert!(rejected.contains("kind="), "the error's kind: {rejected}");
    assert!(
        lines.iter().all(|line| !line.contains("s3cr3t")),
        "the content is never quoted: {lines:#?}"
    );
}

#[test]
fn an_observer_adds_to_the_log_it_does_not_replace_it() {
    #[derive(Default)]
    struct Failures(AtomicUsize);
    impl Observer for Failures {
        fn reload(&self, report: &ReloadReport) {
            if matches!(report.outcome, ReloadOutcome::Failed(_)) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let failures = Arc::new(Failures::default());
    let observer = Arc::clone(&failures);
    let lines = break_the_file(move |path| {
        Watch::<Config>::builder(ConfigSource::file(path))
            .observer(observer)
            .start()
            .unwrap()
    });
    assert!(lines.iter().any(|line| line.contains("config rejected")));
    assert!(
        failures.0.load(Ordering::SeqCst) >= 1,
        "the observer heard it too"
    );
}
