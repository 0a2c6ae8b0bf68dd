//! The [`config_reload::Observer`] of the service: every report feeds the metrics
//! (each occurrence counted), and the log says what an operator needs once
//! per streak, never quoting the config's content.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use config_reload::{
    Disagreement, LoadError, Observer, ReloadOutcome, ReloadReport, Skew, Trigger,
};
use tracing::{debug, info, warn};

use crate::metrics::{Metrics, one_line, trigger_name};
use crate::streak::{Ended, Report, Streak};

/// Logs reloads and watch trouble, and feeds [`Metrics`].
pub struct ReloadObserver {
    metrics: Arc<Metrics>,
    watch_errors: Mutex<Streak>,
    retries: Mutex<Streak>,
}

impl ReloadObserver {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            watch_errors: Mutex::default(),
            retries: Mutex::default(),
        }
    }
}

/// One more occurrence of a streak's trouble: what to log.
fn hit(streak: &Mutex<Streak>) -> Report {
    lock(streak).event(Instant::now())
}

/// The streak's trouble is over: how long it lasted, if it was going on.
fn end(streak: &Mutex<Streak>) -> Option<Ended> {
    lock(streak).end(Instant::now())
}

fn lock(streak: &Mutex<Streak>) -> std::sync::MutexGuard<'_, Streak> {
    streak
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Observer for ReloadObserver {
    fn event(&self) {
        self.metrics.event();
    }

    fn reload(&self, report: &ReloadReport) {
        self.metrics.record(report);
        let trigger = trigger_name(report.trigger);
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
            // At start-up the caller reports it, as the one line on stderr.
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
    }

    fn retrying(&self, error: &LoadError, attempt: u32, delay: Duration) {
        self.metrics.retry();
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
    }

    fn resync_found_change(&self) {
        self.metrics.resync_change();
        warn!("the periodic resync found a change no event announced");
    }

    fn watch_error(&self, message: &str) {
        self.metrics.watch_error();
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
    }

    fn watch_restored(&self) {
        if let Some(Ended { count, lasted }) = end(&self.watch_errors) {
            info!(errors = count, ?lasted, "config watch re-established");
        }
    }

    fn skew(&self, skew: &Skew) {
        self.metrics.skew(skew.source, skew.behind);
        debug!(
            source = skew.source,
            published_by = skew.published_by,
            behind = ?skew.behind,
            hash = %skew.hash,
            "a later source delivered the version already published"
        );
    }

    fn sources_disagree(&self, disagreement: &Disagreement) {
        self.metrics.disagreement();
        warn!(
            source = disagreement.source,
            authority = disagreement.authority,
            serving = disagreement.serving,
            lasted = ?disagreement.lasted,
            "the config's sources disagree: the volume shows content the API does not have, for longer than the volume may lag"
        );
    }

    fn sources_agree(&self, source: &'static str, lasted: Duration) {
        info!(source, ?lasted, "the config's sources agree again");
    }

    fn reload_stuck(&self, running_for: Duration) {
        self.metrics.stuck_reload();
        warn!(
            ?running_for,
            "a config reload has been running for a long time: its filesystem may be hung; still serving the last good config"
        );
    }

    fn stuck_reload_finished(&self, took: Duration) {
        info!(?took, "the stuck config reload finished");
    }
}
