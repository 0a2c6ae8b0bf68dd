//! An eventfd a thread blocked in `poll(2)` is woken through.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Written to make every poller of [`Wake::fd`] return, until cleared.
pub(crate) struct Wake(OwnedFd);

impl Wake {
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: eventfd returns a new descriptor we own, or -1 (checked).
        unsafe {
            let fd = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Self(OwnedFd::from_raw_fd(fd)))
        }
    }

    /// The descriptor to poll for `POLLIN`; valid while `self` lives.
    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Makes the descriptor readable until [`Wake::clear`].
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to a descriptor we own.
        unsafe { libc::write(self.fd(), (&raw const one).cast(), size_of::<u64>()) };
    }

    /// Makes the descriptor unreadable again (a no-op if it is).
    // notify's stop wakes once and for good; only inotify's bell is reset.
    #[cfg_attr(not(feature = "inotify"), allow(dead_code))]
    pub(crate) fn clear(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 from a descriptor we
        // own; non-blocking, so an unwritten eventfd returns EAGAIN at once.
        unsafe { libc::read(self.fd(), (&raw mut count).cast(), size_of::<u64>()) };
    }
}
