//! The filesystem operations a fault can target, one per FUSE request kind
//! this filesystem answers.

use std::fmt;

/// One kind of request the kernel sends to the filesystem.
///
/// A system call may cause several: `open(2)` on a path is a [`Op::Lookup`]
/// per path component not yet cached (none is: entries are never cached, see
/// the crate docs), then [`Op::Open`]; `stat(2)` is lookups then
/// [`Op::Getattr`]; `close(2)` is [`Op::Flush`] then, for the last
/// descriptor, [`Op::Release`]; `read(2)` is one or more [`Op::Read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Resolve a name in a directory (every path walk, `stat`, `open`).
    Lookup,
    /// Read an inode's attributes (`stat`, `fstat`).
    Getattr,
    /// Change attributes: `chmod`, `chown`, `truncate`, `utimensat`.
    Setattr,
    /// Read a symlink's target (`readlink`, following a symlink).
    Readlink,
    /// Open an existing file.
    Open,
    /// Read from an open file.
    Read,
    /// Write to an open file.
    Write,
    /// Each `close(2)` of a descriptor; its error is `close`'s error.
    Flush,
    /// `fsync(2)` / `fdatasync(2)`.
    Fsync,
    /// The last close of an open file, sent after `close(2)` returned: its
    /// error never reaches the caller (and failing it keeps the backing
    /// file open until unmount).
    Release,
    /// Create and open a new file (`open` with `O_CREAT` of a missing name).
    Create,
    /// `mkdir(2)`.
    Mkdir,
    /// `unlink(2)`.
    Unlink,
    /// `rmdir(2)`.
    Rmdir,
    /// `symlink(2)`.
    Symlink,
    /// `rename(2)` / `renameat2(2)`, including over an existing entry.
    Rename,
    /// Open a directory for listing.
    Opendir,
    /// List a directory (`getdents64`).
    Readdir,
    /// The last close of an open directory.
    Releasedir,
    /// `statfs(2)`.
    Statfs,
}

impl Op {
    /// Every operation, in declaration order.
    pub const ALL: [Op; 20] = [
        Op::Lookup,
        Op::Getattr,
        Op::Setattr,
        Op::Readlink,
        Op::Open,
        Op::Read,
        Op::Write,
        Op::Flush,
        Op::Fsync,
        Op::Release,
        Op::Create,
        Op::Mkdir,
        Op::Unlink,
        Op::Rmdir,
        Op::Symlink,
        Op::Rename,
        Op::Opendir,
        Op::Readdir,
        Op::Releasedir,
        Op::Statfs,
    ];

    /// Position in [`Op::ALL`], for per-operation tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The FUSE request's name, lower case (`"getattr"`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Lookup => "lookup",
            Op::Getattr => "getattr",
            Op::Setattr => "setattr",
            Op::Readlink => "readlink",
            Op::Open => "open",
            Op::Read => "read",
            Op::Write => "write",
            Op::Flush => "flush",
            Op::Fsync => "fsync",
            Op::Release => "release",
            Op::Create => "create",
            Op::Mkdir => "mkdir",
            Op::Unlink => "unlink",
            Op::Rmdir => "rmdir",
            Op::Symlink => "symlink",
            Op::Rename => "rename",
            Op::Opendir => "opendir",
            Op::Readdir => "readdir",
            Op::Releasedir => "releasedir",
            Op::Statfs => "statfs",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_op_at_its_index() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(op.index(), i, "{op}");
        }
    }
}
