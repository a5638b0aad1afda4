//! Every reason to reject a job: a clear reason, a REJECTED record holding the reasons and the
//! raw JSON, and nothing written to the table's data directory or transaction log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
use bulk_import_core::key::KeyValue;
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::schema::Schema;
use bulk_import_core::tracker::{JobEvent, JobStatus};
use bulk_import_driver::intake::Admission;
use bulk_import_driver::intake::RejectionReason;
use bulk_import_driver::tools::generate::SCHEMA_JSON;
use bulk_import_driver::{Driver, JobOutcome, RunControl, RunOptions};
use bulk_import_tests::*;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    driver: Driver,
    table_id: String,
}

impl Setup {
    async fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let driver = driver(&root).await;
        let schema = Schema::from_json(SCHEMA_JSON).unwrap();
        let points = vec![KeyValue::String("g".into()), KeyValue::String("p".into())];
        let tree = PartitionTree::from_split_points(&schema.row_keys(), &points).unwrap();
        let table = driver.backend().create_table("t", schema, without_pre_split(), tree).await.unwrap();
        Setup { table_id: table.id().to_string(), _dir: dir, root, driver }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Runs the job and checks it was rejected for a reason that is `expected`, recorded as
    /// one-line sentences, and left the table untouched.
    async fn assert_rejected(&self, job: &str, expected: impl Fn(&RejectionReason) -> bool) {
        let outcome = self.driver.run(job, &RunOptions::default()).await.unwrap();
        let JobOutcome::Rejected { job_id, reasons } = &outcome else { panic!("not rejected: {outcome:?}") };
        assert!(reasons.iter().any(expected), "no reason is the one expected: {reasons:?}");
        let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        assert!(reasons.iter().all(|r| !r.contains('\n')), "reasons are one line each: {reasons:?}");
        let record = self.driver.tracker().job(job_id).await.unwrap().expect("the rejection is recorded");
        let recorded = record.events.iter().chain(&record.rejected_submissions).max_by_key(|e| e.time).unwrap();
        let JobEvent::Rejected { reasons: recorded_reasons, raw_json, .. } = &recorded.event else { panic!("{recorded:?}") };
        assert_eq!(recorded_reasons, &reasons);
        assert_eq!(raw_json, job);
        let log = Log::read(&self.store(), &self.table_id);
        assert_eq!(log.of_type("ADD_FILES").count(), self.committed_jobs(), "the log changed");
        if self.committed_jobs() == 0 {
            assert!(files_below(&self.store().join(&self.table_id).join("data")).is_empty(), "data was written");
            assert_eq!(record.status, JobStatus::Rejected);
        }
    }

    fn committed_jobs(&self) -> usize {
        files_below(&self.store().join(&self.table_id).join("bulk_import")).iter().filter(|p| p.ends_with("manifest.json")).count()
    }
}

fn basic_batch(keys: Vec<Option<&str>>) -> RecordBatch {
    system_test_batch(keys.into_iter().map(|k| k.map(str::to_string)).collect())
}

fn job(files: &[&Path]) -> String {
    let files: Vec<String> = files.iter().map(|f| format!("{:?}", f.display().to_string())).collect();
    format!(r#"{{"id": "job-{}", "tableName": "t", "files": [{}]}}"#, uuid_like(), files.join(", "))
}

fn uuid_like() -> String {
    use rand::RngExt;
    format!("{:016x}", rand::rng().random::<u64>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_or_incomplete_jobs_are_rejected() {
    let s = Setup::new().await;
    s.assert_rejected(r#"{"id": "j1", "tableName": "t", "files": ["#, |r| matches!(r, RejectionReason::MalformedJson(_))).await;
    s.assert_rejected(r#"{"id": "j2", "tableName": "t"}"#, |r| *r == RejectionReason::FilesMissing).await;
    s.assert_rejected(r#"{"id": "j3", "tableName": "t", "files": []}"#, |r| *r == RejectionReason::FilesEmpty).await;
    s.assert_rejected(r#"{"id": "j4", "tableName": "t", "files": [null]}"#, |r| *r == RejectionReason::NullFile(0)).await;
    s.assert_rejected(r#"{"id": "j5", "tableName": "nope", "files": ["x"]}"#, |r| *r == RejectionReason::TableNotFound("nope".into())).await;
    s.assert_rejected(r#"{"id": "Job_6", "tableName": "t", "files": ["x"]}"#, |r| *r == RejectionReason::InvalidJobId("Job_6".into())).await;
    let long = "a".repeat(64);
    s.assert_rejected(&format!(r#"{{"id": "{long}", "tableName": "t", "files": ["x"]}}"#), |r| {
        *r == RejectionReason::JobIdTooLong { id: long.clone() }
    })
    .await;
    let good = s.path("good.parquet");
    write_parquet(&good, &[basic_batch(vec![Some("a")])], None);
    s.assert_rejected(
        &format!(r#"{{"id": "j8", "tableName": "t", "files": [{:?}], "className": "com.example.Nope"}}"#, good.display().to_string()),
        |r| {
            matches!(r, RejectionReason::UnknownAlgorithm { property: "className", name, valid }
            if name == "com.example.Nope" && valid.starts_with("sleeper.bulkimport.runner.dataframelocalsort.BulkImportDataframeLocalSortDriver"))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_or_unreadable_input_is_rejected() {
    let s = Setup::new().await;
    s.assert_rejected(
        &job(&[&s.path("no/such/file.parquet")]),
        |r| matches!(r, RejectionReason::InputNotFound { path } if path.ends_with("no/such/file.parquet")),
    )
    .await;
    std::fs::create_dir_all(s.path("empty-dir/sub")).unwrap();
    std::fs::write(s.path("empty-dir/sub/notes.txt"), "no parquet here").unwrap();
    s.assert_rejected(&job(&[&s.path("empty-dir")]), |r| matches!(r, RejectionReason::NoParquetInDirectory { path } if path.ends_with("empty-dir")))
        .await;
    std::fs::write(s.path("fake.parquet"), "this is not parquet at all").unwrap();
    s.assert_rejected(&job(&[&s.path("fake.parquet")]), |r| matches!(r, RejectionReason::NotParquet { url, .. } if url.ends_with("fake.parquet")))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn input_without_the_table_keys_is_rejected() {
    let s = Setup::new().await;
    let no_key = basic_batch(vec![Some("a")]).project(&[1, 2]).unwrap();
    write_parquet(&s.path("no-key.parquet"), &[no_key], None);
    s.assert_rejected(
        &job(&[&s.path("no-key.parquet")]),
        |r| matches!(r, RejectionReason::MissingColumn { column, role: "row key", .. } if column == "key"),
    )
    .await;
    let no_sort_key = basic_batch(vec![Some("a")]).project(&[0, 2]).unwrap();
    write_parquet(&s.path("no-sort-key.parquet"), &[no_sort_key], None);
    s.assert_rejected(
        &job(&[&s.path("no-sort-key.parquet")]),
        |r| matches!(r, RejectionReason::MissingColumn { column, role: "sort key", .. } if column == "timestamp"),
    )
    .await;
    let wrong_type = RecordBatch::try_new(
        Arc::new(ArrowSchema::new(vec![
            Field::new("key", DataType::Int64, false),
            Field::new("timestamp", DataType::Int64, false),
            Field::new("value", DataType::Utf8, false),
        ])),
        vec![Arc::new(Int64Array::from(vec![1])), Arc::new(Int64Array::from(vec![1])), Arc::new(StringArray::from(vec!["v"]))],
    )
    .unwrap();
    write_parquet(&s.path("wrong-type.parquet"), &[wrong_type], None);
    s.assert_rejected(&job(&[&s.path("wrong-type.parquet")]), |r| {
        matches!(r, RejectionReason::WrongColumnType { column, role: "row key", actual, expected, .. }
            if column == "key" && actual == "Int64" && expected == "\"StringType\"")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn null_keys_are_rejected_with_or_without_statistics() {
    let s = Setup::new().await;
    let with_null = basic_batch(vec![Some("a"), None, Some("z")]);
    write_parquet(&s.path("nulls.parquet"), std::slice::from_ref(&with_null), None);
    s.assert_rejected(&job(&[&s.path("nulls.parquet")]), |r| matches!(r, RejectionReason::NullKeys { column, nulls: 1, .. } if column == "key"))
        .await;
    // Without statistics the null count is not in the footer: the column is scanned.
    let no_stats = WriterProperties::builder().set_statistics_enabled(EnabledStatistics::None).build();
    write_parquet(&s.path("nulls-no-stats.parquet"), &[with_null], Some(no_stats));
    s.assert_rejected(
        &job(&[&s.path("nulls-no-stats.parquet")]),
        |r| matches!(r, RejectionReason::NullKeys { column, nulls: 1, .. } if column == "key"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_id_already_accepted_is_rejected_without_touching_that_job() {
    let s = Setup::new().await;
    write_parquet(&s.path("in/a.parquet"), &[basic_batch(vec![Some("a"), Some("m"), Some("q")])], None);
    let first = format!(r#"{{"id": "same-id", "tableName": "t", "files": [{:?}]}}"#, s.path("in").display().to_string());
    let outcome = s.driver.run(&first, &RunOptions::default()).await.unwrap();
    assert!(matches!(outcome, JobOutcome::Finished { .. }), "{outcome:?}");
    let data_files = files_below(&s.store().join(&s.table_id).join("data"));
    assert_eq!(data_files.iter().filter(|f| f.extension().is_some_and(|e| e == "parquet")).count(), 3);
    assert_eq!(data_files.len(), 6, "each data file has its sketches");
    s.assert_rejected(&first, |r| *r == RejectionReason::AlreadyAccepted("same-id".into())).await;
    assert_eq!(files_below(&s.store().join(&s.table_id).join("data")), data_files);
    let record = s.driver.tracker().job("same-id").await.unwrap().unwrap();
    assert_eq!(record.status, JobStatus::Finished);
    // Also when the resubmission is invalid for other reasons.
    s.assert_rejected(r#"{"id": "same-id", "tableName": "t", "files": []}"#, |r| *r == RejectionReason::AlreadyAccepted("same-id".into())).await;
    assert_eq!(s.driver.tracker().job("same-id").await.unwrap().unwrap().status, JobStatus::Finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_input_replaced_after_the_job_was_accepted_fails_it_and_nothing_is_written() {
    let s = Setup::new().await;
    let input = s.path("input.parquet");
    write_parquet(&input, &[basic_batch(vec![Some("a"), Some("m"), Some("z")])], None);
    let Admission::Accepted(accepted) = s.driver.admit(&job(&[&input])).await.unwrap() else { panic!("the job was not accepted") };
    assert!(accepted.files[0].footer.is_some(), "intake kept the footer for the scan");
    // Another file in its place, of other rows and so of another layout: its bytes read
    // against the footer intake kept would be another file's.
    write_parquet(&input, &[basic_batch(vec![Some("b"), Some("c")])], None);
    let outcome = s.driver.execute(&accepted, &RunOptions::default(), &RunControl::new(accepted.rows)).await.unwrap();
    let JobOutcome::Failed { reason, .. } = &outcome else { panic!("not failed: {outcome:?}") };
    assert!(reason.contains("input.parquet changed after the job was accepted"), "{reason}");
    let log = Log::read(&s.store(), &s.table_id);
    assert_eq!(log.of_type("ADD_FILES").count(), 0, "nothing was committed");
    assert!(files_below(&s.store().join(&s.table_id).join("data")).is_empty(), "no data file was left");
}
