//! The passthrough itself: every request answered from the backing directory,
//! with no fault logic.
//!
//! Each inode the kernel knows is held as an `O_PATH` descriptor of the
//! backing inode (libfuse's `passthrough_ll` design), not as a path: renames
//! and deletes in the backing directory cannot make a node point at another
//! file, and the descriptor pins the backing inode so its number cannot be
//! reused while the kernel may still name it. Node ids are handed out once
//! and never reused, so every generation is 0.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo, TimeOrNow};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Stat, StatVfs, Timespec, Timestamps};

/// The node id the kernel uses for the mount's root.
const ROOT: u64 = 1;

/// Identity of a backing inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct InodeKey {
    dev: u64,
    ino: u64,
}

struct Node {
    fd: Arc<OwnedFd>,
    key: InodeKey,
    /// Lookups the kernel has not yet forgotten; the node lives while > 0.
    lookups: u64,
}

#[derive(Default)]
struct Nodes {
    by_id: HashMap<u64, Node>,
    by_key: HashMap<InodeKey, u64>,
    next_id: u64,
}

/// One listing of a directory, taken when the kernel reads it from offset 0
/// (opendir or rewinddir) and served in slices after that.
struct DirListing {
    fd: Arc<OwnedFd>,
    entries: Arc<Vec<DirEntry>>,
}

/// A directory entry as the kernel's readdir wants it.
#[derive(Clone, Debug)]
pub(crate) struct DirEntry {
    /// The backing inode number, reported as `d_ino`.
    pub(crate) ino: u64,
    pub(crate) kind: FileType,
    pub(crate) name: OsString,
    /// The offset the kernel passes to continue after this entry.
    pub(crate) next_offset: u64,
}

#[derive(Default)]
struct Handles {
    next: u64,
    files: HashMap<u64, Arc<File>>,
    dirs: HashMap<u64, DirListing>,
}

impl Handles {
    fn insert_file(&mut self, file: File) -> u64 {
        self.next += 1;
        self.files.insert(self.next, Arc::new(file));
        self.next
    }
}

/// Filesystem statistics as FUSE's statfs reply wants them.
pub(crate) struct FsStats(pub(crate) StatVfs);

/// The backing directory and the kernel's view of it.
pub(crate) struct Passthrough {
    nodes: Mutex<Nodes>,
    handles: Mutex<Handles>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Tables are updated by single inserts and removes: never half-done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn errno(err: rustix::io::Errno) -> Errno {
    Errno::from_i32(err.raw_os_error())
}

fn io_errno(err: std::io::Error) -> Errno {
    Errno::from_i32(err.raw_os_error().unwrap_or(libc::EIO))
}

/// The `/proc` path that reopens an `O_PATH` descriptor as a real file.
fn proc_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn stat_of(fd: &OwnedFd) -> Result<Stat, Errno> {
    rustix::fs::statat(fd, "", AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW).map_err(errno)
}

fn time(secs: i64, nsecs: u64) -> SystemTime {
    let nsecs = Duration::from_nanos(nsecs);
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()) + nsecs
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nsecs
    }
}

#[allow(clippy::unnecessary_cast)] // `st_mode`'s type differs between architectures
fn kind_of(st: &Stat) -> FileType {
    fuse_kind(rustix::fs::FileType::from_raw_mode(st.st_mode as _))
}

fn fuse_kind(kind: rustix::fs::FileType) -> FileType {
    match kind {
        rustix::fs::FileType::Directory => FileType::Directory,
        rustix::fs::FileType::Symlink => FileType::Symlink,
        rustix::fs::FileType::Fifo => FileType::NamedPipe,
        rustix::fs::FileType::Socket => FileType::Socket,
        rustix::fs::FileType::CharacterDevice => FileType::CharDevice,
        rustix::fs::FileType::BlockDevice => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

// `struct stat` field types differ between architectures; these casts are
// no-ops on some and widenings on others.
#[allow(clippy::unnecessary_cast)]
fn attr(id: u64, st: &Stat) -> FileAttr {
    FileAttr {
        ino: INodeNo(id),
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: time(st.st_atime as i64, st.st_atime_nsec as u64),
        mtime: time(st.st_mtime as i64, st.st_mtime_nsec as u64),
        ctime: time(st.st_ctime as i64, st.st_ctime_nsec as u64),
        crtime: UNIX_EPOCH,
        kind: kind_of(st),
        perm: (st.st_mode as u32 & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: st.st_uid as u32,
        gid: st.st_gid as u32,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}

#[allow(clippy::unnecessary_cast)]
fn key(st: &Stat) -> InodeKey {
    InodeKey {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
    }
}

fn timespec(time: Option<TimeOrNow>) -> Timespec {
    let (tv_sec, tv_nsec) = match time {
        None => (0, rustix::fs::UTIME_OMIT),
        Some(TimeOrNow::Now) => (0, rustix::fs::UTIME_NOW),
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_nanos().into()),
            Err(before) => {
                let d = before.duration();
                // Normalise to a negative second and a positive fraction.
                let (secs, nanos) = (d.as_secs() as i64, d.subsec_nanos());
                if nanos == 0 {
                    (-secs, 0)
                } else {
                    (-secs - 1, (1_000_000_000 - nanos).into())
                }
            }
        },
    };
    Timespec { tv_sec, tv_nsec }
}

impl Passthrough {
    /// Serves `backing`, which must be a directory.
    pub(crate) fn new(backing: &Path) -> std::io::Result<Self> {
        let root = rustix::fs::open(
            backing,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = stat_of(&root).map_err(|e| std::io::Error::from_raw_os_error(e.code()))?;
        let mut nodes = Nodes {
            next_id: ROOT + 1,
            ..Nodes::default()
        };
        nodes.by_key.insert(key(&st), ROOT);
        nodes.by_id.insert(
            ROOT,
            Node {
                fd: Arc::new(root),
                key: key(&st),
                // The kernel never forgets the root.
                lookups: u64::MAX,
            },
        );
        Ok(Self {
            nodes: Mutex::new(nodes),
            handles: Mutex::default(),
        })
    }

    fn node_fd(&self, id: INodeNo) -> Result<Arc<OwnedFd>, Errno> {
        lock(&self.nodes)
            .by_id
            .get(&id.0)
            .map(|node| Arc::clone(&node.fd))
            // The kernel only names nodes we gave it and have not forgotten.
            .ok_or(Errno::ESTALE)
    }

    fn file(&self, fh: u64) -> Result<Arc<File>, Errno> {
        lock(&self.handles)
            .files
            .get(&fh)
            .cloned()
            .ok_or(Errno::EBADF)
    }

    /// The file names a request on node `id` concerns, for name filters: the
    /// backing inode's current name, read back from the kernel.
    pub(crate) fn names_of(&self, id: INodeNo) -> Vec<OsString> {
        let Ok(fd) = self.node_fd(id) else {
            return Vec::new();
        };
        let Ok(target) = std::fs::read_link(proc_path(&fd)) else {
            return Vec::new();
        };
        let name = target.file_name().unwrap_or_default().as_bytes();
        let name = name.strip_suffix(b" (deleted)").unwrap_or(name);
        vec![OsStr::from_bytes(name).to_owned()]
    }

    pub(crate) fn lookup(&self, parent: INodeNo, name: &OsStr) -> Result<FileAttr, Errno> {
        let dir = self.node_fd(parent)?;
        let fd = rustix::fs::openat(
            &*dir,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let st = stat_of(&fd)?;
        let mut nodes = lock(&self.nodes);
        let id = match nodes.by_key.get(&key(&st)).copied() {
            Some(id) => id,
            None => {
                let id = nodes.next_id;
                nodes.next_id += 1;
                nodes.by_key.insert(key(&st), id);
                nodes.by_id.insert(
                    id,
                    Node {
                        fd: Arc::new(fd),
                        key: key(&st),
                        lookups: 0,
                    },
                );
                id
            }
        };
        let node = nodes.by_id.get_mut(&id).expect("indexed node exists");
        node.lookups = node.lookups.saturating_add(1);
        Ok(attr(id, &st))
    }

    pub(crate) fn forget(&self, id: INodeNo, lookups: u64) {
        let mut nodes = lock(&self.nodes);
        let Some(node) = nodes.by_id.get_mut(&id.0) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(lookups);
        if node.lookups == 0 && id.0 != ROOT {
            let key = node.key;
            nodes.by_id.remove(&id.0);
            nodes.by_key.remove(&key);
        }
    }

    pub(crate) fn getattr(&self, id: INodeNo) -> Result<FileAttr, Errno> {
        let fd = self.node_fd(id)?;
        Ok(attr(id.0, &stat_of(&fd)?))
    }

    #[allow(clippy::too_many_arguments)] // one per attribute setattr may change
    pub(crate) fn setattr(
        &self,
        id: INodeNo,
        fh: Option<u64>,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> Result<FileAttr, Errno> {
        let fd = self.node_fd(id)?;
        let file = fh.map(|fh| self.file(fh)).transpose()?;
        if let Some(mode) = mode {
            let mode = Mode::from_raw_mode((mode & 0o7777) as _);
            match &file {
                Some(file) => rustix::fs::fchmod(&**file, mode),
                None => {
                    rustix::fs::chmodat(rustix::fs::CWD, proc_path(&fd), mode, AtFlags::empty())
                }
            }
            .map_err(errno)?;
        }
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(
                &*fd,
                "",
                uid.map(rustix::fs::Uid::from_raw),
                gid.map(rustix::fs::Gid::from_raw),
                AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(errno)?;
        }
        if let Some(size) = size {
            match &file {
                Some(file) => rustix::fs::ftruncate(&**file, size),
                None => rustix::fs::open(
                    proc_path(&fd),
                    OFlags::WRONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .and_then(|file| rustix::fs::ftruncate(&file, size)),
            }
            .map_err(errno)?;
        }
        if atime.is_some() || mtime.is_some() {
            let times = Timestamps {
                last_access: timespec(atime),
                last_modification: timespec(mtime),
            };
            match &file {
                Some(file) => rustix::fs::futimens(&**file, &times),
                None => {
                    rustix::fs::utimensat(rustix::fs::CWD, proc_path(&fd), &times, AtFlags::empty())
                }
            }
            .map_err(errno)?;
        }
        self.getattr(id)
    }

    pub(crate) fn readlink(&self, id: INodeNo) -> Result<Vec<u8>, Errno> {
        let fd = self.node_fd(id)?;
        let target = rustix::fs::readlinkat(&*fd, "", Vec::new()).map_err(errno)?;
        Ok(target.into_bytes())
    }

    /// Opens node `id` with the caller's `open(2)` flags; returns the handle.
    pub(crate) fn open(&self, id: INodeNo, flags: i32) -> Result<u64, Errno> {
        let fd = self.node_fd(id)?;
        // The kernel already resolved the path: never follow or create here.
        let flags = OFlags::from_bits_retain(flags as _)
            .difference(OFlags::NOFOLLOW | OFlags::CREATE | OFlags::EXCL | OFlags::NOCTTY)
            | OFlags::CLOEXEC;
        let file = rustix::fs::open(proc_path(&fd), flags, Mode::empty()).map_err(errno)?;
        Ok(lock(&self.handles).insert_file(File::from(file)))
    }

    /// Creates and opens `name` in `parent`; returns its attributes and handle.
    pub(crate) fn create(
        &self,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> Result<(FileAttr, u64), Errno> {
        let dir = self.node_fd(parent)?;
        let flags = OFlags::from_bits_retain(flags as _) | OFlags::CREATE | OFlags::CLOEXEC;
        let file = rustix::fs::openat(&*dir, name, flags, Mode::from_raw_mode(mode as _))
            .map_err(errno)?;
        let attr = self.lookup(parent, name)?;
        Ok((attr, lock(&self.handles).insert_file(File::from(file))))
    }

    pub(crate) fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let file = self.file(fh)?;
        let mut buf = vec![0; size as usize];
        let mut filled = 0;
        // pread may return less than asked before EOF; FUSE wants it all.
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_errno(e)),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }

    pub(crate) fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Result<u32, Errno> {
        let file = self.file(fh)?;
        file.write_all_at(data, offset).map_err(io_errno)?;
        Ok(data.len() as u32)
    }

    pub(crate) fn fsync(&self, fh: u64, data_only: bool) -> Result<(), Errno> {
        let file = self.file(fh)?;
        if data_only {
            file.sync_data()
        } else {
            file.sync_all()
        }
        .map_err(io_errno)
    }

    /// Checks the handle is open; the backing descriptor's close cannot fail
    /// in a way worth reporting, so nothing else happens on flush.
    pub(crate) fn flush(&self, fh: u64) -> Result<(), Errno> {
        self.file(fh).map(drop)
    }

    pub(crate) fn release(&self, fh: u64) -> Result<(), Errno> {
        lock(&self.handles)
            .files
            .remove(&fh)
            .map(drop)
            .ok_or(Errno::EBADF)
    }

    pub(crate) fn mkdir(
        &self,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
    ) -> Result<FileAttr, Errno> {
        let dir = self.node_fd(parent)?;
        rustix::fs::mkdirat(&*dir, name, Mode::from_raw_mode(mode as _)).map_err(errno)?;
        self.lookup(parent, name)
    }

    pub(crate) fn symlink(
        &self,
        parent: INodeNo,
        name: &OsStr,
        target: &Path,
    ) -> Result<FileAttr, Errno> {
        let dir = self.node_fd(parent)?;
        rustix::fs::symlinkat(target, &*dir, name).map_err(errno)?;
        self.lookup(parent, name)
    }

    pub(crate) fn unlink(&self, parent: INodeNo, name: &OsStr) -> Result<(), Errno> {
        let dir = self.node_fd(parent)?;
        rustix::fs::unlinkat(&*dir, name, AtFlags::empty()).map_err(errno)
    }

    pub(crate) fn rmdir(&self, parent: INodeNo, name: &OsStr) -> Result<(), Errno> {
        let dir = self.node_fd(parent)?;
        rustix::fs::unlinkat(&*dir, name, AtFlags::REMOVEDIR).map_err(errno)
    }

    pub(crate) fn rename(
        &self,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: u32,
    ) -> Result<(), Errno> {
        let from = self.node_fd(parent)?;
        let to = self.node_fd(new_parent)?;
        rustix::fs::renameat_with(
            &*from,
            name,
            &*to,
            new_name,
            RenameFlags::from_bits_retain(flags),
        )
        .map_err(errno)
    }

    pub(crate) fn opendir(&self, id: INodeNo) -> Result<u64, Errno> {
        let fd = self.node_fd(id)?;
        if !stat_of(&fd).is_ok_and(|st| kind_of(&st) == FileType::Directory) {
            return Err(Errno::ENOTDIR);
        }
        let mut handles = lock(&self.handles);
        handles.next += 1;
        let fh = handles.next;
        handles.dirs.insert(
            fh,
            DirListing {
                fd,
                entries: Arc::default(),
            },
        );
        Ok(fh)
    }

    /// The entries after `offset`; a read from offset 0 lists the directory
    /// afresh, as `rewinddir` promises.
    pub(crate) fn readdir(&self, fh: u64, offset: u64) -> Result<Vec<DirEntry>, Errno> {
        let (fd, entries) = {
            let handles = lock(&self.handles);
            let listing = handles.dirs.get(&fh).ok_or(Errno::EBADF)?;
            (Arc::clone(&listing.fd), Arc::clone(&listing.entries))
        };
        let entries = if offset == 0 {
            let fresh = Arc::new(list(&fd)?);
            if let Some(listing) = lock(&self.handles).dirs.get_mut(&fh) {
                listing.entries = Arc::clone(&fresh);
            }
            fresh
        } else {
            entries
        };
        Ok(entries.iter().skip(offset as usize).cloned().collect())
    }

    pub(crate) fn releasedir(&self, fh: u64) -> Result<(), Errno> {
        lock(&self.handles)
            .dirs
            .remove(&fh)
            .map(drop)
            .ok_or(Errno::EBADF)
    }

    pub(crate) fn statfs(&self) -> Result<FsStats, Errno> {
        let root = self.node_fd(INodeNo(ROOT))?;
        rustix::fs::fstatvfs(&*root).map(FsStats).map_err(errno)
    }
}

fn list(dir: &OwnedFd) -> Result<Vec<DirEntry>, Errno> {
    let mut entries = Vec::new();
    // A fresh descriptor per listing: `dir` is O_PATH, which cannot be read.
    let readable = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)?;
    for entry in rustix::fs::Dir::new(readable).map_err(errno)? {
        let entry = entry.map_err(errno)?;
        entries.push(DirEntry {
            ino: entry.ino(),
            kind: fuse_kind(entry.file_type()),
            name: OsStr::from_bytes(entry.file_name().to_bytes()).to_owned(),
            next_offset: entries.len() as u64 + 1,
        });
    }
    Ok(entries)
}
