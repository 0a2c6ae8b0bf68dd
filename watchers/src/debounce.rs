//! When a reload runs after the filesystem changed: one policy for every
//! strategy, as a pure state machine (events and `now` in, a decision out) so
//! it is tested without clocks.

use std::time::{Duration, Instant};

/// When a reload runs after the filesystem changed.
///
/// An atomic commit (the kubelet's `..data` rename, a rename or create onto
/// the path, a symlink swap, `IN_CLOSE_WRITE`) reloads at once: the new
/// content is complete the moment it is visible. An in-place write that has
/// not been closed yet may be half done, so it waits for the close, or for
/// `quiet` without further writes, and never longer than `max_delay` after
/// the first pending write, so a writer that never stops still gets its
/// changes picked up.
///
/// Commits are never delayed to batch a burst: latency comes first, and a
/// reload costs tens of microseconds. Signals that queue up while a reload
/// runs become one reload, so a burst publishes as many complete, valid
/// intermediate versions as the loader keeps up with, and always its last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// After an in-place write with no close yet, wait this long without
    /// further writes before reloading.
    pub quiet: Duration,
    /// Reload no later than this after the first pending write, even if
    /// writes never stop.
    pub max_delay: Duration,
}

impl Default for Debounce {
    /// `quiet` 20 ms: a tool writing a config in several `write(2)` calls
    /// issues them microseconds apart, so 20 ms of silence means it is done
    /// (or stalled, and then the parse decides) while staying far below
    /// anything a human or a rollout notices. `max_delay` 200 ms: ten quiet
    /// windows, short enough that a log-like constant writer is still picked
    /// up several times a second, long enough that a burst is one reload.
    fn default() -> Self {
        Self {
            quiet: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        }
    }
}

/// A classified filesystem change, as a strategy reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The new content is complete now: a rename, create, delete, symlink
    /// swap, close after write, metadata change.
    Commit,
    /// Bytes were written in place and the writer may not be done.
    Write,
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing is pending.
    Idle,
    /// Wait, at most until this instant.
    WaitUntil(Instant),
    /// Reload now; the first pending change arrived at `since`.
    Reload { since: Instant },
}

/// The pending changes since the last reload.
#[derive(Debug)]
pub(crate) struct Debouncer {
    policy: Debounce,
    first_change: Option<Instant>,
    committed: bool,
    first_write: Option<Instant>,
    last_write: Option<Instant>,
}

impl Debouncer {
    pub(crate) fn new(policy: Debounce) -> Self {
        Self {
            policy,
            first_change: None,
            committed: false,
            first_write: None,
            last_write: None,
        }
    }

    /// Records one change seen at `now`.
    pub(crate) fn record(&mut self, change: Change, now: Instant) {
        self.first_change.get_or_insert(now);
        match change {
            Change::Commit => self.committed = true,
            Change::Write => {
                self.first_write.get_or_insert(now);
                self.last_write = Some(now);
            }
        }
    }

    /// What to do at `now`.
    pub(crate) fn next(&self, now: Instant) -> Next {
        let Some(since) = self.first_change else {
            return Next::Idle;
        };
        if self.committed {
            return Next::Reload { since };
        }
        let (Some(first_write), Some(last_write)) = (self.first_write, self.last_write) else {
            return Next::Reload { since };
        };
        let deadline = (last_write + self.policy.quiet).min(first_write + self.policy.max_delay);
        if now >= deadline {
            Next::Reload { since }
        } else {
            Next::WaitUntil(deadline)
        }
    }

    /// Forgets every pending change: a reload is starting and will read them.
    pub(crate) fn reloading(&mut self) {
        *self = Self::new(self.policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn debouncer() -> (Debouncer, Instant) {
        (
            Debouncer::new(Debounce {
                quiet: 20 * MS,
                max_delay: 200 * MS,
            }),
            Instant::now(),
        )
    }

    #[test]
    fn nothing_pending_is_idle() {
        let (debouncer, t0) = debouncer();
        assert_eq!(debouncer.next(t0), Next::Idle);
    }

    #[test]
    fn a_commit_reloads_at_once() {
        let (mut debouncer, t0) = debouncer();
        debouncer.record(Change::Commit, t0);
        assert_eq!(debouncer.next(t0), Next::Reload { since: t0 });
    }

    #[test]
    fn a_write_waits_for_the_quiet_window() {
        let (mut debouncer, t0) = debouncer();
        debouncer.record(Change::Write, t0);
        assert_eq!(debouncer.next(t0), Next::WaitUntil(t0 + 20 * MS));
        assert_eq!(debouncer.next(t0 + 19 * MS), Next::WaitUntil(t0 + 20 * MS));
        assert_eq!(debouncer.next(t0 + 20 * MS), Next::Reload { since: t0 });
    }

    #[test]
    fn each_write_restarts_the_quiet_window() {
        let (mut debouncer, t0) = debouncer();
        debouncer.record(Change::Write, t0);
        debouncer.record(Change::Write, t0 + 15 * MS);
        assert_eq!(debouncer.next(t0 + 20 * MS), Next::WaitUntil(t0 + 35 * MS));
    }

    #[test]
    fn close_after_writes_reloads_at_once_and_reports_the_first_write() {
        let (mut debouncer, t0) = debouncer();
        debouncer.record(Change::Write, t0);
        debouncer.record(Change::Write, t0 + MS);
        debouncer.record(Change::Commit, t0 + 2 * MS);
        assert_eq!(debouncer.next(t0 + 2 * MS), Next::Reload { since: t0 });
    }

    #[test]
    fn a_constant_stream_of_writes_reloads_after_max_delay() {
        let (mut debouncer, t0) = debouncer();
        for step in 0..=30 {
            debouncer.record(Change::Write, t0 + step * 10 * MS);
            let now = t0 + step * 10 * MS;
            if now < t0 + 200 * MS {
                assert!(
                    matches!(debouncer.next(now), Next::WaitUntil(_)),
                    "step {step}"
                );
            } else {
                assert_eq!(
                    debouncer.next(now),
                    Next::Reload { since: t0 },
                    "step {step}"
                );
                break;
            }
        }
        assert_eq!(
            debouncer.next(t0 + 190 * MS),
            Next::WaitUntil(t0 + 200 * MS)
        );
    }

    #[test]
    fn reloading_forgets_everything_pending() {
        let (mut debouncer, t0) = debouncer();
        debouncer.record(Change::Write, t0);
        debouncer.record(Change::Commit, t0);
        debouncer.reloading();
        assert_eq!(debouncer.next(t0 + 300 * MS), Next::Idle);
        debouncer.record(Change::Write, t0 + 300 * MS);
        assert_eq!(
            debouncer.next(t0 + 300 * MS),
            Next::WaitUntil(t0 + 320 * MS)
        );
    }
}
