//! A run holds a lease while its driver lives. A job service started beside a live
//! `bulk-import run` on the same store leaves that run alone (no second run, no interrupted
//! record); once the run's driver is killed and its lease runs out, the service takes the job
//! over and it commits exactly once.

use std::time::Duration;

use bulk_import_core::backend::Backend;
use bulk_import_core::store::{ObjectStores, S3Options};
use bulk_import_core::tracker::{JobEvent, JobStatus};
use bulk_import_tests::cluster::{Process, Service, wait_until, workspace_binary};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;

async fn status(store: &str, job_id: &str) -> Option<(JobStatus, usize)> {
    let backend = Backend::open(store, &ObjectStores::with_s3(S3Options::default())).unwrap();
    let job = backend.job_tracker.job(job_id).await.unwrap()?;
    let interrupted = job.events.iter().filter(|e| matches!(e.event, JobEvent::Failed { interrupted: true, .. })).count();
    Some((job.status, interrupted))
}

fn start_run(dir: &std::path::Path, name: &str, store: &str, job_file: &std::path::Path) -> Process {
    let args: Vec<String> = ["--store", store, "run", job_file.to_str().unwrap(), "--quiet", "--parallelism", "1"].map(String::from).to_vec();
    Process::start(name, &workspace_binary("bulk-import"), &args, &[], &dir.join("logs"))
}

async fn wait_for(store: &str, job_id: &str, wanted: JobStatus, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while status(store, job_id).await.map(|s| s.0) != Some(wanted) {
        assert!(tokio::time::Instant::now() < deadline, "job {job_id} never reached {wanted}: {:?}", status(store, job_id).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_leaves_a_live_run_alone_and_takes_over_a_dead_one() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), 3_000_000, 6, 8, 41);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "leased", &splits).await;
    let input = input.to_str().unwrap();
    for (id, file) in [("live-run", "live.json"), ("dead-run", "dead.json")] {
        std::fs::write(dir.path().join(file), job_json(id, "leased", &[input])).unwrap();
    }

    // A live run, and a service started beside it: the service leaves it to finish.
    let mut live = start_run(dir.path(), "live-run", &store, &dir.path().join("live.json"));
    wait_for(&store, "live-run", JobStatus::InProgress, Duration::from_mins(1)).await;
    let service = Service::start(dir.path(), "service", &store, None, &[], &[]);
    assert!(service.process.log().contains("left to it"), "{}", service.process.log());
    wait_until("the live run to end", Duration::from_mins(3), || live.has_exited());
    assert_eq!(status(&store, "live-run").await, Some((JobStatus::Finished, 0)));

    // A run whose driver is killed: once its lease runs out, the service runs the job again.
    let mut dead = start_run(dir.path(), "dead-run", &store, &dir.path().join("dead.json"));
    wait_for(&store, "dead-run", JobStatus::InProgress, Duration::from_mins(1)).await;
    drop(service);
    let service = Service::start(dir.path(), "service-2", &store, None, &[], &[]);
    dead.kill();
    wait_for(&store, "dead-run", JobStatus::Finished, Duration::from_mins(3)).await;
    assert_eq!(status(&store, "dead-run").await, Some((JobStatus::Finished, 1)));
    assert!(service.process.log().contains("stopped renewing its lease"), "{}", service.process.log());

    let contents = table_contents(&store, S3Options::default(), "leased").await;
    assert_eq!(contents.total_rows(), 6_000_000);
    assert_eq!(contents.commits_by_job.get("live-run"), Some(&1));
    assert_eq!(contents.commits_by_job.get("dead-run"), Some(&1));
    assert_eq!(contents.data_objects, contents.referenced);
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);
}
