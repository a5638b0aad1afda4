//! S3 misbehaving under a job: a proxy in front of moto (`tests/faults/s3_fault_proxy.py`)
//! answers some requests 503 SlowDown or 500, resets some connections, holds some requests for
//! seconds, and lets some PUTs through but drops the connection before their answer, so that
//! the engine retries writes that already happened (data files, job events, the commit's
//! transaction). The job still commits every row exactly once and leaves no stray object; the
//! faults are counted, so the test cannot pass without them.

use std::time::Duration;

use bulk_import_core::backend::Backend;
use bulk_import_core::store::ObjectStores;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{FaultProxy, Moto, Service};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;

const ROWS: u64 = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_through_a_faulty_s3_commits_every_row_once() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(dir.path(), &["input-bucket", "tables"]);
    let direct = moto.s3_options();
    // The input and the table are laid out past the proxy.
    let (input, splits) = generate_input(dir.path(), ROWS, 4, 16, 71);
    let stores = ObjectStores::with_s3(direct.clone());
    upload_dir(&stores, &input, "s3://input-bucket/in").await;
    let store = "s3://tables/faulty";
    create_table(store, direct.clone(), "t", &splits).await;

    // The commit's transaction and the job's STARTED event surely lose their answers.
    let lose_once = "/statestore/transactions/,/job-tracker/jobs/faulty-job/events/000002";
    let proxy = FaultProxy::start(dir.path(), &moto.endpoint, 7, lose_once);
    let env = proxy.env(&moto.env());
    let service = Service::start(dir.path(), "service", store, None, &[], &env);
    let mut client = client(&service.url()).await;
    let accepted = submit(&mut client, job_json("faulty-job", "t", &["input-bucket/in"])).await;
    assert_eq!(accepted.status(), api::JobStatus::Accepted, "{accepted:?}");
    let last = watch_to_end(&mut client, "faulty-job", Duration::from_mins(4)).await;
    assert_eq!((last.status(), last.rows_written), (api::JobStatus::Finished, ROWS), "{last:?}\n{}", service.process.log());

    let stats = proxy.stats();
    eprintln!("faults injected: {stats:?}");
    for line in proxy.process.log().lines().filter(|l| l.starts_with("FAULT lost_answer")) {
        eprintln!("{line}");
    }
    for (fault, least) in [("slow_down", 5), ("internal_error", 2), ("reset", 2), ("delayed", 1), ("lost_answer", 3)] {
        assert!(stats.get(fault).copied().unwrap_or(0) >= least, "too few {fault} to mean anything: {stats:?}");
    }

    let contents = table_contents(store, direct, "t").await;
    contents.assert_committed_once("faulty-job", ROWS);
    assert!(contents.unsorted_files.is_empty() && contents.misrouted_files.is_empty());
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);
    // A job event whose answer was lost is recorded once, not again after it.
    let tracker = Backend::open(store, &stores).unwrap().job_tracker;
    let events: Vec<&str> = tracker.job("faulty-job").await.unwrap().unwrap().events.iter().map(|e| e.event.name()).collect();
    assert_eq!(events, ["ACCEPTED", "STARTED", "RUNNING", "FILES WRITTEN", "FINISHED"]);
}
