//! What to do when `accept` fails.
//!
//! Two kinds of failure (accept(2), "Error handling"): the pending
//! connection's own network error, passed on by Linux, which only that
//! client sees (retry at once); and the process or the kernel out of a
//! resource — `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM` — where the
//! connection stays in the backlog and an immediate retry fails the same
//! way, spinning a core. Those are retried after a back-off that doubles
//! from 5 ms to 1 s (Go's `net/http` does the same), logged once per
//! streak, and every failure is counted in `http_accept_errors_total`.

use std::io;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::http_metrics::HttpMetrics;
use config_reload::streak::{Ended, Report, Streak};

const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(super) struct AcceptErrors {
    metrics: HttpMetrics,
    streak: Streak,
    backoff: Duration,
}

impl AcceptErrors {
    pub fn new(metrics: HttpMetrics) -> Self {
        Self {
            metrics,
            streak: Streak::default(),
            backoff: FIRST_BACKOFF,
        }
    }

    /// Counts a failed accept; returns how long to wait before the next.
    pub fn failed(&mut self, error: &io::Error) -> Option<Duration> {
        let kind = kind(error);
        self.metrics.accept_error(kind);
        if is_connection_error(error) {
            debug!(kind, %error, "a connection failed before it was accepted");
            return None;
        }
        match self.streak.event(Instant::now()) {
            Report::Started => warn!(
                kind,
                %error,
                "cannot accept connections: retrying with a back-off; every failure is counted \
                 in http_accept_errors_total, and one line will say when accepting works again"
            ),
            Report::Ongoing { count, lasted } => warn!(
                kind,
                %error,
                failures = count,
                lasted = %humantime::format_duration(whole_millis(lasted)),
                "still cannot accept connections"
            ),
            Report::Quiet => {}
        }
        let pause = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        Some(pause)
    }

    /// A connection was accepted: ends a streak of failures.
    pub fn accepted(&mut self) {
        // Checked first: the common case costs a branch, not a clock read.
        if !self.streak.is_on() {
            return;
        }
        self.backoff = FIRST_BACKOFF;
        if let Some(Ended { count, lasted }) = self.streak.end(Instant::now()) {
            info!(
                failures = count,
                lasted = %humantime::format_duration(whole_millis(lasted)),
                "accepting connections again"
            );
        }
    }
}

fn whole_millis(duration: Duration) -> Duration {
    Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

/// The errors accept(2) says to treat like `EAGAIN` for TCP: the pending
/// connection's, not the listener's.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::EPERM
        )
    )
}

/// The `kind` label: the errno's name, lower-case.
fn kind(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::EMFILE) => "emfile",
        Some(libc::ENFILE) => "enfile",
        Some(libc::ENOBUFS) => "enobufs",
        Some(libc::ENOMEM) => "enomem",
        Some(libc::ECONNABORTED) => "econnaborted",
        Some(libc::EPERM) => "eperm",
        Some(libc::EPROTO) => "eproto",
        Some(_) if is_connection_error(error) => "network",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn resource_errors_back_off_doubling_to_a_second_and_reset_on_success() {
        let mut errors = AcceptErrors::new(HttpMetrics::default());
        let pauses: Vec<_> = (0..10)
            .map(|_| errors.failed(&errno(libc::EMFILE)).unwrap())
            .collect();
        assert_eq!(pauses[0], FIRST_BACKOFF);
        assert_eq!(pauses[1], FIRST_BACKOFF * 2);
        assert_eq!(pauses[9], MAX_BACKOFF);
        errors.accepted();
        assert_eq!(errors.failed(&errno(libc::ENFILE)), Some(FIRST_BACKOFF));
    }

    #[test]
    fn a_connections_own_error_is_retried_at_once() {
        let mut errors = AcceptErrors::new(HttpMetrics::default());
        assert_eq!(errors.failed(&errno(libc::ECONNABORTED)), None);
        assert_eq!(errors.failed(&errno(libc::EMFILE)), Some(FIRST_BACKOFF));
    }

    #[test]
    fn kinds_are_errno_names() {
        assert_eq!(kind(&errno(libc::EMFILE)), "emfile");
        assert_eq!(kind(&errno(libc::ENOBUFS)), "enobufs");
        assert_eq!(kind(&errno(libc::EHOSTUNREACH)), "network");
        assert_eq!(kind(&io::Error::other("?")), "other");
    }
}
