//! The job model beyond files: the algorithm's name from the job, the table or the instance, and
//! a job's `sparkConf` reaching the engine: Spark's shuffle partition count sets the write tasks,
//! DataFusion settings reach the session, keys that mean nothing here are warnings on the
//! ACCEPTED event, `platformSpec` is kept, and a setting the engine refuses is a rejection.

use bulk_import_core::partition::PartitionTree;
use bulk_import_core::properties::TableProperties;
use bulk_import_core::schema::Schema;
use bulk_import_core::tracker::JobEvent;
use bulk_import_driver::intake::RejectionReason;
use bulk_import_driver::tools::generate::{GenerateOptions, SCHEMA_JSON, generate};
use bulk_import_driver::{Driver, JobOutcome, RunControl, RunOptions};
use bulk_import_tests::*;

/// A driver on a fresh store, generated input of `rows` rows, and a table of `leaves` leaves
/// (with `properties`) for each name given.
async fn setup(dir: &std::path::Path, rows: u64, leaves: usize, tables: &[(&str, TableProperties)]) -> (Driver, std::path::PathBuf) {
    let input = dir.join("input");
    let points = generate(&GenerateOptions { rows, files: 2, out: input.clone(), seed: 5, split_points_for: Some(leaves) }).unwrap();
    let driver = driver(dir).await;
    let schema = Schema::from_json(SCHEMA_JSON).unwrap();
    let tree = PartitionTree::from_split_points(&schema.row_keys(), &points).unwrap();
    for (name, properties) in tables {
        let mut properties = properties.clone();
        properties.0.extend(without_pre_split().0);
        driver.backend().create_table(name, schema.clone(), properties, tree.clone()).await.unwrap();
    }
    (driver, input)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spark_conf_sets_the_engine_and_unknown_keys_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let (driver, input) = setup(dir.path(), 20_000, 16, &[("t", TableProperties::default())]).await;

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
    assert!(
        reasons.iter().any(|r| matches!(r, RejectionReason::InvalidSessionSetting(e) if e.contains("datafusion.execution.no_such_thing"))),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_algorithm_comes_from_the_job_the_table_or_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    let rdd = "sleeper.bulkimport.runner.rdd.BulkImportJobRDDDriver";
    let mut chosen = TableProperties::default();
    chosen.0.insert("sleeper.table.bulk.import.class.name".into(), "local-sort".into());
    let (driver, input) = setup(dir.path(), 5_000, 4, &[("plain", TableProperties::default()), ("chosen", chosen)]).await;
    std::fs::write(dir.path().join("store/instance.properties"), format!("sleeper.bulk.import.class.name={rdd}\n")).unwrap();

    let started_algorithm = |id: &'static str| {
        let driver = &driver;
        async move {
            let record = driver.tracker().job(id).await.unwrap().unwrap();
            record.current_events().iter().find_map(|e| match &e.event {
                JobEvent::Started { algorithm, .. } => Some(algorithm.clone()),
                _ => None,
            })
        }
    };
    let job = |id: &str, table: &str, class_name: &str| {
        format!(r#"{{"id": "{id}", "tableName": "{table}", "files": ["{}"]{class_name}}}"#, input.display())
    };
    // The instance's default: the RDD driver, run as local sort and recorded as such.
    let outcome = driver.run(&job("instance-default", "plain", ""), &RunOptions::default()).await.unwrap();
    assert!(matches!(outcome, JobOutcome::Finished { .. }), "{outcome:?}");
    assert!(started_algorithm("instance-default").await.unwrap().contains(rdd));
    // The table's default wins over the instance's.
    driver.run(&job("table-default", "chosen", ""), &RunOptions::default()).await.unwrap();
    assert_eq!(started_algorithm("table-default").await.unwrap(), "local-sort");
    // The job's className wins over both.
    let named = format!(r#", "className": "{rdd}""#);
    driver.run(&job("job-named", "chosen", &named), &RunOptions::default()).await.unwrap();
    assert!(started_algorithm("job-named").await.unwrap().contains(rdd));
    // An unknown instance default rejects jobs that name none, saying where the name came from.
    std::fs::write(dir.path().join("store/instance.properties"), "sleeper.bulk.import.class.name=nope\n").unwrap();
    let outcome = driver.run(&job("unknown-default", "plain", ""), &RunOptions::default()).await.unwrap();
    let JobOutcome::Rejected { reasons, .. } = outcome else { panic!("not rejected: {outcome:?}") };
    assert!(
        reasons.iter().any(|r| matches!(r, RejectionReason::UnknownAlgorithm { property: "sleeper.bulk.import.class.name", name, valid }
            if name == "nope" && valid.contains("local-sort"))),
        "{reasons:?}"
    );
}
