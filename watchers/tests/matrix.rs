//! Every update pattern of `shared/configmap-volumes.md` §1 and §2, written
//! once and run against every strategy, on real directories with real
//! inotify. Each pattern is applied several times in a row on one running
//! watcher: peers' bugs show up on the second update, not the first.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use common::{Harness, Subject, TestConfig, file_source, wait_until, yaml};
use config_reload::DecodeError;
use config_reload::testing::{
    KubeletVolume, Mapped, SymlinkOrder, delete_and_recreate, rename_replace, rewrite_same,
    swap_parent_dir, symlink_swap, touch, write_in_chunks, write_in_place, write_in_place_slowly,
    write_through_mmap,
};
use config_reload::{ConfigSource, Decode, Files, Format, Trigger, WatchHealth, WatchOptions};

/// How many times each pattern is applied on one running watcher.
const ROUNDS: usize = 3;

fn kubelet_updates<S: Subject>(order: SymlinkOrder) {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::with_order(mount.path(), order);
    volume.project(&[("app.yaml", yaml("v0"))]).unwrap();
    let harness = Harness::<S>::start(file_source(mount.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        volume
            .project(&[("app.yaml", yaml(&format!("v{round}")))])
            .unwrap();
        harness.wait_for(&format!("v{round}"));
    }
    assert_eq!(harness.history(), ["v0", "v1", "v2", "v3"]);
}

/// Decodes two keys together and refuses a pair from two different updates,
/// which is what reading them at two moments would produce.
struct Pair;

impl Decode<TestConfig> for Pair {
    fn decode(&self, files: &Files) -> Result<TestConfig, DecodeError> {
        let [(_, app), (_, extra)] = &files.entries[..] else {
            return Err("expected two keys".into());
        };
        let (app, extra): (TestConfig, TestConfig) =
            (Format::Yaml.parse(app)?, Format::Yaml.parse(extra)?);
        if app != extra {
            return Err(format!(
                "torn snapshot: app {:?} with extra {:?}",
                app.message, extra.message
            )
            .into());
        }
        Ok(app)
    }
}

fn multi_key_snapshot<S: Subject>() {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    let payload = |message: &str| [("app.yaml", yaml(message)), ("extra.yaml", yaml(message))];
    volume.project(&payload("v0")).unwrap();
    let source = ConfigSource::keys(mount.path(), ["app.yaml", "extra.yaml"]);
    let harness = Harness::<S>::start_decoding(source, Pair, common::options());
    // Many quick updates make a read that straddles a commit likely.
    for round in 1..=200_usize {
        volume.project(&payload(&format!("v{round}"))).unwrap();
        if round.is_multiple_of(50) {
            harness.wait_for(&format!("v{round}"));
        }
    }
    let torn: Vec<_> = harness
        .recorder
        .failures()
        .into_iter()
        .filter(|reason| reason.contains("torn"))
        .collect();
    assert!(
        torn.is_empty(),
        "keys were read from two different updates: {torn:?}"
    );
}

fn key_added_and_removed<S: Subject>() {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[("app.yaml", yaml("v0"))]).unwrap();
    let harness = Harness::<S>::start(file_source(mount.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        let added = format!("added-{round}");
        volume
            .project(&[("app.yaml", yaml(&added)), ("extra.yaml", yaml("extra"))])
            .unwrap();
        harness.wait_for(&added);
        let removed = format!("removed-{round}");
        volume.project(&[("app.yaml", yaml(&removed))]).unwrap();
        harness.wait_for(&removed);
    }
    // The watched key itself removed: reported, the last good kept; back: picked up.
    for round in 1..=ROUNDS {
        harness.recorder.reports.lock().unwrap().clear();
        volume.project(&[("other.yaml", yaml("other"))]).unwrap();
        harness.wait_for_failure("is not in the ConfigMap volume");
        let last_good = if round == 1 {
            format!("removed-{ROUNDS}")
        } else {
            format!("back-{}", round - 1)
        };
        assert_eq!(harness.message(), last_good);
        volume
            .project(&[("app.yaml", yaml(&format!("back-{round}")))])
            .unwrap();
        harness.wait_for(&format!("back-{round}"));
    }
}

/// Runs `update(path, round_message)` ROUNDS times on a plain file.
fn plain_file_updates<S: Subject>(update: impl Fn(&std::path::Path, &str)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, yaml("v0")).unwrap();
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        let message = format!("v{round}");
        update(&path, &yaml(&message));
        harness.wait_for(&message);
    }
    assert_eq!(harness.history(), ["v0", "v1", "v2", "v3"]);
}

fn rename_replace_updates<S: Subject>() {
    plain_file_updates::<S>(|path, contents| rename_replace(path, contents.as_bytes()).unwrap());
}

fn in_place_rewrites<S: Subject>() {
    plain_file_updates::<S>(|path, contents| write_in_place(path, contents.as_bytes()).unwrap());
}

fn delete_and_recreate_updates<S: Subject>() {
    plain_file_updates::<S>(|path, contents| {
        delete_and_recreate(path, contents.as_bytes(), Duration::from_millis(50)).unwrap();
    });
}

/// A writer pauses half way through an in-place rewrite, longer than the
/// debounce's quiet window: the half file is read, and must be rejected.
/// Every message is long and quoted, so any prefix of the file is invalid
/// YAML; the recording manager shows whether a prefix was ever published.
fn slow_in_place_rewrites<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    let message = |round: usize| format!("v{round} {}", "x".repeat(4000));
    fs::write(&path, yaml(&message(0))).unwrap();
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        write_in_place_slowly(
            &path,
            yaml(&message(round)).as_bytes(),
            Duration::from_millis(300),
        )
        .unwrap();
        harness.wait_for(&message(round));
    }
    let history = harness.history();
    assert_eq!(
        history.len(),
        ROUNDS + 1,
        "a half-written file was published: {:?}",
        short(&history)
    );
    assert!(
        history
            .iter()
            .enumerate()
            .all(|(round, published)| *published == message(round))
    );
}

/// One file descriptor writes a YAML literal block a line at a time, pausing
/// 300 ms between lines: every prefix is valid YAML with a non-empty
/// message, so a reload that reads before the writer's close publishes a
/// half-written config. Only the whole file, once per round, may be published.
fn slow_writer_with_valid_yaml_prefixes<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, literal_block(0).concat()).unwrap();
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        write_literal_block_slowly(&path, round);
        harness.wait_for(&literal_message(round));
    }
    let expected: Vec<String> = (0..=ROUNDS).map(literal_message).collect();
    assert_eq!(harness.history(), expected, "a prefix was published");
}

/// A YAML literal block as lines: every prefix of the file is valid YAML.
fn literal_block(round: usize) -> Vec<String> {
    let mut lines = vec!["message: |\n".to_owned()];
    lines.extend((1..=3).map(|line| format!("  round {round} line {line}\n")));
    lines
}

/// The message [`literal_block`] decodes to.
fn literal_message(round: usize) -> String {
    (1..=3)
        .map(|line| format!("round {round} line {line}\n"))
        .collect()
}

/// Writes [`literal_block`] in place a line at a time, 300 ms apart.
fn write_literal_block_slowly(path: &Path, round: usize) {
    let lines = literal_block(round);
    let chunks: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
    write_in_chunks(path, &chunks, Duration::from_millis(300)).unwrap();
}

/// `reload_now` (SIGHUP) asked while a writer is still writing in place
/// never publishes what it has written so far: the reload waits for the
/// same evidence of a finished write as a change the watcher noticed (its
/// close, or the poller's settle window). The poller looks only once an
/// hour, so the request is all it has to go on.
fn reload_now_during_a_write_waits_for_it<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, literal_block(0).concat()).unwrap();
    let harness = polling_hourly::<S>(dir.path());
    for round in 1..=ROUNDS {
        let writing = path.clone();
        let writer = std::thread::spawn(move || write_literal_block_slowly(&writing, round));
        // The header and the first line are written (a valid prefix), two
        // lines to come.
        std::thread::sleep(Duration::from_millis(450));
        harness.watch.reload_now();
        writer.join().unwrap();
        harness.wait_for(&literal_message(round));
    }
    let expected: Vec<String> = (0..=ROUNDS).map(literal_message).collect();
    assert_eq!(harness.history(), expected, "a prefix was published");
}

/// The config path is a symlink into another directory
/// (`/etc/app/config.yaml -> /srv/conf/app.yaml`): edits of the target, in
/// place and by rename, are noticed without waiting for a resync.
fn symlink_into_another_directory<S: Subject>() {
    let links = tempfile::tempdir().unwrap();
    let targets = tempfile::tempdir().unwrap();
    let target = targets.path().join("app.yaml");
    fs::write(&target, yaml("v0")).unwrap();
    symlink(&target, links.path().join("config.yaml")).unwrap();
    let harness = Harness::<S>::start(file_source(links.path(), "config.yaml"));
    for round in 1..=ROUNDS {
        let renamed = format!("renamed-{round}");
        rename_replace(&target, yaml(&renamed).as_bytes()).unwrap();
        harness.wait_for(&renamed);
        let written = format!("written-{round}");
        write_in_place(&target, yaml(&written).as_bytes()).unwrap();
        harness.wait_for(&written);
    }
}

/// A chain of two symlinks across three directories, whose middle link is
/// swapped (`ln -sfn`) to a fourth: the swap is noticed, then edits of the
/// new target are, and edits of the old one no longer matter.
fn symlink_chain_relinked<S: Subject>() {
    let root = tempfile::tempdir().unwrap();
    let dir = |name: &str| {
        let dir = root.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        dir
    };
    let (etc, srv, blue, green) = (dir("etc"), dir("srv"), dir("blue"), dir("green"));
    let middle = srv.join("current.yaml");
    let target = |round: usize| {
        if round.is_multiple_of(2) {
            blue.join("app.yaml")
        } else {
            green.join("app.yaml")
        }
    };
    fs::write(target(0), yaml("v0")).unwrap();
    symlink(target(0), &middle).unwrap();
    symlink(&middle, etc.join("config.yaml")).unwrap();
    let harness = Harness::<S>::start(file_source(&etc, "config.yaml"));
    for round in 1..=ROUNDS {
        fs::write(target(round), yaml(&format!("swapped-{round}"))).unwrap();
        symlink_swap(&middle, &target(round)).unwrap();
        harness.wait_for(&format!("swapped-{round}"));
        let edited = format!("edited-{round}");
        rename_replace(&target(round), yaml(&edited).as_bytes()).unwrap();
        harness.wait_for(&edited);
    }
}

fn short(history: &[String]) -> Vec<String> {
    history
        .iter()
        .map(|message| message.chars().take(12).collect::<String>() + "...")
        .collect()
}

/// `ln -sfn`: the path is a symlink whose target changes; blue/green
/// directories next to it.
fn symlink_swaps<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("app.yaml");
    let target = |round: usize| {
        dir.path()
            .join(if round.is_multiple_of(2) {
                "blue"
            } else {
                "green"
            })
            .join("app.yaml")
    };
    for round in 0..=ROUNDS {
        fs::create_dir_all(target(round).parent().unwrap()).unwrap();
    }
    fs::write(target(0), yaml("v0")).unwrap();
    symlink(target(0), &link).unwrap();
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        // The next target is written before the swap, as a deploy does.
        fs::write(target(round), yaml(&format!("v{round}"))).unwrap();
        symlink_swap(&link, &target(round)).unwrap();
        harness.wait_for(&format!("v{round}"));
    }
}

/// The whole config directory replaced by a rename: the watch must move to
/// the new directory. A rename-replace inside the new directory after each
/// swap is seen only if it did.
fn parent_directory_swaps<S: Subject>() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("config");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("app.yaml"), yaml("v0")).unwrap();
    let harness = Harness::<S>::start(file_source(&dir, "app.yaml"));
    for round in 1..=ROUNDS {
        let swapped = format!("swapped-{round}");
        swap_parent_dir(&dir, &[("app.yaml", yaml(&swapped).as_bytes())]).unwrap();
        harness.wait_for(&swapped);
        let edited = format!("edited-{round}");
        rename_replace(&dir.join("app.yaml"), yaml(&edited).as_bytes()).unwrap();
        harness.wait_for(&edited);
    }
    harness.wait_watching();
}

/// Metadata-only and same-content changes must publish nothing. Each is
/// waited for until a reload reported "unchanged" (so it was looked at), then
/// a sentinel change: exactly one more version, so none came from the touches.
fn touch_and_same_content<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, yaml("v0")).unwrap();
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        for change in [
            touch as fn(&std::path::Path) -> std::io::Result<()>,
            rewrite_same,
        ] {
            let seen = harness.recorder.unchanged();
            change(&path).unwrap();
            wait_until(format_args!("the change looked at ({})", S::NAME), || {
                harness.recorder.unchanged() > seen
            });
        }
        let sentinel = format!("sentinel-{round}");
        rename_replace(&path, yaml(&sentinel).as_bytes()).unwrap();
        harness.wait_for(&sentinel);
        assert_eq!(
            harness.version(),
            1 + round as u64,
            "history: {:?}",
            harness.history()
        );
    }
}

/// 1000 kubelet updates as fast as they can be written: the last one is
/// what ends up served.
fn kubelet_bursts<S: Subject>() {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[("app.yaml", yaml("start"))]).unwrap();
    let harness = Harness::<S>::start(file_source(mount.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        for update in 0..1000 {
            volume
                .project(&[("app.yaml", yaml(&format!("burst-{round}-{update}")))])
                .unwrap();
        }
        harness.wait_for(&format!("burst-{round}-999"));
    }
    eprintln!(
        "{}: {} versions published for {} updates",
        S::NAME,
        harness.version() - 1,
        ROUNDS * 1000
    );
}

/// The directory deleted, then created again with a new config.
fn directory_deleted_and_recreated<S: Subject>() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("config");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("app.yaml"), yaml("v0")).unwrap();
    let harness = Harness::<S>::start(file_source(&dir, "app.yaml"));
    for round in 1..=ROUNDS {
        fs::remove_dir_all(&dir).unwrap();
        if S::TRIGGER == Trigger::Event {
            wait_until(
                format_args!("{} reports the directory gone", S::NAME),
                || matches!(harness.watch.health(), WatchHealth::Degraded(_)),
            );
        }
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("app.yaml"), yaml(&format!("v{round}"))).unwrap();
        harness.wait_for(&format!("v{round}"));
        harness.wait_watching();
        // Watching the new directory, not only its reappearance.
        rename_replace(
            &dir.join("app.yaml"),
            yaml(&format!("edited-{round}")).as_bytes(),
        )
        .unwrap();
        harness.wait_for(&format!("edited-{round}"));
    }
}

/// A change no event announces (written through a memory mapping) is
/// found by the resync of event strategies, and by the poller's next look.
fn unannounced_change_is_found<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, yaml("v0")).unwrap();
    let options = WatchOptions {
        resync_interval: Some(Duration::from_millis(200)),
        ..common::options()
    };
    let harness =
        Harness::<S>::start_with(file_source(dir.path(), "app.yaml"), options, |builder| {
            builder
        });
    for round in 1..=ROUNDS {
        let mapped = write_unannounced(&path, &format!("v{round}"));
        harness.wait_for(&format!("v{round}"));
        close_mapping(&harness, mapped);
    }
    if S::TRIGGER == Trigger::Event {
        let found = harness
            .recorder
            .resync_changes
            .load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            found, ROUNDS,
            "every change was found by the resync, and counted"
        );
    }
}

/// A watch of `dir/app.yaml` whose poller (if it is one) looks only once an
/// hour: a reload asked for is all it has to go on.
fn polling_hourly<S: Subject>(dir: &Path) -> Harness<S> {
    let options = WatchOptions {
        poll_interval: Duration::from_secs(3600),
        ..common::options()
    };
    Harness::<S>::start_with(file_source(dir, "app.yaml"), options, |builder| builder)
}

/// Writes `message` (as long as the one there) so that no event says so
/// until the returned mapping is dropped.
#[must_use = "dropping the mapping announces the change"]
fn write_unannounced(path: &Path, message: &str) -> Mapped {
    write_through_mmap(path, yaml(message).as_bytes()).unwrap()
}

/// Drops the mapping, whose unmap is the file's last close, and waits for
/// the reload that close causes on an event strategy (it finds nothing
/// new), so it cannot read the next round's write.
fn close_mapping<S: Subject>(harness: &Harness<S>, mapped: Mapped) {
    let unchanged = harness.recorder.unchanged();
    drop(mapped);
    if S::TRIGGER == Trigger::Event {
        common::wait_until("the reload the close caused", || {
            harness.recorder.unchanged() > unchanged
        });
    }
}

/// `reload_now` (SIGHUP) reloads whatever the events said.
fn reload_now_reloads<S: Subject>() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, yaml("v0")).unwrap();
    let harness = polling_hourly::<S>(dir.path());
    for round in 1..=ROUNDS {
        let mapped = write_unannounced(&path, &format!("v{round}"));
        harness.watch.reload_now();
        harness.wait_for(&format!("v{round}"));
        // Its close announces nothing new: no second publish.
        close_mapping(&harness, mapped);
    }
    assert_eq!(
        harness.recorder.publish_triggers(),
        [Trigger::Manual; ROUNDS]
    );
}

macro_rules! matrix {
    ($($strategy_module:ident => $strategy:ty),* $(,)?) => {$(
        mod $strategy_module {
            use super::*;
            type S = $strategy;

            #[test] fn kubelet_update_with_symlinks_after_commit() { super::kubelet_updates::<S>(SymlinkOrder::AfterCommit) }
            #[test] fn kubelet_update_with_symlinks_before_commit() { super::kubelet_updates::<S>(SymlinkOrder::BeforeCommit) }
            #[test] fn multi_key_is_read_as_one_snapshot() { super::multi_key_snapshot::<S>() }
            #[test] fn key_added_and_removed() { super::key_added_and_removed::<S>() }
            #[test] fn rename_replace() { super::rename_replace_updates::<S>() }
            #[test] fn in_place_rewrite() { super::in_place_rewrites::<S>() }
            #[test] fn slow_in_place_rewrite_never_publishes_a_half_file() { super::slow_in_place_rewrites::<S>() }
            #[test] fn slow_writer_with_valid_yaml_prefixes_publishes_only_the_whole_file() { super::slow_writer_with_valid_yaml_prefixes::<S>() }
            #[test] fn symlink_into_another_directory() { super::symlink_into_another_directory::<S>() }
            #[test] fn symlink_chain_relinked() { super::symlink_chain_relinked::<S>() }
            #[test] fn delete_and_recreate() { super::delete_and_recreate_updates::<S>() }
            #[test] fn plain_symlink_swap() { super::symlink_swaps::<S>() }
            #[test] fn parent_directory_swap() { super::parent_directory_swaps::<S>() }
            #[test] fn touch_and_same_content_publish_nothing() { super::touch_and_same_content::<S>() }
            #[test] fn burst_of_kubelet_updates_ends_with_the_last() { super::kubelet_bursts::<S>() }
            #[test] fn directory_deleted_and_recreated_survives() { super::directory_deleted_and_recreated::<S>() }
            #[test] fn change_no_event_announced_is_found() { super::unannounced_change_is_found::<S>() }
            #[test] fn reload_now_reloads() { super::reload_now_reloads::<S>() }
            #[test] fn reload_now_during_a_write_waits_for_it() { super::reload_now_during_a_write_waits_for_it::<S>() }
        }
    )*};
}

common::every_watcher!(matrix);
