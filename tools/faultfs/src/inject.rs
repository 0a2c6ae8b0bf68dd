//! What happens to each request: served, failed with an errno, or held until
//! released. One lock covers the fault table, the held requests and the
//! counts, so a request is never held after the `heal` that should have
//! released it.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::op::Op;

/// What a fault does to the requests it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Answer with this errno instead of touching the backing directory.
    Fail(i32),
    /// Answer nothing until released; the caller's system call blocks.
    Hang,
}

/// A request's answer, given now or later from another thread.
pub(crate) trait Answer: Send + 'static {
    /// What a served request answers with.
    type Value;
    /// Send the answer to the kernel.
    fn answer(self, result: Result<Self::Value, fuser::Errno>);
}

/// How many requests of one kind were answered each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Answered by passing them through to the backing directory (whatever
    /// the backing directory answered), including held requests released.
    pub served: u64,
    /// Answered with an injected errno.
    pub failed: u64,
    /// Ever held by a hang fault (each is also counted in `served` once
    /// released).
    pub hung: u64,
    /// Held right now, their callers blocked.
    pub held: u64,
}

/// A snapshot of the per-operation counts since the mount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    per_op: [OpCounts; Op::ALL.len()],
}

impl Counts {
    /// The counts of one operation.
    pub fn of(&self, op: Op) -> OpCounts {
        self.per_op[op.index()]
    }

    /// Every operation with its counts, in [`Op::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Op, OpCounts)> + '_ {
        Op::ALL.iter().map(|&op| (op, self.of(op)))
    }
}

impl fmt::Display for Counts {
    /// One line, only the operations that saw requests:
    /// `lookup 3, read 2 (1 failed), open 1 (1 hung, 1 held)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (op, c) in self.iter() {
            if c == OpCounts::default() {
                continue;
            }
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{op} {}", c.served + c.failed + c.held)?;
            let extra: Vec<String> = [("failed", c.failed), ("hung", c.hung), ("held", c.held)]
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .map(|(what, n)| format!("{n} {what}"))
                .collect();
            if !extra.is_empty() {
                write!(f, " ({})", extra.join(", "))?;
            }
        }
        if first {
            f.write_str("no requests")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct Fault {
    action: Action,
    /// Only requests concerning an entry of this file name, if set.
    name: Option<OsString>,
}

impl Fault {
    fn applies_to(&self, names: &mut dyn FnMut() -> Vec<OsString>) -> bool {
        match &self.name {
            None => true,
            Some(wanted) => names().iter().any(|name| name == wanted),
        }
    }
}

/// A held request: answering it runs the passthrough it was denied.
struct Held {
    op: Op,
    resume: Box<dyn FnOnce() + Send>,
}

#[derive(Default)]
struct State {
    faults: [Option<Fault>; Op::ALL.len()],
    held: Vec<Held>,
    counts: Counts,
}

/// The fault table shared by the test thread and the FUSE session.
#[derive(Default)]
pub(crate) struct Injector {
    state: Mutex<State>,
    /// Signalled whenever a request is held, for `wait_for_held`.
    held_more: Condvar,
}

impl Injector {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere never leaves the table half-updated: every
        // update is a single assignment or push under the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the fault of `op`, replacing any previous one. Requests already
    /// held stay held until `clear` or `heal`.
    pub(crate) fn set(&self, op: Op, action: Action, name: Option<&OsStr>) {
        self.state().faults[op.index()] = Some(Fault {
            action,
            name: name.map(OsStr::to_owned),
        });
    }

    /// Decides `reply`'s fate under the current faults and acts on it:
    /// `serve` computes the passthrough answer (now, or when released);
    /// `names` lists the file names the request concerns, asked only when a
    /// fault of `op` filters by name.
    pub(crate) fn handle<R: Answer>(
        &self,
        op: Op,
        mut names: impl FnMut() -> Vec<OsString>,
        reply: R,
        serve: impl FnOnce() -> Result<R::Value, fuser::Errno> + Send + 'static,
    ) {
        let mut state = self.state();
        let action = state.faults[op.index()]
            .as_ref()
            .filter(|fault| fault.applies_to(&mut names))
            .map(|fault| fault.action);
        let counts = &mut state.counts.per_op[op.index()];
        match action {
            None => {
                counts.served += 1;
                drop(state);
                reply.answer(serve());
            }
            Some(Action::Fail(errno)) => {
                counts.failed += 1;
                drop(state);
                reply.answer(Err(fuser::Errno::from_i32(errno)));
            }
            Some(Action::Hang) => {
                counts.hung += 1;
                counts.held += 1;
                state.held.push(Held {
                    op,
                    resume: Box::new(move || reply.answer(serve())),
                });
                self.held_more.notify_all();
            }
        }
    }

    /// Removes the faults of the operations `which` selects and answers
    /// their held requests normally, on the calling thread.
    pub(crate) fn clear(&self, which: impl Fn(Op) -> bool) {
        let released = {
            let mut state = self.state();
            for op in Op::ALL.into_iter().filter(|&op| which(op)) {
                state.faults[op.index()] = None;
            }
            let (released, still_held): (Vec<Held>, Vec<Held>) =
                state.held.drain(..).partition(|held| which(held.op));
            state.held = still_held;
            for held in &released {
                let counts = &mut state.counts.per_op[held.op.index()];
                counts.held -= 1;
                counts.served += 1;
            }
            released
        };
        // Outside the lock: answering may wake a caller whose next request
        // arrives on the session thread and needs the lock.
        for held in released {
            (held.resume)();
        }
    }

    /// Waits until at least `at_least` requests of `op` are held at once;
    /// false if `timeout` passed first.
    pub(crate) fn wait_for_held(&self, op: Op, at_least: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while state.counts.of(op).held < at_least {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            state = self
                .held_more
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    pub(crate) fn counts(&self) -> Counts {
        self.state().counts.clone()
    }
}
