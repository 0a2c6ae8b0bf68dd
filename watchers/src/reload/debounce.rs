//! When a reload runs after the filesystem changed: one policy for every
//! watcher, as a pure state machine (changes and `now` in, a decision out) so
//! it is tested without clocks.

use std::time::{Duration, Instant};

/// When a reload runs after the filesystem changed.
///
/// An atomic commit (the kubelet's `..data` rename, a rename onto the path, a
/// symlink swap, a delete) reloads at once: the new content is complete the
/// moment it is visible. An in-place write is published only once its writer
/// is done: after the writer's close (`IN_CLOSE_WRITE`), never on a timer
/// while writes may still come, because every prefix of a YAML file can be
/// valid YAML (a literal block written a line at a time is). Two bounds
/// remain for writers that cannot be seen closing:
///
/// - `unclosed_write_timeout` (event watchers): a writer that keeps the
///   file open and stops writing is taken as done after this long without a
///   write. It is long on purpose and reported as
///   [`Trigger::UnclosedWrite`](crate::Trigger::UnclosedWrite), so a service
///   can count it.
/// - `poll_settle` (the `Poll` watcher, which sees no
///   close): an in-place change is published once the file's size and mtime
///   have stayed the same for this long.
///
/// Commits are never delayed to batch a burst: latency comes first, and a
/// reload costs tens of microseconds. Changes that queue up while a reload
/// runs become one reload, so a burst publishes as many complete, valid
/// intermediate versions as the loader keeps up with, and always its last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// Event watchers: an in-place write not yet closed is reloaded after
    /// this long without another write.
    pub unclosed_write_timeout: Duration,
    /// Poll: an in-place change is reloaded once the file has stayed the same
    /// for this long.
    pub poll_settle: Duration,
}

impl Default for Debounce {
    /// `unclosed_write_timeout` 5 s: every tool that writes a config closes
    /// it within microseconds of its last write; one that holds the file open
    /// for seconds without writing has stalled or never closes, and 5 s is
    /// still short next to the kubelet's minute. `poll_settle` 1 s: more
    /// than three times a 300 ms pause between two writes of one slow writer,
    /// and a tenth of what a ConfigMap update already waited for the kubelet.
    fn default() -> Self {
        Self {
            unclosed_write_timeout: Duration::from_secs(5),
            poll_settle: Duration::from_secs(1),
        }
    }
}

/// A classified filesystem change, as a watcher reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The new content is complete now: a rename, a delete, a symlink swap,
    /// a close after writing.
    Commit,
    /// Bytes were written in place (or a file was created) and the writer
    /// may not be done: waits for its close.
    Write,
    /// Something that is not an in-place write may have changed what a load
    /// reads: metadata (a `chmod` can make a file readable; a `touch` costs
    /// one hash comparison), or a watch moved to another directory (after a
    /// remount, a relinked symlink). Reloads now, unless an in-place write
    /// is open, whose close it then waits for.
    Recheck,
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing is pending.
    Idle,
    /// Wait, at most until this instant.
    WaitUntil(Instant),
    /// Reload now; the first pending change happened at `since`.
    Reload { since: Instant, why: Why },
}

/// Why a reload is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// A commit, a close, or metadata with no write pending.
    Complete,
    /// A write was never closed within `unclosed_write_timeout`.
    UnclosedWrite,
}

/// The pending changes since the last reload.
#[derive(Debug)]
pub(crate) struct Debouncer {
    policy: Debounce,
    first_change: Option<Instant>,
    complete: bool,
    last_write: Option<Instant>,
}

impl Debouncer {
    pub(crate) fn new(policy: Debounce) -> Self {
        Self {
            policy,
            first_change: None,
            complete: false,
            last_write: None,
        }
    }

    /// Records one change that happened at `at`.
    pub(crate) fn record(&mut self, change: Change, at: Instant) {
        self.first_change = Some(self.first_change.map_or(at, |first| first.min(at)));
        match change {
            Change::Commit => {
                self.complete = true;
                // The writer's close (or a rename, a delete) ends what it wrote.
                self.last_write = None;
            }
            Change::Write => {
                self.last_write = Some(self.last_write.map_or(at, |last| last.max(at)));
            }
            Change::Recheck => self.complete = true,
        }
    }

    /// Whether an in-place write is waiting for its writer's close: a
    /// background check must not read the file now.
    pub(crate) fn write_pending(&self) -> bool {
        self.last_write.is_some()
    }

    /// What to do at `now`.
    pub(crate) fn next(&self, now: Instant) -> Next {
        let Some(since) = self.first_change else {
            return Next::Idle;
        };
        match self.last_write {
            None if self.complete => Next::Reload {
                since,
                why: Why::Complete,
            },
            None => Next::Idle,
            Some(last_write) => {
                let deadline = last_write + self.policy.unclosed_write_timeout;
                if now >= deadline {
                    Next::Reload {
                        since,
                        why: Why::UnclosedWrite,
                    }
                } else {
                    Next::WaitUntil(deadline)
                }
            }
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
                unclosed_write_timeout: 5000 * MS,
                poll_settle: 1000 * MS,
            }),
            Instant::now(),
        )
    }

    fn reload(since: Instant) -> Next {
        Next::Reload {
            since,
            why: Why::Complete,
        }
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
        assert_eq!(debouncer.next(t0), reload(t0));
    }

    #[test]
    fn a_write_waits_for_its_close_however_long_the_pause() {
        let (mut debouncer, t0) = debouncer();
        debouncer.record(Change::Write, t0);
        for pause in [20, 200, 300, 1000, 4999] {
            assert_eq!(
                debouncer.next(t0 + pause * MS),
                Next::WaitUntil(t0 + 5000 * MS),
                "{pause} ms after the write"
            );
        }
        debouncer.record(Change::Write, t0 + 300 * MS);
        debouncer.record(Change::Commit, t0 + 600 * MS);
        assert_eq!(debouncer.next(t0 + 600 * MS), reload(t0));
    }

    #[test]
    fn a_write_never_closed_reloads_after_the_timeout_and_says_so() {
        let (mut debouncer, t0) = debouncer();
        debouncer.record(Change::Write, t0);
        debouncer.record(Change::Write, t0 + 1000 * MS);
        assert_eq!(
            debouncer.next(t0 + 5999 * MS),
            Next::WaitUntil(t0 + 6000 * MS)
        );
        assert_eq!(
            debouncer.next(t0 + 6000 * MS),
            Next::Reload {
                since: t0,
                why: Why::UnclosedWrite
            }
        );
    }

    #[test]
    fn a_recheck_reloads_at_once_unless_a_write_is_pending() {
        let (mut debouncer, t0) = self::debouncer();
        debouncer.record(Change::Recheck, t0);
        assert_eq!(debouncer.next(t0), reload(t0));

        let (mut debouncer, t0) = self::debouncer();
        debouncer.record(Change::Write, t0);
        debouncer.record(Change::Recheck, t0 + MS);
        assert!(matches!(debouncer.next(t0 + MS), Next::WaitUntil(_)));
        assert!(debouncer.write_pending());
        debouncer.record(Change::Commit, t0 + 2 * MS);
        assert_eq!(debouncer.next(t0 + 2 * MS), reload(t0));
        assert!(!debouncer.write_pending());
    }

    #[test]
    fn since_is_the_earliest_change_even_if_recorded_late() {
        let (mut debouncer, t0) = debouncer();
        debouncer.record(Change::Write, t0 + 10 * MS);
        debouncer.record(Change::Commit, t0);
        assert_eq!(debouncer.next(t0 + 10 * MS), reload(t0));
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
            Next::WaitUntil(t0 + 5300 * MS)
        );
    }
}
