//! A writer that fails mid-job: the job ends FAILED, nothing is committed and none of the files
//! the attempt wrote are left behind.

use bulk_import_core::partition::PartitionTree;
use bulk_import_core::schema::Schema;
use bulk_import_core::tracker::{JobEvent, JobStatus};
use bulk_import_driver::tools::generate::{GenerateOptions, SCHEMA_JSON, generate};
use bulk_import_driver::{JobOutcome, RunOptions};
use bulk_import_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_injected_writer_failure_commits_nothing_and_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let points = generate(&GenerateOptions { rows: 20_000, files: 3, out: input.clone(), seed: 3, split_points_for: Some(16) }).unwrap();
    let driver = driver(dir.path()).await;
    let schema = Schema::from_json(SCHEMA_JSON).unwrap();
    let tree = PartitionTree::from_split_points(&schema.row_keys(), &points).unwrap();
    let table = driver.backend().create_table("t", schema, without_pre_split(), tree).await.unwrap();

    let job = format!(r#"{{"id": "doomed", "tableName": "t", "files": ["{}"]}}"#, input.display());
    // Four writer tasks of four leaves each: every task completes two files, then fails.
    let options = RunOptions { shuffle_partitions: Some(4), fail_after_files: Some(2), ..RunOptions::default() };
    let outcome = driver.run(&job, &options).await.unwrap();
    let JobOutcome::Failed { reason, .. } = &outcome else { panic!("the job did not fail: {outcome:?}") };
    assert!(reason.contains("injected writer failure after 2 files"), "files were written before the failure: {reason}");

    let store = dir.path().join("store");
    let log = Log::read(&store, table.id());
    assert_eq!(log.of_type("ADD_FILES").count(), 0, "something was committed");
    assert_eq!(files_below(&store.join(table.id()).join("data")), Vec::<std::path::PathBuf>::new(), "files were left behind");
    // Only the attempt's abandoned mark stays, which stops any late writer of the attempt.
    let left: Vec<_> = files_below(&store.join(table.id()).join("bulk_import"));
    assert!(left.iter().all(|p| p.ends_with("abandoned")), "markers or a manifest were left behind: {left:?}");
    let record = driver.tracker().job("doomed").await.unwrap().unwrap();
    assert_eq!(record.status, JobStatus::Failed);
    assert!(matches!(&record.events.last().unwrap().event, JobEvent::Failed { reason, .. } if reason.contains("injected")));

    // The same input, without the fault, then imports as a new job.
    let retry = job.replace("doomed", "second-try");
    let outcome = driver.run(&retry, &RunOptions::default()).await.unwrap();
    assert!(matches!(outcome, JobOutcome::Finished { .. }), "{outcome:?}");
    assert_eq!(Log::read(&store, table.id()).of_type("ADD_FILES").count(), 1);
}
