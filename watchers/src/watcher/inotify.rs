//! [`InotifyWatcher`]: Linux inotify, used directly.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use crate::watcher::Change;
use crate::watcher::chain::{ChainWatch, DirBackend, Scope, created};
use crate::watcher::inbox::Pump;
use crate::watcher::kind::BuiltinWatcher;
use crate::watcher::limits;
use crate::watcher::mounts::{self, MountTable};
use crate::watcher::wake::Wake;
use crate::watcher::{Signal, Signals};
use crate::{ConfigSource, WatchOptions};

/// Watches every directory the config's path resolves through with inotify.
///
/// The directory holding the files is watched for every event that can
/// change what a load reads, matched by *name* (a key or `..data`), never by
/// kind alone: `IN_MOVED_TO` (the kubelet's `..data` commit, an editor's
/// rename, `ln -sfn`), `IN_MOVED_FROM` and `IN_DELETE` (reload to report the
/// file gone), `IN_CLOSE_WRITE` (an in-place writer finished: reload now),
/// `IN_MODIFY` and `IN_CREATE` of a regular file (a writer at work: wait for
/// its close), `IN_ATTRIB` (`chmod` can make an unreadable file readable;
/// on a watched directory itself, it can lock or unlock the directory: the
/// health says while it cannot be read, and it is read again once it can).
/// Directories holding a symlink on the way, and the parent of the
/// directory, are watched for names created, moved or deleted; then the path
/// is resolved again and the watches moved (see the crate docs). The file
/// itself is watched too (`IN_MODIFY`, `IN_CLOSE_WRITE`, `IN_ATTRIB`, moved
/// to the new file whenever it is replaced): the kernel reports a write only
/// on the path it went through, so an edit through a hard link elsewhere or
/// of a single-file bind mount's source reaches only the file's own watch.
/// An event seen on both is forwarded once.
/// `IN_IGNORED`, `IN_UNMOUNT`, `IN_DELETE_SELF` and `IN_MOVE_SELF` mean a
/// watch is gone: the health turns `Degraded` until it is back, then the
/// content is read again. `/proc/self/mountinfo` is polled too, so a
/// filesystem mounted over a watched directory moves the watch to it.
/// `IN_Q_OVERFLOW` (events lost) triggers a full reload.
///
/// It runs on the watch's reload thread: between reloads, that thread
/// blocks in `poll(2)` on the inotify descriptor, the mount table and an
/// eventfd rung by every other signal (a reload asked, the watch stopped),
/// so a watch is one thread. While a reload runs (or hangs in a read),
/// events wait in the kernel's queue; if it overflows, everything is read
/// again.
pub struct InotifyWatcher;

const CONTENTS_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::DELETE)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::MODIFY)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);

/// The file itself: what a write through another name for it (a hard link,
/// a single-file bind mount) reports only there.
const FILE_MASK: WatchMask = WatchMask::MODIFY
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::ATTRIB);

const LINKS_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::ATTRIB)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::DELETE)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);

impl BuiltinWatcher for InotifyWatcher {
    fn establish(
        source: &ConfigSource,
        options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Self> {
        let mut backend = InotifyBackend {
            inotify: Inotify::init().map_err(limits::init_error)?,
            by_dir: HashMap::new(),
            by_watch: HashMap::new(),
            by_file: HashMap::new(),
            file_by_watch: HashMap::new(),
        };
        let mut chain = ChainWatch::new(source);
        chain.establish(&mut backend)?;
        // A duplicate of the inotify descriptor, for the driver to ask
        // whether events wait unread before it publishes.
        let unread = backend.inotify.as_fd().try_clone_to_owned()?;
        signals.unread_events(move || readable(&unread));
        let bell = Arc::new(Wake::new()?);
        let pump = InotifyPump {
            backend,
            chain,
            signals: signals.clone(),
            bell: Arc::clone(&bell),
            mounts: MountTable::open(),
            buffer: vec![0_u8; 64 * 1024],
            retry: options.poll_interval,
            last_refresh: Instant::now(),
        };
        signals.run_on_driver(pump, move || bell.wake());
        Ok(Self)
    }
}

struct InotifyBackend {
    inotify: Inotify,
    by_dir: HashMap<PathBuf, WatchDescriptor>,
    by_watch: HashMap<WatchDescriptor, PathBuf>,
    by_file: HashMap<PathBuf, WatchDescriptor>,
    file_by_watch: HashMap<WatchDescriptor, PathBuf>,
}

impl InotifyBackend {
    /// The watch is gone in the kernel: forget it without removing it.
    fn forget(&mut self, watch: &WatchDescriptor) -> Option<PathBuf> {
        let dir = self.by_watch.remove(watch)?;
        if self.by_dir.get(&dir) == Some(watch) {
            self.by_dir.remove(&dir);
        }
        Some(dir)
    }
}

impl DirBackend for InotifyBackend {
    fn watch(&mut self, dir: &Path, scope: Scope) -> io::Result<bool> {
        let mask = match scope {
            Scope::Contents => CONTENTS_MASK,
            Scope::Links => LINKS_MASK,
        };
        let watch = self
            .inotify
            .watches()
            .add(dir, mask)
            .map_err(limits::watch_error)?;
        let old = self.by_dir.insert(dir.to_path_buf(), watch.clone());
        let new = old.as_ref() != Some(&watch);
        if let Some(old) = old.filter(|_| new) {
            // The directory that was at this path was moved away or deleted;
            // its cleanup is not ours to report. Fails harmlessly if gone.
            self.by_watch.remove(&old);
            let _ = self.inotify.watches().remove(old);
        }
        self.by_watch.insert(watch, dir.to_path_buf());
        Ok(new)
    }

    fn unwatch(&mut self, dir: &Path) {
        if let Some(watch) = self.by_dir.remove(dir) {
            self.by_watch.remove(&watch);
            let _ = self.inotify.watches().remove(watch);
        }
    }

    fn watch_file(&mut self, file: &Path) -> io::Result<()> {
        let watch = self
            .inotify
            .watches()
            .add(file, FILE_MASK)
            .map_err(limits::watch_error)?;
        if let Some(old) = self.by_file.insert(file.to_path_buf(), watch.clone())
            && old != watch
        {
            self.file_by_watch.remove(&old);
            let _ = self.inotify.watches().remove(old);
        }
        self.file_by_watch.insert(watch, file.to_path_buf());
        Ok(())
    }

    fn unwatch_file(&mut self, file: &Path) {
        if let Some(watch) = self.by_file.remove(file) {
            self.file_by_watch.remove(&watch);
            let _ = self.inotify.watches().remove(watch);
        }
    }
}

/// The watcher's loop, run by the driver between reloads.
struct InotifyPump {
    backend: InotifyBackend,
    chain: ChainWatch,
    signals: Signals,
    /// Rung by every signal sent to the driver: one waiting here wakes.
    bell: Arc<Wake>,
    mounts: Option<MountTable>,
    buffer: Vec<u8>,
    /// How often a chain not (fully) watched is resolved again.
    retry: Duration,
    last_refresh: Instant,
}

impl Pump for InotifyPump {
    fn wait(&mut self, _inbox: &Receiver<Signal>, deadline: Option<Instant>) -> bool {
        let refresh_at = (!self.chain.is_established()).then(|| self.last_refresh + self.retry);
        let until = match (deadline, refresh_at) {
            (Some(deadline), Some(refresh)) => Some(deadline.min(refresh)),
            (deadline, refresh) => deadline.or(refresh),
        };
        let mut fds = vec![
            libc::pollfd {
                fd: self.backend.inotify.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.bell.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        fds.extend(self.mounts.as_ref().map(MountTable::pollfd));
        // SAFETY: `fds` is a live array of pollfd for the whole call.
        let ready = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                poll_timeout(until),
            )
        };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                return true;
            }
            self.signals
                .stopped(format!("inotify: poll failed: {error}"));
            return false;
        }
        let now = Instant::now();
        let mut refresh = refresh_at.is_some_and(|at| now >= at);
        if fds.get(2).is_some_and(mounts::changed) {
            self.chain.mounts_changed();
            refresh = true;
        }
        if fds[0].revents != 0 {
            match read_events(
                &mut self.backend,
                &mut self.chain,
                &self.signals,
                &mut self.buffer,
            ) {
                Ok(lost) => refresh |= lost,
                Err(error) => {
                    self.signals
                        .stopped(format!("inotify: read failed: {error}"));
                    return false;
                }
            }
        }
        // Watches moved: a reload, but not into the middle of an open write.
        if refresh {
            self.last_refresh = now;
            if self.chain.refresh(&mut self.backend, &self.signals) {
                self.signals.change(Change::Recheck);
            }
        }
        // Every signal sent so far, the ones forwarded above included, is
        // on the channel for the driver's next look: the bell can be reset.
        self.bell.clear();
        true
    }
}

/// `poll(2)`'s timeout until `until`, rounded up to whole milliseconds so a
/// deadline is never woken for early and spun on; -1 waits for an event.
fn poll_timeout(until: Option<Instant>) -> libc::c_int {
    until.map_or(-1, |until| {
        let left = until.saturating_duration_since(Instant::now());
        left.as_micros()
            .div_ceil(1000)
            .min(libc::c_int::MAX as u128) as libc::c_int
    })
}

/// Reads every queued event; returns whether the chain must be resolved again.
fn read_events(
    backend: &mut InotifyBackend,
    chain: &mut ChainWatch,
    signals: &Signals,
    buffer: &mut [u8],
) -> io::Result<bool> {
    let mut refresh = false;
    loop {
        // From the kernel read to the last signal sent: a reload deciding
        // whether it may publish waits for the whole batch.
        let _batch = signals.forwarding();
        let events = match backend.inotify.read_events(buffer) {
            Ok(events) => events,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(refresh),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        // The moment these events left the kernel: what a reload's `took` counts from.
        let read_at = Instant::now();
        let mut changes = Vec::new();
        let mut file_changes = Vec::new();
        let mut lost = Vec::new();
        for event in events {
            if event.mask.contains(EventMask::Q_OVERFLOW) {
                signals.overflow();
                // Lost events may have been about the directories themselves.
                refresh = true;
                continue;
            }
            if let Some(file) = backend.file_by_watch.get(&event.wd) {
                if event.mask.contains(EventMask::IGNORED) {
                    // Replaced or deleted: the refresh watches what is there now.
                    let file = file.clone();
                    backend.by_file.remove(&file);
                    backend.file_by_watch.remove(&event.wd);
                    chain.file_lost(&file);
                    refresh = true;
                } else if event
                    .mask
                    .intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE | EventMask::ATTRIB)
                {
                    file_changes.push((classify(event.mask, file), file.clone()));
                }
                continue;
            }
            let Some(dir) = backend.by_watch.get(&event.wd) else {
                continue;
            };
            if event.mask.intersects(
                EventMask::IGNORED
                    | EventMask::UNMOUNT
                    | EventMask::DELETE_SELF
                    | EventMask::MOVE_SELF,
            ) {
                lost.push((event.wd.clone(), event.mask.contains(EventMask::IGNORED)));
                refresh = true;
            } else if event.name.is_none() && event.mask.contains(EventMask::ATTRIB) {
                // The directory's own mode or owner: whether it can be read
                // may have changed either way.
                refresh = true;
            } else if let Some(name) = event.name
                && chain.concerns(dir, name)
            {
                let path = dir.join(name);
                changes.push((classify(event.mask, &path), path));
                // A name created, moved or deleted may redirect the path.
                refresh |= event.mask.intersects(
                    EventMask::CREATE
                        | EventMask::MOVED_TO
                        | EventMask::MOVED_FROM
                        | EventMask::DELETE,
                );
            }
        }
        for (watch, ignored) in lost {
            let dir = if ignored {
                backend.forget(&watch)
            } else {
                backend.by_watch.get(&watch).cloned()
            };
            if let Some(dir) = dir {
                chain.lost(&dir);
            }
        }
        // A write through the config's own path is reported to the
        // directory and to the file: forward it once.
        file_changes.retain(|seen| !changes.contains(seen));
        for (change, _) in changes.into_iter().chain(file_changes) {
            signals.change_at(change, read_at);
        }
    }
}

/// Whether `fd` has something to read now.
fn readable(fd: &OwnedFd) -> bool {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd for the whole call; a zero timeout never blocks.
    unsafe { libc::poll(&mut pollfd, 1, 0) > 0 }
}

/// What an event on a name that matters says about the content.
fn classify(mask: EventMask, path: &Path) -> Change {
    if mask.contains(EventMask::MODIFY) {
        Change::Write
    } else if mask.contains(EventMask::CREATE) && !mask.contains(EventMask::ISDIR) {
        created(path)
    } else if mask.contains(EventMask::ATTRIB) {
        Change::Recheck
    } else {
        Change::Commit
    }
}
