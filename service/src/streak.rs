//! One log line per streak of the same trouble, not one per occurrence: a
//! watch that cannot be re-established is retried ten times a second, and
//! each retry is counted in the metrics, but the log says it once, then at
//! most once a minute how many more there were, then that it ended.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a streak that goes on is summarised.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// The state of one kind of trouble.
#[derive(Default)]
pub struct Streak(Mutex<Option<State>>);

struct State {
    /// Occurrences since the streak began.
    total: u64,
    /// Occurrences not logged since the last line.
    unlogged: u64,
    last_logged: Instant,
}

/// What the caller should log for one occurrence.
#[derive(Debug, PartialEq, Eq)]
pub enum Log {
    /// The first of a streak: log it.
    First,
    /// The streak goes on: log a summary of `unlogged` occurrences since the
    /// last line (`total` since it began).
    Summary { unlogged: u64, total: u64 },
    /// Counted, not logged.
    Quiet,
}

impl Streak {
    /// One more occurrence.
    pub fn hit(&self) -> Log {
        self.hit_at(Instant::now())
    }

    fn hit_at(&self, now: Instant) -> Log {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(state) = state.as_mut() else {
            *state = Some(State {
                total: 1,
                unlogged: 0,
                last_logged: now,
            });
            return Log::First;
        };
        state.total += 1;
        state.unlogged += 1;
        if now.duration_since(state.last_logged) < SUMMARY_EVERY {
            return Log::Quiet;
        }
        state.last_logged = now;
        Log::Summary {
            unlogged: std::mem::take(&mut state.unlogged),
            total: state.total,
        }
    }

    /// The trouble is over; returns how many occurrences the streak had, if
    /// one was going on.
    pub fn end(&self) -> Option<u64> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .map(|state| state.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_logs_its_first_then_a_summary_a_minute_then_its_end() {
        let streak = Streak::default();
        let t0 = Instant::now();
        assert_eq!(streak.hit_at(t0), Log::First);
        for tick in 1..600 {
            assert_eq!(
                streak.hit_at(t0 + Duration::from_millis(100 * tick)),
                Log::Quiet
            );
        }
        assert_eq!(
            streak.hit_at(t0 + Duration::from_secs(60)),
            Log::Summary {
                unlogged: 600,
                total: 601
            }
        );
        assert_eq!(streak.end(), Some(601));
        assert_eq!(streak.end(), None);
        assert_eq!(streak.hit_at(t0 + Duration::from_secs(61)), Log::First);
    }
}
