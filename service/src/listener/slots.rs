//! The cap on open connections, and the reserve above it.
//!
//! A connection takes a slot of the main lane while one is free, and is
//! served in full. Above the cap it takes a slot of the reserve, where only
//! the operational paths are served (everything else gets `503` and
//! `Connection: close`) and each connection serves one request: a kubelet
//! probe keeps working while slow or numerous clients hold every main slot,
//! so a pod that is merely busy is not restarted.
//!
//! A slow client could hold the reserve too, so when it is full the
//! newcomer evicts the oldest reserve connection that has not delivered
//! its request head yet. A probe sends its head as soon as it connects;
//! it is answered unless [`RESERVE`](super::RESERVE) newer connections
//! arrive before its head does. When every reserve connection is answering
//! (none evictable), the newcomer is closed at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;
use tracing::{info, warn};

use super::connection::ConnectionState;
use super::http_metrics::{Closed, HttpMetrics};
use config_reload::streak::{Ended, Report, Streak};

/// How long an evicted connection may take to release its slot; it is
/// dropped at its task's next poll, so this is a safety net only.
const EVICTION_GRACE: Duration = Duration::from_secs(1);

/// How long the cap must not be reached before "below the cap again" is
/// logged: slow clients timed out in waves make the cap come and go.
const CAP_QUIET: Duration = Duration::from_secs(10);

/// Which lane a connection was admitted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    Main,
    Reserve,
}

/// A connection's place; released (and the gauge lowered) when dropped.
pub(super) struct Slot {
    lane: Lane,
    open: Gauge,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    pub fn lane(&self) -> Lane {
        self.lane
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Before the permit goes: the gauge never shows more than the cap.
        self.open.dec();
    }
}

struct LaneSlots {
    permits: Arc<Semaphore>,
    open: Gauge,
    accepted: Counter,
}

impl LaneSlots {
    fn new(lane: Lane, size: usize, metrics: &HttpMetrics) -> Self {
        metrics.set_max(lane, size);
        Self {
            permits: Arc::new(Semaphore::new(size)),
            open: metrics.open(lane),
            accepted: metrics.accepted(lane),
        }
    }

    fn slot(&self, lane: Lane, permit: OwnedSemaphorePermit) -> Slot {
        self.open.inc();
        self.accepted.inc();
        Slot {
            lane,
            open: self.open.clone(),
            _permit: permit,
        }
    }

    fn try_take(&self, lane: Lane) -> Option<Slot> {
        let permit = Arc::clone(&self.permits).try_acquire_owned().ok()?;
        Some(self.slot(lane, permit))
    }
}

/// A reserve connection that may be evicted.
struct Evictable {
    task: AbortHandle,
    state: Arc<ConnectionState>,
}

/// Owned by the accept loop alone: no locks.
pub(super) struct Slots {
    main: LaneSlots,
    max_connections: usize,
    reserve: LaneSlots,
    reserve_size: usize,
    /// Oldest first. Entries of finished tasks are dropped lazily.
    evictable: VecDeque<Evictable>,
    metrics: HttpMetrics,
    /// Admissions above the cap, logged as a streak.
    over_cap: Streak,
}

impl Slots {
    pub fn new(max_connections: usize, reserve: usize, metrics: HttpMetrics) -> Self {
        Self {
            main: LaneSlots::new(Lane::Main, max_connections, &metrics),
            max_connections,
            reserve: LaneSlots::new(Lane::Reserve, reserve, &metrics),
            reserve_size: reserve,
            evictable: VecDeque::with_capacity(reserve * 2),
            metrics,
            over_cap: Streak::default(),
        }
    }

    /// A slot for a new connection, or `None` if it must be closed.
    pub async fn admit(&mut self) -> Option<Slot> {
        if let Some(slot) = self.main.try_take(Lane::Main) {
            self.end_over_cap();
            return Some(slot);
        }
        self.over_cap();
        if let Some(slot) = self.reserve.try_take(Lane::Reserve) {
            return Some(slot);
        }
        if !self.evict_oldest() {
            self.metrics.rejected();
            return None;
        }
        let permits = Arc::clone(&self.reserve.permits);
        match tokio::time::timeout(EVICTION_GRACE, permits.acquire_owned()).await {
            Ok(Ok(permit)) => Some(self.reserve.slot(Lane::Reserve, permit)),
            _ => {
                self.metrics.rejected();
                None
            }
        }
    }

    /// Makes a reserve connection evictable.
    pub fn track_reserve(&mut self, task: AbortHandle, state: Arc<ConnectionState>) {
        if self.evictable.len() >= self.reserve_size * 2 {
            self.evictable.retain(|entry| !entry.task.is_finished());
        }
        self.evictable.push_back(Evictable { task, state });
    }

    /// Aborts the oldest reserve connection still reading its head.
    fn evict_oldest(&mut self) -> bool {
        while let Some(entry) = self.evictable.pop_front() {
            // Finished, or answering its one request: not evictable.
            if entry.task.is_finished() || entry.state.dispatched() > 0 {
                continue;
            }
            entry.task.abort();
            self.metrics.closed(Closed::Evicted);
            return true;
        }
        false
    }

    fn over_cap(&mut self) {
        match self.over_cap.event(Instant::now()) {
            Report::Started => warn!(
                max_connections = self.max_connections,
                "connection cap reached: new connections get only the probes and /metrics \
                 until connections close"
            ),
            Report::Ongoing { count, lasted } => warn!(
                admitted_above_cap = count,
                lasted = %humantime::format_duration(Duration::from_secs(lasted.as_secs())),
                "connection cap still reached"
            ),
            Report::Quiet => {}
        }
    }

    fn end_over_cap(&mut self) {
        // Checked first: a main admission costs a branch, not a clock read.
        if !self.over_cap.is_on() {
            return;
        }
        if let Some(Ended { count, lasted }) = self.over_cap.end_if_quiet(Instant::now(), CAP_QUIET)
        {
            info!(
                admitted_above_cap = count,
                lasted = %humantime::format_duration(Duration::from_secs(lasted.as_secs())),
                "below the connection cap again"
            );
        }
    }
}
