//! The FUSE side: each kernel request goes through the injector, which
//! serves it from the [`Passthrough`], fails it, or holds its reply.
//!
//! Requests are read by one session thread; a held request's reply object
//! is parked with the injector, so the thread goes on answering others
//! (`stat` keeps working while a `read` hangs).

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::inject::{Answer, Injector};
use crate::op::Op;
use crate::passthrough::{DirEntry, FsStats, Passthrough};

/// How long the kernel may trust an entry or attributes without asking.
///
/// Zero: every path walk and `stat` reaches the filesystem, so a fault set
/// on [`Op::Lookup`] or [`Op::Getattr`] is seen by the very next call, and
/// a change made directly in the backing directory is visible at once
/// (though it raises no inotify event on the mount).
const TTL: Duration = Duration::ZERO;

/// Open files bypass the page cache: every `read(2)` and `write(2)` is a
/// request, so a fault on [`Op::Read`] hits every read (a cached page would
/// otherwise answer without asking), and new content written to the backing
/// directory is read at once. The cost: shared writable `mmap` is refused
/// unless the kernel allows it for direct I/O; config readers do not mmap.
const FILE_OPEN_FLAGS: FopenFlags = FopenFlags::FOPEN_DIRECT_IO;

impl Answer for ReplyEntry {
    type Value = FileAttr;
    fn answer(self, result: Result<FileAttr, Errno>) {
        match result {
            Ok(attr) => self.entry(&TTL, &attr, Generation(0)),
            Err(e) => self.error(e),
        }
    }
}

impl Answer for ReplyAttr {
    type Value = FileAttr;
    fn answer(self, result: Result<FileAttr, Errno>) {
        match result {
            Ok(attr) => self.attr(&TTL, &attr),
            Err(e) => self.error(e),
        }
    }
}

impl Answer for ReplyData {
    type Value = Vec<u8>;
    fn answer(self, result: Result<Vec<u8>, Errno>) {
        match result {
            Ok(data) => self.data(&data),
            Err(e) => self.error(e),
        }
    }
}

impl Answer for ReplyOpen {
    type Value = (u64, FopenFlags);
    fn answer(self, result: Result<(u64, FopenFlags), Errno>) {
        match result {
            Ok((fh, flags)) => self.opened(FileHandle(fh), flags),
            Err(e) => self.error(e),
        }
    }
}

impl Answer for ReplyCreate {
    type Value = (FileAttr, u64);
    fn answer(self, result: Result<(FileAttr, u64), Errno>) {
        match result {
            Ok((attr, fh)) => {
                self.created(&TTL, &attr, Generation(0), FileHandle(fh), FILE_OPEN_FLAGS)
            }
            Err(e) => self.error(e),
        }
    }
}

impl Answer for ReplyWrite {
    type Value = u32;
    fn answer(self, result: Result<u32, Errno>) {
        match result {
            Ok(n) => self.written(n),
            Err(e) => self.error(e),
        }
    }
}

impl Answer for ReplyEmpty {
    type Value = ();
    fn answer(self, result: Result<(), Errno>) {
        match result {
            Ok(()) => self.ok(),
            Err(e) => self.error(e),
        }
    }
}

impl Answer for ReplyDirectory {
    type Value = Vec<DirEntry>;
    fn answer(mut self, result: Result<Vec<DirEntry>, Errno>) {
        match result {
            Ok(entries) => {
                for entry in entries {
                    let full = self.add(
                        INodeNo(entry.ino),
                        entry.next_offset,
                        entry.kind,
                        &entry.name,
                    );
                    if full {
                        break;
                    }
                }
                self.ok();
            }
            Err(e) => self.error(e),
        }
    }
}

impl Answer for ReplyStatfs {
    type Value = FsStats;
    fn answer(self, result: Result<FsStats, Errno>) {
        match result {
            Ok(FsStats(s)) => self.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => self.error(e),
        }
    }
}

/// The [`Filesystem`] the FUSE session runs.
pub(crate) struct FaultSession {
    fs: Arc<Passthrough>,
    injector: Arc<Injector>,
}

impl FaultSession {
    pub(crate) fn new(fs: Passthrough, injector: Arc<Injector>) -> Self {
        Self {
            fs: Arc::new(fs),
            injector,
        }
    }

    /// A request on node `id`: name filters match the node's current name.
    fn on_node<R: Answer>(
        &self,
        op: Op,
        id: INodeNo,
        reply: R,
        serve: impl FnOnce(&Passthrough) -> Result<R::Value, Errno> + Send + 'static,
    ) {
        let fs = Arc::clone(&self.fs);
        self.injector
            .handle(op, || self.fs.names_of(id), reply, move || serve(&fs));
    }

    /// A request on entries by name: name filters match any of `names`.
    fn on_names<R: Answer>(
        &self,
        op: Op,
        names: &[&OsStr],
        reply: R,
        serve: impl FnOnce(&Passthrough) -> Result<R::Value, Errno> + Send + 'static,
    ) {
        let fs = Arc::clone(&self.fs);
        let names = || names.iter().map(|&n| n.to_owned()).collect();
        self.injector.handle(op, names, reply, move || serve(&fs));
    }
}

impl Filesystem for FaultSession {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let owned: OsString = name.to_owned();
        self.on_names(Op::Lookup, &[name], reply, move |fs| {
            fs.lookup(parent, &owned)
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.on_node(Op::Getattr, ino, reply, move |fs| fs.getattr(ino));
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.on_node(Op::Setattr, ino, reply, move |fs| {
            fs.setattr(ino, fh.map(|fh| fh.0), mode, uid, gid, size, atime, mtime)
        });
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.on_node(Op::Readlink, ino, reply, move |fs| fs.readlink(ino));
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.on_node(Op::Open, ino, reply, move |fs| {
            fs.open(ino, flags.0).map(|fh| (fh, FILE_OPEN_FLAGS))
        });
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.on_node(Op::Read, ino, reply, move |fs| fs.read(fh.0, offset, size));
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        self.on_node(Op::Write, ino, reply, move |fs| {
            fs.write(fh.0, offset, &data)
        });
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.on_node(Op::Flush, ino, reply, move |fs| fs.flush(fh.0));
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.on_node(Op::Release, ino, reply, move |fs| fs.release(fh.0));
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.on_node(Op::Fsync, ino, reply, move |fs| fs.fsync(fh.0, datasync));
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        // Without FUSE_DONT_MASK the kernel has applied the umask to `mode`.
        let owned = name.to_owned();
        self.on_names(Op::Create, &[name], reply, move |fs| {
            fs.create(parent, &owned, mode, flags)
        });
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let owned = name.to_owned();
        self.on_names(Op::Mkdir, &[name], reply, move |fs| {
            fs.mkdir(parent, &owned, mode)
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let owned = name.to_owned();
        self.on_names(Op::Unlink, &[name], reply, move |fs| {
            fs.unlink(parent, &owned)
        });
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let owned = name.to_owned();
        self.on_names(Op::Rmdir, &[name], reply, move |fs| {
            fs.rmdir(parent, &owned)
        });
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (owned, target) = (link_name.to_owned(), target.to_owned());
        self.on_names(Op::Symlink, &[link_name], reply, move |fs| {
            fs.symlink(parent, &owned, &target)
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (from, to) = (name.to_owned(), newname.to_owned());
        self.on_names(Op::Rename, &[name, newname], reply, move |fs| {
            fs.rename(parent, &from, newparent, &to, flags.bits())
        });
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.on_node(Op::Opendir, ino, reply, move |fs| {
            fs.opendir(ino).map(|fh| (fh, FopenFlags::empty()))
        });
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.on_node(Op::Readdir, ino, reply, move |fs| fs.readdir(fh.0, offset));
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.on_node(Op::Releasedir, ino, reply, move |fs| fs.releasedir(fh.0));
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        self.on_node(Op::Statfs, ino, reply, move |fs| fs.statfs());
    }
}
