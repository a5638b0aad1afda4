//! Executors that stop answering in the middle of a job (SIGSTOP: alive, holding their tasks,
//! doing nothing). Without a limit the job would wait for ever; with `--stall-timeout` the
//! service fails it, cancels its engine job and removes its files. When the executors come
//! back (SIGCONT), late writers find the attempt abandoned and leave nothing behind, and the
//! job, submitted again, commits exactly once.

use std::process::Command;
use std::time::{Duration, Instant};

use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Service};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;
use tokio_stream::StreamExt;

const ROWS: u64 = 1_500_000;
/// Longer than any pause of a healthy run of this job on a busy two-core machine (the first
/// file waits for the whole input to be read and shuffled), and shorter than the scheduler's
/// executor timeout here, so that the service, not the scheduler, is what notices.
const STALL_TIMEOUT_SECONDS: u64 = 15;
const EXECUTOR_TIMEOUT_SECONDS: u64 = 120;

fn signal(cluster: &Cluster, name: &str) {
    for executor in &cluster.executors {
        let status = Command::new("kill").args([&format!("-{name}"), &executor.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill -{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_on_stalled_executors_fails_cleanly_instead_of_hanging() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), ROWS, 4, 16, 61);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "t", &splits).await;
    let cluster = Cluster::start_with_executor_timeout(dir.path(), &[], EXECUTOR_TIMEOUT_SECONDS);
    let stall = STALL_TIMEOUT_SECONDS.to_string();
    let service = Service::start(dir.path(), "service", &store, Some(&cluster.url()), &["--stall-timeout", &stall], &[]);
    let mut client = client(&service.url()).await;
    let job = job_json("job-1", "t", &[input.to_str().unwrap()]);
    assert_eq!(submit(&mut client, job.clone()).await.status(), api::JobStatus::Accepted);

    // Once rows are being written, every executor stops.
    let mut updates = client.watch_job(api::WatchJobRequest { job_id: "job-1".into() }).await.unwrap().into_inner();
    loop {
        let update = tokio::time::timeout(Duration::from_mins(2), updates.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(update.status(), api::JobStatus::InProgress, "the job ended before its executors could be stopped: {update:?}");
        if update.rows_written > 0 {
            break;
        }
    }
    signal(&cluster, "STOP");
    let stopped = Instant::now();
    let last = watch_to_end(&mut client, "job-1", Duration::from_mins(1)).await;
    let noticed = stopped.elapsed();
    signal(&cluster, "CONT");
    assert_eq!(last.status(), api::JobStatus::Failed, "{last:?}");
    assert!(last.message.starts_with(&format!("stalled: no progress for {STALL_TIMEOUT_SECONDS} s")), "{}", last.message);
    assert!(noticed < Duration::from_secs(STALL_TIMEOUT_SECONDS + 15), "the stall was noticed only after {noticed:?}");
    eprintln!("stall noticed {noticed:?} after the executors stopped: {}", last.message);

    // The executors are back: whatever their tasks still write is removed, nothing committed.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let contents = table_contents(&store, S3Options::default(), "t").await;
    assert!(contents.commits_by_job.is_empty(), "{:?}", contents.commits_by_job);
    assert!(contents.data_objects.is_empty(), "orphan files: {:?}", contents.data_objects);
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);

    // The stall was the job's failure, not the service's: submitted again, the job runs on the
    // same executors, now answering, and commits once.
    assert_eq!(submit(&mut client, job).await.status(), api::JobStatus::Accepted);
    let last = watch_to_end(&mut client, "job-1", Duration::from_mins(5)).await;
    assert_eq!(last.status(), api::JobStatus::Finished, "{last:?}");
    let contents = table_contents(&store, S3Options::default(), "t").await;
    contents.assert_committed_once("job-1", ROWS);
}
