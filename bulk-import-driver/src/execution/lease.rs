//! A run's lease: its driver claims the run in the attempt directory and renews the claim while
//! it lives, so that a job service taking up unfinished jobs leaves a live run alone.

use std::time::Duration;

use bulk_import_core::attempt::AttemptDir;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a run's lease holds without renewal: a job service started beside a live run waits
/// this long after the run's driver dies before taking it over.
pub const LEASE_TERM: Duration = Duration::from_secs(30);

/// How a lease is held: for how long each claim holds, and how often it is renewed.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTiming {
    pub term: Duration,
    pub renewal: Duration,
}

impl LeaseTiming {
    /// Every run's: a claim of [`LEASE_TERM`], renewed every 5 s.
    pub const RUN: LeaseTiming = LeaseTiming { term: LEASE_TERM, renewal: Duration::from_secs(5) };

    /// A run that has not renewed its lease for this long gives up: it stops two renewals before
    /// the lease can run out, so that a job service taking the run over never runs it beside
    /// this driver.
    fn give_up(self) -> Duration {
        self.term.saturating_sub(2 * self.renewal)
    }
}

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
        Self::take_with(attempt, LeaseTiming::RUN).await
    }

    async fn take_with(attempt: &AttemptDir, timing: LeaseTiming) -> bulk_import_core::Result<Self> {
        let holder = format!("pid {} on {}", std::process::id(), hostname());
        attempt.renew_lease(&holder, timing.term).await?;
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
                        () = tokio::time::sleep(timing.renewal) => {}
                    }
                    // Bounded, so that a hung store cannot keep the give-up from being noticed.
                    match tokio::time::timeout(timing.renewal, attempt.renew_lease(&holder, timing.term)).await {
                        Ok(Ok(())) => renewed = std::time::Instant::now(),
                        Ok(Err(e)) => tracing::warn!("could not renew the run's lease: {e}"),
                        Err(_) => tracing::warn!("renewing the run's lease took over {} s", timing.renewal.as_secs_f64()),
                    }
                    if renewed.elapsed() >= timing.give_up() {
                        tracing::error!("the run's lease was last renewed {} s ago: giving the run up", renewed.elapsed().as_secs());
                        lost.cancel();
                        return;
                    }
                }
            }
        });
        Ok(RunLease { attempt: attempt.clone(), _stop_on_drop: stop.clone().drop_guard(), stop, lost, renewal })
    }

    /// Cancelled once renewals have failed for [`LeaseTiming::give_up`]: the run must stop.
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

#[cfg(test)]
mod tests {
    use super::*;
    use bulk_import_core::store::ObjectStores;

    #[tokio::test]
    async fn a_lease_that_cannot_be_renewed_is_given_up_before_it_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let attempt = AttemptDir::at(ObjectStores::new().resolve(dir.path().to_str().unwrap()).unwrap());
        let timing = LeaseTiming { term: Duration::from_secs(4), renewal: Duration::from_millis(500) };
        let lease = RunLease::take_with(&attempt, timing).await.unwrap();
        let first = attempt.lease().await.unwrap().unwrap();

        // Renewed while the store takes the renewals: held past its first term.
        tokio::time::sleep(timing.term + timing.renewal).await;
        assert!(!lease.lost().is_cancelled());
        let renewed = attempt.lease().await.unwrap().unwrap();
        assert!(renewed.expires > first.expires, "{first:?} {renewed:?}");

        // A directory where the lease is written: every renewal fails from now on.
        let path = dir.path().join("lease.json");
        while !path.is_dir() {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::create_dir_all(path.join("in-the-way"));
        }
        // The last claim that landed was made before the block, and holds at most a term from it:
        // the run must have given up by then.
        let given_up = tokio::time::timeout(timing.term, lease.lost().cancelled()).await;
        assert!(given_up.is_ok(), "the lease was not given up before it ran out");
        lease.release().await;
    }
}
