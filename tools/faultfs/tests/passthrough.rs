//! Everything a config writer does through the mount lands in the backing
//! directory and reads back the same, the kubelet's `..data` swap included.

#![cfg(target_os = "linux")]

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::{Duration, SystemTime};

use faultfs::TempMount;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn write_through_the_mount_reads_back_and_lands_in_backing() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "a: 1\n").unwrap();
    assert_eq!(fs::read_to_string(m.path("app.yaml")).unwrap(), "a: 1\n");
    assert_eq!(
        fs::read_to_string(m.backing.path().join("app.yaml")).unwrap(),
        "a: 1\n"
    );

    // Overwrite shorter: O_TRUNC truncates through the mount.
    fs::write(m.path("app.yaml"), "b\n").unwrap();
    assert_eq!(fs::read_to_string(m.path("app.yaml")).unwrap(), "b\n");

    let mut f = OpenOptions::new()
        .append(true)
        .open(m.path("app.yaml"))
        .unwrap();
    f.write_all(b"c\n").unwrap();
    drop(f);
    assert_eq!(fs::read_to_string(m.path("app.yaml")).unwrap(), "b\nc\n");

    // Positioned reads and writes on one descriptor.
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.path("app.yaml"))
        .unwrap();
    f.seek(SeekFrom::Start(2)).unwrap();
    f.write_all(b"C").unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut back = String::new();
    f.read_to_string(&mut back).unwrap();
    assert_eq!(back, "b\nC\n");
}

#[test]
fn a_large_file_round_trips_across_many_requests() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    // Larger than one FUSE read or write request (128 KiB by default).
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(m.path("big"), &content).unwrap();
    assert_eq!(fs::read(m.path("big")).unwrap(), content);
    assert_eq!(
        fs::metadata(m.path("big")).unwrap().len(),
        content.len() as u64
    );
}

#[test]
fn backing_changes_are_visible_through_the_mount_at_once() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "old\n").unwrap();
    let mut open = File::open(m.path("app.yaml")).unwrap();
    fs::write(m.backing.path().join("app.yaml"), "new content\n").unwrap();
    // No attribute cache: the new size is seen; no page cache: the new bytes.
    assert_eq!(fs::metadata(m.path("app.yaml")).unwrap().len(), 12);
    let mut back = String::new();
    open.read_to_string(&mut back).unwrap();
    assert_eq!(back, "new content\n");
    fs::write(m.backing.path().join("added"), "x").unwrap();
    assert_eq!(fs::read_to_string(m.path("added")).unwrap(), "x");
}

#[test]
fn mkdir_rmdir_unlink_and_readdir() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::create_dir(m.path("d")).unwrap();
    fs::create_dir_all(m.path("d/e/f")).unwrap();
    fs::write(m.path("d/one"), "1").unwrap();
    fs::write(m.path("d/two"), "2").unwrap();
    assert!(m.backing.path().join("d/e/f").is_dir());
    assert_eq!(names(&m.path("d")), ["e", "one", "two"]);

    fs::remove_file(m.path("d/one")).unwrap();
    assert!(!m.backing.path().join("d/one").exists());
    assert_eq!(
        fs::remove_dir(m.path("d/e")).unwrap_err().raw_os_error(),
        Some(libc::ENOTEMPTY)
    );
    fs::remove_dir(m.path("d/e/f")).unwrap();
    fs::remove_dir(m.path("d/e")).unwrap();
    assert_eq!(names(&m.path("d")), ["two"]);
    fs::remove_dir_all(m.path("d")).unwrap();
    assert!(names(m.backing.path()).is_empty());
    assert_eq!(
        fs::metadata(m.path("d")).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

#[test]
fn a_directory_of_many_entries_lists_completely() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    // More entries than fit in one readdir reply (4 KiB of dirents).
    let expected: Vec<String> = (0..500)
        .map(|i| format!("entry-with-a-longish-name-{i:04}"))
        .collect();
    for name in &expected {
        File::create(m.backing.path().join(name)).unwrap();
    }
    assert_eq!(names(m.mountpoint()), expected);
}

#[test]
fn symlink_and_readlink() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("target.yaml"), "t\n").unwrap();
    symlink("target.yaml", m.path("link.yaml")).unwrap();
    assert_eq!(
        fs::read_link(m.path("link.yaml")).unwrap(),
        Path::new("target.yaml")
    );
    assert_eq!(
        fs::read_link(m.backing.path().join("link.yaml")).unwrap(),
        Path::new("target.yaml")
    );
    assert!(
        fs::symlink_metadata(m.path("link.yaml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(m.path("link.yaml")).unwrap(), "t\n");
}

#[test]
fn rename_over_an_existing_file_replaces_it() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "old\n").unwrap();
    fs::write(m.path(".app.yaml.tmp"), "new\n").unwrap();
    let held_open = File::open(m.path("app.yaml")).unwrap();
    fs::rename(m.path(".app.yaml.tmp"), m.path("app.yaml")).unwrap();
    assert_eq!(fs::read_to_string(m.path("app.yaml")).unwrap(), "new\n");
    assert_eq!(names(m.mountpoint()), ["app.yaml"]);
    // The replaced file stays readable through a descriptor opened before.
    let mut old = String::new();
    (&held_open).read_to_string(&mut old).unwrap();
    assert_eq!(old, "old\n");
}

#[test]
fn kubelet_data_swap_switches_every_key_at_once() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    // The kubelet's AtomicWriter layout, written through the mount.
    fs::create_dir(m.path("..2024_01")).unwrap();
    fs::write(m.path("..2024_01/config.yaml"), "v: 1\n").unwrap();
    symlink("..2024_01", m.path("..data")).unwrap();
    symlink("..data/config.yaml", m.path("config.yaml")).unwrap();
    assert_eq!(fs::read_to_string(m.path("config.yaml")).unwrap(), "v: 1\n");

    // The update: a new timestamped dir, `..data_tmp` renamed over `..data`.
    fs::create_dir(m.path("..2024_02")).unwrap();
    fs::write(m.path("..2024_02/config.yaml"), "v: 2\n").unwrap();
    symlink("..2024_02", m.path("..data_tmp")).unwrap();
    fs::rename(m.path("..data_tmp"), m.path("..data")).unwrap();
    fs::remove_dir_all(m.path("..2024_01")).unwrap();

    assert_eq!(
        fs::read_link(m.path("..data")).unwrap(),
        Path::new("..2024_02")
    );
    assert_eq!(fs::read_to_string(m.path("config.yaml")).unwrap(), "v: 2\n");
    assert_eq!(
        names(m.mountpoint()),
        ["..2024_02", "..data", "config.yaml"]
    );
}

#[test]
fn setattr_chmod_truncate_and_times() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("f"), "0123456789").unwrap();

    fs::set_permissions(m.path("f"), fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(
        fs::metadata(m.path("f")).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let backing_mode = fs::metadata(m.backing.path().join("f"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(backing_mode & 0o7777, 0o640);

    // truncate(2) by path, then ftruncate(2) on an open file.
    let f = OpenOptions::new().write(true).open(m.path("f")).unwrap();
    f.set_len(4).unwrap();
    assert_eq!(fs::read_to_string(m.path("f")).unwrap(), "0123");
    drop(f);
    let status = std::process::Command::new("truncate")
        .args(["-s", "2"])
        .arg(m.path("f"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fs::read_to_string(m.path("f")).unwrap(), "01");

    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    File::options()
        .write(true)
        .open(m.path("f"))
        .unwrap()
        .set_modified(when)
        .unwrap();
    assert_eq!(fs::metadata(m.path("f")).unwrap().modified().unwrap(), when);
    // utimensat(2) by path, without an open file: `touch -d`.
    let status = std::process::Command::new("touch")
        .args(["-m", "-d", "@1600000000"])
        .arg(m.path("f"))
        .status()
        .unwrap();
    assert!(status.success());
    let mtime = fs::metadata(m.backing.path().join("f"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000)
    );
}

#[test]
fn stat_reports_the_backing_file_attributes() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("f"), "abc").unwrap();
    let through = fs::metadata(m.path("f")).unwrap();
    let direct = fs::metadata(m.backing.path().join("f")).unwrap();
    assert_eq!(through.len(), 3);
    assert!(through.is_file());
    assert_eq!(through.modified().unwrap(), direct.modified().unwrap());
    assert_eq!(through.permissions(), direct.permissions());
    // Inode numbers are the mount's own, stable for one file.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(m.path("f")).unwrap().ino(), through.ino());
}

#[test]
fn statfs_answers() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    let path = std::ffi::CString::new(m.mountpoint().as_os_str().as_encoded_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed out-parameter of the right type.
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
    assert!(st.f_bsize > 0);
    assert!(st.f_namemax >= 255);
}

#[test]
fn copying_into_and_within_the_mount() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("src.yaml"), "copied\n").unwrap();
    // `cp`'s and std's copy try copy_file_range first; this filesystem does
    // not implement it, so they fall back to reading and writing.
    fs::copy(outside.path().join("src.yaml"), m.path("a.yaml")).unwrap();
    fs::copy(m.path("a.yaml"), m.path("b.yaml")).unwrap();
    let status = std::process::Command::new("cp")
        .arg(m.path("b.yaml"))
        .arg(m.path("c.yaml"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        fs::read_to_string(m.backing.path().join("c.yaml")).unwrap(),
        "copied\n"
    );
}

#[test]
fn another_user_reads_through_the_mount_as_permissions_allow() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0
        || std::process::Command::new("setpriv")
            .arg("-V")
            .output()
            .is_err()
    {
        eprintln!("skipped: needs root and setpriv to act as another user");
        return;
    }
    fs::set_permissions(m.mountpoint(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(m.path("public.yaml"), "p\n").unwrap();
    fs::write(m.path("secret.yaml"), "s\n").unwrap();
    fs::set_permissions(m.path("secret.yaml"), fs::Permissions::from_mode(0o600)).unwrap();
    let cat_as_nobody = |name: &str| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
            .arg(m.path(name))
            .output()
            .unwrap()
    };
    let public = cat_as_nobody("public.yaml");
    assert!(
        public.status.success(),
        "{}",
        String::from_utf8_lossy(&public.stderr)
    );
    assert_eq!(public.stdout, b"p\n");
    let secret = cat_as_nobody("secret.yaml");
    assert!(!secret.status.success());
    assert!(String::from_utf8_lossy(&secret.stderr).contains("Permission denied"));
}
