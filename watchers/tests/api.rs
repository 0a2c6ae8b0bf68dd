//! The public entry points, as a service author uses them: `Watch::file`,
//! the builder's every option, every format on every watcher in a
//! kubelet-style volume, `subscribe`, `load`, the cached reader, and the
//! start-up errors.

mod common;

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Recorder, wait_until};
use config_reload::testing::KubeletVolume;
use config_reload::{
    ConfigSource, Current, DecodeError, Files, Format, Observer, ReloadOutcome, StartError, Watch,
    WatchOptions, WatcherKind,
};

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    message: String,
    port: u16,
}

/// The same config in each format, as a file of that extension.
fn document(format: Format, message: &str, port: u16) -> (String, String) {
    match format {
        Format::Yaml => (
            "app.yaml".into(),
            format!("message: {message:?}\nport: {port}\n"),
        ),
        Format::Json => (
            "app.json".into(),
            format!("{{\"message\": {message:?}, \"port\": {port}}}"),
        ),
        Format::Toml => (
            "app.toml".into(),
            format!("message = {message:?}\nport = {port}\n"),
        ),
        _ => unreachable!("a new format needs its document here"),
    }
}

/// A wrong type and an invalid document, in each format.
fn bad_documents(format: Format) -> [(&'static str, String); 2] {
    match format {
        Format::Yaml => [
            ("wrong type", "message: x\nport: eighty\n".into()),
            ("invalid", "message: [\n".into()),
        ],
        Format::Json => [
            ("wrong type", r#"{"message": "x", "port": "eighty"}"#.into()),
            ("invalid", "{\"message\": ".into()),
        ],
        Format::Toml => [
            ("wrong type", "message = \"x\"\nport = \"eighty\"\n".into()),
            ("invalid", "message = \n".into()),
        ],
        _ => unreachable!(),
    }
}

fn options() -> WatchOptions {
    WatchOptions {
        resync_interval: None,
        max_config_bytes: 256,
        ..WatchOptions::default()
    }
}

fn wait_for<D: config_reload::managers::Design>(watch: &Watch<Config, D>, message: &str) {
    wait_until(format_args!("{message:?} served"), || {
        watch.get().message == message
    });
}

/// Every format, on every watcher, in a kubelet-style volume: valid configs
/// served, a wrong type, an invalid document and one over the size limit
/// rejected with the last good kept, then the next valid one served.
#[test]
fn every_format_on_every_watcher() {
    for format in Format::ALL {
        for watcher in WatcherKind::available() {
            let mount = tempfile::tempdir().unwrap();
            let volume = KubeletVolume::new(mount.path());
            let (key, v0) = document(format, "v0", 80);
            volume.project(&[(key.as_str(), v0)]).unwrap();
            let recorder = Arc::new(Recorder::default());
            let watch = Watch::<Config>::builder(ConfigSource::file(mount.path().join(&key)))
                .watcher(watcher)
                .options(options())
                .observer(recorder.clone())
                .start()
                .unwrap_or_else(|error| panic!("{format:?} on {watcher}: {error}"));
            assert_eq!(
                *watch.get(),
                Config {
                    message: "v0".into(),
                    port: 80
                }
            );
            let (_, v1) = document(format, "v1", 81);
            volume.project(&[(key.as_str(), v1)]).unwrap();
            wait_for(&watch, "v1");
            let oversize = document(format, &"x".repeat(300), 82).1;
            let mut bad: Vec<(&str, String)> = bad_documents(format).into();
            bad.push(("over the size limit", oversize));
            for (what, text) in bad {
                let failures = recorder.failures().len();
                volume.project(&[(key.as_str(), text)]).unwrap();
                wait_until(
                    format_args!("{format:?} on {watcher}: {what} rejected"),
                    || recorder.failures().len() > failures,
                );
                assert_eq!(watch.get().message, "v1", "{format:?} on {watcher}: {what}");
            }
            let (_, v2) = document(format, "v2", 83);
            volume.project(&[(key.as_str(), v2)]).unwrap();
            wait_for(&watch, "v2");
            assert_eq!(watch.get().port, 83);
        }
    }
}

/// `subscribe` wakes once per publish, with the new config, and never for
/// a reload that found the content unchanged.
#[tokio::test(flavor = "current_thread")]
async fn subscribe_wakes_once_per_publish_and_never_for_unchanged_content() {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume
        .project(&[("app.yaml", "message: v0\nport: 1\n")])
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    let watch = Watch::<Config>::builder(ConfigSource::file(mount.path().join("app.yaml")))
        .options(options())
        .observer(recorder.clone())
        .start()
        .unwrap();
    let mut changes = watch.subscribe();
    assert!(!changes.has_changed().unwrap(), "nothing published yet");
    for round in 1..=3 {
        volume
            .project(&[("app.yaml", format!("message: v{round}\nport: 1\n"))])
            .unwrap();
        tokio::time::timeout(Duration::from_secs(20), changes.changed())
            .await
            .expect("woken by the publish")
            .unwrap();
        assert_eq!(changes.borrow_and_update().message, format!("v{round}"));
        assert_eq!(changes.borrow().version(), round + 1);
        // The same content again: reloaded (the SIGHUP path), found unchanged.
        let unchanged = recorder.unchanged();
        watch.reload_now();
        wait_until("the reload found the content unchanged", || {
            recorder.unchanged() > unchanged
        });
        assert!(
            !changes.has_changed().unwrap(),
            "woken for unchanged content"
        );
    }
}

/// Every builder option does what it says.
#[test]
fn every_builder_option() {
    let dir = tempfile::tempdir().unwrap();
    // An extension no format is named by: the format is given.
    let path = dir.path().join("app.conf");
    fs::write(&path, "message = \"v0\"\nport = 1\n").unwrap();
    let published = Arc::new(Mutex::new(Vec::new()));
    let hook = Arc::clone(&published);
    let recorder = Arc::new(Recorder::default());
    let observer: Arc<dyn Observer> = recorder.clone();
    let watch = Watch::<Config>::builder(ConfigSource::file(&path))
        .format(Format::Toml)
        .watcher(WatcherKind::Poll)
        .manager::<config_reload::managers::design::Mutex>()
        .validate(|config: &Config| {
            if config.port == 0 {
                Err("port 0 is not a port".into())
            } else {
                Ok(())
            }
        })
        .observer(observer)
        .on_publish(move |current: &Current<Config>| {
            hook.lock().unwrap().push(current.message.clone());
        })
        .options(WatchOptions {
            poll_interval: Duration::from_millis(20),
            ..options()
        })
        .start()
        .unwrap();
    assert_eq!((watch.watcher(), watch.manager()), ("poll", "mutex"));
    fs::write(&path, "message = \"zero\"\nport = 0\n").unwrap();
    wait_until("the validation hook rejected port 0", || {
        recorder
            .failures()
            .iter()
            .any(|reason| reason.contains("port 0 is not a port"))
    });
    fs::write(&path, "message = \"v1\"\nport = 2\n").unwrap();
    wait_for(&watch, "v1");
    // The hook runs a moment after readers can see the config.
    wait_until("the publish hook ran", || {
        published.lock().unwrap().len() == 2
    });
    assert_eq!(
        *published.lock().unwrap(),
        ["v0", "v1"],
        "every publish, the initial one included"
    );
    assert!(
        recorder
            .reports
            .lock()
            .unwrap()
            .iter()
            .any(|report| matches!(report.outcome, ReloadOutcome::Published { version: 2, .. })),
        "the observer saw the publish"
    );
}

/// Several keys of one ConfigMap, in two formats, decoded together.
#[test]
fn several_keys_decoded_as_one_snapshot() {
    #[derive(Debug, serde::Deserialize)]
    struct Limits {
        max: u32,
    }
    struct Both {
        app: Config,
        limits: Limits,
    }
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    let project = |round: u32| {
        volume
            .project(&[
                ("app.yaml", format!("message: v{round}\nport: 1\n")),
                ("limits.toml", format!("max = {round}\n")),
            ])
            .unwrap()
    };
    project(0);
    let source = ConfigSource::keys(mount.path(), ["app.yaml", "limits.toml"]);
    let watch = Watch::<Both>::decoding(source, |files: &Files| -> Result<Both, DecodeError> {
        let both = Both {
            app: files.parse("app.yaml")?,
            limits: files.parse("limits.toml")?,
        };
        if both.app.message != format!("v{}", both.limits.max) {
            return Err("torn: the keys come from two updates".into());
        }
        Ok(both)
    })
    .options(options())
    .start()
    .unwrap();
    for round in 1..=5 {
        project(round);
        wait_until(format_args!("round {round} served"), || {
            watch.get().limits.max == round
        });
        assert_eq!(watch.get().app.message, format!("v{round}"));
    }
}

/// `load` reads and decodes once, without watching: a `--check`.
#[test]
fn load_checks_a_config_without_watching() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    fs::write(&good, r#"{"message": "hi", "port": 8}"#).unwrap();
    let loaded = Watch::<Config>::builder(ConfigSource::file(&good))
        .load()
        .unwrap();
    assert_eq!(
        loaded,
        Config {
            message: "hi".into(),
            port: 8
        }
    );
    let bad = dir.path().join("bad.json");
    fs::write(&bad, r#"{"message": "hi", "port": 8, "sk_live_secret": 1}"#).unwrap();
    let error = Watch::<Config>::builder(ConfigSource::file(&bad))
        .load()
        .unwrap_err();
    assert!(error.to_string().contains("unknown field"), "{error}");
    assert!(!error.to_string().contains("sk_live"), "{error}");
}

/// The start-up errors a builder can meet before any file is read.
#[test]
fn start_up_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.ini");
    fs::write(&path, "x").unwrap();
    let error = Watch::<Config>::file(&path)
        .err()
        .expect("an unknown extension fails");
    assert!(matches!(error, StartError::UnknownFormat(_)), "{error}");
    assert!(error.to_string().contains("Builder::format"), "{error}");
    let keys = ConfigSource::keys(dir.path(), ["a.yaml", "b.yaml"]);
    let error = Watch::<Config>::builder(keys)
        .start()
        .err()
        .expect("several keys need a decoder");
    assert!(
        matches!(error, StartError::SeveralKeysNeedADecoder),
        "{error}"
    );
}

/// The three-line start, and a per-thread cached reader that follows publishes.
#[test]
fn the_three_lines_and_a_cached_reader() {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume
        .project(&[("app.yaml", "message: v0\nport: 1\n")])
        .unwrap();
    let config = Watch::<Config>::file(mount.path().join("app.yaml")).unwrap();
    let current = config.get();
    let changes = config.subscribe();
    assert_eq!((current.message.as_str(), current.version()), ("v0", 1));
    assert_eq!(changes.borrow().message, "v0");
    let mut reader = config.cached_reader();
    let reads = AtomicUsize::new(0);
    volume
        .project(&[("app.yaml", "message: v1\nport: 1\n")])
        .unwrap();
    wait_until("the cached reader sees v1", || {
        reads.fetch_add(1, Ordering::Relaxed);
        reader.read(|current| current.message == "v1")
    });
    assert_eq!(reader.get().version(), 2);
    assert_eq!(current.message, "v0", "a held config is unchanged");
}

/// A watcher is a value: its settings travel with it (here, the channel it
/// reloads on), and it goes to `Builder::watcher` like a built-in one.
#[test]
fn a_watcher_of_your_own_is_a_value_with_its_settings() {
    use config_reload::watcher::{Change, JoinOnDrop, Running, Signals, Watcher};

    struct OnRequest(std::sync::mpsc::Receiver<()>);

    impl Watcher for OnRequest {
        fn name(&self) -> &'static str {
            "on-request"
        }

        fn resync(&self) -> bool {
            false
        }

        fn establish(
            self: Box<Self>,
            _: &ConfigSource,
            _: &WatchOptions,
            signals: Signals,
        ) -> std::io::Result<Running> {
            let requests = self.0;
            let thread = signals.spawn("on-request", move |signals| {
                while requests.recv().is_ok() {
                    signals.change(Change::Commit);
                }
            })?;
            Ok(Box::new(JoinOnDrop::new(thread, || {})))
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let (key, content) = document(Format::Yaml, "v1", 1);
    let path = dir.path().join(&key);
    fs::write(&path, content).unwrap();
    let (ask, requests) = std::sync::mpsc::channel();
    let watch = Watch::<Config>::builder(ConfigSource::file(&path))
        .watcher(OnRequest(requests))
        .options(options())
        .start()
        .unwrap();
    assert_eq!(watch.watcher(), "on-request");
    fs::write(&path, document(Format::Yaml, "v2", 2).1).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(watch.get().message, "v1", "nothing noticed it yet");
    ask.send(()).unwrap();
    wait_for(&watch, "v2");
    drop(ask);
}
