//! Turning what the harness saw over HTTP into numbers and verdicts.
//!
//! The poller records every answer of `GET /` with the time it arrived, on
//! one clock that also marks when each update was committed. Everything here
//! is a pure function of that log, so each rule is tested on recorded
//! samples rather than on a live process.

use std::sync::Arc;
use std::time::Duration;

/// What one `GET /` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `200 OK` with this body.
    Body(Arc<[u8]>),
    /// Any other status (its body is not kept).
    Status(u16),
    /// No answer: connection refused or reset, or no response in time.
    Down,
}

impl Answer {
    /// A `200 OK` carrying `body`.
    #[cfg(test)]
    pub fn body(body: impl AsRef<[u8]>) -> Self {
        Self::Body(Arc::from(body.as_ref()))
    }

    fn is_body(&self, expected: &[u8]) -> bool {
        matches!(self, Self::Body(body) if &body[..] == expected)
    }
}

/// One answer and when it arrived, measured from the run's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Arrival time since the origin.
    pub at: Duration,
    /// The answer.
    pub answer: Answer,
}

/// One update the harness made: when its writes began, when it was
/// committed (the rename, or the last write), how long the subject had to
/// serve it, the value it should serve, and the values a half-done write
/// would give (which must never be served).
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    /// The first write of this update.
    pub started: Duration,
    /// The commit point latencies are measured from.
    pub committed: Duration,
    /// After this, an update not yet served is missed.
    pub deadline: Duration,
    /// The body the update should make the subject serve.
    pub new: &'a [u8],
    /// Bodies a subject would serve if it read the file half written.
    pub partial: &'a [&'a [u8]],
}

/// What the log shows about one update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateOutcome {
    /// From the commit to the first answer with the new body; `None` when
    /// it did not come before the deadline.
    pub latency: Option<Duration>,
    /// How many of the update's half-written bodies were served.
    pub partial_served: usize,
    /// Whether, before the new body (or the deadline), the subject answered
    /// with anything other than what it served before the update, the new
    /// body or a half-written one: another body, an error status, or no
    /// answer at all.
    pub unexpected_served: bool,
}

/// Judges one update against the log. What the subject served last before
/// the update started is its "old" value; a subject still serving that has
/// not changed yet, which is not a fault in itself.
pub fn judge_update(samples: &[Sample], update: &Update<'_>) -> UpdateOutcome {
    let old = samples
        .iter()
        .take_while(|sample| sample.at < update.started)
        .filter_map(|sample| match &sample.answer {
            Answer::Body(body) => Some(body),
            _ => None,
        })
        .last();
    let mut outcome = UpdateOutcome::default();
    let mut partial_seen = vec![false; update.partial.len()];
    let window = samples
        .iter()
        .skip_while(|sample| sample.at < update.started)
        .take_while(|sample| sample.at <= update.deadline);
    for sample in window {
        if sample.answer.is_body(update.new) {
            outcome.latency = Some(sample.at.saturating_sub(update.committed));
            break;
        }
        if let Some(index) = update
            .partial
            .iter()
            .position(|partial| sample.answer.is_body(partial))
        {
            partial_seen[index] = true;
        } else if !old.is_some_and(|old| sample.answer.is_body(old)) {
            outcome.unexpected_served = true;
        }
    }
    outcome.partial_served = partial_seen.iter().filter(|seen| **seen).count();
    outcome
}

/// Reads in `[from, to]` whose body fails `consistent`: a body assembled
/// from two versions. Returns `(torn, reads)`, counting only `200 OK`
/// answers as reads.
pub fn torn_reads(
    samples: &[Sample],
    from: Duration,
    to: Duration,
    consistent: impl Fn(&[u8]) -> bool,
) -> (u64, u64) {
    let mut torn = 0;
    let mut reads = 0;
    for sample in samples.iter().filter(|s| s.at >= from && s.at <= to) {
        if let Answer::Body(body) = &sample.answer {
            reads += 1;
            if !consistent(body) {
                torn += 1;
            }
        }
    }
    (torn, reads)
}

/// What a subject did with a bad file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It went on answering with the last good config, and only that.
    KeepsLastGood,
    /// It answered with something else: another body (empty, a default, the
    /// bad file's value) or an error status.
    ServesGarbage,
    /// It stopped answering.
    Dies,
}

impl Verdict {
    /// The record text: `keeps-last-good`, `serves-garbage`, `dies`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeepsLastGood => "keeps-last-good",
            Self::ServesGarbage => "serves-garbage",
            Self::Dies => "dies",
        }
    }
}

/// Judges the answers from a bad file's commit to `until`. A subject whose
/// last answer in the window is none has died (a process does not come
/// back); one that answered anything but `last_good` serves garbage; a
/// failed request between good answers (a stall) is neither.
pub fn judge_bad(
    samples: &[Sample],
    committed: Duration,
    until: Duration,
    last_good: &[u8],
) -> Verdict {
    let window: Vec<&Sample> = samples
        .iter()
        .filter(|sample| sample.at >= committed && sample.at <= until)
        .collect();
    match window.last() {
        None => Verdict::Dies,
        Some(last) if last.answer == Answer::Down => Verdict::Dies,
        Some(_) => {
            let garbage = window
                .iter()
                .any(|sample| sample.answer != Answer::Down && !sample.answer.is_body(last_good));
            if garbage {
                Verdict::ServesGarbage
            } else {
                Verdict::KeepsLastGood
            }
        }
    }
}

/// The nearest-rank percentile `p` (0-100) of `values`, which need not be
/// sorted; `None` for no values.
pub fn percentile(values: &[Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A log from `(millisecond, answer)` pairs.
    fn log(entries: &[(u64, Answer)]) -> Vec<Sample> {
        entries
            .iter()
            .map(|(at, answer)| Sample {
                at: ms(*at),
                answer: answer.clone(),
            })
            .collect()
    }

    fn body(text: &str) -> Answer {
        Answer::body(text)
    }

    fn update<'a>(started: u64, committed: u64, deadline: u64, new: &'a str) -> Update<'a> {
        Update {
            started: ms(started),
            committed: ms(committed),
            deadline: ms(deadline),
            new: new.as_bytes(),
            partial: &[],
        }
    }

    #[test]
    fn an_update_served_in_time_is_detected_with_its_latency_from_the_commit() {
        let samples = log(&[
            (90, body("v0")),
            (101, body("v0")),
            (104, body("v1")),
            (105, body("v1")),
        ]);
        let outcome = judge_update(&samples, &update(100, 102, 3100, "v1"));
        assert_eq!(outcome.latency, Some(ms(2)));
        assert!(!outcome.unexpected_served);
    }

    #[test]
    fn an_update_never_served_is_missed() {
        let samples = log(&[
            (90, body("v0")),
            (500, body("v0")),
            (3000, body("v0")),
            (3200, body("v0")),
        ]);
        let outcome = judge_update(&samples, &update(100, 100, 3100, "v1"));
        assert_eq!(outcome.latency, None);
        assert!(
            !outcome.unexpected_served,
            "still serving the old value is not garbage"
        );
    }

    #[test]
    fn an_update_served_a_tick_late_is_detected_but_one_after_the_deadline_is_missed() {
        let samples = log(&[(0, body("v0")), (1049, body("v1"))]);
        assert_eq!(
            judge_update(&samples, &update(100, 100, 3100, "v1")).latency,
            Some(ms(949))
        );
        let late = log(&[(0, body("v0")), (3101, body("v1"))]);
        assert_eq!(
            judge_update(&late, &update(100, 100, 3100, "v1")).latency,
            None
        );
    }

    #[test]
    fn another_body_an_error_or_silence_before_the_new_value_is_unexpected() {
        for odd in [body(""), Answer::Status(500), Answer::Down] {
            let samples = log(&[(0, body("v0")), (110, odd.clone()), (120, body("v1"))]);
            let outcome = judge_update(&samples, &update(100, 100, 3100, "v1"));
            assert!(outcome.unexpected_served, "{odd:?}");
            assert_eq!(outcome.latency, Some(ms(20)));
        }
    }

    #[test]
    fn a_served_prefix_counts_as_half_written_not_as_unexpected() {
        let partial: [&[u8]; 2] = [b"l1\n", b"l1\nl2\n"];
        let samples = log(&[
            (0, body("v0")),
            (150, body("l1\n")),
            (160, body("l1\n")),
            (700, body("l1\nl2\nl3\n")),
        ]);
        let outcome = judge_update(
            &samples,
            &Update {
                partial: &partial,
                ..update(100, 650, 3650, "l1\nl2\nl3\n")
            },
        );
        assert_eq!(outcome.partial_served, 1);
        assert!(!outcome.unexpected_served);
        assert_eq!(outcome.latency, Some(ms(50)));
    }

    #[test]
    fn a_read_mixing_two_versions_is_torn() {
        let halves_agree = |body: &[u8]| {
            let text = std::str::from_utf8(body).unwrap();
            let (a, b) = text.split_once('|').unwrap();
            a == b
        };
        let samples = log(&[
            (0, body("v0|v0")),
            (10, body("v0|v1")),
            (20, Answer::Down),
            (30, body("v1|v1")),
        ]);
        assert_eq!(torn_reads(&samples, ms(0), ms(30), halves_agree), (1, 3));
        assert_eq!(torn_reads(&samples, ms(15), ms(30), halves_agree), (0, 1));
    }

    #[test]
    fn a_subject_that_stops_answering_dies() {
        let samples = log(&[
            (0, body("good")),
            (100, body("good")),
            (1100, Answer::Down),
            (1200, Answer::Down),
        ]);
        assert_eq!(
            judge_bad(&samples, ms(50), ms(1200), b"good"),
            Verdict::Dies
        );
        assert_eq!(judge_bad(&[], ms(50), ms(1200), b"good"), Verdict::Dies);
    }

    #[test]
    fn a_subject_answering_anything_but_the_last_good_serves_garbage() {
        for garbage in [body(""), body("default"), Answer::Status(500)] {
            let samples = log(&[
                (0, body("good")),
                (100, body("good")),
                (200, garbage.clone()),
                (300, body("good")),
            ]);
            assert_eq!(
                judge_bad(&samples, ms(50), ms(300), b"good"),
                Verdict::ServesGarbage,
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn a_subject_answering_only_the_last_good_keeps_it_even_through_a_stall() {
        let samples = log(&[
            (0, body("good")),
            (100, body("good")),
            (200, Answer::Down),
            (300, body("good")),
        ]);
        assert_eq!(
            judge_bad(&samples, ms(50), ms(300), b"good"),
            Verdict::KeepsLastGood
        );
        // Garbage before the bad commit is not this bad file's doing.
        let earlier = log(&[(0, body("")), (100, body("good"))]);
        assert_eq!(
            judge_bad(&earlier, ms(50), ms(300), b"good"),
            Verdict::KeepsLastGood
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<Duration> = [5, 1, 4, 2, 3].into_iter().map(ms).collect();
        assert_eq!(percentile(&values, 50.0), Some(ms(3)));
        assert_eq!(percentile(&values, 99.0), Some(ms(5)));
        assert_eq!(percentile(&values, 0.0), Some(ms(1)));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
