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
/// A run that has not renewed its lease for this long gives up: it stops before the lease can
/// run out, so that a job service taking the run over never runs it beside this driver.
const LEASE_GIVE_UP: Duration = Duration::from_secs(LEASE_TERM.as_secs() - 2 * LEASE_RENEWAL.as_secs());

/// A held lease and the task renewing it. Renewals that keep failing make the lease lost
/// ([`RunLease::lost`]) before it can run out.
pub struct RunLease {
    attempt: AttemptDir,
    stop: CancellationToken,
    lost: CancellationToken,
    renewal: JoinHandle<()>,
    /// Stops the renewals if the lease is dropped without being released.
    _stop_on_drop: DropGuard,
}

impl RunLease {
    /// Claims the run, and renews the claim until released.
    pub async fn take(attempt: &AttemptDir) -> bulk_import_core::Result<Self> {
        let holder = format!("pid {} on {}", std::process::id(), hostname());
        attempt.renew_lease(&holder, LEASE_TERM).await?;
        let (stop, lost) = (CancellationToken::new(), CancellationToken::new());
        // Stopped between renewals, never during one: a renewal cut short could still land after
        // the release (the local store writes on a blocking thread) and leave the lease.
        let renewal = tokio::spawn({
            let (attempt, stop, lost) = (attempt.clone(), stop.clone(), lost.clone());
            async move {
                let mut renewed = std::time::Instant::now();
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(LEASE_RENEWAL) => {}
                    }
                    // Bounded, so that a hung store cannot keep the give-up from being noticed.
                    match tokio::time::timeout(LEASE_RENEWAL, attempt.renew_lease(&holder, LEASE_TERM)).await {
                        Ok(Ok(())) => renewed = std::time::Instant::now(),
                        Ok(Err(e)) => tracing::warn!("could not renew the run's lease: {e}"),
                        Err(_) => tracing::warn!("renewing the run's lease took over {} s", LEASE_RENEWAL.as_secs()),
                    }
                    if renewed.elapsed() >= LEASE_GIVE_UP {
                        tracing::error!("the run's lease was last renewed {} s ago: giving the run up", renewed.elapsed().as_secs());
                        lost.cancel();
                        return;
                    }
                }
            }
        });
        Ok(RunLease { attempt: attempt.clone(), _stop_on_drop: stop.clone().drop_guard(), stop, lost, renewal })
    }

    /// Cancelled once renewals have failed for [`LEASE_GIVE_UP`]: the run must stop.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
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
