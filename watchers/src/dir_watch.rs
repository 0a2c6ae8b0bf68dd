//! Keeping a directory watch pointed at whatever directory is at the path
//! now, shared by the two event strategies. A watch follows an inode, not a
//! path: when the directory is deleted, or replaced by a rename, the old
//! watch is dead or watching the wrong thing, so the parent is watched too
//! and the directory watch is re-added whenever the directory's identity
//! changes.

// Each backend uses its part; with one backend compiled in, the rest is idle.
#![cfg_attr(not(all(feature = "notify", feature = "inotify")), allow(dead_code))]

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::ConfigSource;
use crate::loader::{DATA_LINK, absolute};
use crate::strategy::Signals;

/// The watch calls a backend (notify, inotify) provides.
pub(crate) trait DirBackend {
    /// Watches the directory at `dir` now, dropping any watch on a previous one.
    fn watch_dir(&mut self, dir: &Path) -> io::Result<()>;
    /// Watches `parent` for the directory's name appearing or going.
    fn watch_parent(&mut self, parent: &Path) -> io::Result<()>;
}

/// The directory holding the config's keys, and which names in it matter.
pub(crate) struct DirWatch {
    path: PathBuf,
    parent: Option<PathBuf>,
    name: Option<OsString>,
    names: Vec<OsString>,
    /// `(dev, inode)` of the directory the watch is on; `None` while it is gone.
    watched: Option<(u64, u64)>,
    parent_watched: bool,
}

impl DirWatch {
    pub(crate) fn new(source: &ConfigSource) -> Self {
        let path = absolute(&source.dir);
        let names = source
            .keys
            .iter()
            .map(OsString::from)
            .chain([OsString::from(DATA_LINK)])
            .collect();
        Self {
            parent: path.parent().map(Path::to_path_buf),
            name: path.file_name().map(OsStr::to_os_string),
            path,
            names,
            watched: None,
            parent_watched: false,
        }
    }

    /// The directory, as an absolute path (notify's events name files under
    /// it; inotify's name them relative to the watch).
    #[cfg(feature = "notify")]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a change of the entry `name` in the directory concerns the config.
    pub(crate) fn concerns(&self, name: &OsStr) -> bool {
        self.names.iter().any(|wanted| wanted == name)
    }

    /// Whether `name` in the parent directory is the directory itself.
    pub(crate) fn is_dir_name(&self, name: &OsStr) -> bool {
        self.name.as_deref() == Some(name)
    }

    /// Whether the directory watch is established.
    pub(crate) fn is_established(&self) -> bool {
        self.watched.is_some()
    }

    /// The first watch: the directory must be there.
    pub(crate) fn establish(&mut self, backend: &mut impl DirBackend) -> io::Result<()> {
        if let Some(parent) = &self.parent {
            // Best effort: without it a replaced directory is still found by
            // the retry timer, only later.
            self.parent_watched = backend.watch_parent(parent).is_ok();
        }
        let identity = identity(&self.path)?;
        backend.watch_dir(&self.path)?;
        self.watched = Some(identity);
        Ok(())
    }

    /// Points the watch at the directory now at the path. Returns true when
    /// it was re-established on a different directory (or after a gap):
    /// changes may have been missed, so the caller reloads.
    pub(crate) fn refresh(&mut self, backend: &mut impl DirBackend, signals: &Signals) -> bool {
        if let (false, Some(parent)) = (self.parent_watched, &self.parent) {
            self.parent_watched = backend.watch_parent(parent).is_ok();
        }
        let current = match identity(&self.path) {
            Ok(current) => current,
            Err(error) => {
                if self.watched.take().is_some() || signals.is_watching() {
                    signals.degraded(format!(
                        "{}: {error}; watching for it to come back",
                        self.path.display()
                    ));
                }
                return false;
            }
        };
        if self.watched == Some(current) {
            return false;
        }
        match backend.watch_dir(&self.path) {
            Ok(()) => {
                self.watched = Some(current);
                signals.watching();
                true
            }
            Err(error) => {
                self.watched = None;
                signals.degraded(format!(
                    "cannot watch {}: {error}; retrying",
                    self.path.display()
                ));
                false
            }
        }
    }

    /// The parent watch is gone (the parent itself was removed or replaced).
    pub(crate) fn parent_lost(&mut self) {
        self.parent_watched = false;
    }

    /// The directory watch is gone: the next refresh re-adds it.
    pub(crate) fn dir_lost(&mut self) {
        self.watched = None;
    }
}

fn identity(path: &Path) -> io::Result<(u64, u64)> {
    let metadata = fs::metadata(path)?;
    if !metadata.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    Ok((metadata.dev(), metadata.ino()))
}
