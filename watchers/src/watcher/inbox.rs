//! The driver's inbox, and the way a built-in watcher runs on the driver's
//! own thread instead of a thread of its own.
//!
//! A watch is one thread: the driver waits for the next signal *and* for
//! what the watcher waits on (inotify's descriptor, the poller's next tick)
//! in one place, through the watcher's [`Pump`]. A watcher that needs a
//! thread anyway (notify runs its own; a custom watcher may block in a
//! library) only sends, and the driver waits on the channel alone.

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::watcher::Signal;

/// Where every signal for the driver is sent: by watchers, and by the
/// [`Watch`](crate::Watch) itself (reload now, stop).
pub(crate) struct Inbox {
    sender: Sender<Signal>,
    /// Rung after every send when the driver waits in a watcher's [`Pump`]
    /// rather than on the channel, so it wakes for the signal.
    bell: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// A watcher's loop handed over while it was established, taken by the
    /// watch before anything else can fail (it holds `Signals`, so left
    /// here it would keep this inbox, and itself, alive).
    pump: Mutex<Option<Box<dyn Pump>>>,
}

impl Inbox {
    pub(crate) fn new(sender: Sender<Signal>) -> Self {
        Self {
            sender,
            bell: OnceLock::new(),
            pump: Mutex::new(None),
        }
    }

    /// Sends `signal`; a closed channel means the watch is being dropped.
    pub(crate) fn send(&self, signal: Signal) {
        let _ = self.sender.send(signal);
        if let Some(ring) = self.bell.get() {
            ring();
        }
    }

    /// Hands `pump` to the driver; `bell` wakes it from
    /// [`Pump::wait`] when a signal is sent.
    #[cfg_attr(
        not(any(feature = "poll", all(feature = "inotify", target_os = "linux"))),
        allow(dead_code)
    )]
    pub(crate) fn run_on_driver(&self, pump: Box<dyn Pump>, bell: Box<dyn Fn() + Send + Sync>) {
        let _ = self.bell.set(bell);
        *self
            .pump
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(pump);
    }

    /// The pump a watcher handed over, if it did.
    pub(crate) fn take_pump(&self) -> Option<Box<dyn Pump>> {
        self.pump
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

/// A watcher's loop, run by the driver between reloads.
pub(crate) trait Pump: Send {
    /// Waits for what the watcher watches and forwards what it sees through
    /// its `Signals`; returns once a signal may be waiting on `inbox`
    /// (forwarded, or sent by anyone: the bell rang) or `deadline` passed.
    /// Returns `false` once the watcher has stopped for good (its health
    /// says why); the driver then waits on the channel alone.
    fn wait(&mut self, inbox: &Receiver<Signal>, deadline: Option<Instant>) -> bool;
}
