//! Each fault reaches a plain `std::fs` caller as the injected errno, and
//! the same call succeeds once the fault is healed: every case shows both.

#![cfg(target_os = "linux")]

mod common;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::IntoRawFd;
use std::os::unix::fs::{PermissionsExt, symlink};

use faultfs::{Op, OpCounts, TempMount};

/// The files every case starts from: `f`, `dir/inner`, `empty/`, `link` -> `f`.
fn populate(m: &TempMount) {
    fs::write(m.path("f"), "content\n").unwrap();
    fs::create_dir(m.path("dir")).unwrap();
    fs::create_dir(m.path("empty")).unwrap();
    fs::write(m.path("dir/inner"), "x").unwrap();
    symlink("f", m.path("link")).unwrap();
}

fn close(file: File) -> io::Result<()> {
    // SAFETY: the descriptor is owned and closed exactly once, here; std's
    // own drop would ignore close's error, which is what is tested.
    match unsafe { libc::close(file.into_raw_fd()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

fn statvfs(path: &std::path::Path) -> io::Result<()> {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed out-parameter of the right type.
    match unsafe { libc::statvfs(path.as_ptr(), &mut st) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Sets `op` to fail with `errno`, checks `call` fails with exactly that
/// errno and counts it, heals, and checks the same call now succeeds.
fn fails_then_heals(op: Op, errno: i32, call: impl Fn(&TempMount) -> io::Result<()>) {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    populate(&m);
    m.fail(op, errno);
    let err = call(&m).expect_err(&format!("{op} should fail while faulted"));
    assert_eq!(err.raw_os_error(), Some(errno), "{op}: {err}");
    assert!(m.counts().of(op).failed >= 1, "{op}: {}", m.counts());
    m.heal();
    call(&m).unwrap_or_else(|e| panic!("{op} should succeed once healed: {e}"));
}

#[test]
fn lookup_fault_fails_every_path_walk() {
    fails_then_heals(Op::Lookup, libc::EIO, |m| {
        fs::metadata(m.path("f")).map(drop)
    });
}

#[test]
fn getattr_fault_fails_stat() {
    fails_then_heals(Op::Getattr, libc::EIO, |m| {
        fs::metadata(m.path("f")).map(drop)
    });
}

#[test]
fn setattr_fault_fails_chmod() {
    fails_then_heals(Op::Setattr, libc::EPERM, |m| {
        fs::set_permissions(m.path("f"), fs::Permissions::from_mode(0o600))
    });
}

#[test]
fn readlink_fault_fails_readlink_and_following_the_link() {
    fails_then_heals(Op::Readlink, libc::EIO, |m| {
        fs::read_link(m.path("link")).map(drop)
    });
    fails_then_heals(Op::Readlink, libc::EIO, |m| {
        fs::read(m.path("link")).map(drop)
    });
}

#[test]
fn open_fault_fails_open_with_emfile_enfile_or_eagain() {
    for errno in [libc::EMFILE, libc::ENFILE, libc::EAGAIN] {
        fails_then_heals(Op::Open, errno, |m| File::open(m.path("f")).map(drop));
    }
}

#[test]
fn read_fault_fails_reads() {
    fails_then_heals(Op::Read, libc::EIO, |m| fs::read(m.path("f")).map(drop));
}

#[test]
fn write_fault_fails_writes() {
    fails_then_heals(Op::Write, libc::ENOSPC, |m| {
        File::options()
            .write(true)
            .open(m.path("f"))?
            .write_all(b"new")
    });
}

#[test]
fn flush_fault_is_the_error_of_close() {
    fails_then_heals(Op::Flush, libc::EIO, |m| close(File::open(m.path("f"))?));
}

#[test]
fn fsync_fault_fails_fsync() {
    fails_then_heals(Op::Fsync, libc::EIO, |m| {
        File::open(m.path("f"))?.sync_all()
    });
}

#[test]
fn create_fault_fails_creating_a_new_file() {
    fails_then_heals(Op::Create, libc::EMFILE, |m| {
        File::create(m.path("new")).map(drop)
    });
}

#[test]
fn mkdir_fault_fails_mkdir() {
    fails_then_heals(Op::Mkdir, libc::EACCES, |m| {
        fs::create_dir(m.path("newdir"))
    });
}

#[test]
fn unlink_fault_fails_unlink() {
    fails_then_heals(Op::Unlink, libc::EBUSY, |m| fs::remove_file(m.path("f")));
}

#[test]
fn rmdir_fault_fails_rmdir() {
    fails_then_heals(Op::Rmdir, libc::EBUSY, |m| fs::remove_dir(m.path("empty")));
}

#[test]
fn symlink_fault_fails_symlink() {
    fails_then_heals(Op::Symlink, libc::EDQUOT, |m| {
        symlink("f", m.path("newlink"))
    });
}

#[test]
fn rename_fault_fails_rename() {
    fails_then_heals(Op::Rename, libc::EXDEV, |m| {
        fs::rename(m.path("f"), m.path("g"))
    });
}

#[test]
fn opendir_fault_fails_opening_a_directory() {
    fails_then_heals(Op::Opendir, libc::EACCES, |m| {
        fs::read_dir(m.path("dir")).map(drop)
    });
}

#[test]
fn readdir_fault_fails_listing() {
    fails_then_heals(Op::Readdir, libc::EIO, |m| {
        fs::read_dir(m.path("dir"))?.try_for_each(|entry| entry.map(drop))
    });
}

#[test]
fn statfs_fault_fails_statfs() {
    fails_then_heals(Op::Statfs, libc::EIO, |m| statvfs(m.mountpoint()));
}

#[test]
fn release_fault_is_counted_but_never_reaches_the_caller() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    populate(&m);
    m.fail(Op::Release, libc::EIO);
    m.fail(Op::Releasedir, libc::EIO);
    assert_eq!(fs::read(m.path("f")).unwrap(), b"content\n");
    assert_eq!(fs::read_dir(m.path("dir")).unwrap().count(), 1);
    // The kernel sends release after close has returned.
    common::wait_for("the failed release and releasedir", || {
        let counts = m.counts();
        counts.of(Op::Release).failed == 1 && counts.of(Op::Releasedir).failed == 1
    });
}

#[test]
fn read_fault_leaves_stat_open_and_listing_working() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    populate(&m);
    m.fail(Op::Read, libc::EIO);
    let mut file = File::open(m.path("f")).unwrap();
    assert_eq!(file.metadata().unwrap().len(), 8);
    assert_eq!(fs::metadata(m.path("f")).unwrap().len(), 8);
    assert_eq!(fs::read_dir(m.mountpoint()).unwrap().count(), 4);
    let err = file.read(&mut [0; 16]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    m.heal();
    // The same descriptor reads again once healed.
    let mut back = String::new();
    file.read_to_string(&mut back).unwrap();
    assert_eq!(back, "content\n");
}

#[test]
fn a_named_fault_hits_only_that_name() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("a.yaml"), "a").unwrap();
    fs::write(m.path("b.yaml"), "b").unwrap();
    assert_eq!(fs::read(m.path("a.yaml")).unwrap(), b"a");
    m.fail_named(Op::Read, libc::EIO, "a.yaml");
    let err = fs::read(m.path("a.yaml")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    assert_eq!(fs::read(m.path("b.yaml")).unwrap(), b"b");
    m.fail_named(Op::Open, libc::EMFILE, "b.yaml"); // replaces nothing: another op
    assert_eq!(
        File::open(m.path("b.yaml")).unwrap_err().raw_os_error(),
        Some(libc::EMFILE)
    );
    assert_eq!(fs::metadata(m.path("a.yaml")).unwrap().len(), 1);
}

#[test]
fn a_named_fault_follows_the_kubelet_symlinks_to_the_real_file() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::create_dir(m.path("..2024_01")).unwrap();
    fs::write(m.path("..2024_01/config.yaml"), "v: 1\n").unwrap();
    fs::write(m.path("..2024_01/other.yaml"), "o\n").unwrap();
    symlink("..2024_01", m.path("..data")).unwrap();
    symlink("..data/config.yaml", m.path("config.yaml")).unwrap();
    symlink("..data/other.yaml", m.path("other.yaml")).unwrap();
    m.fail_named(Op::Read, libc::EIO, "config.yaml");
    let err = fs::read(m.path("config.yaml")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    assert_eq!(fs::read(m.path("other.yaml")).unwrap(), b"o\n");
    // A fault on the `..data` lookup breaks every key's path.
    m.heal();
    m.fail_named(Op::Lookup, libc::EIO, "..data");
    for key in ["config.yaml", "other.yaml"] {
        assert_eq!(
            fs::read(m.path(key)).unwrap_err().raw_os_error(),
            Some(libc::EIO)
        );
    }
}

#[test]
fn a_named_rename_fault_matches_either_name() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("a"), "a").unwrap();
    m.fail_named(Op::Rename, libc::EIO, "..data");
    let err = fs::rename(m.path("a"), m.path("..data")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    fs::rename(m.path("a"), m.path("b")).unwrap();
}

#[test]
fn clear_removes_one_ops_fault_and_heal_all() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("f"), "x").unwrap();
    m.fail(Op::Read, libc::EIO);
    m.fail(Op::Getattr, libc::EIO);
    m.clear(Op::Read);
    assert!(fs::metadata(m.path("f")).is_err());
    m.heal();
    assert_eq!(fs::read(m.path("f")).unwrap(), b"x");
}

#[test]
fn setting_a_fault_replaces_that_ops_previous_one() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("f"), "x").unwrap();
    m.fail(Op::Open, libc::EMFILE);
    m.fail(Op::Open, libc::ENFILE);
    assert_eq!(
        File::open(m.path("f")).unwrap_err().raw_os_error(),
        Some(libc::ENFILE)
    );
}

#[test]
fn counts_say_how_each_request_was_answered() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("f"), "content").unwrap();
    let mut file = File::open(m.path("f")).unwrap();
    let before = m.counts();
    assert_eq!(before.of(Op::Read), OpCounts::default());
    assert_eq!(before.of(Op::Open).served, 1);
    m.fail(Op::Read, libc::EIO);
    for _ in 0..3 {
        file.read(&mut [0; 4]).unwrap_err();
    }
    m.heal();
    file.read_exact(&mut [0; 4]).unwrap();
    let read = m.counts().of(Op::Read);
    // With direct I/O, one read(2) is one read request.
    assert_eq!(
        read,
        OpCounts {
            served: 1,
            failed: 3,
            hung: 0,
            held: 0
        }
    );
    assert!(
        m.counts().to_string().contains("read 4 (3 failed)"),
        "{}",
        m.counts()
    );
}
