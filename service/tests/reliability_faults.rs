//! Faults of the filesystem and the kernel under the real binary: the
//! watched directory deleted and re-created, a ConfigMap key turned into a
//! directory, a dangling `..data`, a file the service's user may not read,
//! and an inotify queue overflow. Each must be recovered from and counted
//! (or be a clear error with a non-ready status), never a silent stop.

mod common;

// The compiled-in variants, from service/Cargo.toml (`build.rs`).
include!(concat!(env!("OUT_DIR"), "/variants.rs"));
mod reliability;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use common::{Flags, Service};
use config_reload::testing::{self, KubeletVolume};
use reliability::{
    FAILURES, UnprivilegedService, WATCH_ERRORS, assert_still_serving, wait_rejected, yaml,
};

/// Failures and watch errors together: a watcher reports a lost directory
/// either way (the event strategies as a broken watch, the poller as a
/// failed reload).
fn trouble(service: &Service) -> f64 {
    service.metric(FAILURES) + service.metric(WATCH_ERRORS)
}

/// The directory holding the config removed, served from memory meanwhile,
/// then created again with a new config, which is served; an edit after
/// that shows the watch is on the new directory.
fn directory_deleted_and_recreated(watcher: &str) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("conf");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("config.yaml"), yaml("original")).unwrap();
    let service = Service::start(&Flags::new(&dir.join("config.yaml"), watcher));
    service.wait_for_message("original");
    let mut last = "original".to_owned();
    for round in 1..=3 {
        let before = trouble(&service);
        fs::remove_dir_all(&dir).unwrap();
        common::eventually("the lost directory counted", || {
            let now = trouble(&service);
            if now > before {
                Ok(())
            } else {
                Err(now.to_string())
            }
        });
        let reply = service.message();
        assert_eq!(
            (reply.status, reply.text()),
            (200, last.clone()),
            "served from memory while the directory is gone"
        );
        assert_eq!(
            service.get("/readyz").unwrap().status,
            200,
            "a directory being re-established stays ready"
        );

        fs::create_dir(&dir).unwrap();
        last = format!("recreated {round}");
        fs::write(dir.join("config.yaml"), yaml(&last)).unwrap();
        service.wait_for_message(&last);
        last = format!("edited {round}");
        testing::rename_replace(&dir.join("config.yaml"), yaml(&last).as_bytes()).unwrap();
        service.wait_for_message(&last);
        common::eventually("ready and watching again", || {
            let ready = service.get("/readyz").map_err(|error| error.to_string())?;
            if ready.status == 200 && !ready.text().contains("degraded") {
                Ok(())
            } else {
                Err(ready.text())
            }
        });
    }
}

/// A ConfigMap update whose key `config.yaml` became a directory (a key
/// `config.yaml/inner`): `..data/config.yaml` is a directory now.
fn configmap_key_becomes_a_directory(watcher: &str) {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[("config.yaml", yaml("file 0"))]).unwrap();
    let service = Service::start(&Flags::new(&mount.path().join("config.yaml"), watcher));
    for round in 1..=3 {
        let good = format!("file {}", round - 1);
        service.wait_for_message(&good);
        // Through a version without the key, as a real kubelet must: it
        // refuses to compare a payload path under what was a file.
        let before = reliability::before(&service);
        volume.project(&[("other.yaml", yaml("other"))]).unwrap();
        wait_rejected(&service, &before, "is not in the ConfigMap volume");
        let before = reliability::before(&service);
        volume
            .project(&[("config.yaml/inner.yaml", yaml("nested"))])
            .unwrap();
        wait_rejected(&service, &before, "is a directory");
        assert_still_serving(&service, &good, "a key turned directory");
        // Back the same way round.
        volume.project(&[("other.yaml", yaml("other"))]).unwrap();
        volume
            .project(&[("config.yaml", yaml(&format!("file {round}")))])
            .unwrap();
    }
    service.wait_for_message("file 3");
}

/// `..data` renamed to point at a directory that does not exist, then at a
/// new complete one, the way the kubelet commits. `reason` is what the
/// rejection must say.
fn dangling_data_link(watcher: &str, reason: &str) {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[("config.yaml", yaml("before"))]).unwrap();
    let service = Service::start(&Flags::new(&mount.path().join("config.yaml"), watcher));
    service.wait_for_message("before");
    let commit = |target: &str| {
        let tmp = mount.path().join("..data_tmp");
        symlink(target, &tmp).unwrap();
        fs::rename(&tmp, mount.path().join("..data")).unwrap();
    };
    for round in 1..=3 {
        let good = service.message().text();
        let before = reliability::before(&service);
        commit(&format!("..gone_{round}"));
        wait_rejected(&service, &before, reason);
        assert_still_serving(&service, &good, "a dangling ..data");
        let fresh = format!("..recovered_{round}");
        fs::create_dir(mount.path().join(&fresh)).unwrap();
        fs::write(
            mount.path().join(&fresh).join("config.yaml"),
            yaml(&format!("recovered {round}")),
        )
        .unwrap();
        commit(&fresh);
        service.wait_for_message(&format!("recovered {round}"));
    }
}

/// The file replaced by one the service's user may not read (root reads
/// anything, so the service runs as the image's unprivileged uid), then
/// made readable with `chmod` alone: the mode change is an event, and the
/// content now readable is served.
fn permission_denied(watcher: &str) {
    let dir = tempfile::tempdir().unwrap();
    // tempfile creates 0700 directories: let the other user in.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, yaml("readable")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let Some(service) = UnprivilegedService::start_or_skip(&path, watcher, &[]) else {
        return;
    };
    service.wait_for_message("readable");
    for round in 1..=3 {
        let good = service.get("/").text();
        let (failures, log_lines) = (service.metric(FAILURES), service.log().len());
        let staged = dir.path().join("staged.yaml");
        let message = format!("secret {round}");
        fs::write(&staged, yaml(&message)).unwrap();
        fs::set_permissions(&staged, fs::Permissions::from_mode(0o600)).unwrap();
        fs::rename(&staged, &path).unwrap();
        common::eventually("the denied read counted and logged", || {
            let counted = service.metric(FAILURES) > failures;
            let logged =
                service.log().iter().skip(log_lines).any(|line| {
                    line.contains("config rejected") && line.contains("permission denied")
                });
            if counted && logged {
                Ok(())
            } else {
                Err(format!("counted {counted}, logged {logged}"))
            }
        });
        assert_eq!(
            service.get("/").text(),
            good,
            "the last good config is served"
        );
        assert_eq!(service.get("/readyz").status, 200);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        service.wait_for_message(&message);
    }
}

/// The config's directory locked (`chmod 000`) under the running service's
/// user, a new config renamed in meanwhile, the directory unlocked: while
/// it cannot be read `/readyz` says so (still ready: the last good config
/// is served), and once it can, the new config is served with no further
/// write. The resync is off: only the watch can find it.
fn directory_locked_and_unlocked(watcher: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, yaml("before the lock")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let flags = [("--resync-interval", "0")];
    let Some(service) = UnprivilegedService::start_or_skip(&path, watcher, &flags) else {
        return;
    };
    service.wait_for_message("before the lock");
    for round in 1..=3 {
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o000)).unwrap();
        common::eventually("/readyz saying the directory cannot be read", || {
            let ready = service.get("/readyz");
            if ready.status == 200 && ready.text().contains("permission denied") {
                Ok(())
            } else {
                Err(format!("{} {}", ready.status, ready.text()))
            }
        });
        let message = format!("written while locked {round}");
        testing::rename_replace(&path, yaml(&message).as_bytes()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        service.wait_for_message(&message);
        common::eventually("/readyz plainly ready again", || {
            let ready = service.get("/readyz").text();
            if ready == "ready\n" {
                Ok(())
            } else {
                Err(ready)
            }
        });
    }
}

/// The user's inotify instances all taken (`fs.inotify.max_user_instances`,
/// per user) when the service starts with an event watcher: it starts
/// polling instead and says so, naming that limit and how to raise it, not
/// "Too many open files". A helper process of the same uid holds the instances; each
/// test has a uid of its own, used by nothing else.
fn inotify_instances_exhausted_are_named(watcher: &str, uid: u32) {
    let uid = &uid.to_string();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to switch uid");
        return;
    }
    let limit: usize = fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(128);
    // This test binary again, as that uid, running only the holder below;
    // killed however this test ends.
    let mut holder = KillOnDrop(
        std::process::Command::new("setpriv")
            .args(["--reuid", uid, "--regid", uid, "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "hold_inotify_instances",
                "--nocapture",
            ])
            .env(HOLD_INSTANCES, limit.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("setpriv starts the holder"),
    );
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        holder.0.stdout.take().expect("piped"),
    ));
    let held = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("held ").map(str::to_owned))
        .unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, yaml("v0")).unwrap();
    let mut service = KillOnDrop(
        std::process::Command::new("setpriv")
            .args(["--reuid", uid, "--regid", uid, "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_service"))
            .args(["--watcher", watcher, "--manager", "arcswap"])
            .args(["--bind", "127.0.0.1:0", "--admin-bind", "127.0.0.1:0"])
            .arg("--config")
            .arg(&path)
            .env_clear()
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the service runs"),
    );
    let (sender, log) = std::sync::mpsc::channel();
    let stdout = service.0.stdout.take().expect("piped");
    std::thread::spawn(move || {
        let lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        for line in lines.map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    let named = common::eventually("the limit named in the log", || {
        let line = log
            .recv_timeout(std::time::Duration::from_millis(100))
            .map_err(|error| error.to_string())?;
        if line.contains("inotify instance limit") {
            Ok(line)
        } else {
            Err(line)
        }
    });
    drop((holder, lines, service));
    assert_eq!(held, limit.to_string(), "the holder took every instance");
    assert!(
        named.contains("fs.inotify.max_user_instances") && named.contains("polling every"),
        "{named}"
    );
}

/// Stops the process, fills its inotify queue past
/// `/proc/sys/fs/inotify/max_queued_events` with events on other files of
/// the watched directory, changes the config (its events are dropped with
/// the overflow), resumes the process: the overflow must cause a full
/// reload that serves the change, and be counted.
fn inotify_queue_overflow(watcher: &str) {
    let max_queued: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(16_384);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, yaml("before the flood")).unwrap();
    let service = Service::start(&Flags::new(&path, watcher).set("--resync-interval", "0"));
    service.wait_for_message("before the flood");
    let errors = service.metric(WATCH_ERRORS);

    service.signal(libc::SIGSTOP);
    // Each create is IN_CREATE then IN_CLOSE_WRITE: two events per file.
    flood(dir.path(), max_queued / 2 + 1000);
    testing::rename_replace(&path, yaml("after the flood").as_bytes()).unwrap();
    service.signal(libc::SIGCONT);

    service.wait_for_message("after the flood");
    if watcher != "poll" {
        let now = service.wait_for_metric_above(WATCH_ERRORS, errors);
        eprintln!("{watcher}: watch errors {errors} -> {now} after the flood");
        common::eventually("the overflow reload logged", || {
            let log = service.log();
            let overflow = log.iter().any(|line| line.contains("overflow"));
            if overflow {
                Ok(())
            } else {
                Err(log.join("\n"))
            }
        });
    }
    assert_eq!(service.get("/readyz").unwrap().status, 200);
    // Still watching after the overflow.
    testing::rename_replace(&path, yaml("after the overflow").as_bytes()).unwrap();
    service.wait_for_message("after the overflow");
}

fn flood(dir: &Path, files: usize) {
    for index in 0..files {
        fs::File::create(dir.join(format!("noise-{index}"))).unwrap();
    }
}

macro_rules! for_every_watcher {
    ($($name:literal => $module:ident),* $(,)?) => {$(
        mod $module {
            #[test] fn watched_directory_deleted_and_recreated() { super::directory_deleted_and_recreated($name) }
            #[test] fn configmap_key_becomes_a_directory() { super::configmap_key_becomes_a_directory($name) }
            #[test] fn dangling_data_link() { super::dangling_data_link($name, "..gone_") }
            #[test] fn permission_denied_for_the_service_user() { super::permission_denied($name) }
            #[test] fn directory_locked_and_unlocked() { super::directory_locked_and_unlocked($name) }
            #[test] fn inotify_queue_overflow_is_recovered_and_counted() { super::inotify_queue_overflow($name) }
        }
    )*};
}

compiled_file_watchers!(for_every_watcher);

/// The rejection of a dangling `..data` says that `..data` itself points
/// nowhere, not that the key is missing from the ConfigMap (which would send
/// an operator looking for a key that is there).
#[cfg(watcher_inotify)]
#[test]
fn dangling_data_link_is_reported_as_dangling() {
    dangling_data_link("inotify", "dangling");
}

#[cfg(watcher_inotify)]
#[test]
fn inotify_instances_exhausted_are_named_for_inotify() {
    inotify_instances_exhausted_are_named("inotify", 65521);
}

#[cfg(watcher_notify)]
#[test]
fn inotify_instances_exhausted_are_named_for_notify() {
    inotify_instances_exhausted_are_named("notify", 65522);
}

/// The inotify watch budget exhausted at start (a user namespace of the
/// service's own whose `max_inotify_watches` is 1: the kernel counts the
/// limit per user namespace): the event watcher falls back to polling the
/// path, says so in `/readyz` (degraded, not blind) with the setting to
/// raise, and every edit is served.
fn watch_budget_exhausted_falls_back_to_polling(watcher: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, yaml("v0")).unwrap();
    let flags = Flags::new(&path, watcher)
        .set("--resync-interval", "0")
        .set("--poll-interval", "100ms");
    let limited = "echo 1 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"";
    let probe = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c"])
        .arg("echo 1 > /proc/sys/user/max_inotify_watches")
        .status();
    if !probe.is_ok_and(|status| status.success()) {
        eprintln!("skipped: cannot make a user namespace with its own inotify limits here");
        return;
    }
    let service = Service::spawn_wrapped(
        &["unshare", "--user", "--map-root-user", "sh", "-c", limited],
        &flags,
    )
    .listening();
    service.wait_for_message("v0");
    let ready = service.get("/readyz").unwrap().text();
    assert!(
        ready.contains("inotify watch limit")
            && ready.contains("fs.inotify.max_user_watches")
            && ready.contains("polling every 100ms instead"),
        "{ready}"
    );
    for round in 1..=3 {
        let message = format!("polled {round}");
        testing::write_in_place(&path, yaml(&message).as_bytes()).unwrap();
        service.wait_for_message(&message);
    }
    assert_eq!(service.metric("config_source_up{source=\"poll\"}"), 0.0);
}

#[cfg(watcher_inotify)]
#[test]
fn watch_budget_exhausted_falls_back_to_polling_for_inotify() {
    watch_budget_exhausted_falls_back_to_polling("inotify");
}

#[cfg(watcher_notify)]
#[test]
fn watch_budget_exhausted_falls_back_to_polling_for_notify() {
    watch_budget_exhausted_falls_back_to_polling("notify");
}

/// A child process killed (and reaped) when dropped, however a test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Set for the holder: how many inotify instances it takes.
const HOLD_INSTANCES: &str = "HOLD_INOTIFY_INSTANCES";

/// Not a test of its own: run by `inotify_instances_exhausted_are_named` as
/// another uid (`--ignored --exact`), it takes that user's inotify instances
/// and holds them until killed.
#[test]
#[ignore = "a helper process of inotify_instances_exhausted_are_named"]
fn hold_inotify_instances() {
    let Some(count) = std::env::var(HOLD_INSTANCES)
        .ok()
        .and_then(|count| count.parse::<usize>().ok())
    else {
        return;
    };
    // SAFETY: inotify_init1 has no preconditions; the descriptors are held
    // until the process is killed.
    let held = (0..count)
        .filter(|_| unsafe { libc::inotify_init1(0) } >= 0)
        .count();
    println!("held {held}");
    std::thread::sleep(std::time::Duration::from_secs(300));
}
