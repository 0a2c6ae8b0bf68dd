//! [`NotifyWatcher`]: the portable `notify` crate (inotify on Linux, FSEvents,
//! kqueue, ReadDirectoryChangesW elsewhere).

use std::io;
use std::path::Path;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::dir_watch::{DirBackend, DirWatch};
use crate::strategy::{Signals, Strategy};
use crate::{Change, ConfigSource, WatchOptions};

/// Watches the config's directory (not recursively) and its parent with the
/// `notify` crate's recommended backend.
///
/// A change is any event, of any kind, naming one of the config's keys or
/// `..data`: backends report the kubelet's commit as a create, a rename or a
/// modify, so matching one kind misses updates. Only an in-place data write
/// waits for the debounce; everything else reloads at once. When the
/// directory is removed or replaced (seen through the parent watch, or found
/// by a retry every `poll_interval` while degraded) the watch is re-added on
/// the directory now at the path, and a reload follows.
pub struct NotifyWatcher {
    stop: Sender<Message>,
    thread: Option<JoinHandle<()>>,
}

enum Message {
    Event(notify::Result<Event>),
    Stop,
}

impl Strategy for NotifyWatcher {
    const NAME: &'static str = "notify";

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
        let mut dir = DirWatch::new(source);
        dir.establish(&mut backend)?;
        let retry = options.poll_interval;
        let thread = signals.spawn("watchers-notify", move |signals| {
            run(receiver, backend, dir, signals.clone(), retry);
        })?;
        Ok(Self {
            stop: sender,
            thread: Some(thread),
        })
    }
}

impl Drop for NotifyWatcher {
    fn drop(&mut self) {
        let _ = self.stop.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct NotifyBackend {
    watcher: RecommendedWatcher,
}

impl DirBackend for NotifyBackend {
    fn watch_dir(&mut self, dir: &Path) -> io::Result<()> {
        // A watch left on a replaced directory would report its cleanup.
        let _ = self.watcher.unwatch(dir);
        self.watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(into_io)
    }

    fn watch_parent(&mut self, parent: &Path) -> io::Result<()> {
        self.watcher
            .watch(parent, RecursiveMode::NonRecursive)
            .map_err(into_io)
    }
}

fn run(
    receiver: Receiver<Message>,
    mut backend: NotifyBackend,
    mut dir: DirWatch,
    signals: Signals,
    retry: std::time::Duration,
) {
    loop {
        // Blocks without waking while the watch is established; retries on
        // a timer only while the directory is gone.
        let received = if dir.is_established() {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            receiver.recv_timeout(retry)
        };
        match received {
            Ok(Message::Event(Ok(event))) => {
                if event.need_rescan() {
                    signals.overflow();
                }
                handle(&event, &mut backend, &mut dir, &signals);
            }
            Ok(Message::Event(Err(error))) => {
                signals.degraded(format!("notify: {error}"));
                dir.dir_lost();
                if dir.refresh(&mut backend, &signals) {
                    signals.change(Change::Commit);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if !dir.is_established() && dir.refresh(&mut backend, &signals) {
                    signals.change(Change::Commit);
                }
            }
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn handle(event: &Event, backend: &mut NotifyBackend, dir: &mut DirWatch, signals: &Signals) {
    let change = match event.kind {
        EventKind::Modify(ModifyKind::Data(_)) => Change::Write,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Change::Commit,
        EventKind::Access(_) => return,
        _ => Change::Commit,
    };
    let mut concerns_config = false;
    let mut concerns_dir = false;
    for path in &event.paths {
        if path == dir.path() {
            concerns_dir = true;
        } else if path.parent() == Some(dir.path()) {
            concerns_config |= path.file_name().is_some_and(|name| dir.concerns(name));
        }
    }
    if concerns_dir && dir.refresh(backend, signals) {
        // A new directory: whatever the event was, its content is complete.
        signals.change(Change::Commit);
    } else if concerns_config {
        signals.change(change);
    }
}

fn into_io(error: notify::Error) -> io::Error {
    match error.kind {
        notify::ErrorKind::Io(error) => error,
        notify::ErrorKind::PathNotFound => {
            io::Error::new(io::ErrorKind::NotFound, "path not found")
        }
        other => io::Error::other(format!("{other:?}")),
    }
}
