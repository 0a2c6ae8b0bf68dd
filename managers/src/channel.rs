//! [`ChannelManager`]: the seed's channel design, ported faithfully.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, bounded, select};

use crate::pending::{Pending, first};
use crate::{ConfigManager, Snapshot, Versioned};

/// One owner thread holds the config and hands it to readers one at a time.
///
/// The seed's design: the owner loops on a `select` between handing the
/// current config (an `Arc` clone) to whichever reader is waiting on a
/// rendezvous (zero-capacity) channel and receiving a publish on another.
///
/// - **A reader holds** an `Arc` clone it received from the owner thread.
///   Every read is a hand-off between two threads, so all reads of the
///   process queue behind one thread: the slowest design by far, and it does
///   not scale (see `docs/managers.md`). `read` and `snapshot` cost the same.
/// - **A publish costs** two channel round trips (the config in, its version
///   back), so `publish` returns only once the config is installed.
/// - **The old config is freed** by the owner thread right after it installs
///   the new one, if no snapshot holds it; otherwise when the last snapshot
///   is dropped.
///
/// Dropping the manager closes both channels; the owner thread sees that,
/// ends, and is joined before `drop` returns.
pub struct ChannelManager<T> {
    current: Receiver<Snapshot<T>>,
    publishes: Sender<Publish<T>>,
    thread_name: String,
    // Declared last because fields drop in order: the channels above close
    // first, which is what tells the owner thread to stop, then this joins it.
    _owner: JoinOnDrop,
}

struct Publish<T> {
    config: Pending<T>,
    version: Sender<u64>,
}

struct JoinOnDrop(Option<JoinHandle<()>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(owner) = self.0.take() {
            // A panic in the owner thread (a config's destructor) was already
            // reported by the panic hook; re-raising it in a drop would abort.
            let _ = owner.join();
        }
    }
}

impl<T> ChannelManager<T> {
    /// The name of this manager's owner thread, unique in the process (as
    /// shown in `/proc/self/task/*/comm`, debuggers and panics).
    pub fn thread_name(&self) -> &str {
        &self.thread_name
    }
}

/// Serves reads and publishes until the manager drops its channel ends.
fn own<T>(mut current: Snapshot<T>, readers: Sender<Snapshot<T>>, publishes: Receiver<Publish<T>>) {
    loop {
        select! {
            // The clone is made only when a reader is there to take it.
            send(readers, Arc::clone(&current)) -> handed => {
                if handed.is_err() {
                    return;
                }
            }
            recv(publishes) -> publish => {
                let Ok(Publish { config, version }) = publish else {
                    return;
                };
                let (installed, replaced) = config.install(&mut current);
                // The publisher may be gone only if it panicked; nothing to tell.
                let _ = version.send(installed);
                drop(replaced);
            }
        }
    }
}

impl<T> ChannelManager<T>
where
    T: Send + Sync + 'static,
{
    /// A manager holding `initial` as version 1.
    pub fn new(initial: T) -> Self {
        static OWNERS_STARTED: AtomicU64 = AtomicU64::new(0);
        // Linux shows 15 bytes of a thread name; this fits with room for
        // a few million managers.
        let thread_name = format!(
            "cfg-owner-{}",
            OWNERS_STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let (readers, current) = bounded(0);
        let (publishes, incoming) = bounded(0);
        let initial = first(initial);
        let owner = thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || own(initial, readers, incoming))
            .expect("spawning the config owner thread");
        Self {
            current,
            publishes,
            thread_name,
            _owner: JoinOnDrop(Some(owner)),
        }
    }
}

from_initial!(ChannelManager);

impl<T> ConfigManager<T> for ChannelManager<T>
where
    T: Send + Sync + 'static,
{
    const NAME: &'static str = "channel";

    fn publish(&self, config: T) -> u64 {
        let (version, installed) = bounded(1);
        let publish = Publish {
            config: Pending::new(config),
            version,
        };
        self.publishes
            .send(publish)
            .expect("the owner thread runs until the manager is dropped");
        installed
            .recv()
            .expect("the owner thread answers every publish")
    }

    fn snapshot(&self) -> Snapshot<T> {
        self.current
            .recv()
            .expect("the owner thread runs until the manager is dropped")
    }

    fn read<R>(&self, f: impl FnOnce(&Versioned<T>) -> R) -> R {
        f(&self.snapshot())
    }
}
