//! Noticing mounts and unmounts (Linux): a directory watch dies with its
//! filesystem's unmount, and a filesystem mounted over a watched directory
//! hides it without any event on it. Both change the process's mount table,
//! and the kernel reports that on `/proc/self/mountinfo` as `POLLPRI`
//! (proc(5)): the event watchers poll it beside their events and resolve
//! the config's path again when it fires.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};

/// The process's mount table, opened for change notification.
pub(crate) struct MountTable(File);

impl MountTable {
    /// Opens `/proc/self/mountinfo`; `None` where there is no `/proc`
    /// (changes of mounts are then left to the resync).
    pub(crate) fn open() -> Option<Self> {
        File::open("/proc/self/mountinfo").ok().map(Self)
    }

    /// The descriptor to poll for `POLLPRI`.
    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// A `pollfd` that is ready when the mount table changed since the last
    /// poll that reported it.
    pub(crate) fn pollfd(&self) -> libc::pollfd {
        libc::pollfd {
            fd: self.fd(),
            events: libc::POLLPRI,
            revents: 0,
        }
    }
}

/// Whether a polled `MountTable` fired: the kernel sets `POLLPRI | POLLERR`
/// once per change (and re-arms on the next poll by itself).
pub(crate) fn changed(pollfd: &libc::pollfd) -> bool {
    pollfd.revents & (libc::POLLPRI | libc::POLLERR) != 0
}

/// Blocks until the mount table changes or `wake` is readable (then returns
/// `Ok(false)`); `Ok(true)` when the mounts changed. Only the notify
/// watcher blocks on the mount table alone; inotify polls it beside its
/// own descriptor.
#[cfg(feature = "notify")]
pub(crate) fn wait(table: &MountTable, wake: RawFd) -> std::io::Result<bool> {
    loop {
        let mut fds = [
            table.pollfd(),
            libc::pollfd {
                fd: wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a live array of two pollfd for the whole call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        if fds[1].revents != 0 {
            return Ok(false);
        }
        if changed(&fds[0]) {
            return Ok(true);
        }
    }
}

/// Whether `path` (absolute, symlinks resolved) is a mount point (notify
/// watches a file itself only where it has another name): listed
/// as one in `/proc/self/mountinfo` (proc(5): the fifth field, with space,
/// tab, newline and backslash escaped in octal).
#[cfg(feature = "notify")]
pub(crate) fn is_mount_point(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(table) = std::fs::read("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.as_os_str().as_bytes();
    table.split(|byte| *byte == b'\n').any(|line| {
        line.split(|byte| *byte == b' ')
            .nth(4)
            .is_some_and(|mount_point| unescape(mount_point) == wanted)
    })
}

/// Undoes mountinfo's `\ooo` escapes.
#[cfg(feature = "notify")]
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(field.len());
    let mut rest = field;
    while let Some((&first, tail)) = rest.split_first() {
        let octal = tail
            .get(..3)
            .filter(|digits| first == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                bytes.push(digits.iter().fold(0u8, |value, d| value * 8 + (d - b'0')));
                rest = &tail[3..];
            }
            None => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    bytes
}

#[cfg(all(test, feature = "notify"))]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(br"/mnt/with\040space"), b"/mnt/with space");
        assert_eq!(unescape(br"/plain"), b"/plain");
        assert_eq!(unescape(br"/back\134slash"), b"/back\\slash");
    }

    #[test]
    fn the_root_is_a_mount_point_and_a_plain_directory_is_not() {
        assert!(is_mount_point(std::path::Path::new("/")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_mount_point(dir.path()));
    }
}
