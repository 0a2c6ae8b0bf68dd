//! Names, against every strategy: another name for the same file (an
//! in-place edit through a hard link in another directory, and of the
//! source of a single-file bind mount: `docker run -v
//! host.yaml:/etc/app.yaml`, a `hostPath` volume of type `File`), and a file
//! name that is not UTF-8. The kernel reports a write only on the
//! path it went through, so a watch of the config's directory alone never
//! hears of these; the resync is off, so only the watch itself can find
//! them. Each round's latency is printed (`--nocapture`): the goal is under
//! a second, measured here, not asserted (shared, noisy machines).
//!
//! The bind mount needs root (CI runs as root); where mounting is refused
//! the test prints why and passes without running.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{Harness, Subject, file_source, yaml};
use config_reload::testing::{BindMount, write_in_place};

const ROUNDS: usize = 3;

fn report<S: Subject>(case: &str, took: &[Duration]) {
    eprintln!("{case} ({}): served after {took:?}", S::NAME);
}

fn hard_link_edits_are_served<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    let alias = elsewhere.path().join("alias.yaml");
    fs::write(&path, yaml("v0")).unwrap();
    fs::hard_link(&path, &alias).unwrap();
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    let mut took = Vec::new();
    for round in 1..=ROUNDS {
        let started = Instant::now();
        write_in_place(&alias, yaml(&format!("v{round}")).as_bytes()).unwrap();
        harness.wait_for(&format!("v{round}"));
        took.push(started.elapsed());
    }
    report::<S>("hard link", &took);
}

/// The hard link made after the watch started: inotify watches the file
/// itself from the start, whatever names it has (notify only where it had
/// another name when its watch was set up, so it is not run here: with the
/// resync off it would never hear of this edit).
#[test]
fn inotify_serves_edits_through_a_hard_link_made_after_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    let alias = elsewhere.path().join("alias.yaml");
    fs::write(&path, yaml("v0")).unwrap();
    let harness = Harness::<common::Inotify>::start(file_source(dir.path(), "app.yaml"));
    fs::hard_link(&path, &alias).unwrap();
    for round in 1..=ROUNDS {
        write_in_place(&alias, yaml(&format!("v{round}")).as_bytes()).unwrap();
        harness.wait_for(&format!("v{round}"));
    }
}

fn bind_mounted_file_edits_are_served<S: Subject>() {
    let host = tempfile::tempdir().unwrap();
    let container = tempfile::tempdir().unwrap();
    let source = host.path().join("host.yaml");
    let path = container.path().join("app.yaml");
    fs::write(&source, yaml("v0")).unwrap();
    fs::write(&path, yaml("shadowed")).unwrap();
    let _mount = match BindMount::new(&source, &path) {
        Ok(mount) => mount,
        Err(error) => {
            eprintln!("skipped: cannot bind-mount here ({error}); run as root to test mounts");
            return;
        }
    };
    let harness = Harness::<S>::start(file_source(container.path(), "app.yaml"));
    assert_eq!(harness.message(), "v0");
    let mut took = Vec::new();
    for round in 1..=ROUNDS {
        let started = Instant::now();
        write_in_place(&source, yaml(&format!("v{round}")).as_bytes()).unwrap();
        harness.wait_for(&format!("v{round}"));
        took.push(started.elapsed());
    }
    report::<S>("single-file bind mount", &took);
}

/// A file name that is not UTF-8 (Linux names are bytes): read, watched
/// and reported under its own name, not a lossy copy that does not exist.
fn non_utf8_file_names_work<S: Subject>() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"conf\xff\xfe.yaml"));
    fs::write(&path, yaml("v0")).unwrap();
    let harness = Harness::<S>::start(config_reload::ConfigSource::file(&path));
    assert_eq!(harness.message(), "v0");
    for round in 1..=ROUNDS {
        write_in_place(&path, yaml(&format!("written {round}")).as_bytes()).unwrap();
        harness.wait_for(&format!("written {round}"));
        config_reload::testing::rename_replace(&path, yaml(&format!("renamed {round}")).as_bytes())
            .unwrap();
        harness.wait_for(&format!("renamed {round}"));
    }
}

macro_rules! names {
    ($($strategy_module:ident => $strategy:ty),* $(,)?) => {$(
        mod $strategy_module {
            type S = $strategy;

            #[test] fn edits_through_a_hard_link_are_served() { super::hard_link_edits_are_served::<S>() }
            #[test] fn edits_of_a_bind_mounted_file_s_source_are_served() { super::bind_mounted_file_edits_are_served::<S>() }
            #[test] fn non_utf8_file_names_work() { super::non_utf8_file_names_work::<S>() }
        }
    )*};
}

common::every_watcher!(names);
