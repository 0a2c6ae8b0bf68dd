//! [`NotifyWatcher`]: the portable `notify` crate (inotify on Linux, FSEvents,
//! kqueue, ReadDirectoryChangesW elsewhere).

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::watcher::Change;
use crate::watcher::chain::{ChainWatch, DirBackend, Scope, created};
use crate::watcher::kind::BuiltinWatcher;
use crate::watcher::{JoinOnDrop, Signals};
use crate::{ConfigSource, WatchOptions};

/// Watches every directory the config's path resolves through (none
/// recursively) with the `notify` crate's recommended backend.
///
/// A change is any event, of any kind, naming one of the names that matter in
/// a watched directory (see the crate docs): backends report the kubelet's
/// commit as a create, a rename or a modify, so matching one kind misses
/// updates. A data write, or a regular file created, waits for the writer's
/// close (`notify` reports `IN_CLOSE_WRITE` on Linux; where a backend reports
/// no close, for the `unclosed_write_timeout`); everything else reloads at
/// once. When a watched directory is removed, replaced or unmounted (seen
/// through its own event, its parent's, an error from the backend, or on
/// Linux a change of `/proc/self/mountinfo`), the path is resolved again and
/// the watches moved, and a reload follows; while a directory is missing a
/// retry runs every `poll_interval`.
pub struct NotifyWatcher {
    // Dropped in this order: the event thread, then the mount-table thread.
    _thread: JoinOnDrop,
    #[cfg(target_os = "linux")]
    _mounts: Option<linux::MountThread>,
}

enum Message {
    Event(notify::Result<Event>),
    /// The mount table changed.
    #[cfg(target_os = "linux")]
    Mounts,
    Stop,
}

impl BuiltinWatcher for NotifyWatcher {
    fn establish(
        source: &ConfigSource,
        options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Self> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let events = sender.clone();
        let watcher = RecommendedWatcher::new(
            move |event| {
                let _ = events.send(Message::Event(event));
            },
            notify::Config::default(),
        )
        .map_err(into_io)?;
        let mut backend = NotifyBackend { watcher };
        let mut chain = ChainWatch::new(source);
        chain.establish(&mut backend)?;
        #[cfg(target_os = "linux")]
        let mounts = linux::MountThread::spawn(sender.clone(), &signals)?;
        let retry = options.poll_interval;
        let thread = signals.spawn("watchers-notify", move |signals| {
            run(&receiver, backend, chain, signals, retry);
        })?;
        Ok(Self {
            _thread: JoinOnDrop::new(thread, move || {
                let _ = sender.send(Message::Stop);
            }),
            #[cfg(target_os = "linux")]
            _mounts: mounts,
        })
    }
}

struct NotifyBackend {
    watcher: RecommendedWatcher,
}

impl DirBackend for NotifyBackend {
    fn watch(&mut self, dir: &Path, _scope: Scope) -> io::Result<bool> {
        // A watch left on a replaced directory would report its cleanup.
        let _ = self.watcher.unwatch(dir);
        self.watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(into_io)?;
        // notify does not say whether it is the same directory as before.
        Ok(true)
    }

    fn unwatch(&mut self, dir: &Path) {
        let _ = self.watcher.unwatch(dir);
    }

    /// Only a file with another name (a hard link, or a bind mount's
    /// source): notify reports a write through the config's own path from
    /// both watches with nothing to tell them apart, so a file with one
    /// name is left to its directory's watch.
    fn watch_file(&mut self, file: &Path) -> io::Result<()> {
        // The file at this path may be another one than the watch was put on.
        let _ = self.watcher.unwatch(file);
        if !has_another_name(file) {
            return Ok(());
        }
        self.watcher
            .watch(file, RecursiveMode::NonRecursive)
            .map_err(into_io)
    }

    fn unwatch_file(&mut self, file: &Path) {
        let _ = self.watcher.unwatch(file);
    }
}

fn run(
    receiver: &Receiver<Message>,
    mut backend: NotifyBackend,
    mut chain: ChainWatch,
    signals: &Signals,
    retry: Duration,
) {
    loop {
        // Blocks without waking while every watch is established; retries
        // on a timer only while something on the way is missing.
        let received = if chain.is_established() {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            receiver.recv_timeout(retry)
        };
        let read_at = Instant::now();
        let refresh = match received {
            Ok(Message::Event(Ok(event))) => {
                if event.need_rescan() {
                    signals.overflow();
                }
                handle(&event, &mut chain, signals, read_at) || event.need_rescan()
            }
            Ok(Message::Event(Err(error))) => {
                signals.degraded(format!("notify: {error}"));
                for path in &error.paths {
                    chain.lost(path);
                }
                true
            }
            #[cfg(target_os = "linux")]
            Ok(Message::Mounts) => {
                chain.mounts_changed();
                true
            }
            Err(RecvTimeoutError::Timeout) => !chain.is_established(),
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        };
        // Watches moved: a reload, but not into the middle of an open write.
        if refresh && chain.refresh(&mut backend, signals) {
            signals.change_at(Change::Recheck, read_at);
        }
    }
}

/// Sends the change an event means; returns whether the chain must be
/// resolved again.
fn handle(event: &Event, chain: &mut ChainWatch, signals: &Signals, read_at: Instant) -> bool {
    let mut refresh = false;
    for path in &event.paths {
        if chain.is_watched(path) {
            match event.kind {
                // The watched directory itself was removed or renamed.
                EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)) => {
                    chain.lost(path);
                    refresh = true;
                }
                // Its mode or owner: whether it can be read may have changed.
                EventKind::Modify(ModifyKind::Metadata(_)) => refresh = true,
                _ => {}
            }
            continue;
        }
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            continue;
        };
        if !chain.concerns(dir, name) {
            continue;
        }
        let change = match event.kind {
            EventKind::Modify(ModifyKind::Data(_)) => Change::Write,
            EventKind::Modify(ModifyKind::Metadata(_)) => Change::Recheck,
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Change::Commit,
            EventKind::Access(_) => continue,
            EventKind::Create(_) => {
                refresh = true;
                created(path)
            }
            _ => {
                refresh = true;
                Change::Commit
            }
        };
        signals.change_at(change, read_at);
    }
    refresh
}

/// Whether `file` can be written through another path than its own: more
/// than one hard link, or (Linux) a bind mount's target.
fn has_another_name(file: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let linked = std::fs::metadata(file).is_ok_and(|metadata| metadata.nlink() > 1);
    #[cfg(target_os = "linux")]
    let mounted = crate::watcher::mounts::is_mount_point(file);
    #[cfg(not(target_os = "linux"))]
    let mounted = false;
    linked || mounted
}

fn into_io(error: notify::Error) -> io::Error {
    match error.kind {
        #[cfg(target_os = "linux")]
        notify::ErrorKind::Io(error) => crate::watcher::limits::init_error(error),
        #[cfg(not(target_os = "linux"))]
        notify::ErrorKind::Io(error) => error,
        #[cfg(target_os = "linux")]
        notify::ErrorKind::MaxFilesWatch => {
            crate::watcher::limits::watches_exhausted(io::ErrorKind::StorageFull)
        }
        notify::ErrorKind::PathNotFound => {
            io::Error::new(io::ErrorKind::NotFound, "path not found")
        }
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::sync::Arc;

    use crossbeam_channel::Sender;

    use super::Message;
    use crate::watcher::mounts::{self, MountTable};
    use crate::watcher::wake::Wake;
    use crate::watcher::{JoinOnDrop, Signals};

    /// A thread telling the notify thread when the mount table changed.
    pub(super) struct MountThread {
        _thread: JoinOnDrop,
    }

    impl MountThread {
        pub(super) fn spawn(
            sender: Sender<Message>,
            signals: &Signals,
        ) -> io::Result<Option<Self>> {
            let Some(table) = MountTable::open() else {
                return Ok(None);
            };
            let wake = Arc::new(Wake::new()?);
            let woken = Arc::clone(&wake);
            let thread = signals.spawn("watchers-notify-mounts", move |signals| {
                loop {
                    match mounts::wait(&table, woken.fd()) {
                        Ok(true) => {
                            if sender.send(Message::Mounts).is_err() {
                                return;
                            }
                        }
                        Ok(false) => return,
                        Err(error) => {
                            signals.stopped(format!(
                                "notify: polling the mount table failed: {error}"
                            ));
                            return;
                        }
                    }
                }
            })?;
            Ok(Some(Self {
                _thread: JoinOnDrop::new(thread, move || wake.wake()),
            }))
        }
    }
}
