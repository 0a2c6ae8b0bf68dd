//! The real binary, on a real port, watching a real directory: every
//! scenario runs once per compiled-in watcher (`cargo test --workspace
//! --all-features` compiles them all), each in its own temp dir and port.

mod common;

// The compiled-in variants, from service/Cargo.toml (`build.rs`).
include!(concat!(env!("OUT_DIR"), "/variants.rs"));

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Flags, Service};
use config_reload::testing::{self, KubeletVolume, SymlinkOrder};

const FAILURES: &str = "config_reloads_total{result=\"failure\"}";

fn yaml(message: &str) -> String {
    format!("message: {message:?}\n")
}

/// A temp dir holding `config.yaml` with `message`.
fn file_config(message: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, yaml(message)).unwrap();
    (dir, path)
}

/// Instantiates every scenario below for one watcher.
macro_rules! scenarios_for {
    ($($name:literal => $module:ident),* $(,)?) => {$(
        mod $module {
            const WATCHER: &str = $name;
            #[test] fn kubelet_updates_are_served() { super::kubelet_updates_are_served(WATCHER, super::SymlinkOrder::AfterCommit) }
            #[test] fn kubelet_updates_with_the_older_symlink_order_are_served() { super::kubelet_updates_are_served(WATCHER, super::SymlinkOrder::BeforeCommit) }
            #[test] fn rename_replace_updates_are_served() { super::rename_replace_updates_are_served(WATCHER) }
            #[test] fn in_place_rewrites_are_served() { super::in_place_rewrites_are_served(WATCHER) }
            #[test] fn delete_and_recreate_is_served() { super::delete_and_recreate_is_served(WATCHER) }
            #[test] fn symlink_swaps_are_served() { super::symlink_swaps_are_served(WATCHER) }
            #[test] fn parent_dir_swaps_are_served() { super::parent_dir_swaps_are_served(WATCHER) }
            #[test] fn a_vanished_config_dir_keeps_serving_and_ready_until_it_returns() { super::a_vanished_config_dir_keeps_serving_and_ready_until_it_returns(WATCHER) }
            #[test] fn touch_and_same_content_publish_nothing() { super::touch_and_same_content_publish_nothing(WATCHER) }
            #[test] fn bad_inputs_keep_the_last_good_config() { super::bad_inputs_keep_the_last_good_config(WATCHER) }
            #[test] fn unusual_valid_yaml_is_served_exactly() { super::unusual_valid_yaml_is_served_exactly(WATCHER) }
            #[test] fn a_change_during_start_up_is_served() { super::a_change_during_start_up_is_served(WATCHER) }
            #[test] fn sigterm_exits_zero() { super::sigterm_exits_zero(WATCHER) }
            #[test] fn sigterm_with_a_stalled_request_exits_within_the_timeout() { super::sigterm_with_a_stalled_request_exits_within_the_timeout(WATCHER) }
            #[test] fn a_missing_config_fails_start_up_with_one_line() { super::a_missing_config_fails_start_up_with_one_line(WATCHER) }
            #[test] fn an_invalid_config_fails_start_up_with_one_line() { super::an_invalid_config_fails_start_up_with_one_line(WATCHER) }
        }
    )*};
}

compiled_file_watchers!(scenarios_for);

/// Several updates in a row, each served: a watcher that sees only the first
/// `..data` swap fails on the second.
fn kubelet_updates_are_served(watcher: &str, order: SymlinkOrder) {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::with_order(mount.path(), order);
    volume
        .project(&[("config.yaml", yaml("kubelet 0"))])
        .unwrap();
    let service = Service::start(&Flags::new(&mount.path().join("config.yaml"), watcher));

    let mut last = service.wait_for_message("kubelet 0");
    for update in 1..=3 {
        let message = format!("kubelet {update}");
        assert!(volume.project(&[("config.yaml", yaml(&message))]).unwrap());
        let reply = service.wait_for_message(&message);
        assert!(
            reply.version() > last.version(),
            "the version grows with every update"
        );
        assert_ne!(
            reply.header("etag"),
            last.header("etag"),
            "the ETag follows the content"
        );
        last = reply;
    }
    assert_eq!(service.get("/readyz").unwrap().status, 200);
}

fn rename_replace_updates_are_served(watcher: &str) {
    let (_dir, path) = file_config("initial");
    let service = Service::start(&Flags::new(&path, watcher));
    for update in 1..=3 {
        let message = format!("renamed {update}");
        testing::rename_replace(&path, yaml(&message).as_bytes()).unwrap();
        service.wait_for_message(&message);
    }
}

fn in_place_rewrites_are_served(watcher: &str) {
    let (_dir, path) = file_config("initial");
    let service = Service::start(&Flags::new(&path, watcher));
    for update in 1..=3 {
        let message = format!("rewritten {update}");
        testing::write_in_place(&path, yaml(&message).as_bytes()).unwrap();
        service.wait_for_message(&message);
    }
    // A slow writer leaves a truncated file for a while; what ends up served
    // is the whole of what it wrote.
    let message = "written slowly, in two halves";
    testing::write_in_place_slowly(&path, yaml(message).as_bytes(), Duration::from_millis(300))
        .unwrap();
    service.wait_for_message(message);
}

fn delete_and_recreate_is_served(watcher: &str) {
    let (_dir, path) = file_config("initial");
    let service = Service::start(&Flags::new(&path, watcher));
    for update in 1..=2 {
        let message = format!("recreated {update}");
        testing::delete_and_recreate(&path, yaml(&message).as_bytes(), Duration::from_millis(200))
            .unwrap();
        service.wait_for_message(&message);
    }
}

fn symlink_swaps_are_served(watcher: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(dir.path().join("blue.yaml"), yaml("blue")).unwrap();
    fs::write(dir.path().join("green.yaml"), yaml("green")).unwrap();
    symlink("blue.yaml", &path).unwrap();
    let service = Service::start(&Flags::new(&path, watcher));
    service.wait_for_message("blue");
    for target in ["green", "blue", "green"] {
        testing::symlink_swap(&path, Path::new(&format!("{target}.yaml"))).unwrap();
        service.wait_for_message(target);
    }
}

fn parent_dir_swaps_are_served(watcher: &str) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("conf");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("config.yaml"), yaml("initial")).unwrap();
    let service = Service::start(&Flags::new(&dir.join("config.yaml"), watcher));
    for update in 1..=3 {
        let message = format!("new dir {update}");
        testing::swap_parent_dir(&dir, &[("config.yaml", yaml(&message).as_bytes())]).unwrap();
        service.wait_for_message(&message);
    }
}

/// The whole directory gone (a degraded watch): the last good config is
/// still served, the service stays ready, and the directory's return is
/// picked up.
fn a_vanished_config_dir_keeps_serving_and_ready_until_it_returns(watcher: &str) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("conf");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("config.yaml"), yaml("before")).unwrap();
    let service = Service::start(&Flags::new(&dir.join("config.yaml"), watcher));
    service.wait_for_message("before");

    fs::remove_dir_all(&dir).unwrap();
    // Noticed either as a broken watch or as a failed reload.
    common::eventually("the loss to be noticed", || {
        let (errors, failures) = (
            service.metric("config_watch_errors_total"),
            service.metric(FAILURES),
        );
        if errors + failures > 0.0 {
            Ok(())
        } else {
            Err("no watch error, no failed reload".to_owned())
        }
    });
    assert_eq!(service.message().text(), "before");
    assert_eq!(service.get("/readyz").unwrap().status, 200);

    fs::create_dir(&dir).unwrap();
    testing::rename_replace(&dir.join("config.yaml"), yaml("after").as_bytes()).unwrap();
    service.wait_for_message("after");
    assert_eq!(service.get("/readyz").unwrap().status, 200);
}

/// Metadata-only changes publish nothing: the next real change is exactly
/// one version later.
fn touch_and_same_content_publish_nothing(watcher: &str) {
    let (_dir, path) = file_config("initial");
    let service = Service::start(&Flags::new(&path, watcher));
    let before = service.wait_for_message("initial").version();
    testing::touch(&path).unwrap();
    testing::rewrite_same(&path).unwrap();
    testing::rename_replace(&path, yaml("initial").as_bytes()).unwrap();
    testing::rename_replace(&path, yaml("changed").as_bytes()).unwrap();
    let after = service.wait_for_message("changed").version();
    assert_eq!(
        after,
        before + 1,
        "touching or rewriting the same bytes published a version"
    );
}

/// How to put one bad input of shared/configmap-volumes.md §3 in place.
enum Bad {
    Bytes(Vec<u8>),
    Directory,
    DanglingSymlink,
    SymlinkLoop,
    Unreadable,
}

fn bad_inputs() -> Vec<(&'static str, Bad)> {
    let laughs = {
        let mut doc = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (level, previous) in ('b'..='i').zip('a'..) {
            let refs = vec![format!("*{previous}"); 9].join(",");
            doc.push_str(&format!("{level}: &{level} [{refs}]\n"));
        }
        doc + "message: *i\n"
    };
    // Deep, yet under --max-config-bytes: rejected for its nesting, not its size.
    let depth = 20_000;
    vec![
        ("invalid YAML", Bad::Bytes(b"message: [unclosed\n".to_vec())),
        ("an empty file", Bad::Bytes(Vec::new())),
        (
            "the wrong shape",
            Bad::Bytes(b"- message\n- list\n".to_vec()),
        ),
        ("a missing field", Bad::Bytes(b"greeting: hello\n".to_vec())),
        (
            "an unknown field",
            Bad::Bytes(b"message: hi\nmesage: typo\n".to_vec()),
        ),
        ("an empty message", Bad::Bytes(b"message: \"\"\n".to_vec())),
        (
            "non-UTF-8 bytes",
            Bad::Bytes(b"message: \xff\xfe bad\n".to_vec()),
        ),
        (
            "a huge file",
            Bad::Bytes(yaml(&"x".repeat(200_000)).into_bytes()),
        ),
        ("billion laughs", Bad::Bytes(laughs.into_bytes())),
        (
            "deep nesting",
            Bad::Bytes(
                format!("message: {}{}\n", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
            ),
        ),
        ("a directory", Bad::Directory),
        ("a dangling symlink", Bad::DanglingSymlink),
        ("a symlink loop", Bad::SymlinkLoop),
        ("a permission-denied file", Bad::Unreadable),
    ]
}

fn remove_anything(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).unwrap(),
        Ok(_) => fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
}

fn put_in_place(path: &Path, bad: &Bad) {
    match bad {
        Bad::Bytes(bytes) => testing::rename_replace(path, bytes).unwrap(),
        Bad::Directory => {
            remove_anything(path);
            fs::create_dir(path).unwrap();
        }
        Bad::DanglingSymlink => {
            remove_anything(path);
            symlink("nowhere.yaml", path).unwrap();
        }
        Bad::SymlinkLoop => {
            remove_anything(path);
            let other = path.with_extension("loop");
            remove_anything(&other);
            symlink(&other, path).unwrap();
            symlink(path, &other).unwrap();
        }
        Bad::Unreadable => {
            // Unreadable before it appears, so no reload can read it first.
            use std::os::unix::fs::PermissionsExt;
            let staged = path.with_extension("staged");
            fs::write(&staged, yaml("unreadable")).unwrap();
            fs::set_permissions(&staged, fs::Permissions::from_mode(0o000)).unwrap();
            fs::rename(&staged, path).unwrap();
        }
    }
}

/// Each bad input: the last good message stays served, the service stays
/// ready, the failure is counted, and the next good config is served.
fn bad_inputs_keep_the_last_good_config(watcher: &str) {
    let (_dir, path) = file_config("good 0");
    let flags = Flags::new(&path, watcher).set("--max-config-bytes", "65536");
    let service = Service::start(&flags);
    // root reads a 0000 file: that case cannot fail for it.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;

    let mut good = "good 0".to_owned();
    for (index, (name, bad)) in bad_inputs().into_iter().enumerate() {
        if root && matches!(bad, Bad::Unreadable) {
            eprintln!("skipping {name}: running as root");
            continue;
        }
        let failures = service.metric(FAILURES);
        put_in_place(&path, &bad);
        service.wait_for_metric_above(FAILURES, failures);
        assert_eq!(
            service.message().text(),
            good,
            "{name}: the last good config is served"
        );
        assert_eq!(
            service.get("/readyz").unwrap().status,
            200,
            "{name}: still ready"
        );
        assert_eq!(
            service.metric("config_last_reload_successful"),
            0.0,
            "{name}: reported as failed"
        );

        remove_anything(&path);
        good = format!("good {}", index + 1);
        testing::rename_replace(&path, yaml(&good).as_bytes()).unwrap();
        service.wait_for_message(&good);
    }
    // One line per failed reload: the library logs it, the service only
    // counts it. (The log is read from the child's stdout: let it catch up.)
    let failures = service.metric(FAILURES);
    let logged = || {
        service
            .log()
            .iter()
            .filter(|line| {
                line.contains("config rejected") || line.contains("could not be read for now")
            })
            .count() as f64
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while logged() < failures && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(failures > 0.0, "failures are counted");
    assert_eq!(logged(), failures, "one log line per failed reload");
}

fn unusual_valid_yaml_is_served_exactly(watcher: &str) {
    let (_dir, path) = file_config("initial");
    let service = Service::start(&Flags::new(&path, watcher));
    let cases: [(&str, &[u8], &str); 7] = [
        (
            "a byte-order mark",
            b"\xEF\xBB\xBFmessage: with a BOM\n",
            "with a BOM",
        ),
        ("CRLF line ends", b"# comment\r\nmessage: crlf\r\n", "crlf"),
        (
            "a CRLF block scalar",
            b"message: |\r\n  one\r\n  two\r\n",
            "one\ntwo\n",
        ),
        (
            "comments",
            b"# top\nmessage: commented # trailing\n# end\n",
            "commented",
        ),
        (
            "unicode",
            "message: \"h\u{e9}llo w\u{f6}rld \u{2713} \u{65e5}\u{672c} \u{1f680}\"\n".as_bytes(),
            "h\u{e9}llo w\u{f6}rld \u{2713} \u{65e5}\u{672c} \u{1f680}",
        ),
        (
            "a literal block",
            b"message: |\n  line one\n    indented\n  line three\n",
            "line one\n  indented\nline three\n",
        ),
        (
            "a folded block",
            b"message: >\n  folded\n  together\n\n  new paragraph\n",
            "folded together\nnew paragraph\n",
        ),
    ];
    for (name, bytes, expected) in cases {
        testing::rename_replace(&path, bytes).unwrap();
        let reply = service.wait_for_message(expected);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{name}"
        );
    }
}

/// The window between the initial load and a working watch must not lose a
/// change. Writes stop at a different moment of start-up in every round,
/// with the resync off so nothing but the watch can pick the last one up;
/// the last round writes right after the listening line. Through a real
/// process the timing is left to chance; `watchers/tests/startup_race.rs`
/// pins the write inside the initial load and fails for the seed's order.
fn a_change_during_start_up_is_served(watcher: &str) {
    for round in 0..8_u64 {
        let mount = tempfile::tempdir().unwrap();
        let volume = KubeletVolume::new(mount.path());
        volume
            .project(&[("config.yaml", yaml("before start-up"))])
            .unwrap();
        let flags =
            Flags::new(&mount.path().join("config.yaml"), watcher).set("--resync-interval", "0");

        let starting = Service::spawn(&flags);
        let writes_until = Instant::now() + Duration::from_millis(round * 4);
        let mut last = String::new();
        for write in 0.. {
            last = format!("start-up round {round} write {write}");
            volume.project(&[("config.yaml", yaml(&last))]).unwrap();
            if Instant::now() >= writes_until {
                break;
            }
        }
        let service = starting.listening();
        service.wait_for_message(&last);
    }

    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume
        .project(&[("config.yaml", yaml("before start-up"))])
        .unwrap();
    let flags =
        Flags::new(&mount.path().join("config.yaml"), watcher).set("--resync-interval", "0");
    let service = Service::start(&flags);
    volume
        .project(&[("config.yaml", yaml("right after listening"))])
        .unwrap();
    service.wait_for_message("right after listening");
}

fn sigterm_exits_zero(watcher: &str) {
    let (_dir, path) = file_config("serving");
    let mut service = Service::start(&Flags::new(&path, watcher));
    service.wait_for_message("serving");
    service.signal(libc::SIGTERM);
    let status = service.wait_exit();
    assert!(status.success(), "SIGTERM exits 0, got {status}");
}

/// A request that never completes cannot hold the exit past
/// `--shutdown-timeout` (axum's graceful shutdown alone would wait for it).
/// Its header-read timeout is longer than the test waits for the exit, so
/// only the shutdown timeout can end the stalled request in time.
fn sigterm_with_a_stalled_request_exits_within_the_timeout(watcher: &str) {
    use std::io::Write;
    let (_dir, path) = file_config("serving");
    let flags = Flags::new(&path, watcher)
        .set("--shutdown-timeout", "1s")
        .set("--header-read-timeout", "60s");
    let mut service = Service::start(&flags);
    let mut stalled = std::net::TcpStream::connect(service.addr).unwrap();
    stalled
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n")
        .unwrap();
    service.wait_for_message("serving");
    service.signal(libc::SIGTERM);
    let status = service.wait_exit();
    assert!(
        status.success(),
        "exit 0 after the drain timeout, got {status}"
    );
    drop(stalled);
}

fn assert_one_line_naming(stderr: &str, path: &Path, reasons: &[&str]) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr, got {stderr:?}");
    assert!(
        lines[0].contains(&path.display().to_string()),
        "names the file: {}",
        lines[0]
    );
    let lower = lines[0].to_lowercase();
    assert!(
        reasons.iter().any(|reason| lower.contains(reason)),
        "says why ({reasons:?}): {}",
        lines[0]
    );
}

fn a_missing_config_fails_start_up_with_one_line(watcher: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.yaml");
    let (status, _stdout, stderr) = Service::spawn(&Flags::new(&path, watcher)).exit();
    assert!(!status.success(), "a missing config fails start-up");
    assert_one_line_naming(
        &stderr,
        &path,
        &["no such file", "not found", "missing", "does not exist"],
    );
}

fn an_invalid_config_fails_start_up_with_one_line(watcher: &str) {
    let (_dir, path) = file_config("placeholder");
    fs::write(&path, "greeting: no message here\n").unwrap();
    let (status, _stdout, stderr) = Service::spawn(&Flags::new(&path, watcher)).exit();
    assert!(!status.success(), "an invalid config fails start-up");
    assert_one_line_naming(&stderr, &path, &["message"]);
}

/// SIGHUP reloads what no watcher saw: the poller checks once an hour, the
/// resync is off, so only the signal can make the rewrite visible.
#[cfg(all(watcher_poll, manager_arcswap))]
#[test]
fn sighup_reloads_a_change_no_watcher_saw() {
    let (_dir, path) = file_config("before");
    let flags = Flags::new(&path, "poll")
        .set("--poll-interval", "1h")
        .set("--resync-interval", "0");
    let service = Service::start(&flags);
    service.wait_for_message("before");
    testing::write_in_place(&path, yaml("after SIGHUP").as_bytes()).unwrap();
    service.signal(libc::SIGHUP);
    service.wait_for_message("after SIGHUP");
    // The log line follows the publish: wait for it too.
    common::eventually("the manual reload's log line", || {
        let log = service.log();
        let manual = log
            .iter()
            .any(|line| line.contains("config reloaded") && line.contains("trigger=\"manual\""));
        if manual { Ok(()) } else { Err(log.join("\n")) }
    });
}

/// SIGHUP while a writer is still writing in place (a template rendered
/// into the file a line at a time, each prefix valid YAML): the poller
/// answers it once the file has stayed the same for its settle window, so
/// no client ever sees a prefix.
#[cfg(all(watcher_poll, manager_arcswap))]
#[test]
fn sighup_during_an_in_place_write_never_serves_a_prefix() {
    let block = |round: usize| -> Vec<String> {
        let mut lines = vec!["message: |\n".to_owned()];
        lines.extend((1..=3).map(|line| format!("  round {round} line {line}\n")));
        lines
    };
    let whole = |round: usize| -> String {
        (1..=3)
            .map(|line| format!("round {round} line {line}\n"))
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, block(0).concat()).unwrap();
    let flags = Flags::new(&path, "poll")
        .set("--poll-interval", "1h")
        .set("--resync-interval", "0");
    let service = Service::start(&flags);
    service.wait_for_message(&whole(0));
    let writing = path.clone();
    let writer = std::thread::spawn(move || {
        let lines = block(1);
        let chunks: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
        testing::write_in_chunks(&writing, &chunks, Duration::from_millis(300)).unwrap();
    });
    // The header and the first line are written (a valid prefix), two lines
    // to come.
    std::thread::sleep(Duration::from_millis(450));
    service.signal(libc::SIGHUP);
    let mut served = std::collections::BTreeSet::new();
    while !writer.is_finished() {
        served.insert(service.message().text());
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap();
    served.insert(service.wait_for_message(&whole(1)).text());
    assert_eq!(
        served,
        [whole(0), whole(1)].into_iter().collect(),
        "a prefix was served"
    );
}

/// Every manager compiled in serves and reloads (the default watcher).
/// Every manager serves and reloads (with the first watcher compiled in).
macro_rules! every_manager {
    ($($feature:literal => $module:ident),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[test]
            fn serves_and_reloads() {
                let (_dir, path) = file_config("first");
                let watcher = COMPILED_FILE_WATCHERS[0];
                let service = Service::start(&Flags::new(&path, watcher).set("--manager", $feature));
                service.wait_for_message("first");
                testing::rename_replace(&path, yaml("second").as_bytes()).unwrap();
                assert_eq!(service.wait_for_message("second").version(), 2);
                let metrics = service.get("/metrics").unwrap().text();
                let build = format!("manager=\"{}\"", $feature);
                assert!(metrics.lines().any(|line| line.starts_with("build_info") && line.contains(&build)), "{metrics}");
            }
        }
    )*};
}

mod every_manager {
    use super::*;

    compiled_managers!(every_manager);
}

#[cfg(all(watcher_inotify, manager_arcswap))]
#[test]
fn the_endpoints_answer_as_documented() {
    let (_dir, path) = file_config("documented");
    let service = Service::start(&Flags::new(&path, "inotify"));

    let root = service.wait_for_message("documented");
    assert_eq!(
        root.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(root.version(), 1);
    let etag = root.header("etag").unwrap();
    assert!(
        etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'),
        "{etag}"
    );

    assert_eq!(service.get("/healthz").unwrap().status, 200);
    assert_eq!(service.get("/readyz").unwrap().status, 200);
    // Each port serves its own paths only.
    assert_eq!(common::get(service.addr, "/healthz").unwrap().status, 404);
    assert_eq!(common::get(service.addr, "/metrics").unwrap().status, 404);
    assert_eq!(common::get(service.admin, "/").unwrap().status, 404);

    // Without an Accept asking for OpenMetrics: the Prometheus text format
    // (tests/reliability_http.rs checks both with promtool).
    let metrics = service.get("/metrics").unwrap();
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = metrics.text();
    let hash = etag.trim_matches('"');
    for series in [
        "config_reloads_total{result=\"success\",kind=\"\"} 1",
        "config_last_reload_successful 1",
        "config_version 1",
        &format!("config_info{{hash=\"{hash}\"}} 1"),
        "config_watcher_events_total",
        "config_resync_changes_total",
        "config_last_reload_success_timestamp_seconds",
        "config_reload_duration_seconds_count",
    ] {
        assert!(
            text.lines().any(|line| line.starts_with(series)),
            "missing {series} in\n{text}"
        );
    }
    assert!(
        text.contains("build_info{")
            && text.contains("watcher=\"inotify\"")
            && text.contains("manager=\"arcswap\"")
    );
}

#[cfg(all(watcher_inotify, manager_arcswap))]
#[test]
fn json_logs_are_one_object_per_line() {
    let (_dir, path) = file_config("json");
    let service = Service::start(&Flags::new(&path, "inotify").set("--log-format", "json"));
    service.wait_for_message("json");
    let log = service.log();
    assert!(
        log.iter()
            .all(|line| line.starts_with('{') && line.ends_with('}')),
        "{log:#?}"
    );
    assert!(
        log.iter().any(
            |line| line.contains("config reloaded") && line.contains("\"trigger\":\"initial\"")
        ),
        "{log:#?}"
    );
}

#[test]
fn version_names_the_compiled_variants() {
    let output = common::command().arg("--version").output().unwrap();
    let line = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    assert!(
        line.starts_with(&format!("service {} (manager: ", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    assert!(line.contains(", watcher: "), "{line}");
}

/// With several watchers compiled in and none chosen, start-up says which.
#[cfg(all(watcher_notify, watcher_inotify, watcher_poll))]
#[test]
fn an_unchosen_watcher_is_an_error_naming_the_choices() {
    let (_dir, path) = file_config("unused");
    let output = common::command()
        .args(["--config", path.to_str().unwrap(), "--manager", "arcswap"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&COMPILED_WATCHERS.join(", ")) && stderr.contains("--watcher"),
        "{stderr}"
    );
}

/// In Kubernetes (`KUBERNETES_SERVICE_HOST` set), a config directory that
/// is not a ConfigMap volume (a `subPath` mount has no `..data`) gets one
/// warning at start-up: the kubelet never updates such a mount. A ConfigMap
/// volume gets none.
#[cfg(all(watcher_inotify, manager_arcswap))]
#[test]
fn in_kubernetes_a_config_outside_a_configmap_volume_is_warned_about() {
    const WARNING: &str = "is not a ConfigMap volume";
    let in_kubernetes = |command: &mut std::process::Command| {
        command.env("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    };
    let warnings = |service: &Service| {
        let log = service.log();
        let count = log.iter().filter(|line| line.contains(WARNING)).count();
        (count, log)
    };
    let (_dir, path) = file_config("plain");
    let plain = Service::spawn_with(&Flags::new(&path, "inotify"), in_kubernetes).listening();
    let (count, log) = warnings(&plain);
    assert_eq!(count, 1, "one warning for a plain directory: {log:#?}");

    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume
        .project(&[("config.yaml", yaml("projected"))])
        .unwrap();
    let projected = Service::spawn_with(
        &Flags::new(&mount.path().join("config.yaml"), "inotify"),
        in_kubernetes,
    )
    .listening();
    let (count, log) = warnings(&projected);
    assert_eq!(count, 0, "no warning for a ConfigMap volume: {log:#?}");
}

/// `cargo run` at the root serves config/config.yaml: it must load.
#[cfg(all(watcher_inotify, manager_arcswap))]
#[test]
fn the_bundled_config_is_served() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/config.yaml");
    let service = Service::start(&Flags::new(&bundled, "inotify"));
    let reply = service.message();
    assert_eq!(reply.status, 200);
    assert!(!reply.body.is_empty());
}
