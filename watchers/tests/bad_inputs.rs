//! Every bad input of `shared/configmap-volumes.md` §3, run against every
//! strategy: never published, reported with a reason that says what is
//! wrong, the last good config kept, and the next good file picked up.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use common::Subject;
use common::{Harness, file_source, yaml};
use config_reload::testing::{KubeletVolume, rename_replace};

const ROUNDS: usize = 3;

/// Applies `bad` ROUNDS times to a watched plain file, each time followed by
/// a good file.
fn rejects<S: Subject>(bad: impl Fn(&Path), reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, yaml("good-0")).unwrap();
    let harness = Harness::<S>::start(file_source(dir.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        harness.recorder.reports.lock().unwrap().clear();
        bad(&path);
        harness.wait_for_failure(reason);
        let failures = harness.recorder.failures();
        assert!(
            failures.iter().all(|failure| failure.contains("app.yaml")),
            "names the file: {failures:?}"
        );
        let good = format!("good-{round}");
        assert_eq!(
            harness.message(),
            format!("good-{}", round - 1),
            "the last good config stays"
        );
        if fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.is_dir()) {
            fs::remove_dir_all(&path).unwrap();
        }
        rename_replace(&path, yaml(&good).as_bytes()).unwrap();
        harness.wait_for(&good);
    }
    let history = harness.history();
    assert_eq!(
        history,
        ["good-0", "good-1", "good-2", "good-3"],
        "nothing bad was ever published"
    );
}

fn replace_with(contents: impl AsRef<[u8]>) -> impl Fn(&Path) {
    move |path| rename_replace(path, contents.as_ref()).unwrap()
}

/// "Billion laughs": nine levels of nine aliases each, 387 million strings
/// if expanded.
fn alias_bomb() -> String {
    let mut yaml = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let list = vec![format!("*{}", pair[0]); 9].join(",");
        yaml.push_str(&format!("{}: &{} [{list}]\n", pair[1], pair[1]));
    }
    yaml + "message: *i\n"
}

/// 100 000 nested flow sequences under a field the config ignores: only the
/// parser's depth limit stops it (a recursive parser would overflow its stack).
fn deep_nesting() -> String {
    format!(
        "message: deep\nnested: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    )
}

fn becomes_directory(path: &Path) {
    fs::remove_file(path).unwrap();
    fs::create_dir(path).unwrap();
}

fn dangling_symlink(path: &Path) {
    fs::remove_file(path).unwrap();
    symlink(path.with_file_name("missing.yaml"), path).unwrap();
}

fn symlink_loop(path: &Path) {
    let other = path.with_file_name("loop.yaml");
    let _ = fs::remove_file(&other);
    symlink(path, &other).unwrap();
    fs::remove_file(path).unwrap();
    symlink(&other, path).unwrap();
}

/// A new file the reader may not read, moved in atomically.
fn unreadable(path: &Path) {
    let temporary = path.with_file_name("unreadable.tmp");
    fs::write(&temporary, yaml("secret")).unwrap();
    fs::set_permissions(&temporary, fs::Permissions::from_mode(0o000)).unwrap();
    fs::rename(&temporary, path).unwrap();
}

/// Root reads a mode-000 file anyway (CAP_DAC_OVERRIDE), so as root this
/// test runs itself again, alone, as `nobody`.
fn permission_denied<S: Subject>(test_name: &str) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return rejects::<S>(unreadable, "permission denied");
    }
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65534;
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args([test_name, "--exact", "--test-threads=1"])
        .uid(NOBODY)
        .gid(NOBODY)
        .env("TMPDIR", std::env::temp_dir())
        .status();
    match status {
        Ok(status) => assert!(status.success(), "{test_name} as nobody: {status}"),
        Err(error) => {
            eprintln!("SKIPPED {test_name}: running as root and cannot switch to nobody: {error}")
        }
    }
}

/// An invalid payload projected by the kubelet, between good ones.
fn kubelet_invalid_yaml<S: Subject>() {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[("app.yaml", yaml("good-0"))]).unwrap();
    let harness = Harness::<S>::start(file_source(mount.path(), "app.yaml"));
    for round in 1..=ROUNDS {
        harness.recorder.reports.lock().unwrap().clear();
        volume
            .project(&[("app.yaml", format!("message: [unclosed {round}\n"))])
            .unwrap();
        harness.wait_for_failure("invalid YAML");
        assert_eq!(harness.message(), format!("good-{}", round - 1));
        volume
            .project(&[("app.yaml", yaml(&format!("good-{round}")))])
            .unwrap();
        harness.wait_for(&format!("good-{round}"));
    }
}

macro_rules! bad_inputs {
    ($($strategy_module:ident => $strategy:ty),* $(,)?) => {$(
        mod $strategy_module {
            use super::*;
            type S = $strategy;

            #[test] fn invalid_yaml() { rejects::<S>(replace_with("message: [unclosed\n"), "invalid YAML") }
            #[test] fn invalid_yaml_from_the_kubelet() { kubelet_invalid_yaml::<S>() }
            #[test] fn empty_file() { rejects::<S>(replace_with(""), "is empty") }
            #[test] fn wrong_shape() { rejects::<S>(replace_with("- a\n- b\n"), "invalid YAML") }
            #[test] fn missing_field() { rejects::<S>(replace_with("other: 1\n"), "missing field `message`") }
            #[test] fn failed_validation() { rejects::<S>(replace_with("message: ''\n"), "message must not be empty") }
            #[test] fn duplicate_key() { rejects::<S>(replace_with("message: a\nmessage: b\n"), "invalid YAML") }
            #[test] fn non_utf8() { rejects::<S>(replace_with(b"message: \xff\xfe\n"), "not UTF-8") }
            #[test] fn larger_than_the_limit() { rejects::<S>(replace_with(vec![b'#'; 2 << 20]), "larger than the limit") }
            #[test] fn alias_bomb() { rejects::<S>(replace_with(super::alias_bomb()), "limits breached") }
            #[test] fn deep_nesting() { rejects::<S>(replace_with(super::deep_nesting()), "recursion limit exceeded") }
            #[test] fn path_becomes_a_directory() { rejects::<S>(becomes_directory, "is a directory") }
            #[test] fn dangling_symlink() { rejects::<S>(super::dangling_symlink, "dangling symlink") }
            #[test] fn symlink_loop() { rejects::<S>(super::symlink_loop, "symlink loop") }
            #[test] fn permission_denied() {
                super::permission_denied::<S>(concat!(stringify!($strategy_module), "::permission_denied"))
            }
        }
    )*};
}

common::every_watcher!(bad_inputs);
