//! A table of Sleeper's size: 10,000 leaves. The task that routes rows carries the whole tree
//! (6–7 MB encoded), over the 4 MiB gRPC default that once left an embedded Ballista job
//! waiting forever for a task that never reached its executor. Both embedded engines must
//! finish it, with every row in its leaf.

use std::time::Duration;

use bulk_import_core::partition::PartitionTree;
use bulk_import_core::schema::Schema;
use bulk_import_core::store::S3Options;
use bulk_import_driver::tools::generate::{GenerateOptions, SCHEMA_JSON, generate};
use bulk_import_driver::{Driver, EmbeddedEngine, EngineConfig, JobOutcome, RunOptions};
use bulk_import_tests::table_contents::table_contents;
use bulk_import_tests::*;

const LEAVES: usize = 10_000;
const ROWS: u64 = 40_000;

async fn import_into_wide_table(engine: EmbeddedEngine) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let split_points = generate(&GenerateOptions { rows: ROWS, files: 20, out: input.clone(), seed: 11, split_points_for: Some(LEAVES) }).unwrap();
    let config =
        EngineConfig { parallelism: 2, memory_pool_bytes: 512 << 20, spill_dir: std::env::temp_dir(), embedded: engine, ..Default::default() };
    let store = dir.path().join("store");
    let driver = Driver::open_embedded(store.to_str().unwrap(), config).await.unwrap();
    let schema = Schema::from_json(SCHEMA_JSON).unwrap();
    let tree = PartitionTree::from_split_points(&schema.row_keys(), &split_points).unwrap();
    driver.backend().create_table("wide", schema, without_pre_split(), tree).await.unwrap();

    let job = format!(r#"{{"id": "wide-job", "tableName": "wide", "files": ["{}"]}}"#, input.display());
    let outcome = tokio::time::timeout(Duration::from_mins(4), driver.run(&job, &RunOptions::default()))
        .await
        .unwrap_or_else(|_| panic!("the {engine:?} engine did not finish a job into {LEAVES} leaves in 4 minutes"))
        .unwrap();
    let JobOutcome::Finished { summary, .. } = &outcome else { panic!("job did not finish: {outcome:?}") };
    assert_eq!(summary.rows_written, ROWS);

    let contents = table_contents(store.to_str().unwrap(), S3Options::default(), "wide").await;
    assert_eq!(contents.total_rows(), ROWS as usize);
    assert!(contents.misrouted_files.is_empty(), "{:?}", contents.misrouted_files);
    assert!(contents.unsorted_files.is_empty(), "{:?}", contents.unsorted_files);
    // About 4 rows a leaf: most leaves get rows, each of them one file.
    assert!(contents.file_rows_by_leaf.len() > LEAVES * 9 / 10, "{} leaves got files", contents.file_rows_by_leaf.len());
    assert!(contents.file_rows_by_leaf.values().all(|files| files.len() == 1));
    assert_eq!(contents.referenced.len(), contents.file_rows_by_leaf.len());
    assert!(contents.one_sketch_per_file());
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_in_process_engine_imports_into_ten_thousand_leaves() {
    import_into_wide_table(EmbeddedEngine::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_ballista_takes_the_task_that_carries_ten_thousand_leaves() {
    import_into_wide_table(EmbeddedEngine::Ballista).await;
}
