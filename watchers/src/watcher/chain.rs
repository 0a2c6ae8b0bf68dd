//! Keeping watches on every directory the config's path resolves through,
//! shared by the two event watchers.
//!
//! A watch follows an inode, not a path. The config's path can lead through
//! symlinks into other directories (`/etc/app/config.yaml ->
//! /srv/conf/app.yaml`, `..data`, a blue/green `current` link), and any
//! directory on the way can be deleted, replaced by a rename, unmounted or
//! shadowed by a new mount. So the path is resolved component by component, as
//! the kernel does, and a directory is watched wherever a change could
//! redirect or rewrite what a load reads:
//!
//! - the directory holding the files read (the config's directory, or the one
//!   its symlinks end in), for those files' names and `..data`: every kind of
//!   change, in-place writes included;
//! - every directory holding a symlink on the way, for the link's name;
//! - the parent of the directory holding the files, for its name (the
//!   directory deleted, replaced or created);
//! - while a directory on the way is missing, the last one that exists, for
//!   the missing name.
//!
//! - the file itself (its inode), where a backend can watch files: a write
//!   through another name for it (a hard link elsewhere, a single-file bind
//!   mount) is reported only there, never to the directory.
//!
//! After any change of a name on the way, a lost watch (`IN_IGNORED`,
//! `IN_UNMOUNT`, the directory deleted or moved) or a change of the mount
//! table, the path is resolved again and the watches are moved to what it
//! resolves to now; a directory whose identity (device, inode) changed is
//! watched anew. Directories further up are not watched: replacing `/etc`
//! itself is left to the resync.

// Each backend uses its part; with one backend compiled in, the rest is idle.
#![cfg_attr(not(all(feature = "notify", feature = "inotify")), allow(dead_code))]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::ConfigSource;
use crate::reload::loader::{DATA_LINK, absolute};
use crate::watcher::Change;
use crate::watcher::Signals;

/// What a directory is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scope {
    /// Names passed through: created, renamed, deleted.
    Links,
    /// Names read: also written in place, closed, their metadata changed.
    Contents,
}

/// The watch calls a backend (notify, inotify) provides.
pub(crate) trait DirBackend {
    /// Watches the directory now at `dir` for `scope`, replacing any watch of
    /// a previous directory at that path. Returns false when the backend can
    /// tell it already watched that very directory (nothing was missed).
    fn watch(&mut self, dir: &Path, scope: Scope) -> io::Result<bool>;
    /// Stops watching `dir`; harmless if it is gone already.
    fn unwatch(&mut self, dir: &Path);
    /// Watches the file now at `file` (its inode) for writes, closes and
    /// metadata changes, replacing any watch of a previous file at that
    /// path. A backend that cannot watch files does nothing.
    fn watch_file(&mut self, file: &Path) -> io::Result<()> {
        let _ = file;
        Ok(())
    }
    /// Stops watching `file`; harmless if it is gone already.
    fn unwatch_file(&mut self, file: &Path) {
        let _ = file;
    }
}

/// The directories watched and the names that matter in each.
pub(crate) struct ChainWatch {
    source: ConfigSource,
    watched: BTreeMap<PathBuf, Watched>,
    /// The files read, watched themselves, by their identity when watched.
    files: BTreeMap<PathBuf, (u64, u64)>,
    /// Every directory on the way is watched.
    established: bool,
    /// The mount table changed: watch every directory again on the next refresh.
    remount: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct Watched {
    identity: (u64, u64),
    scope: Scope,
    names: BTreeSet<OsString>,
}

impl ChainWatch {
    pub(crate) fn new(source: &ConfigSource) -> Self {
        Self {
            source: source.with_dir(absolute(source.dir())),
            watched: BTreeMap::new(),
            files: BTreeMap::new(),
            established: false,
            remount: false,
        }
    }

    /// The first watch: the directory holding the files must be watchable.
    pub(crate) fn establish(&mut self, backend: &mut impl DirBackend) -> io::Result<()> {
        let wanted = Wanted::resolve(&self.source);
        if let Some(problem) = wanted.problem {
            return Err(io::Error::new(io::ErrorKind::NotFound, problem));
        }
        let mut established = true;
        for (dir, (scope, names)) in wanted.dirs {
            match self.watch(backend, &dir, scope, names) {
                Ok(_) => {}
                Err(error) if scope == Scope::Contents => return Err(error),
                // Without it a replaced directory is found by the retry timer,
                // only later.
                Err(_) => established = false,
            }
        }
        self.watch_files(backend, &wanted.files);
        self.established = established;
        Ok(())
    }

    /// Watches the files read where they are now: anew where a file was
    /// replaced (another inode). Best effort: the directory's watch already
    /// sees every write made through the config's own path.
    fn watch_files(&mut self, backend: &mut impl DirBackend, files: &BTreeSet<PathBuf>) {
        let unwanted: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|file| !files.contains(*file))
            .cloned()
            .collect();
        for file in unwanted {
            backend.unwatch_file(&file);
            self.files.remove(&file);
        }
        for file in files {
            let Ok(current) = fs::metadata(file).map(|metadata| (metadata.dev(), metadata.ino()))
            else {
                continue;
            };
            if self.files.get(file) != Some(&current) && backend.watch_file(file).is_ok() {
                self.files.insert(file.clone(), current);
            }
        }
    }

    /// Resolves the path again and moves the watches to where it leads now.
    /// Returns true when any watch was added, moved or dropped: what a load
    /// reads may have changed unseen, so the caller reloads.
    pub(crate) fn refresh(&mut self, backend: &mut impl DirBackend, signals: &Signals) -> bool {
        let was_established = self.established;
        let wanted = Wanted::resolve(&self.source);
        let mut problem = wanted.problem;
        let mut changed = false;
        let remount = std::mem::take(&mut self.remount);
        let unwanted: Vec<PathBuf> = self
            .watched
            .keys()
            .filter(|dir| !wanted.dirs.contains_key(*dir))
            .cloned()
            .collect();
        for dir in unwanted {
            backend.unwatch(&dir);
            self.watched.remove(&dir);
            changed = true;
        }
        for (dir, (scope, names)) in wanted.dirs {
            let current = identity(&dir).ok();
            match self.watched.get_mut(&dir) {
                Some(watched)
                    if !remount && Some(watched.identity) == current && watched.scope >= scope =>
                {
                    if watched.names != names {
                        watched.names = names;
                        changed = true;
                    }
                }
                _ => match self.watch(backend, &dir, scope, names) {
                    Ok(new) => changed |= new,
                    Err(error) => {
                        self.watched.remove(&dir);
                        problem.get_or_insert_with(|| {
                            format!("cannot watch {}: {error}; retrying", dir.display())
                        });
                    }
                },
            }
        }
        self.watch_files(backend, &wanted.files);
        match problem {
            Some(problem) => {
                self.established = false;
                signals.degraded(problem);
            }
            None => {
                self.established = true;
                signals.watching();
            }
        }
        // Back from a blind spell (a directory missing or unreadable):
        // whatever changed meanwhile is read, without waiting for a write.
        changed || (!was_established && self.established)
    }

    /// Whether a change of the entry `name` in the watched directory `dir`
    /// concerns the config.
    pub(crate) fn concerns(&self, dir: &Path, name: &OsStr) -> bool {
        self.watched
            .get(dir)
            .is_some_and(|watched| watched.names.contains(name))
    }

    /// Whether `path` is one of the watched directories itself.
    pub(crate) fn is_watched(&self, path: &Path) -> bool {
        self.watched.contains_key(path)
    }

    /// Whether every directory on the way is watched.
    pub(crate) fn is_established(&self) -> bool {
        self.established
    }

    /// The watch of `dir` is gone (deleted, moved, unmounted): the next
    /// refresh watches whatever is at that path now.
    pub(crate) fn lost(&mut self, dir: &Path) {
        self.watched.remove(dir);
    }

    /// The watch of the file at `file` is gone (the file was replaced or
    /// deleted): the next refresh watches whatever file is there now.
    pub(crate) fn file_lost(&mut self, file: &Path) {
        self.files.remove(file);
    }

    /// The mount table changed: any watch may now be on a filesystem that is
    /// gone or hidden, and a new filesystem can reuse the old one's device
    /// number (and its root's inode), so identities cannot tell. The next
    /// refresh watches every directory again (the backend says which
    /// watches really moved).
    pub(crate) fn mounts_changed(&mut self) {
        self.remount = true;
    }

    fn watch(
        &mut self,
        backend: &mut impl DirBackend,
        dir: &Path,
        scope: Scope,
        names: BTreeSet<OsString>,
    ) -> io::Result<bool> {
        let identity = identity(dir)?;
        let new = backend.watch(dir, scope)?;
        self.watched.insert(
            dir.to_path_buf(),
            Watched {
                identity,
                scope,
                names,
            },
        );
        Ok(new)
    }
}

/// The directories to watch for one resolution of the source's path.
#[derive(Debug, Default)]
struct Wanted {
    dirs: BTreeMap<PathBuf, (Scope, BTreeSet<OsString>)>,
    /// The regular files read, where the path resolves to one.
    files: BTreeSet<PathBuf>,
    /// Why not every directory on the way can be watched (one is missing).
    problem: Option<String>,
}

impl Wanted {
    fn resolve(source: &ConfigSource) -> Self {
        let mut wanted = Self::default();
        if source.is_configmap_mount() {
            // The loader resolves `..data` itself; the kubelet's commit is a
            // rename in this directory.
            if let Some(dir) = wanted.walk(source.dir(), true) {
                let names = source
                    .file_names()
                    .iter()
                    .cloned()
                    .chain([OsString::from(DATA_LINK)]);
                wanted.holding(&dir, names);
            }
        } else {
            for key in source.file_names() {
                if let Some(file) = wanted.walk(&source.dir().join(key), false) {
                    // Not a ConfigMap's files: the kubelet never writes them
                    // in place, and they change inode at every update.
                    if fs::metadata(&file).is_ok_and(|metadata| metadata.is_file()) {
                        wanted.files.insert(file.clone());
                    }
                    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
                        continue;
                    };
                    wanted.holding(dir, [name.to_os_string(), OsString::from(DATA_LINK)]);
                }
            }
        }
        wanted
    }

    /// `dir` holds files a load reads: watch it for them, and its parent for it.
    /// While this process may not read it, the watch is not established:
    /// the health says so, and a recheck follows once it may again.
    fn holding(&mut self, dir: &Path, names: impl IntoIterator<Item = OsString>) {
        if !readable(dir) && self.problem.is_none() {
            self.problem = Some(format!(
                "cannot read the config's directory {}: permission denied; watching for that to change",
                dir.display()
            ));
        }
        self.add(dir, Scope::Contents, names);
        if let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) {
            self.add(parent, Scope::Links, [name.to_os_string()]);
        }
    }

    fn add(&mut self, dir: &Path, scope: Scope, names: impl IntoIterator<Item = OsString>) {
        let entry = self
            .dirs
            .entry(dir.to_path_buf())
            .or_insert_with(|| (scope, BTreeSet::new()));
        entry.0 = entry.0.max(scope);
        entry.1.extend(names);
    }

    /// Walks `path` from the root, following symlinks as the kernel does and
    /// recording each symlink's directory. Returns the canonical path it
    /// leads to; when its last component is missing, the canonical path it
    /// would have (the directory holding it exists). When a directory on the
    /// way is missing, records the last existing one, sets `problem` and
    /// returns `None`.
    fn walk(&mut self, path: &Path, want_dir: bool) -> Option<PathBuf> {
        let mut pending: VecDeque<OsString> = components(path);
        let mut current = PathBuf::from("/");
        let mut links = 0;
        while let Some(name) = pending.pop_front() {
            if name == ".." {
                current.pop();
                continue;
            }
            let entry = current.join(&name);
            let last = pending.is_empty();
            match fs::symlink_metadata(&entry) {
                Ok(metadata) if metadata.file_type().is_symlink() => {
                    self.add(&current, Scope::Links, [name]);
                    links += 1;
                    let target = match fs::read_link(&entry) {
                        Ok(target) if links <= MAX_SYMLINKS => target,
                        // A loop, or the link replaced between two calls: the
                        // load reports it; watch the link for its next change.
                        _ => return None,
                    };
                    if target.is_absolute() {
                        current = PathBuf::from("/");
                    }
                    for component in components(&target).into_iter().rev() {
                        pending.push_front(component);
                    }
                }
                Ok(metadata) if metadata.is_dir() || (last && !want_dir) => current = entry,
                Ok(_) => {
                    // A file where a directory was expected: watch for it to change.
                    self.add(&current, Scope::Links, [name]);
                    self.problem = Some(format!("{} is not a directory", entry.display()));
                    return None;
                }
                Err(_) if last && !want_dir => return Some(entry),
                Err(error) => {
                    self.add(&current, Scope::Links, [name]);
                    self.problem = Some(format!(
                        "{}: {error}; watching for it to come back",
                        entry.display()
                    ));
                    return None;
                }
            }
        }
        Some(current)
    }
}

/// Whether this process may list and search `dir` (its effective ids, as
/// a read does).
fn readable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: a valid NUL-terminated path; faccessat only reads it.
    let denied = unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::R_OK | libc::X_OK,
            libc::AT_EACCESS,
        )
    } != 0
        && io::Error::last_os_error().raw_os_error() == Some(libc::EACCES);
    !denied
}

/// A regular file just created is being written (`cp`, `>`): its close says
/// when it is complete. A symlink or a directory is complete when it appears.
pub(crate) fn created(path: &Path) -> Change {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_file() => Change::Write,
        _ => Change::Commit,
    }
}

/// Symlinks followed before a path counts as a loop (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// The normal components of `path`, `..` kept, `.` and the root dropped.
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn resolve(source: &ConfigSource) -> Wanted {
        Wanted::resolve(source)
    }

    fn names(wanted: &Wanted, dir: &Path) -> (Scope, Vec<String>) {
        let (scope, names) = wanted
            .dirs
            .get(dir)
            .unwrap_or_else(|| panic!("{} not watched: {wanted:?}", dir.display()));
        (
            *scope,
            names
                .iter()
                .map(|name| name.to_string_lossy().into_owned())
                .collect(),
        )
    }

    #[test]
    fn a_plain_file_watches_its_directory_and_the_directory_in_its_parent() {
        let root = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(root.path()).unwrap();
        let dir = root.join("config");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("app.yaml"), "a: 1\n").unwrap();
        let wanted = resolve(&ConfigSource::file(dir.join("app.yaml")));
        assert_eq!(wanted.problem, None);
        assert_eq!(
            names(&wanted, &dir),
            (Scope::Contents, vec!["..data".into(), "app.yaml".into()])
        );
        assert_eq!(names(&wanted, &root), (Scope::Links, vec!["config".into()]));
        assert_eq!(wanted.dirs.len(), 2);
    }

    #[test]
    fn a_symlink_into_another_directory_watches_both() {
        let root = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(root.path()).unwrap();
        let (links, targets) = (root.join("etc"), root.join("srv"));
        fs::create_dir(&links).unwrap();
        fs::create_dir(&targets).unwrap();
        fs::write(targets.join("app.yaml"), "a: 1\n").unwrap();
        symlink("../srv/app.yaml", links.join("config.yaml")).unwrap();
        let wanted = resolve(&ConfigSource::file(links.join("config.yaml")));
        assert_eq!(
            names(&wanted, &links),
            (Scope::Links, vec!["config.yaml".into()])
        );
        assert_eq!(
            names(&wanted, &targets),
            (Scope::Contents, vec!["..data".into(), "app.yaml".into()])
        );
        assert_eq!(names(&wanted, &root), (Scope::Links, vec!["srv".into()]));
    }

    #[test]
    fn a_missing_file_still_watches_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(root.path()).unwrap();
        let wanted = resolve(&ConfigSource::file(root.join("app.yaml")));
        assert_eq!(wanted.problem, None);
        assert_eq!(names(&wanted, &root).0, Scope::Contents);
    }

    #[test]
    fn a_missing_directory_is_a_problem_watched_from_the_last_one_there() {
        let root = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(root.path()).unwrap();
        let wanted = resolve(&ConfigSource::file(root.join("gone/app.yaml")));
        assert!(wanted.problem.is_some());
        assert_eq!(names(&wanted, &root), (Scope::Links, vec!["gone".into()]));
    }

    #[test]
    fn a_configmap_mount_watches_its_keys_and_data_link() {
        let root = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(root.path()).unwrap();
        let mount = root.join("config");
        fs::create_dir_all(mount.join("..2026_11_30_00_00_00.1")).unwrap();
        symlink("..2026_11_30_00_00_00.1", mount.join("..data")).unwrap();
        let wanted = resolve(&ConfigSource::keys(&mount, ["app.yaml", "extra.yaml"]));
        assert_eq!(
            names(&wanted, &mount),
            (
                Scope::Contents,
                vec!["..data".into(), "app.yaml".into(), "extra.yaml".into()]
            )
        );
        assert_eq!(wanted.dirs.len(), 2, "{wanted:?}");
    }

    #[test]
    fn a_symlink_loop_ends_the_walk() {
        let root = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(root.path()).unwrap();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        let wanted = resolve(&ConfigSource::file(root.join("a")));
        assert_eq!(
            names(&wanted, &root),
            (Scope::Links, vec!["a".into(), "b".into()])
        );
    }
}
