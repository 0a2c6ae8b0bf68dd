//! A FUSE filesystem for reliability tests: a passthrough over a backing
//! directory, mounted in-process, whose operations fail with a chosen errno
//! or hang on demand, switched at run time from the test thread.
//!
//! A config watcher must survive a filesystem that answers `read` with
//! `EIO` for a few seconds while `stat` still works, `open` failing with
//! `EMFILE`, or a `read` that never returns. Mocks cannot show what the
//! kernel and inotify do in those cases; this is a real filesystem, so the
//! watcher under test uses plain `std::fs` and real inotify on the mount.
//!
//! # Example
//!
//! ```no_run
//! use faultfs::{FaultFs, Op};
//!
//! let backing = tempfile::tempdir()?;
//! let mountpoint = tempfile::tempdir()?;
//! let fs = FaultFs::mount(backing.path(), mountpoint.path())?;
//! std::fs::write(fs.path("config.yaml"), "a: 1\n")?; // through the mount
//!
//! fs.fail(Op::Read, libc::EIO); // every read fails, stat still works
//! let err = std::fs::read(fs.path("config.yaml")).unwrap_err();
//! assert_eq!(err.raw_os_error(), Some(libc::EIO));
//! assert!(std::fs::metadata(fs.path("config.yaml")).is_ok());
//!
//! fs.fail_named(Op::Open, libc::EMFILE, "config.yaml"); // only that name
//! fs.hang(Op::Read); // reads block (stat still answers) until released
//! fs.heal(); // every fault off; held reads answered normally
//! println!("{}", fs.counts()); // "lookup 9, getattr 4, open 1, read 2 (1 failed), ..."
//! assert_eq!(fs.counts().of(Op::Read).failed, 1);
//! drop(fs); // heals, then unmounts (lazily if a file is still open)
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Tests skip when FUSE is not usable here: [`available`] says why, and
//! [`TempMount::for_test`] mounts over fresh temporary directories or skips.
//!
//! # What the kernel does
//!
//! - **Inotify works on the mount** for changes made *through* it: the
//!   kernel raises the events (`IN_CREATE`, `IN_MODIFY`, `IN_CLOSE_WRITE`,
//!   `IN_MOVED_FROM`/`IN_MOVED_TO`, `IN_DELETE`, `IN_ATTRIB`) in the VFS,
//!   whatever the filesystem (as everywhere, setting only the mtime is
//!   `IN_MODIFY`, not `IN_ATTRIB`). Changes made directly in the backing
//!   directory are visible through the mount at once but raise **no**
//!   event on it: write through [`FaultFs::path`].
//! - **Nothing is cached**: entry and attribute timeouts are zero and files
//!   are opened with `FOPEN_DIRECT_IO`, so every `stat`, path walk and
//!   `read(2)` reaches the filesystem and meets the current faults, and
//!   backing-directory changes are seen at once.
//! - **One system call, several requests**: [`Op`] says which ones. A fault
//!   on [`Op::Lookup`] fails every path walk through the mount, `stat`
//!   included; a fault on [`Op::Read`] leaves `stat` and `open` working.
//! - **A hung request blocks its caller, even against `SIGKILL`**: once
//!   the filesystem has read a request, the kernel waits for its answer
//!   whatever signal arrives, so a killed child process stays alive until
//!   the request is released. Other requests, from the same or other
//!   threads and processes, keep being answered. [`FaultFs::heal`],
//!   [`FaultFs::clear`] and drop release held requests; if this process
//!   dies, the kernel aborts the connection and they fail.
//! - **`ENOSYS` cannot be injected**: the kernel would take it as "not
//!   implemented" and stop asking for the rest of the mount.
//! - **Not implemented** (the kernel answers for them, or refuses): hard
//!   links (`EPERM`), `mknod`/FIFOs, extended attributes (`EOPNOTSUPP`),
//!   `fallocate`, `copy_file_range` (`cp` and `std::fs::copy` fall back to
//!   read and write). File locks are handled by the kernel locally.
//!
//! # Mounting and cleanup
//!
//! The mount uses fuser's pure-Rust mount (no libfuse linked): `mount(2)`
//! as root, else `fusermount3`. Drop heals and unmounts, including when a
//! test panics. A test process that is killed leaves a stale mount, which
//! answers `ENOTCONN` at once (nothing hangs on it) and which the next
//! [`FaultFs::mount`] at that path detaches; `umount -l PATH` removes it
//! by hand.

#![cfg(target_os = "linux")]

mod inject;
mod mount;
mod op;
mod passthrough;
mod session;
mod temp;

pub use inject::{Counts, OpCounts};
pub use mount::{FaultFs, available};
pub use op::Op;
pub use temp::{HealOnDrop, TempMount};
