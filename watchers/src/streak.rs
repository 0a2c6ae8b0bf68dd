//! Rate-limited logging of a condition that repeats: one line when a streak
//! starts, at most one a minute while it lasts, one with the count when it
//! ends. A flood of errors must not become a flood of log lines.

use std::time::{Duration, Instant};

/// How often a streak that goes on is logged again.
const REMINDER: Duration = Duration::from_secs(60);

/// What to log for an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Report {
    /// The first event of a streak.
    Started,
    /// The streak goes on: `count` events over `lasted`.
    Ongoing { count: u64, lasted: Duration },
    /// Nothing: already said.
    Quiet,
}

/// A streak's end: `count` events over `lasted`.
#[derive(Debug, PartialEq, Eq)]
pub struct Ended {
    pub count: u64,
    pub lasted: Duration,
}

#[derive(Debug, Default)]
pub struct Streak {
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    started: Instant,
    count: u64,
    last_line: Instant,
    last_event: Instant,
}

impl Streak {
    /// Counts one event at `now`.
    pub fn event(&mut self, now: Instant) -> Report {
        let Some(current) = &mut self.current else {
            self.current = Some(Current {
                started: now,
                count: 1,
                last_line: now,
                last_event: now,
            });
            return Report::Started;
        };
        current.count += 1;
        current.last_event = now;
        if now.duration_since(current.last_line) < REMINDER {
            return Report::Quiet;
        }
        current.last_line = now;
        Report::Ongoing {
            count: current.count,
            lasted: now.duration_since(current.started),
        }
    }

    /// Whether a streak is going on.
    pub fn is_on(&self) -> bool {
        self.current.is_some()
    }

    /// Ends the streak, if one is going on.
    pub fn end(&mut self, now: Instant) -> Option<Ended> {
        self.end_if_quiet(now, Duration::ZERO)
    }

    /// Ends the streak if no event came for `quiet`: a condition that comes
    /// and goes stays one streak.
    pub fn end_if_quiet(&mut self, now: Instant, quiet: Duration) -> Option<Ended> {
        let current = self.current.as_ref()?;
        if now.duration_since(current.last_event) < quiet {
            return None;
        }
        self.current.take().map(|current| Ended {
            count: current.count,
            lasted: now.duration_since(current.started),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_is_reported_at_its_start_once_a_minute_and_at_its_end() {
        let start = Instant::now();
        let mut streak = Streak::default();
        assert_eq!(streak.end(start), None, "no streak yet");
        assert_eq!(streak.event(start), Report::Started);
        for second in 1..60 {
            assert_eq!(
                streak.event(start + Duration::from_secs(second)),
                Report::Quiet
            );
        }
        assert_eq!(
            streak.event(start + REMINDER),
            Report::Ongoing {
                count: 61,
                lasted: REMINDER
            }
        );
        assert_eq!(
            streak.event(start + REMINDER + Duration::from_secs(1)),
            Report::Quiet
        );
        assert_eq!(
            streak.end(start + Duration::from_secs(90)),
            Some(Ended {
                count: 62,
                lasted: Duration::from_secs(90)
            })
        );
        assert_eq!(streak.event(start), Report::Started, "a new streak");
    }

    #[test]
    fn a_streak_with_gaps_shorter_than_the_quiet_time_is_one_streak() {
        let start = Instant::now();
        let quiet = Duration::from_secs(10);
        let mut streak = Streak::default();
        assert_eq!(streak.event(start), Report::Started);
        let later = start + Duration::from_secs(5);
        assert_eq!(streak.end_if_quiet(later, quiet), None);
        assert_eq!(streak.event(later), Report::Quiet, "the same streak");
        assert_eq!(
            streak.end_if_quiet(later + quiet, quiet),
            Some(Ended {
                count: 2,
                lasted: Duration::from_secs(15)
            })
        );
    }
}
