//! The crate docs' builder example, from outside the workspace with one
//! dependency: the manager design is named through `config_reload::managers`.

use std::time::Duration;

use config_reload::testing::KubeletVolume;
use config_reload::{ConfigSource, Files, StartError, Watch, WatcherKind};

#[derive(serde::Deserialize)]
struct App {
    port: u16,
}

#[derive(serde::Deserialize)]
struct Limits {
    max_connections: u32,
}

struct Config {
    app: App,
    limits: Limits,
}

#[test]
fn several_keys_a_chosen_watcher_and_a_chosen_manager_from_one_dependency() {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume
        .project(&[("app.yaml", "port: 8080\n".to_owned()), ("limits.toml", "max_connections = 5\n".to_owned())])
        .unwrap();

    let source = ConfigSource::keys(mount.path(), ["app.yaml", "limits.toml"]);
    let config = Watch::<Config>::decoding(source, |files: &Files| {
        Ok(Config { app: files.parse("app.yaml")?, limits: files.parse("limits.toml")? })
    })
    .watcher(WatcherKind::Poll)
    .manager::<config_reload::managers::design::Mutex>()
    .start()
    .unwrap();
    assert_eq!((config.get().app.port, config.get().limits.max_connections), (8080, 5));

    volume
        .project(&[("app.yaml", "port: 9090\n".to_owned()), ("limits.toml", "max_connections = 7\n".to_owned())])
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while config.get().version() < 2 {
        assert!(std::time::Instant::now() < deadline, "the update was not served within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!((config.get().app.port, config.get().limits.max_connections), (9090, 7));
}

/// The default features compile inotify and polling in, not notify: asking
/// for it is a start error a program can match, before anything is read.
#[test]
fn a_watcher_the_features_leave_out_is_a_start_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, "port: 8080\n").unwrap();
    assert!(!WatcherKind::Notify.is_available());
    let started = Watch::<App>::builder(ConfigSource::file(&path)).watcher(WatcherKind::Notify).start();
    assert!(
        matches!(started, Err(StartError::WatcherNotAvailable(WatcherKind::Notify))),
        "{:?}",
        started.err()
    );
}
