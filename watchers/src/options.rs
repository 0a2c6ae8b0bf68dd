//! [`WatchOptions`]: the settings every watcher shares.

use std::time::Duration;

use crate::Debounce;

/// Settings shared by every watcher.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// When to reload after events.
    pub debounce: Debounce,
    /// Event watchers: re-read and compare the hash this often, to catch a
    /// change no event announced. `None` turns it off.
    pub resync_interval: Option<Duration>,
    /// `PollWatcher`: how often to stat the resolution chain. Event
    /// watchers: how often to retry re-establishing a lost directory watch.
    pub poll_interval: Duration,
    /// A config larger than this is rejected before it is read into memory.
    pub max_config_bytes: u64,
    /// How a load that failed for a reason that can go away
    /// ([`LoadError::is_transient`](crate::LoadError::is_transient)) is retried.
    pub retry: Backoff,
    /// A reload running longer than this is reported once
    /// ([`Observer::reload_stuck`](crate::Observer::reload_stuck)): its filesystem is probably hung.
    pub stuck_after: Duration,
}

/// Capped exponential backoff: `initial`, then twice the previous delay, never
/// more than `max`, until the load succeeds or fails for a content reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub initial: Duration,
    /// The longest delay between two retries.
    pub max: Duration,
}

impl Default for Backoff {
    /// 100 ms, then 200 ms, 400 ms, ... up to 5 s: a full descriptor table or a
    /// flaky network filesystem usually clears within seconds, and a retry is
    /// one open and one read.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1_u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

impl Default for WatchOptions {
    /// Resync every 60 s (a safety net, not the way changes are noticed),
    /// poll every 100 ms (ten cheap stats a second; a ConfigMap update
    /// already took the kubelet tens of seconds), reject configs over 1 MiB
    /// (a real config is a few KiB; anything bigger is a mistake).
    fn default() -> Self {
        Self {
            debounce: Debounce::default(),
            resync_interval: Some(Duration::from_secs(60)),
            poll_interval: Duration::from_millis(100),
            max_config_bytes: 1024 * 1024,
            retry: Backoff::default(),
            stuck_after: Duration::from_secs(5),
        }
    }
}
