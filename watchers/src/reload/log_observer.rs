//! What every watch says through `tracing` (target `config_reload`), whether
//! or not its user set an [`Observer`]: a rejected edit, a retry streak, a
//! broken and re-established watch, a stuck reload. A condition that repeats
//! is logged once when it starts, once a minute while it lasts and once with
//! the count when it ends ([`Streak`]), so a flood of errors is not a flood
//! of lines. Nothing here quotes the config's content: a reason is the
//! error's one-line `Display`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::streak::{Ended, Report, Streak};
use crate::{Disagreement, LoadError, Observer, ReloadOutcome, ReloadReport, Skew, Trigger};

/// Logs what a watch reports, then hands every report to the user's
/// observer (if any): the log does not depend on writing an observer.
pub(crate) struct LogObserver {
    watch_errors: Mutex<Streak>,
    retries: Mutex<Streak>,
    then: Arc<dyn Observer>,
}

impl LogObserver {
    /// Logs, then calls `then`.
    pub(crate) fn wrapping(then: Arc<dyn Observer>) -> Self {
        Self {
            watch_errors: Mutex::default(),
            retries: Mutex::default(),
            then,
        }
    }
}

fn lock(streak: &Mutex<Streak>) -> MutexGuard<'_, Streak> {
    streak
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One more occurrence of a streak's trouble: what to log.
fn hit(streak: &Mutex<Streak>) -> Report {
    lock(streak).event(Instant::now())
}

/// The streak's trouble is over: how long it lasted, if it was going on.
fn end(streak: &Mutex<Streak>) -> Option<Ended> {
    lock(streak).end(Instant::now())
}

/// Parser messages may go on with a snippet and a caret on further lines;
/// their first line says what is wrong, and a log line stays one line.
fn one_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or_default()
}

impl Observer for LogObserver {
    fn event(&self) {
        self.then.event();
    }

    fn reload(&self, report: &ReloadReport) {
        let trigger = report.trigger.name();
        let took = report.took;
        // A reload reported after retries ends their streak.
        let retries = match &report.outcome {
            ReloadOutcome::Failed(error) if error.is_transient() => None,
            _ => end(&self.retries).map(|ended| ended.count.saturating_sub(1)),
        };
        match &report.outcome {
            ReloadOutcome::Published { version, hash } => {
                let propagation = report.propagation;
                info!(trigger, source = report.source, version, %hash, ?took, ?propagation, retries, "config reloaded");
            }
            ReloadOutcome::Unchanged => debug!(trigger, ?took, retries, "config unchanged"),
            // At start the error is the caller's: `StartError::InitialLoad`.
            ReloadOutcome::Failed(_) if report.trigger == Trigger::Initial => {}
            ReloadOutcome::Failed(error) if error.is_transient() => {
                hit(&self.retries);
                warn!(
                    trigger,
                    path = %error.path.display(),
                    kind = error.kind.label(),
                    reason = one_line(&error.kind.to_string()),
                    "config could not be read for now, retrying with backoff; still serving the last good one"
                );
            }
            ReloadOutcome::Failed(error) => warn!(
                trigger,
                path = %error.path.display(),
                kind = error.kind.label(),
                reason = one_line(&error.kind.to_string()),
                ?took,
                retries,
                "config rejected, still serving the last good one"
            ),
        }
        self.then.reload(report);
    }

    fn retrying(&self, error: &LoadError, attempt: u32, delay: Duration) {
        if let Report::Ongoing { count, lasted } = hit(&self.retries) {
            warn!(
                path = %error.path.display(),
                kind = error.kind.label(),
                reason = one_line(&error.kind.to_string()),
                attempt,
                retry_in = ?delay,
                failures = count,
                ?lasted,
                "config still cannot be read, retrying"
            );
        }
        self.then.retrying(error, attempt, delay);
    }

    fn resync_found_change(&self) {
        warn!("the periodic resync found a change no event announced");
        self.then.resync_found_change();
    }

    fn watch_error(&self, message: &str) {
        match hit(&self.watch_errors) {
            Report::Started => warn!(error = one_line(message), "config watch broke"),
            Report::Ongoing { count, lasted } => warn!(
                error = one_line(message),
                errors = count,
                ?lasted,
                "config watch still broken"
            ),
            Report::Quiet => {}
        }
        self.then.watch_error(message);
    }

    fn watch_restored(&self) {
        if let Some(Ended { count, lasted }) = end(&self.watch_errors) {
            info!(errors = count, ?lasted, "config watch re-established");
        }
        self.then.watch_restored();
    }

    fn skew(&self, skew: &Skew) {
        debug!(
            source = skew.source,
            published_by = skew.published_by,
            behind = ?skew.behind,
            hash = %skew.hash,
            "a later source delivered the version already published"
        );
        self.then.skew(skew);
    }

    fn sources_disagree(&self, disagreement: &Disagreement) {
        warn!(
            source = disagreement.source,
            authority = disagreement.authority,
            serving = disagreement.serving,
            lasted = ?disagreement.lasted,
            "the config's sources disagree: the volume shows content the API does not have, for longer than the volume may lag"
        );
        self.then.sources_disagree(disagreement);
    }

    fn sources_agree(&self, source: &'static str, lasted: Duration) {
        info!(source, ?lasted, "the config's sources agree again");
        self.then.sources_agree(source, lasted);
    }

    fn reload_stuck(&self, running_for: Duration) {
        warn!(
            ?running_for,
            "a config reload has been running for a long time: its filesystem may be hung; still serving the last good config"
        );
        self.then.reload_stuck(running_for);
    }

    fn stuck_reload_finished(&self, took: Duration) {
        info!(?took, "the stuck config reload finished");
        self.then.stuck_reload_finished(took);
    }
}
