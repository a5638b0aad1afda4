//! A job's `sparkConf` reaches the engine: Spark's shuffle partition count sets the write tasks,
//! DataFusion settings reach the session, keys that mean nothing here are warnings on the
//! ACCEPTED event, `platformSpec` is kept, and a setting the engine refuses is a rejection.

use bulk_import_core::partition::PartitionTree;
use bulk_import_core::schema::Schema;
use bulk_import_core::tracker::JobEvent;
use bulk_import_driver::generate::{GenerateOptions, SCHEMA_JSON, generate};
use bulk_import_driver::{JobOutcome, RunControl, RunOptions};
use bulk_import_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spark_conf_sets_the_engine_and_unknown_keys_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let points = generate(&GenerateOptions { rows: 20_000, files: 2, out: input.clone(), seed: 5, split_points_for: Some(16) }).unwrap();
    let driver = driver(dir.path()).await;
    let schema = Schema::from_json(SCHEMA_JSON).unwrap();
    let tree = PartitionTree::from_split_points(&schema.row_keys(), points).unwrap();
    driver.tables().create("t", schema, Default::default(), tree).await.unwrap();

    let job = format!(
        r#"{{"id": "settings", "tableName": "t", "files": ["{}"],
            "sparkConf": {{"spark.sql.shuffle.partitions": "3", "spark.executor.memory": "16g",
                           "datafusion.execution.batch_size": "1024"}},
            "platformSpec": {{"sleeper.bulk.import.emr.executor.instance.type": "m7i.xlarge"}}}}"#,
        input.display()
    );
    let control = RunControl::new(0);
    let outcome = driver.run_with(&job, &RunOptions::default(), &control).await.unwrap();
    assert!(matches!(outcome, JobOutcome::Finished { .. }), "{outcome:?}");
    assert_eq!(control.progress.borrow().tasks_total, 3, "spark.sql.shuffle.partitions sets the write tasks");

    let record = driver.tracker().job("settings").await.unwrap().unwrap();
    let Some(JobEvent::Accepted { warnings, platform_spec, .. }) = record.accepted() else { panic!("no ACCEPTED event") };
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("spark.executor.memory"), "{warnings:?}");
    assert_eq!(platform_spec["sleeper.bulk.import.emr.executor.instance.type"], "m7i.xlarge");

    let refused = format!(
        r#"{{"id": "refused", "tableName": "t", "files": ["{}"], "sparkConf": {{"datafusion.execution.no_such_thing": "1"}}}}"#,
        input.display()
    );
    let outcome = driver.run(&refused, &RunOptions::default()).await.unwrap();
    let JobOutcome::Rejected { reasons, .. } = outcome else { panic!("not rejected: {outcome:?}") };
    assert!(reasons.iter().any(|r| r.contains("datafusion.execution.no_such_thing")), "{reasons:?}");
}
