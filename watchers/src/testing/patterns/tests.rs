use std::fs::{self, File, FileTimes};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;

fn inode(path: &Path) -> u64 {
    fs::symlink_metadata(path).unwrap().ino()
}

/// Entries of `dir` other than `keep`: what a pattern left behind.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !keep.contains(&name.as_str()))
        .collect()
}

fn backdate(path: &Path) -> SystemTime {
    let past = SystemTime::now() - Duration::from_secs(3600);
    File::open(path)
        .unwrap()
        .set_times(FileTimes::new().set_modified(past))
        .unwrap();
    fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn rename_replace_puts_a_new_inode_at_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "old").unwrap();
    let before = inode(&path);
    rename_replace(&path, b"new").unwrap();
    assert_ne!(inode(&path), before);
    assert_eq!(fs::read(&path).unwrap(), b"new");
    assert!(leftovers(dir.path(), &["app.yaml"]).is_empty());
}

#[test]
fn write_in_place_keeps_the_inode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "a much longer old content").unwrap();
    let before = inode(&path);
    write_in_place(&path, b"new").unwrap();
    assert_eq!(inode(&path), before);
    assert_eq!(fs::read(&path).unwrap(), b"new");
}

#[test]
fn write_in_place_slowly_shows_a_prefix_then_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "old").unwrap();
    let before = inode(&path);
    let contents = b"0123456789".to_vec();
    let writer = {
        let (path, contents) = (path.clone(), contents.clone());
        std::thread::spawn(move || {
            write_in_place_slowly(&path, &contents, Duration::from_millis(500))
        })
    };
    // The half-written state must be observable (that is what the pattern is for).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while fs::read(&path).unwrap() != b"01234" {
        assert!(
            std::time::Instant::now() < deadline,
            "never saw the half-written file"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    writer.join().unwrap().unwrap();
    assert_eq!(fs::read(&path).unwrap(), contents);
    assert_eq!(inode(&path), before);
}

#[test]
fn delete_and_recreate_ends_with_the_new_contents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "old").unwrap();
    delete_and_recreate(&path, b"new", Duration::from_millis(1)).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"new");
}

#[test]
fn symlink_swap_changes_only_the_target() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("blue.yaml"), "blue").unwrap();
    fs::write(dir.path().join("green.yaml"), "green").unwrap();
    let link = dir.path().join("config.yaml");
    std::os::unix::fs::symlink("blue.yaml", &link).unwrap();

    symlink_swap(&link, Path::new("green.yaml")).unwrap();
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("green.yaml"));
    assert_eq!(fs::read(&link).unwrap(), b"green");
    assert_eq!(fs::read(dir.path().join("blue.yaml")).unwrap(), b"blue");
    assert!(leftovers(dir.path(), &["config.yaml", "blue.yaml", "green.yaml"]).is_empty());
}

#[test]
fn swap_parent_dir_replaces_the_directory_inode() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("config");
    swap_parent_dir(&dir, &[("app.yaml", b"v1")]).unwrap();
    let before = inode(&dir);
    swap_parent_dir(&dir, &[("app.yaml", b"v2"), ("extra.yaml", b"x")]).unwrap();
    assert_ne!(inode(&dir), before);
    assert_eq!(fs::read(dir.join("app.yaml")).unwrap(), b"v2");
    assert_eq!(fs::read(dir.join("extra.yaml")).unwrap(), b"x");
    assert!(leftovers(root.path(), &["config"]).is_empty());
}

#[test]
fn touch_changes_the_mtime_not_the_contents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "same").unwrap();
    let past = backdate(&path);
    touch(&path).unwrap();
    assert!(fs::metadata(&path).unwrap().modified().unwrap() > past);
    assert_eq!(fs::read(&path).unwrap(), b"same");
}

#[test]
fn rewrite_same_writes_the_same_bytes_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "same").unwrap();
    let before = inode(&path);
    let past = backdate(&path);
    rewrite_same(&path).unwrap();
    assert!(fs::metadata(&path).unwrap().modified().unwrap() > past);
    assert_eq!(fs::read(&path).unwrap(), b"same");
    assert_eq!(inode(&path), before);
}
