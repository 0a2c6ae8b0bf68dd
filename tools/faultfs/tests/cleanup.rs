//! No test leaves a mount behind on drop or panic; a killed test leaves a
//! stale mount that fails fast and does not wedge the next run.

#![cfg(target_os = "linux")]

mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use faultfs::{FaultFs, Op, TempMount};

#[test]
fn drop_unmounts() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    let mountpoint = m.mountpoint().to_owned();
    assert!(common::is_mounted(&mountpoint));
    drop(m.fs);
    assert!(!common::is_mounted(&mountpoint));
    // The mount point is an empty directory again.
    assert_eq!(fs::read_dir(&mountpoint).unwrap().count(), 0);
}

#[test]
fn unmount_with_a_file_open_detaches_and_keeps_serving_it() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "x").unwrap();
    let mut open = File::open(m.path("app.yaml")).unwrap();
    let mountpoint = m.mountpoint().to_owned();
    m.fs.unmount().unwrap();
    assert!(!common::is_mounted(&mountpoint));
    let mut back = String::new();
    open.read_to_string(&mut back).unwrap();
    assert_eq!(back, "x");
}

#[test]
fn a_panicking_test_leaves_no_mount() {
    if faultfs::available().is_err() {
        return TempMount::for_test().map_or((), drop); // prints the skip reason
    }
    let mountpoint = tempfile::tempdir().unwrap();
    let backing = tempfile::tempdir().unwrap();
    let path = mountpoint.path().to_owned();
    let panicked = std::panic::catch_unwind(|| {
        let fs = FaultFs::mount(backing.path(), &path).unwrap();
        fs.hang(Op::Read);
        assert!(common::is_mounted(fs.mountpoint()));
        panic!("a test failing while mounted");
    });
    assert!(panicked.is_err());
    assert!(!common::is_mounted(&path));
}

/// Leaves a FUSE mount at `path` whose server is gone, as a crashed run
/// without auto-unmount does: every access fails with `ENOTCONN`.
fn make_stale_mount(path: &Path) -> std::io::Result<()> {
    let dev = File::options().read(true).write(true).open("/dev/fuse")?;
    let options = format!(
        "fd={},rootmode=40000,user_id=0,group_id=0",
        std::os::fd::AsRawFd::as_raw_fd(&dev)
    );
    let c = |s: &str| std::ffi::CString::new(s).unwrap();
    let target = c(path.to_str().unwrap());
    let (source, fstype, data) = (c("stale"), c("fuse"), c(&options));
    // SAFETY: valid C strings; the data string is the fuse option list.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    drop(dev); // the server goes away
    Ok(())
}

#[test]
fn a_stale_mount_at_the_mount_point_is_detached_before_mounting() {
    if faultfs::available().is_err() {
        return TempMount::for_test().map_or((), drop); // prints the skip reason
    }
    let mountpoint = tempfile::tempdir().unwrap();
    let backing = tempfile::tempdir().unwrap();
    if let Err(e) = make_stale_mount(mountpoint.path()) {
        eprintln!("skipped: cannot make a stale mount with mount(2) (root only): {e}");
        return;
    }
    let err = fs::metadata(mountpoint.path()).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN), "{err}");

    let fs = FaultFs::mount(backing.path(), mountpoint.path()).unwrap();
    fs::write(fs.path("app.yaml"), "x").unwrap();
    assert_eq!(fs::read(backing.path().join("app.yaml")).unwrap(), b"x");
    drop(fs);
    assert!(!common::is_mounted(mountpoint.path()));
}

const CHILD_MOUNTPOINT: &str = "FAULTFS_TEST_CHILD_MOUNTPOINT";

/// Not a test of its own: the body of the child process that
/// `a_killed_process_leaves_a_stale_mount_that_the_next_mount_clears` starts and kills.
#[test]
#[ignore = "run in a child process by a_killed_process_leaves_a_stale_mount_that_the_next_mount_clears"]
fn child_mounts_and_waits_to_be_killed() {
    let Some(mountpoint) = std::env::var_os(CHILD_MOUNTPOINT) else {
        return;
    };
    let backing = tempfile::tempdir().unwrap();
    let _fs = FaultFs::mount(backing.path(), &mountpoint).unwrap();
    println!("mounted");
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn a_killed_process_leaves_a_stale_mount_that_the_next_mount_clears() {
    if faultfs::available().is_err() {
        return TempMount::for_test().map_or((), drop); // prints the skip reason
    }
    let mountpoint = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_mounts_and_waits_to_be_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_MOUNTPOINT, mountpoint.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "mounted" {
        line.clear();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "the child exited before mounting"
        );
    }
    assert!(common::is_mounted(mountpoint.path()));
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();

    // The killed server's mount is stale: it fails at once, never hangs.
    let err = fs::metadata(mountpoint.path()).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN), "{err}");
    // And the next mount at the same path works.
    let backing = tempfile::tempdir().unwrap();
    let fs = FaultFs::mount(backing.path(), mountpoint.path()).unwrap();
    fs::write(fs.path("f"), "x").unwrap();
    drop(fs);
    assert!(!common::is_mounted(mountpoint.path()));
}

#[test]
fn a_mount_point_inside_the_backing_directory_is_refused() {
    let backing = tempfile::tempdir().unwrap();
    let inside = backing.path().join("mnt");
    fs::create_dir(&inside).unwrap();
    let err = FaultFs::mount(backing.path(), &inside).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        err.to_string().contains("inside the backing directory"),
        "{err}"
    );
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = FaultFs::mount(&missing, dir.path()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("backing directory"), "{err}");
    let err = FaultFs::mount(dir.path(), &missing).unwrap_err();
    assert!(err.to_string().contains("mount point"), "{err}");
}

#[test]
fn available_says_yes_here_or_why_not() {
    match faultfs::available() {
        Ok(()) => assert!(TempMount::for_test().is_some()),
        Err(why) => assert!(!why.is_empty()),
    }
}
