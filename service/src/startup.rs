//! Waiting for the first load without waiting silently: the initial read runs
//! on a blocking thread, and if it takes longer than the stuck threshold (a
//! hung filesystem) a warning says so, once, while the wait goes on.

use std::path::Path;
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle};
use tracing::warn;

/// Waits for `starting`, warning once if it takes longer than `stuck_after`.
pub async fn wait_for<T>(
    mut starting: JoinHandle<T>,
    stuck_after: Duration,
    config: &Path,
) -> Result<T, JoinError> {
    tokio::select! {
        started = &mut starting => return started,
        () = tokio::time::sleep(stuck_after) => {}
    }
    warn!(
        config = %config.display(),
        waited = ?stuck_after,
        "the initial config load has not finished: its filesystem may be hung; still waiting"
    );
    starting.await
}
