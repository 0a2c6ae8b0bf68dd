use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;

fn mount() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// The timestamped directory `..data` points at.
fn data_target(dir: &Path) -> PathBuf {
    fs::read_link(dir.join(DATA)).expect("..data is a symlink")
}

/// Every name in `dir`, sorted, hidden ones included.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn is_timestamped_dir_name(name: &str) -> bool {
    // `..YYYY_MM_DD_HH_MM_SS.<decimal>`
    let Some(rest) = name.strip_prefix("..") else {
        return false;
    };
    let Some((stamp, random)) = rest.split_once('.') else {
        return false;
    };
    let fields: Vec<&str> = stamp.split('_').collect();
    let widths = [4, 2, 2, 2, 2, 2];
    fields.len() == 6
        && fields
            .iter()
            .zip(widths)
            .all(|(field, width)| field.len() == width && field.bytes().all(|b| b.is_ascii_digit()))
        && !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn first_projection_has_the_kubelet_layout() {
    let mount = mount();
    let volume = KubeletVolume::new(mount.path());
    assert!(
        volume
            .project(&[("app.yaml", "a: 1\n"), ("extra.yaml", "b: 2\n")])
            .unwrap()
    );

    let target = data_target(mount.path());
    assert!(
        target.is_relative(),
        "..data -> {target:?} must be relative"
    );
    let ts_name = target.to_str().unwrap().to_owned();
    assert!(
        is_timestamped_dir_name(&ts_name),
        "timestamped dir name {ts_name:?}"
    );
    assert_eq!(
        names(mount.path()),
        vec![
            ts_name.clone(),
            "..data".into(),
            "app.yaml".into(),
            "extra.yaml".into()
        ]
    );

    let ts_dir = mount.path().join(&ts_name);
    let ts_meta = fs::symlink_metadata(&ts_dir).unwrap();
    assert!(ts_meta.is_dir());
    assert_eq!(ts_meta.permissions().mode() & 0o7777, 0o755);
    for (key, contents) in [("app.yaml", "a: 1\n"), ("extra.yaml", "b: 2\n")] {
        let file = fs::symlink_metadata(ts_dir.join(key)).unwrap();
        assert!(
            file.is_file(),
            "{key} is a regular file in the timestamped dir"
        );
        assert_eq!(file.permissions().mode() & 0o7777, 0o644);
        assert_eq!(
            fs::read_link(mount.path().join(key)).unwrap(),
            Path::new("..data").join(key)
        );
        assert_eq!(
            fs::read_to_string(mount.path().join(key)).unwrap(),
            contents
        );
    }
}

#[test]
fn timestamp_is_utc_in_gos_layout() {
    let time = UNIX_EPOCH + std::time::Duration::from_secs(1_795_515_302); // 2026-11-24T10:15:02Z
    assert_eq!(utc_timestamp(time), "2026_11_24_10_15_02");
    assert_eq!(utc_timestamp(UNIX_EPOCH), "1970_01_01_00_00_00");
    let leap_day = UNIX_EPOCH + std::time::Duration::from_secs(951_782_400); // 2000-02-29T00:00:00Z
    assert_eq!(utc_timestamp(leap_day), "2000_02_29_00_00_00");
}

#[test]
fn nested_keys_live_in_subdirectories_behind_one_top_level_symlink() {
    let mount = mount();
    let volume = KubeletVolume::new(mount.path());
    volume
        .project(&[("conf/app.yaml", "a: 1\n"), ("conf/deep/x.yaml", "x: 1\n")])
        .unwrap();

    let ts_dir = mount.path().join(data_target(mount.path()));
    assert!(fs::symlink_metadata(ts_dir.join("conf")).unwrap().is_dir());
    assert!(
        fs::symlink_metadata(ts_dir.join("conf/deep/x.yaml"))
            .unwrap()
            .is_file()
    );
    assert_eq!(
        fs::read_link(mount.path().join("conf")).unwrap(),
        Path::new("..data/conf")
    );
    assert_eq!(
        fs::read_to_string(mount.path().join("conf/deep/x.yaml")).unwrap(),
        "x: 1\n"
    );

    // Dropping the deeper key removes it from the new version only.
    assert!(volume.project(&[("conf/app.yaml", "a: 1\n")]).unwrap());
    assert!(!mount.path().join("conf/deep").exists());
    assert_eq!(
        fs::read_link(mount.path().join("conf")).unwrap(),
        Path::new("..data/conf")
    );
}

#[test]
fn update_swaps_data_keeps_key_symlinks_and_removes_the_old_dir() {
    let mount = mount();
    let volume = KubeletVolume::new(mount.path());
    volume.project(&[("app.yaml", "v: 1\n")]).unwrap();
    let link_inode = fs::symlink_metadata(mount.path().join("app.yaml"))
        .unwrap()
        .ino();

    // Several updates in a row: each must behave the same, not only the first.
    let mut previous = data_target(mount.path());
    for version in 2..5 {
        assert!(
            volume
                .project(&[("app.yaml", format!("v: {version}\n"))])
                .unwrap()
        );
        let current = data_target(mount.path());
        assert_ne!(
            current, previous,
            "update {version} commits a new directory"
        );
        assert!(
            !mount.path().join(&previous).exists(),
            "old directory {previous:?} removed"
        );
        assert!(!mount.path().join(DATA_TMP).exists());
        assert_eq!(
            fs::read_to_string(mount.path().join("app.yaml")).unwrap(),
            format!("v: {version}\n")
        );
        assert_eq!(
            fs::symlink_metadata(mount.path().join("app.yaml"))
                .unwrap()
                .ino(),
            link_inode
        );
        assert_eq!(
            names(mount.path()),
            vec![
                current.to_str().unwrap().to_owned(),
                "..data".into(),
                "app.yaml".into()
            ]
        );
        previous = current;
    }
}

#[test]
fn added_key_gets_a_symlink_and_removed_key_loses_it_in_both_orders() {
    for order in [SymlinkOrder::AfterCommit, SymlinkOrder::BeforeCommit] {
        let mount = mount();
        let volume = KubeletVolume::with_order(mount.path(), order);
        volume.project(&[("app.yaml", "a\n")]).unwrap();

        assert!(
            volume
                .project(&[("app.yaml", "a\n"), ("extra.yaml", "b\n")])
                .unwrap(),
            "{order:?}: key added"
        );
        assert_eq!(
            fs::read_link(mount.path().join("extra.yaml")).unwrap(),
            Path::new("..data/extra.yaml")
        );
        assert_eq!(
            fs::read_to_string(mount.path().join("extra.yaml")).unwrap(),
            "b\n"
        );

        // Removing a key while the other is unchanged is still a write.
        assert!(
            volume.project(&[("app.yaml", "a\n")]).unwrap(),
            "{order:?}: key removed"
        );
        assert!(
            fs::symlink_metadata(mount.path().join("extra.yaml")).is_err(),
            "{order:?}: symlink removed"
        );
        assert!(
            !mount
                .path()
                .join(data_target(mount.path()))
                .join("extra.yaml")
                .exists()
        );
        assert_eq!(
            fs::read_to_string(mount.path().join("app.yaml")).unwrap(),
            "a\n"
        );
    }
}

#[test]
fn unchanged_payload_changes_nothing() {
    let mount = mount();
    let volume = KubeletVolume::new(mount.path());
    let payload = [("app.yaml", "a: 1\n"), ("extra.yaml", "b: 2\n")];
    volume.project(&payload).unwrap();
    let data_before = fs::symlink_metadata(mount.path().join(DATA)).unwrap();
    let target_before = data_target(mount.path());
    let names_before = names(mount.path());

    assert!(!volume.project(&payload).unwrap());

    let data_after = fs::symlink_metadata(mount.path().join(DATA)).unwrap();
    assert_eq!(data_after.ino(), data_before.ino(), "..data not replaced");
    assert_eq!(
        data_after.modified().unwrap(),
        data_before.modified().unwrap()
    );
    assert_eq!(data_target(mount.path()), target_before);
    assert_eq!(names(mount.path()), names_before);
}

#[test]
fn unchanged_payload_puts_back_a_missing_key_symlink() {
    for order in [SymlinkOrder::AfterCommit, SymlinkOrder::BeforeCommit] {
        let mount = mount();
        let volume = KubeletVolume::with_order(mount.path(), order);
        let payload = [("app.yaml", "a: 1\n")];
        volume.project(&payload).unwrap();
        let target_before = data_target(mount.path());
        fs::remove_file(mount.path().join("app.yaml")).unwrap();

        assert!(
            !volume.project(&payload).unwrap(),
            "{order:?}: nothing written"
        );
        assert_eq!(
            fs::read_link(mount.path().join("app.yaml")).unwrap(),
            Path::new("..data/app.yaml")
        );
        assert_eq!(data_target(mount.path()), target_before);
    }
}

#[test]
fn project_timed_reports_the_commit_only_when_written() {
    let mount = mount();
    let volume = KubeletVolume::new(mount.path());
    assert!(
        volume
            .project_timed(&[("app.yaml", "1")])
            .unwrap()
            .is_some()
    );
    assert!(
        volume
            .project_timed(&[("app.yaml", "1")])
            .unwrap()
            .is_none()
    );
    assert!(
        volume
            .project_timed(&[("app.yaml", "2")])
            .unwrap()
            .is_some()
    );
}

#[test]
fn keys_the_kubelet_rejects_are_rejected() {
    let mount = mount();
    let volume = KubeletVolume::new(mount.path());
    for key in [
        "",
        "/etc/passwd",
        "../escape",
        "a/../../b",
        "..data",
        "..hidden",
    ] {
        let error = volume.project(&[(key, "x")]).unwrap_err();
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::InvalidInput,
            "key {key:?}"
        );
    }
    assert!(
        names(mount.path()).is_empty(),
        "nothing written for a rejected payload"
    );
}

/// The inotify events the mount directory produces during one update, in
/// order, as `(mask, name)`. Read with libc so the emulation's own tests do
/// not depend on the watchers under test.
fn directory_events_during(dir: &Path, update: impl FnOnce()) -> Vec<(u32, String)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    // SAFETY: plain syscalls on a descriptor this function owns and closes;
    // the buffer is read within the length the kernel returned.
    unsafe {
        let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
        assert!(fd >= 0, "inotify_init1");
        let path = CString::new(dir.as_os_str().as_bytes()).unwrap();
        let mask = libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_MOVED_FROM | libc::IN_DELETE;
        assert!(
            libc::inotify_add_watch(fd, path.as_ptr(), mask) >= 0,
            "inotify_add_watch"
        );
        update();
        let mut events = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len());
            if read <= 0 {
                break;
            }
            let mut offset = 0;
            while offset < read as usize {
                let event = buffer
                    .as_ptr()
                    .add(offset)
                    .cast::<libc::inotify_event>()
                    .read_unaligned();
                let name_start = offset + std::mem::size_of::<libc::inotify_event>();
                let name = &buffer[name_start..name_start + event.len as usize];
                let name = String::from_utf8_lossy(name)
                    .trim_end_matches('\0')
                    .to_owned();
                events.push((event.mask, name));
                offset = name_start + event.len as usize;
            }
        }
        libc::close(fd);
        events
    }
}

fn position(events: &[(u32, String)], mask: u32, name: &str) -> usize {
    events
        .iter()
        .position(|(m, n)| m & mask != 0 && n == name)
        .unwrap_or_else(|| panic!("no event {mask:#x} for {name:?} in {events:?}"))
}

#[test]
fn steps_run_in_the_kubelets_order() {
    for order in [SymlinkOrder::AfterCommit, SymlinkOrder::BeforeCommit] {
        let mount = mount();
        let volume = KubeletVolume::with_order(mount.path(), order);
        volume.project(&[("app.yaml", "1")]).unwrap();
        let old = data_target(mount.path()).to_str().unwrap().to_owned();

        let events = directory_events_during(mount.path(), || {
            volume
                .project(&[("app.yaml", "2"), ("extra.yaml", "new")])
                .unwrap();
        });
        let new = data_target(mount.path()).to_str().unwrap().to_owned();

        let new_dir = position(&events, libc::IN_CREATE, &new);
        let data_tmp = position(&events, libc::IN_CREATE, DATA_TMP);
        let commit = position(&events, libc::IN_MOVED_TO, DATA);
        let new_key = position(&events, libc::IN_CREATE, "extra.yaml");
        let old_removed = position(&events, libc::IN_DELETE, &old);
        assert!(
            new_dir < data_tmp && data_tmp < commit && commit < old_removed,
            "{order:?}: {events:?}"
        );
        match order {
            SymlinkOrder::AfterCommit => assert!(commit < new_key, "{events:?}"),
            SymlinkOrder::BeforeCommit => assert!(new_key < data_tmp, "{events:?}"),
        }
    }
}
