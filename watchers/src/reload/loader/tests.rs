//! The shared loader on its own: snapshots, limits and reasons.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{load, read_files};
use crate::testing::{KubeletVolume, symlink_swap};
use crate::{ConfigSource, ContentHash, Files, Format, LoadErrorKind};

/// The config these tests load (and the property tests beside them): one
/// message, which must not be empty.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(super) struct TestConfig {
    pub(super) message: String,
}

/// The first key as YAML, and a non-empty message.
pub(super) fn decode_test_config(files: &Files) -> Result<TestConfig, crate::DecodeError> {
    let (_, bytes) = files.entries.first().ok_or("no file")?;
    let config: TestConfig = Format::Yaml.parse(bytes)?;
    if config.message.is_empty() {
        return Err("message must not be empty".into());
    }
    Ok(config)
}

fn yaml(message: &str) -> String {
    format!("message: {message:?}\n")
}

const LIMIT: u64 = 1 << 20;

fn message(source: &ConfigSource) -> Result<String, String> {
    load(source, &decode_test_config, LIMIT)
        .map(|loaded| loaded.config.message)
        .map_err(|e| e.to_string())
}

#[test]
fn file_source_is_the_parent_and_the_name() {
    let source = ConfigSource::file("/etc/config/app.yaml");
    assert_eq!(
        (source.dir().to_path_buf(), source.names().to_vec()),
        (PathBuf::from("/etc/config"), vec!["app.yaml".to_owned()])
    );
    let bare = ConfigSource::file("app.yaml");
    assert_eq!(
        (bare.dir().to_path_buf(), bare.names().to_vec()),
        (PathBuf::from("."), vec!["app.yaml".to_owned()])
    );
}

#[test]
fn configmap_mount_is_recognised_by_its_data_symlink() {
    let mount = tempfile::tempdir().unwrap();
    fs::write(mount.path().join("app.yaml"), yaml("plain")).unwrap();
    assert!(!ConfigSource::file(mount.path().join("app.yaml")).is_configmap_mount());
    fs::remove_file(mount.path().join("app.yaml")).unwrap();
    KubeletVolume::new(mount.path())
        .project(&[("app.yaml", yaml("kubelet"))])
        .unwrap();
    assert!(ConfigSource::file(mount.path().join("app.yaml")).is_configmap_mount());
}

/// A reader racing the kubelet: every snapshot has both keys from one
/// update, and the old directory vanishing mid-read is retried. A writer
/// updating back to back (no real kubelet does: its updates are seconds
/// apart) can outpace every attempt of a read on a busy machine: that read
/// gives up as `KeptChanging`, a transient error the driver retries, never
/// as anything else.
#[test]
fn configmap_keys_are_one_snapshot_even_while_the_kubelet_writes() {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    let payload = |n: usize| {
        [
            ("app.yaml", yaml(&n.to_string())),
            ("extra.yaml", yaml(&n.to_string())),
        ]
    };
    volume.project(&payload(0)).unwrap();
    let source = ConfigSource::keys(mount.path(), ["app.yaml", "extra.yaml"]);
    let done = AtomicBool::new(false);
    let (reads, errors) = std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in 1..=500 {
                volume.project(&payload(n)).unwrap();
            }
            done.store(true, Ordering::SeqCst);
        });
        let (mut reads, mut errors) = (0, Vec::new());
        while !done.load(Ordering::SeqCst) {
            match read_files(&source, LIMIT) {
                Ok(files) => {
                    assert_eq!(
                        files.entries[0].1, files.entries[1].1,
                        "keys from two updates"
                    );
                    reads += 1;
                }
                Err(error) => errors.push(error),
            }
        }
        (reads, errors)
    });
    let other: Vec<_> = errors
        .iter()
        .filter(|error| error.kind != LoadErrorKind::KeptChanging)
        .collect();
    assert!(
        other.is_empty(),
        "{} of {} reads failed for another reason than KeptChanging, e.g. {}",
        other.len(),
        reads + errors.len(),
        other[0]
    );
    assert!(reads > 0, "no read succeeded");
}

#[test]
fn a_key_missing_from_the_configmap_is_named() {
    let mount = tempfile::tempdir().unwrap();
    KubeletVolume::new(mount.path())
        .project(&[("other.yaml", yaml("x"))])
        .unwrap();
    let error = message(&ConfigSource::file(mount.path().join("app.yaml"))).unwrap_err();
    assert!(
        error.contains("app.yaml") && error.contains("not in the ConfigMap volume"),
        "{error}"
    );
}

#[test]
fn a_plain_directory_is_read_through_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let (blue, green, link) = (
        dir.path().join("blue.yaml"),
        dir.path().join("green.yaml"),
        dir.path().join("app.yaml"),
    );
    fs::write(&blue, yaml("blue")).unwrap();
    fs::write(&green, yaml("green")).unwrap();
    symlink(&blue, &link).unwrap();
    let source = ConfigSource::file(&link);
    assert_eq!(message(&source).unwrap(), "blue");
    symlink_swap(&link, &green).unwrap();
    assert_eq!(message(&source).unwrap(), "green");
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.yaml"), "\u{feff}message: bom\n").unwrap();
    assert_eq!(
        message(&ConfigSource::file(dir.path().join("app.yaml"))).unwrap(),
        "bom"
    );
}

/// An 8 GiB sparse file: rejected from its size, never read (reading it
/// would take seconds and gigabytes).
#[test]
fn a_file_over_the_limit_is_rejected_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::File::create(&path).unwrap().set_len(8 << 30).unwrap();
    let error = message(&ConfigSource::file(&path)).unwrap_err();
    assert!(
        error.contains("larger than the limit (8589934592 > 1048576 bytes)"),
        "{error}"
    );
}

#[test]
fn exactly_the_limit_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    let mut contents = yaml("fits").into_bytes();
    contents.resize(LIMIT as usize, b'\n');
    fs::write(&path, contents).unwrap();
    assert_eq!(message(&ConfigSource::file(&path)).unwrap(), "fits");
}

/// A FIFO at the path would block a plain `open` forever.
#[test]
fn a_fifo_is_rejected_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    let error = message(&ConfigSource::file(&path)).unwrap_err();
    assert!(error.contains("not a regular file"), "{error}");
}

#[test]
fn reasons_say_what_is_wrong_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let reason = |name: &str| message(&ConfigSource::file(path(name))).unwrap_err();
    assert!(
        reason("absent.yaml").ends_with("absent.yaml: does not exist"),
        "{}",
        reason("absent.yaml")
    );
    fs::create_dir(path("dir.yaml")).unwrap();
    assert!(reason("dir.yaml").contains("is a directory"));
    symlink(path("nowhere.yaml"), path("dangling.yaml")).unwrap();
    assert!(
        reason("dangling.yaml").contains("dangling symlink"),
        "{}",
        reason("dangling.yaml")
    );
    symlink(path("loop-b.yaml"), path("loop-a.yaml")).unwrap();
    symlink(path("loop-a.yaml"), path("loop-b.yaml")).unwrap();
    assert!(reason("loop-a.yaml").contains("symlink loop"));
    fs::write(path("empty.yaml"), "").unwrap();
    assert!(reason("empty.yaml").contains("is empty"));
}

fn files(entries: &[(&str, &str)]) -> Files {
    Files {
        entries: entries
            .iter()
            .map(|(key, bytes)| (key.to_string(), bytes.as_bytes().to_vec()))
            .collect(),
    }
}

#[test]
fn the_content_hash_covers_key_names_and_boundaries() {
    let base = ContentHash::of(&files(&[("a", "xy"), ("b", "")]));
    assert_eq!(base, ContentHash::of(&files(&[("a", "xy"), ("b", "")])));
    assert_ne!(
        base,
        ContentHash::of(&files(&[("a", "x"), ("b", "y")])),
        "bytes moved between keys"
    );
    assert_ne!(
        base,
        ContentHash::of(&files(&[("c", "xy"), ("b", "")])),
        "a key renamed"
    );
}

#[test]
fn load_returns_the_hash_of_what_it_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = &dir.path().join("app.yaml");
    fs::write(path, yaml("hashed")).unwrap();
    let loaded = load(&ConfigSource::file(path), &decode_test_config, LIMIT).unwrap();
    assert_eq!(
        loaded.hash,
        ContentHash::of(&files(&[("app.yaml", &yaml("hashed"))]))
    );
}
