//! A run's lease: its driver claims the run in the attempt directory and renews the claim while
//! it lives, so that a job service taking up unfinished jobs leaves a live run alone.

use std::time::Duration;

use bulk_import_core::attempt::AttemptDir;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a run's lease holds without renewal: a job service started beside a live run waits
/// this long after the run's driver dies before taking it over.
pub const LEASE_TERM: Duration = Duration::from_secs(30);
/// How often a live run renews its lease.
const LEASE_RENEWAL: Duration = Duration::from_secs(5);

/// A held lease and the task renewing it. A renewal that fails leaves the lease to run out.
pub struct RunLease {
    attempt: AttemptDir,
    stop: CancellationToken,
    renewal: JoinHandle<()>,
    /// Stops the renewals if the lease is dropped without being released.
    _stop_on_drop: DropGuard,
}

impl RunLease {
    /// Claims the run, and renews the claim until released.
    pub async fn take(attempt: &AttemptDir) -> bulk_import_core::Result<Self> {
        let holder = format!("pid {} on {}", std::process::id(), hostname());
        attempt.renew_lease(&holder, LEASE_TERM).await?;
        let stop = CancellationToken::new();
        // Stopped between renewals, never during one: a renewal cut short could still land after
        // the release (the local store writes on a blocking thread) and leave the lease.
        let renewal = tokio::spawn({
            let (attempt, stop) = (attempt.clone(), stop.clone());
            async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(LEASE_RENEWAL) => {}
                    }
                    if let Err(e) = attempt.renew_lease(&holder, LEASE_TERM).await {
                        tracing::warn!("could not renew the run's lease: {e}");
                    }
                }
            }
        });
        Ok(RunLease { attempt: attempt.clone(), _stop_on_drop: stop.clone().drop_guard(), stop, renewal })
    }

    /// Stops the renewals, waits for any in flight, and gives the run up.
    pub async fn release(self) {
        self.stop.cancel();
        let _ = self.renewal.await;
        if let Err(e) = self.attempt.release_lease().await {
            tracing::warn!("could not release the run's lease, which runs out in {} s: {e}", LEASE_TERM.as_secs());
        }
    }
}

/// This machine's name, for the lease's holder.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "unknown".into(), |h| h.trim().to_string())
}
