//! Inotify on the mount sees what is done through the mount, one test per
//! kind of change, and sees nothing of changes made behind its back in the
//! backing directory.

#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::time::{Duration, Instant};

use faultfs::TempMount;
use inotify::{EventMask, Inotify, WatchMask};

/// An inotify instance watching the mount's root directory.
struct Watcher {
    inotify: Inotify,
    seen: Vec<(EventMask, OsString)>,
}

impl Watcher {
    fn on(m: &TempMount) -> Self {
        let inotify = Inotify::init().unwrap();
        inotify
            .watches()
            .add(m.mountpoint(), WatchMask::ALL_EVENTS)
            .unwrap();
        Self {
            inotify,
            seen: Vec::new(),
        }
    }

    /// Waits for an event on `name` whose mask contains `mask`; returns the
    /// events seen before it.
    fn expect(&mut self, mask: EventMask, name: &str) -> Vec<(EventMask, OsString)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buffer = [0; 4096];
        loop {
            if let Some(i) = self
                .seen
                .iter()
                .position(|(m, n)| m.contains(mask) && n == name)
            {
                let before: Vec<_> = self.seen.drain(..=i).collect();
                return before[..before.len() - 1].to_vec();
            }
            assert!(
                Instant::now() < deadline,
                "no {mask:?} for {name:?}; saw {:?}",
                self.seen
            );
            match self.inotify.read_events(&mut buffer) {
                Ok(events) => self.seen.extend(
                    events.map(|e| (e.mask, e.name.map(ToOwned::to_owned).unwrap_or_default())),
                ),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("reading inotify events: {e}"),
            }
        }
    }
}

#[test]
fn create_raises_in_create() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    let mut w = Watcher::on(&m);
    File::create(m.path("app.yaml")).unwrap();
    w.expect(EventMask::CREATE, "app.yaml");
}

#[test]
fn write_then_close_raises_in_modify_then_in_close_write() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "old").unwrap();
    let mut w = Watcher::on(&m);
    let mut f = File::options()
        .write(true)
        .open(m.path("app.yaml"))
        .unwrap();
    f.write_all(b"new").unwrap();
    w.expect(EventMask::MODIFY, "app.yaml");
    drop(f);
    w.expect(EventMask::CLOSE_WRITE, "app.yaml");
}

#[test]
fn rename_over_raises_in_moved_from_and_in_moved_to() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "old").unwrap();
    fs::write(m.path(".app.yaml.tmp"), "new").unwrap();
    let mut w = Watcher::on(&m);
    fs::rename(m.path(".app.yaml.tmp"), m.path("app.yaml")).unwrap();
    w.expect(EventMask::MOVED_FROM, ".app.yaml.tmp");
    w.expect(EventMask::MOVED_TO, "app.yaml");
}

#[test]
fn unlink_raises_in_delete() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "x").unwrap();
    let mut w = Watcher::on(&m);
    fs::remove_file(m.path("app.yaml")).unwrap();
    w.expect(EventMask::DELETE, "app.yaml");
}

#[test]
fn mkdir_and_rmdir_raise_in_create_and_in_delete_with_in_isdir() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    let mut w = Watcher::on(&m);
    fs::create_dir(m.path("d")).unwrap();
    w.expect(EventMask::CREATE | EventMask::ISDIR, "d");
    fs::remove_dir(m.path("d")).unwrap();
    w.expect(EventMask::DELETE | EventMask::ISDIR, "d");
}

#[test]
fn symlink_raises_in_create() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    let mut w = Watcher::on(&m);
    symlink("target", m.path("link")).unwrap();
    w.expect(EventMask::CREATE, "link");
}

#[test]
fn chmod_and_utimens_raise_in_attrib() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "x").unwrap();
    let mut w = Watcher::on(&m);
    fs::set_permissions(m.path("app.yaml"), fs::Permissions::from_mode(0o600)).unwrap();
    w.expect(EventMask::ATTRIB, "app.yaml");
    let file = File::options()
        .write(true)
        .open(m.path("app.yaml"))
        .unwrap();
    let when = std::time::SystemTime::UNIX_EPOCH;
    file.set_times(fs::FileTimes::new().set_accessed(when).set_modified(when))
        .unwrap();
    w.expect(EventMask::ATTRIB, "app.yaml");
    // The kernel's rule on any filesystem: setting only the mtime is a
    // "modify", not an "attrib".
    file.set_modified(when).unwrap();
    w.expect(EventMask::MODIFY, "app.yaml");
}

#[test]
fn truncate_raises_in_modify() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "0123").unwrap();
    let mut w = Watcher::on(&m);
    File::options()
        .write(true)
        .open(m.path("app.yaml"))
        .unwrap()
        .set_len(1)
        .unwrap();
    w.expect(EventMask::MODIFY, "app.yaml");
}

#[test]
fn kubelet_data_swap_raises_in_moved_to_for_data() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::create_dir(m.path("..2024_01")).unwrap();
    symlink("..2024_01", m.path("..data")).unwrap();
    fs::create_dir(m.path("..2024_02")).unwrap();
    let mut w = Watcher::on(&m);
    symlink("..2024_02", m.path("..data_tmp")).unwrap();
    fs::rename(m.path("..data_tmp"), m.path("..data")).unwrap();
    w.expect(EventMask::CREATE, "..data_tmp");
    w.expect(EventMask::MOVED_FROM, "..data_tmp");
    w.expect(EventMask::MOVED_TO, "..data");
}

#[test]
fn a_watch_on_a_file_sees_its_close_write() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "old").unwrap();
    let inotify = Inotify::init().unwrap();
    inotify
        .watches()
        .add(m.path("app.yaml"), WatchMask::CLOSE_WRITE)
        .unwrap();
    let mut w = Watcher {
        inotify,
        seen: Vec::new(),
    };
    fs::write(m.path("app.yaml"), "new").unwrap();
    // A watch on the file itself: the event carries no name.
    w.expect(EventMask::CLOSE_WRITE, "");
}

#[test]
fn changes_in_the_backing_directory_raise_no_event_on_the_mount() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "old").unwrap();
    let mut w = Watcher::on(&m);
    fs::write(
        m.backing.path().join("app.yaml"),
        "changed behind the mount's back",
    )
    .unwrap();
    fs::write(m.backing.path().join("new.yaml"), "x").unwrap();
    fs::remove_file(m.backing.path().join("app.yaml")).unwrap();
    // A change through the mount, after those: its events come in order,
    // so anything the backing changes raised would arrive before them.
    File::create(m.path("marker")).unwrap();
    let before = w.expect(EventMask::CREATE, "marker");
    assert!(
        before.is_empty(),
        "backing changes raised events on the mount: {before:?}"
    );
    // Yet the mount shows the changes at once.
    assert!(m.path("new.yaml").exists());
    assert!(!m.path("app.yaml").exists());
}
