//! [`InotifyWatcher`]: Linux inotify, used directly.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use crate::dir_watch::{DirBackend, DirWatch};
use crate::strategy::{Signals, Strategy};
use crate::{Change, ConfigSource, WatchOptions};

/// Watches the config's directory and its parent with inotify, on a thread
/// of its own.
///
/// The directory watch asks for every event that can change what a load
/// reads, matched by name (a key or `..data`), never by kind alone:
/// `IN_CREATE`, `IN_MOVED_TO` (the kubelet's `..data` commit, an editor's
/// rename, `ln -sfn`), `IN_MOVED_FROM` and `IN_DELETE` (the file went away:
/// reload to report it), `IN_CLOSE_WRITE` (an in-place writer finished),
/// `IN_MODIFY` (an in-place write in progress: debounced), `IN_ATTRIB`
/// (`chmod` can turn an unreadable file readable again; `touch` costs one
/// hash comparison), plus `IN_DELETE_SELF`/`IN_MOVE_SELF` and `IN_ONLYDIR`.
/// The parent is watched for the directory's own name being created, moved
/// or deleted, so a replaced directory is re-watched at once; while the
/// directory is missing a retry runs every `poll_interval`.
/// `IN_Q_OVERFLOW` (events lost) triggers a full reload.
///
/// The thread blocks in `poll(2)` on the inotify descriptor and an eventfd;
/// dropping the watcher writes the eventfd and joins the thread.
pub struct InotifyWatcher {
    wake: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

const DIR_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::DELETE)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::MODIFY)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);

const PARENT_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::DELETE)
    .union(WatchMask::ONLYDIR);

impl Strategy for InotifyWatcher {
    const NAME: &'static str = "inotify";

    fn establish(
        source: &ConfigSource,
        options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Self> {
        let mut backend = InotifyBackend {
            inotify: Inotify::init()?,
            dir: None,
            parent: None,
        };
        let mut dir = DirWatch::new(source);
        dir.establish(&mut backend)?;
        // SAFETY: eventfd returns a new descriptor we own, or -1 (checked).
        let wake = unsafe {
            let fd = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        let wake_fd = wake.as_raw_fd();
        let retry = options.poll_interval;
        let thread = signals.spawn("watchers-inotify", move |signals| {
            run(backend, dir, signals.clone(), wake_fd, retry);
        })?;
        Ok(Self {
            wake,
            thread: Some(thread),
        })
    }
}

impl Drop for InotifyWatcher {
    fn drop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to a descriptor we own.
        unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                (&raw const one).cast(),
                size_of::<u64>(),
            )
        };
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // `wake` closes after the thread stopped polling it.
    }
}

struct InotifyBackend {
    inotify: Inotify,
    dir: Option<WatchDescriptor>,
    parent: Option<WatchDescriptor>,
}

impl DirBackend for InotifyBackend {
    fn watch_dir(&mut self, dir: &Path) -> io::Result<()> {
        let watch = self.inotify.watches().add(dir, DIR_MASK)?;
        if let Some(old) = self.dir.replace(watch.clone())
            && old != watch
        {
            // The old directory was moved away or deleted; its cleanup is
            // not ours to report. Fails harmlessly if already gone.
            let _ = self.inotify.watches().remove(old);
        }
        Ok(())
    }

    fn watch_parent(&mut self, parent: &Path) -> io::Result<()> {
        self.parent = Some(self.inotify.watches().add(parent, PARENT_MASK)?);
        Ok(())
    }
}

fn run(
    mut backend: InotifyBackend,
    mut dir: DirWatch,
    signals: Signals,
    wake: RawFd,
    retry: Duration,
) {
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let timeout = if dir.is_established() {
            -1
        } else {
            retry.as_millis().min(i32::MAX as u128) as i32
        };
        let mut fds = [
            libc::pollfd {
                fd: backend.inotify.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a live array of two pollfd for the whole call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            signals.stopped(format!("inotify: poll failed: {error}"));
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        if fds[0].revents != 0 {
            if let Err(error) = read_events(&mut backend, &mut dir, &signals, &mut buffer) {
                signals.stopped(format!("inotify: read failed: {error}"));
                return;
            }
        } else if !dir.is_established() && dir.refresh(&mut backend, &signals) {
            signals.change(Change::Commit);
        }
    }
}

fn read_events(
    backend: &mut InotifyBackend,
    dir: &mut DirWatch,
    signals: &Signals,
    buffer: &mut [u8],
) -> io::Result<()> {
    loop {
        let events = match backend.inotify.read_events(buffer) {
            Ok(events) => events,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let mut refresh = false;
        for event in events {
            if event.mask.contains(EventMask::Q_OVERFLOW) {
                signals.overflow();
                // Lost events may have been about the directory itself.
                refresh = true;
            } else if Some(&event.wd) == backend.dir.as_ref() {
                if event
                    .mask
                    .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED)
                {
                    dir.dir_lost();
                    refresh = true;
                } else if event.name.is_some_and(|name| dir.concerns(name)) {
                    let write = event.mask.contains(EventMask::MODIFY);
                    signals.change(if write { Change::Write } else { Change::Commit });
                }
            } else if Some(&event.wd) == backend.parent.as_ref() {
                if event.mask.contains(EventMask::IGNORED) {
                    backend.parent = None;
                    dir.parent_lost();
                    refresh = true;
                } else if event.name.is_some_and(|name| dir.is_dir_name(name)) {
                    refresh = true;
                }
            }
        }
        if refresh && dir.refresh(backend, signals) {
            signals.change(Change::Commit);
        }
    }
}
