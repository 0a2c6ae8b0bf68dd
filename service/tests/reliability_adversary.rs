//! The promise under faults an adversary chooses, against the real binary of
//! every watcher over real sockets: a slow writer whose every prefix is valid
//! YAML, a full descriptor table when the final update lands, the config's
//! filesystem unmounted and mounted again, a hung filesystem (FUSE, from
//! `faultfs`), a watch that cannot be re-established, and a rejection whose
//! reason could quote a secret. The resync is off throughout, so nothing but
//! the behaviour under test can rescue a missed update.
//!
//! Mounts need root and FUSE needs `/dev/fuse`: where either is refused, the
//! test prints why and passes without running (`FAULTFS_REQUIRED=1` makes a
//! missing FUSE fail).

mod common;

// The compiled-in variants, from service/Cargo.toml (`build.rs`).
include!(concat!(env!("OUT_DIR"), "/variants.rs"));
mod reliability;

use std::fs;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{Flags, Service, eventually, get};
use config_reload::testing::{Tmpfs, rename_replace, write_in_chunks};
use faultfs::{Op, TempMount};
use reliability::{UNPRIVILEGED, UnprivilegedService, before, wait_rejected, yaml};

const ROUNDS: usize = 3;

/// The test flags: resync off, so only the behaviour under test can serve a change.
fn flags(config: &Path, watcher: &str) -> Flags {
    Flags::new(config, watcher).set("--resync-interval", "0")
}

fn plain_config(message: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, yaml(message)).unwrap();
    (dir, path)
}

/// The lines of a YAML literal block, written one per chunk.
fn literal_block(round: usize) -> Vec<String> {
    let mut lines = vec!["message: |\n".to_owned()];
    lines.extend((1..=3).map(|line| format!("  round {round} line {line}\n")));
    lines
}

fn whole(round: usize) -> String {
    (1..=3)
        .map(|line| format!("round {round} line {line}\n"))
        .collect()
}

/// One writer, one descriptor, a line every 300 ms: while it writes, a
/// client polls `GET /` as fast as it can; no body it ever sees may be a
/// prefix of what was written.
fn slow_writer_is_never_served_half_done(watcher: &str) {
    let (_dir, path) = plain_config("start");
    fs::write(&path, literal_block(0).concat()).unwrap();
    let service = Service::start(&flags(&path, watcher));
    service.wait_for_message(&whole(0));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (seen, stop, addr) = (Arc::clone(&seen), Arc::clone(&stop), service.addr);
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(reply) = get(addr, "/") {
                    let mut seen = seen.lock().unwrap();
                    let body = reply.text();
                    if seen.last() != Some(&body) {
                        seen.push(body);
                    }
                }
            }
        })
    };
    for round in 1..=ROUNDS {
        let lines = literal_block(round);
        let chunks: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
        write_in_chunks(&path, &chunks, Duration::from_millis(300)).unwrap();
        service.wait_for_message(&whole(round));
    }
    stop.store(true, Ordering::SeqCst);
    poller.join().unwrap();
    let expected: Vec<String> = (0..=ROUNDS).map(whole).collect();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|body| expected.contains(body)),
        "a half-written config was served: {seen:?}"
    );
}

/// The number of descriptors `pid` has open.
fn open_fds(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Lowers `pid`'s descriptor limit (soft and hard) to `limit`.
fn limit_fds(pid: i32, limit: u64) {
    let new = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: prlimit reads `new`, writes nothing (old is null).
    let set = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// Idle clients hold every descriptor the service may open; a new config is
/// renamed in and its read fails with `EMFILE`. Once the clients go, the
/// retry serves it, with no further change of the file (and no resync, no
/// SIGHUP); the retries are counted.
fn final_update_after_emfile_is_served(watcher: &str) {
    let (_dir, path) = plain_config("v0");
    let service = Service::start(&flags(&path, watcher));
    service.wait_for_message("v0");
    let pid = service.pid();
    let limit = open_fds(pid) as u64 + 8;
    limit_fds(pid, limit);
    // More clients than descriptors left: the service accepts until EMFILE.
    let clients: Vec<TcpStream> = (0..limit + 8)
        .filter_map(|_| TcpStream::connect(service.addr).ok())
        .collect();
    eventually("the service's descriptor table full", || {
        let open = open_fds(pid) as u64;
        if open >= limit {
            Ok(())
        } else {
            Err(format!("{open} of {limit} open"))
        }
    });
    let log_lines = service.log().len();
    rename_replace(&path, yaml("after EMFILE").as_bytes()).unwrap();
    // Longer than the poller's racy window (2 s), in which it re-reads a
    // recently modified file anyway.
    thread::sleep(Duration::from_secs(3));
    drop(clients);
    service.wait_for_message("after EMFILE");
    assert!(service.metric("config_reload_retries_total") >= 1.0);
    assert!(
        service
            .log()
            .iter()
            .skip(log_lines)
            .any(|line| line.contains("retrying with backoff")),
        "the failed read is logged as retried"
    );
    let retry_lines = service
        .log()
        .iter()
        .skip(log_lines)
        .filter(|line| line.contains("config") && line.contains("retry"))
        .count();
    assert_eq!(retry_lines, 1, "one line per streak of retries");
}

/// The tmpfs holding the config's directory unmounted (the directory is
/// gone: degraded, said in `/readyz`'s body, counted) and mounted again
/// with a new config (served, healthy again).
fn remounted_filesystem_is_watched_again(watcher: &str) {
    let root = tempfile::tempdir().unwrap();
    let at = root.path().join("mnt");
    fs::create_dir(&at).unwrap();
    let mut tmpfs = match Tmpfs::mount(&at) {
        Ok(tmpfs) => tmpfs,
        Err(error) => {
            eprintln!("skipped: cannot mount a tmpfs here ({error})");
            return;
        }
    };
    let write = |message: &str| {
        fs::create_dir_all(at.join("config")).unwrap();
        rename_replace(&at.join("config/config.yaml"), yaml(message).as_bytes()).unwrap();
    };
    write("v0");
    let service = Service::start(&flags(&at.join("config/config.yaml"), watcher));
    service.wait_for_message("v0");
    for round in 1..=ROUNDS {
        let errors = service.metric("config_watch_errors_total");
        tmpfs.unmount().unwrap();
        if watcher != "poll" {
            eventually("/readyz says the watch is degraded", || {
                let ready = service.get("/readyz").map_err(|error| error.to_string())?;
                if ready.status == 200 && ready.text().contains("degraded") {
                    Ok(())
                } else {
                    Err(format!("{} {}", ready.status, ready.text()))
                }
            });
            assert!(service.metric("config_watch_errors_total") > errors);
        }
        assert_eq!(service.message().text(), format!("v{}", round - 1));
        tmpfs.remount().unwrap();
        write(&format!("v{round}"));
        service.wait_for_message(&format!("v{round}"));
        eventually("/readyz healthy again", || {
            let ready = service.get("/readyz").map_err(|error| error.to_string())?;
            if ready.text() == "ready\n" {
                Ok(())
            } else {
                Err(ready.text())
            }
        });
    }
}

/// Reads of the config's filesystem hang: `GET /` keeps answering with the
/// last good config, the stuck reload is logged once, counted, exported as
/// its age and said in `/readyz`'s body (still 200); when the read returns
/// the new config is served.
fn hung_filesystem_is_visible(watcher: &str) {
    let Some(fs) = TempMount::for_test() else {
        return;
    };
    let path = fs.path("config.yaml");
    rename_replace(&path, yaml("v0").as_bytes()).unwrap();
    let service = Service::start(&flags(&path, watcher).set("--stuck-reload-after", "300ms"));
    // Heals (releasing a hung read) before the service is killed: a process
    // blocked in a FUSE read outlives SIGKILL.
    let _heal = fs.heal_on_drop();
    service.wait_for_message("v0");
    fs.hang(Op::Read);
    let log_lines = service.log().len();
    rename_replace(&path, yaml("v1").as_bytes()).unwrap();
    eventually("/readyz says a reload is stuck", || {
        let ready = service.get("/readyz").map_err(|error| error.to_string())?;
        if ready.status == 200 && ready.text().contains("has been running") {
            Ok(())
        } else {
            Err(format!("{} {}", ready.status, ready.text()))
        }
    });
    assert_eq!(service.message().text(), "v0", "serving goes on");
    assert!(service.metric("config_reload_running_seconds") >= 0.3);
    assert_eq!(service.metric("config_stuck_reloads_total"), 1.0);
    fs.heal();
    service.wait_for_message("v1");
    let log = service.log();
    let stuck_lines = log
        .iter()
        .skip(log_lines)
        .filter(|line| line.contains("running for a long time"))
        .count();
    assert_eq!(stuck_lines, 1, "logged once: {log:?}");
    eventually("the stuck reload's end logged", || {
        service
            .log()
            .iter()
            .any(|line| line.contains("stuck config reload finished"))
            .then_some(())
            .ok_or_else(String::new)
    });
    eventually("no reload running", || {
        let running = service.metric("config_reload_running_seconds");
        if running == 0.0 {
            Ok(())
        } else {
            Err(running.to_string())
        }
    });
}

/// Started on a hung filesystem, the process says what it is doing and
/// that it is waiting, then starts when the read returns.
fn start_on_a_hung_filesystem_says_so(watcher: &str) {
    let Some(fs) = TempMount::for_test() else {
        return;
    };
    let path = fs.path("config.yaml");
    rename_replace(&path, yaml("v0").as_bytes()).unwrap();
    fs.hang(Op::Read);
    let starting = Service::spawn(&flags(&path, watcher).set("--stuck-reload-after", "300ms"));
    // Heals (releasing a hung read) before the service is killed: a process
    // blocked in a FUSE read outlives SIGKILL.
    let _heal = fs.heal_on_drop();
    eventually("the start-up says it waits for the first read", || {
        let log = starting.log();
        let loading = log
            .iter()
            .any(|line| line.contains("loading the initial config"));
        let waiting = log.iter().any(|line| line.contains("has not finished"));
        if loading && waiting {
            Ok(())
        } else {
            Err(format!("{log:?}"))
        }
    });
    fs.heal();
    let service = starting.listening();
    service.wait_for_message("v0");
}

/// A watch that cannot be re-established (the new config directory cannot
/// be read by the service's user, so inotify refuses to watch it) is retried
/// ten times a second: every failure is counted, the log says it once, and
/// once more when the watch is back.
fn unwatchable_directory_is_logged_once(watcher: &str) {
    let root = tempfile::tempdir().unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let dir = root.path().join("config");
    let write_dir = |dir: &Path, message: &str, mode: u32| {
        fs::create_dir(dir).unwrap();
        fs::write(dir.join("config.yaml"), yaml(message)).unwrap();
        fs::set_permissions(dir.join("config.yaml"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(mode)).unwrap();
    };
    write_dir(&dir, "v0", 0o755);
    let service = match UnprivilegedService::start_with(
        &dir.join("config.yaml"),
        watcher,
        &[("--resync-interval", "0")],
    ) {
        Ok(service) => service,
        Err(reason) => {
            eprintln!("skipped: cannot run the service as uid {UNPRIVILEGED}: {reason}");
            return;
        }
    };
    service.wait_for_message("v0");
    // A new directory the service's user may not read, swapped in by rename.
    let staged = root.path().join("config.new");
    write_dir(&staged, "v1", 0o700);
    fs::rename(&dir, root.path().join("config.old")).unwrap();
    fs::rename(&staged, &dir).unwrap();
    eventually("ten failed attempts to watch it, counted", || {
        let errors = service.metric("config_watch_errors_total");
        if errors >= 10.0 {
            Ok(())
        } else {
            Err(errors.to_string())
        }
    });
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    service.wait_for_message("v1");
    eventually("the watch's return logged", || {
        let log = service.log();
        log.iter()
            .any(|line| line.contains("config watch re-established"))
            .then_some(())
            .ok_or_else(|| format!("{log:?}"))
    });
    let log = service.log();
    let lines = log
        .iter()
        .filter(|line| line.contains("config watch"))
        .count();
    assert_eq!(
        lines, 2,
        "one line when it broke, one when it came back: {log:?}"
    );
}

/// An unknown key is reported by position and the expected names: the key
/// itself (here shaped like a token) never reaches the log.
fn rejection_reason_never_quotes_the_file(watcher: &str) {
    let (_dir, path) = plain_config("good");
    let service = Service::start(&flags(&path, watcher));
    service.wait_for_message("good");
    let mark = before(&service);
    rename_replace(&path, b"message: fine\nghp_SECRETTOKEN123: x\n").unwrap();
    let line = wait_rejected(&service, &mark, "unknown field");
    assert!(!line.contains("ghp_SECRET"), "{line}");
    assert!(line.contains("line 2"), "{line}");
    assert!(
        service
            .log()
            .iter()
            .all(|line| !line.contains("ghp_SECRET"))
    );
}

macro_rules! every_watcher {
    ($($name:literal => $module:ident),* $(,)?) => {$(
        mod $module {
            #[test] fn slow_writer_is_never_served_half_done() { super::slow_writer_is_never_served_half_done($name) }
            #[test] fn final_update_after_emfile_is_served() { super::final_update_after_emfile_is_served($name) }
            #[test] fn remounted_filesystem_is_watched_again() { super::remounted_filesystem_is_watched_again($name) }
            #[test] fn hung_filesystem_is_visible() { super::hung_filesystem_is_visible($name) }
            #[test] fn start_on_a_hung_filesystem_says_so() { super::start_on_a_hung_filesystem_says_so($name) }
            #[test] fn rejection_reason_never_quotes_the_file() { super::rejection_reason_never_quotes_the_file($name) }
        }
    )*};
}

compiled_file_watchers!(every_watcher);

/// Only event strategies have a watch to lose.
macro_rules! event_watchers {
    ($($name:literal => $module:ident),* $(,)?) => {$(
        mod $module {
            #[test]
            fn unwatchable_directory_is_logged_once() {
                if $name == "poll" {
                    return;
                }
                super::super::unwatchable_directory_is_logged_once($name)
            }
        }
    )*};
}

mod watch_retries {
    compiled_file_watchers!(event_watchers);
}
