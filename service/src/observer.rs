//! The [`watchers::Observer`] of the service: every report feeds the metrics
//! (each occurrence counted), and the log says what an operator needs once
//! per streak, never quoting the config's content.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};
use watchers::{LoadError, Observer, ReloadOutcome, ReloadReport, Trigger};

use crate::metrics::{Metrics, one_line, trigger_name};
use crate::streak::{Log, Streak};

/// Logs reloads and watch trouble, and feeds [`Metrics`].
pub struct ReloadObserver {
    metrics: Arc<Metrics>,
    watch_errors: Streak,
    retries: Streak,
}

impl ReloadObserver {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            watch_errors: Streak::default(),
            retries: Streak::default(),
        }
    }
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
            _ => self.retries.end().map(|total| total.saturating_sub(1)),
        };
        match &report.outcome {
            ReloadOutcome::Published { version, hash } => {
                info!(trigger, version, %hash, ?took, retries, "config reloaded");
            }
            ReloadOutcome::Unchanged => debug!(trigger, ?took, retries, "config unchanged"),
            // At start-up the caller reports it, as the one line on stderr.
            ReloadOutcome::Failed(_) if report.trigger == Trigger::Initial => {}
            ReloadOutcome::Failed(error) if error.is_transient() => {
                self.retries.hit();
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
        if let Log::Summary { unlogged, total } = self.retries.hit() {
            warn!(
                path = %error.path.display(),
                kind = error.kind.label(),
                reason = one_line(&error.kind.to_string()),
                attempt,
                retry_in = ?delay,
                retries_since_last_line = unlogged,
                retries = total,
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
        match self.watch_errors.hit() {
            Log::First => warn!(error = one_line(message), "config watch broke"),
            Log::Summary { unlogged, total } => warn!(
                error = one_line(message),
                errors_since_last_line = unlogged,
                errors = total,
                "config watch still broken"
            ),
            Log::Quiet => {}
        }
    }

    fn watch_restored(&self) {
        if let Some(errors) = self.watch_errors.end() {
            info!(errors, "config watch re-established");
        }
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
