//! The seed's start-up race, made deterministic: a change that lands while
//! the initial config is being loaded must still be published. `Watch::start`
//! establishes the watch before the initial load, so the change is seen; a
//! watch set up after the load would miss it for ever (the resync is off).
//! Checked: with `establish` moved after the initial load in `Watch::start`,
//! the notify and inotify cases fail. The poller passes either way, because
//! a file modified within `RACY_WINDOW` is re-read on its next tick.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Harness, Subject, TestConfig, file_source, yaml};
use config_reload::DecodeError;
use config_reload::testing::{KubeletVolume, rename_replace};
use config_reload::{Decode, Files};

/// Decodes as YAML, and during the first decode (the initial load) has the
/// outside world change the config.
struct ChangeDuringFirstDecode<F> {
    change: F,
    changed: AtomicBool,
}

impl<F: Fn() + Send + Sync + 'static> Decode<TestConfig> for ChangeDuringFirstDecode<F> {
    fn decode(&self, files: &Files) -> Result<TestConfig, DecodeError> {
        if !self.changed.swap(true, Ordering::SeqCst) {
            (self.change)();
        }
        common::decode_test_config(files)
    }
}

fn kubelet_update_during_initial_load<S: Subject>() {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[("app.yaml", yaml("initial"))]).unwrap();
    let dir = mount.path().to_path_buf();
    let decode = ChangeDuringFirstDecode {
        change: move || {
            KubeletVolume::new(&dir)
                .project(&[("app.yaml", yaml("changed during start-up"))])
                .unwrap();
        },
        changed: AtomicBool::new(false),
    };
    let harness = Harness::<S>::start_decoding(
        file_source(mount.path(), "app.yaml"),
        decode,
        common::options(),
    );
    // The initial load read the old directory before the commit: what it
    // published is "initial"; only the watch can bring the change in.
    assert_eq!(
        harness.history().first().map(String::as_str),
        Some("initial")
    );
    harness.wait_for("changed during start-up");
}

fn editor_save_during_initial_load<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("app.yaml");
    std::fs::write(&path, yaml("initial")).unwrap();
    let target = path.clone();
    let decode = ChangeDuringFirstDecode {
        change: move || rename_replace(&target, yaml("saved during start-up").as_bytes()).unwrap(),
        changed: AtomicBool::new(false),
    };
    let harness = Harness::<S>::start_decoding(
        file_source(dir.path(), "app.yaml"),
        decode,
        common::options(),
    );
    assert_eq!(
        harness.history().first().map(String::as_str),
        Some("initial")
    );
    harness.wait_for("saved during start-up");
}

macro_rules! for_every_strategy {
    ($($module:ident: $strategy:ty),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[test]
            fn a_kubelet_update_during_the_initial_load_is_published() {
                kubelet_update_during_initial_load::<$strategy>();
            }

            #[test]
            fn an_editor_save_during_the_initial_load_is_published() {
                editor_save_during_initial_load::<$strategy>();
            }
        }
    )*};
}

for_every_strategy!(notify: common::Notify, inotify: common::Inotify, poll: common::Poll);
