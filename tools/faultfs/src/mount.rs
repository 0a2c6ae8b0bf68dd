//! [`FaultFs`]: mounting, the fault controls, and unmounting that never
//! leaves a stale mount behind.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fuser::{BackgroundSession, Config, MountOption, SessionACL};
use rustix::mount::UnmountFlags;

use crate::inject::{Action, Counts, Injector};
use crate::op::Op;
use crate::passthrough::Passthrough;
use crate::session::FaultSession;

/// A passthrough FUSE filesystem over a backing directory, mounted in this
/// process, whose operations can be made to fail or hang on demand.
///
/// See the [crate docs](crate) for an example and for what the kernel does
/// with each fault.
///
/// One fault per [`Op`] at a time: setting a fault replaces that op's
/// previous one. Dropping the value heals (answers every held request
/// normally) and unmounts, lazily if something still has a file open on
/// the mount.
pub struct FaultFs {
    backing: PathBuf,
    mountpoint: PathBuf,
    injector: Arc<Injector>,
    session: Option<BackgroundSession>,
}

impl std::fmt::Debug for FaultFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultFs")
            .field("backing", &self.backing)
            .field("mountpoint", &self.mountpoint)
            .finish_non_exhaustive()
    }
}

/// Whether a FUSE filesystem can be mounted here, and why not.
///
/// Mounts and unmounts a throwaway filesystem once per process (the answer
/// is cached). Tests that need FUSE skip with the reason when this is
/// `Err`:
///
/// ```no_run
/// if let Err(why) = faultfs::available() {
///     eprintln!("skipped: {why}");
///     return;
/// }
/// ```
pub fn available() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(probe).clone()
}

fn probe() -> Result<(), String> {
    if !Path::new("/dev/fuse").exists() {
        return Err(
            "/dev/fuse does not exist (no FUSE in this kernel, or the container \
                    was started without the device)"
                .into(),
        );
    }
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let (backing, mountpoint) = (dir.path().join("backing"), dir.path().join("mnt"));
    for d in [&backing, &mountpoint] {
        std::fs::create_dir(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let fs = FaultFs::mount(&backing, &mountpoint).map_err(|e| e.to_string())?;
    std::fs::metadata(&mountpoint).map_err(|e| {
        format!(
            "the FUSE mount at {} does not answer: {e}",
            mountpoint.display()
        )
    })?;
    fs.unmount()
        .map_err(|e| format!("cannot unmount {}: {e}", mountpoint.display()))
}

fn with_context(e: io::Error, context: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

fn canonical(path: &Path, what: &str) -> io::Result<PathBuf> {
    path.canonicalize()
        .map_err(|e| with_context(e, format_args!("{what} {}", path.display())))
}

/// A FUSE mount whose server died (a crashed test run) answers every access
/// with `ENOTCONN`; detach it so the path is usable again.
fn detach_stale_mount(mountpoint: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(mountpoint) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            rustix::mount::unmount(mountpoint, UnmountFlags::DETACH).map_err(|e| {
                with_context(
                    e.into(),
                    format_args!("detaching the stale mount at {}", mountpoint.display()),
                )
            })
        }
        _ => Ok(()),
    }
}

fn assert_injectable(errno: i32) {
    // The kernel rejects replies outside 1..512, and takes ENOSYS as "not
    // implemented": it stops sending that request for the rest of the
    // mount (open and flush would then succeed without asking).
    assert!(
        (1..512).contains(&errno) && errno != libc::ENOSYS,
        "faultfs: cannot inject errno {errno}: use a positive errno below 512, not ENOSYS"
    );
}

impl FaultFs {
    /// Mounts a passthrough of `backing` at `mountpoint` (both existing
    /// directories) and returns once the kernel has completed the FUSE
    /// handshake, with no fault set.
    ///
    /// A stale FUSE mount at `mountpoint` (its server gone) is detached
    /// first. As root the mount is made with `mount(2)`; otherwise fuser
    /// falls back to `fusermount3`. Other users may use the mount
    /// (`allow_other`, with the kernel checking permission bits) where that
    /// is allowed: always for root, for others with `user_allow_other` in
    /// `/etc/fuse.conf`; elsewhere only this user may.
    ///
    /// # Errors
    /// Either directory missing; `mountpoint` inside `backing` (the
    /// filesystem would serve itself and deadlock); no `/dev/fuse`; the
    /// mount refused (not root and no `fusermount3`, a container without
    /// `CAP_SYS_ADMIN`).
    pub fn mount(backing: impl AsRef<Path>, mountpoint: impl AsRef<Path>) -> io::Result<Self> {
        let backing = canonical(backing.as_ref(), "backing directory")?;
        detach_stale_mount(mountpoint.as_ref())?;
        let mountpoint = canonical(mountpoint.as_ref(), "mount point")?;
        if mountpoint.starts_with(&backing) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "mount point {} is inside the backing directory {}: the filesystem would \
                     serve its own mount",
                    mountpoint.display(),
                    backing.display()
                ),
            ));
        }
        let injector = Arc::new(Injector::default());
        let session = || {
            Passthrough::new(&backing)
                .map(|fs| FaultSession::new(fs, Arc::clone(&injector)))
                .map_err(|e| with_context(e, format_args!("opening {}", backing.display())))
        };
        let mut options = Config::default();
        options.mount_options = vec![
            MountOption::FSName("faultfs".into()),
            MountOption::Subtype("faultfs".into()),
            // Permission bits are checked by the kernel, as on a real disk.
            MountOption::DefaultPermissions,
        ];
        // A service under test may run as another user (allow_other).
        // Not fusermount3's auto_unmount: its helper unmounts after a crash
        // only if its own open of the mount point fails with exactly
        // ENOTCONN, which races with the dying process (seen here: 1 run in
        // 3 under parallel tests left the mount); a crashed run's mount is
        // stale instead, answers ENOTCONN at once, and the next mount at
        // that path detaches it.
        options.acl = SessionACL::All;
        let mounted = fuser::spawn_mount(session()?, &mountpoint, &options).or_else(|shared| {
            options.acl = SessionACL::Owner;
            fuser::spawn_mount(session()?, &mountpoint, &options).map_err(|private| {
                io::Error::new(
                    private.kind(),
                    format!(
                        "mounting FUSE at {} failed: with allow_other: {shared}; without: \
                         {private}",
                        mountpoint.display()
                    ),
                )
            })
        })?;
        Ok(Self {
            backing,
            mountpoint,
            injector,
            session: Some(mounted),
        })
    }

    /// The backing directory (canonical). Changes made here directly are
    /// visible through the mount but raise no inotify event on it.
    pub fn backing(&self) -> &Path {
        &self.backing
    }

    /// Where the filesystem is mounted (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// `relative` under the mount point: the path to use for every access
    /// that should go through the filesystem.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.mountpoint.join(relative)
    }

    /// Every later request of kind `op` fails with `errno` (e.g.
    /// `libc::EIO`), seen by the caller as `io::Error::raw_os_error()`.
    ///
    /// # Panics
    /// If `errno` is not in `1..512` or is `ENOSYS` (which the kernel takes
    /// as "not implemented" and stops asking).
    pub fn fail(&self, op: Op, errno: i32) {
        assert_injectable(errno);
        self.injector.set(op, Action::Fail(errno), None);
    }

    /// Like [`fail`](Self::fail), only for requests concerning an entry
    /// named `name` (the last path component): for a request on an open
    /// file or inode, its current name in the backing directory; for a
    /// lookup, create, mkdir, symlink, unlink or rmdir, the name asked for;
    /// for a rename, either name.
    ///
    /// # Panics
    /// As [`fail`](Self::fail).
    pub fn fail_named(&self, op: Op, errno: i32, name: impl AsRef<OsStr>) {
        assert_injectable(errno);
        self.injector
            .set(op, Action::Fail(errno), Some(name.as_ref()));
    }

    /// Every later request of kind `op` is held unanswered: the calling
    /// system call blocks (uninterruptibly once the request was read: only
    /// [`clear`](Self::clear), [`heal`](Self::heal), drop, or the end of
    /// this process releases it). Other requests keep being served.
    pub fn hang(&self, op: Op) {
        self.injector.set(op, Action::Hang, None);
    }

    /// Like [`hang`](Self::hang), only for requests concerning an entry
    /// named `name`, as [`fail_named`](Self::fail_named) matches it.
    pub fn hang_named(&self, op: Op, name: impl AsRef<OsStr>) {
        self.injector.set(op, Action::Hang, Some(name.as_ref()));
    }

    /// Removes the fault of `op` and answers its held requests normally
    /// (served from the backing directory as it is now).
    pub fn clear(&self, op: Op) {
        self.injector.clear(|o| o == op);
    }

    /// Removes every fault and answers every held request normally.
    pub fn heal(&self) {
        self.injector.clear(|_| true);
    }

    /// Waits until at least `at_least` requests of kind `op` are held by a
    /// hang fault at once, i.e. their callers are blocked in the kernel;
    /// `false` if `timeout` passed first.
    ///
    /// ```no_run
    /// # let fs: faultfs::FaultFs = unimplemented!();
    /// # use std::time::Duration;
    /// fs.hang(faultfs::Op::Read);
    /// let path = fs.path("config.yaml");
    /// let reader = std::thread::spawn(move || std::fs::read(path));
    /// assert!(fs.wait_for_held(faultfs::Op::Read, 1, Duration::from_secs(10)));
    /// // ... the reader is blocked now; observe the watcher under test ...
    /// fs.heal();
    /// reader.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_for_held(&self, op: Op, at_least: u64, timeout: Duration) -> bool {
        self.injector.wait_for_held(op, at_least, timeout)
    }

    /// How many requests of each kind were served, failed and held so far.
    pub fn counts(&self) -> Counts {
        self.injector.counts()
    }

    /// Heals, then unmounts: the filesystem is gone from the mount table
    /// when this returns. If files are still open on the mount (a thread
    /// still reading), the mount is detached lazily instead: gone from the
    /// path at once, served until the last file is closed.
    ///
    /// # Errors
    /// The kernel refused both unmounts (not expected as root).
    pub fn unmount(mut self) -> io::Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> io::Result<()> {
        self.heal();
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        match rustix::mount::unmount(&self.mountpoint, UnmountFlags::empty()) {
            // The kernel aborted the connection: the session thread ends.
            Ok(()) => session.join(),
            Err(rustix::io::Errno::BUSY) => {
                rustix::mount::unmount(&self.mountpoint, UnmountFlags::DETACH).map_err(|e| {
                    with_context(
                        e.into(),
                        format_args!("detaching {}", self.mountpoint.display()),
                    )
                })
                // Dropping the session detaches its thread, which serves the
                // open files until their last close ends the connection.
            }
            Err(e) => Err(with_context(
                e.into(),
                format_args!("unmounting {}", self.mountpoint.display()),
            )),
        }
    }
}

impl Drop for FaultFs {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            // Drop cannot fail; a test that cares calls `unmount`.
            eprintln!("faultfs: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<FaultFs>();
    }

    #[test]
    fn ordinary_errnos_can_be_injected() {
        for errno in [
            libc::EIO,
            libc::EMFILE,
            libc::ENFILE,
            libc::EAGAIN,
            libc::ENOSPC,
        ] {
            assert_injectable(errno);
        }
    }

    #[test]
    #[should_panic(expected = "not ENOSYS")]
    fn enosys_cannot_be_injected() {
        assert_injectable(libc::ENOSYS);
    }

    #[test]
    #[should_panic(expected = "cannot inject errno 0")]
    fn zero_is_not_an_errno() {
        assert_injectable(0);
    }
}
