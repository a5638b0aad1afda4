//! A bulk import through the embedded Ballista scheduler and executor, checked by reading the
//! Parquet files and the transaction log it left in the store.

use arrow::array::{AsArray, RecordBatch};
use bulk_import_core::Error;
use bulk_import_core::attempt::WrittenFile;
use bulk_import_core::key::{KeyRef, KeyValue};
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::schema::Schema;
use bulk_import_core::split_points::format_split_points;
use bulk_import_driver::commit::commit;
use bulk_import_driver::tools::generate::{GenerateOptions, SCHEMA_JSON, generate};
use bulk_import_driver::{JobOutcome, RunOptions};
use bulk_import_tests::*;
use std::collections::{BTreeMap, HashSet};

const LEAVES: usize = 64;

/// Keys at the edges of routing: every split point, the empty string, and characters whose
/// UTF-16 order differs from their UTF-8 order.
fn edge_case_batch(split_points: &[KeyValue]) -> RecordBatch {
    let mut keys: Vec<String> = split_points
        .iter()
        .map(|p| match p {
            KeyValue::String(s) => s.clone(),
            _ => unreachable!("string keys"),
        })
        .collect();
    keys.extend([String::new(), "zzzzzzzzzz".into(), "\u{FFFF}".into(), "\u{1F600}".into(), "a\u{E000}".into(), "a\u{10000}".into()]);
    system_test_batch(keys.into_iter().map(Some).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_sort_import_is_sorted_routed_complete_and_committed_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let split_points = generate(&GenerateOptions { rows: 60_000, files: 5, out: input.clone(), seed: 7, split_points_for: Some(LEAVES) }).unwrap();
    assert_eq!(split_points.len(), LEAVES - 1);
    write_parquet(&input.join("nested/edge-cases.parquet"), &[edge_case_batch(&split_points)], None);
    std::fs::write(input.join("README.txt"), "not parquet, and not named .parquet: ignored").unwrap();

    let driver = driver(dir.path()).await;
    let schema = Schema::from_json(SCHEMA_JSON).unwrap();
    let tree = PartitionTree::from_split_points(&schema.row_keys(), &split_points).unwrap();
    let table = driver.backend().create_table("system-test", schema.clone(), without_pre_split(), tree).await.unwrap();
    std::fs::write(dir.path().join("splits.txt"), format_split_points(&split_points)).unwrap();

    let job = format!(r#"{{"id": "job-e2e", "tableName": "system-test", "files": ["{}"]}}"#, input.display());
    let outcome = driver.run(&job, &RunOptions::default()).await.unwrap();
    let JobOutcome::Finished { summary, .. } = &outcome else { panic!("job did not finish: {outcome:?}") };
    assert_eq!(summary.input_files, 6);
    assert_eq!(summary.rows_read, 60_000 + LEAVES as u64 - 1 + 6);

    // Everything below is read back from the store's files.
    let store = dir.path().join("store");
    let log = Log::read(&store, table.id());
    let partitions = log.partitions(&schema);
    assert_eq!(partitions.leaf_count(), LEAVES);
    let references = log.file_references();
    let (sketches, data_files): (Vec<_>, Vec<_>) =
        files_below(&store.join(table.id()).join("data")).into_iter().partition(|p| p.extension().is_some_and(|e| e == "sketches"));

    // The committed references are exactly the files on disk, with their row counts, each with
    // its sketches beside it.
    let referenced: HashSet<_> = references.keys().map(|u| local_path(u)).collect();
    assert_eq!(referenced, data_files.iter().cloned().collect::<HashSet<_>>(), "references and files differ");
    let sidecars: HashSet<_> = referenced.iter().map(|p| p.with_extension("sketches")).collect();
    assert_eq!(sidecars, sketches.into_iter().collect::<HashSet<_>>(), "not one sketches file per data file");
    for (url, (_, rows, job_id)) in &references {
        assert_eq!(parquet_row_count(&local_path(url)), *rows, "{url}");
        assert_eq!(job_id.as_deref(), Some("job-e2e"));
    }

    // Each file sorted by row key then sort key; each row inside its partition's region.
    let mut rows_out = Vec::new();
    let mut files_per_partition: BTreeMap<String, usize> = BTreeMap::new();
    for (url, (partition_id, _, _)) in &references {
        let batches = read_parquet(&local_path(url));
        assert!(is_sorted_by(&batches, &["key", "timestamp"]), "{url} is not sorted");
        let partition = partitions.get(partition_id).unwrap();
        assert!(partition.is_leaf);
        assert!(url.contains(&format!("/{}/data/partition_{partition_id}/", table.id())), "layout of {url}");
        for batch in &batches {
            for key in batch.column_by_name("key").unwrap().as_string::<i32>() {
                let key = key.unwrap();
                assert!(partition.region.contains(&[KeyRef::String(key)]), "{key:?} outside {partition_id}");
            }
        }
        *files_per_partition.entry(partition_id.clone()).or_default() += 1;
        rows_out.extend(rows_as_strings(&batches));
    }

    // One file per non-empty leaf.
    let mut rows_in = Vec::new();
    let mut non_empty = HashSet::new();
    for file in files_below(&input).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")) {
        let batches = read_parquet(&file);
        for batch in &batches {
            for key in batch.column_by_name("key").unwrap().as_string::<i32>() {
                non_empty.insert(partitions.leaf_of(&[KeyRef::String(key.unwrap())]).unwrap().id.clone());
            }
        }
        rows_in.extend(rows_as_strings(&batches));
    }
    assert_eq!(files_per_partition.keys().cloned().collect::<HashSet<_>>(), non_empty);
    assert!(files_per_partition.values().all(|&n| n == 1), "more than one file for a leaf: {files_per_partition:?}");

    // The multiset of rows out equals the rows in.
    rows_in.sort();
    rows_out.sort();
    assert_eq!(rows_in.len(), rows_out.len());
    assert!(rows_in == rows_out, "rows out differ from rows in");

    // The job is FINISHED in the tracker, and its attempt's markers are gone.
    let record = driver.tracker().job("job-e2e").await.unwrap().unwrap();
    assert_eq!(record.status.to_string(), "FINISHED");
    assert!(files_below(&store.join(table.id()).join("bulk_import")).iter().all(|p| p.ends_with("manifest.json")));

    // A second commit of the same job is refused, and the log is unchanged.
    let again = vec![WrittenFile {
        partition_id: partitions.leaves().next().unwrap().id.clone(),
        filename: "file:///elsewhere.parquet".into(),
        rows: 1,
        bytes: 1,
    }];
    let state_store = driver.backend().state_store(&table);
    let refused = commit(state_store.as_ref(), "job-e2e", "another-run", &again).await;
    assert!(matches!(refused.as_ref().map_err(|e| e.downcast_ref::<Error>()), Err(Some(Error::JobAlreadyCommitted(_)))), "{refused:?}");
    // A commit that landed but whose answer was lost, tried again, meets its own transaction;
    // the table references every file it names, so it is known to have landed.
    let committed: Vec<WrittenFile> = state_store
        .files()
        .await
        .unwrap()
        .into_iter()
        .map(|f| WrittenFile { partition_id: f.partition_id, filename: f.filename, rows: f.number_of_rows, bytes: 0 })
        .collect();
    let retried = commit(state_store.as_ref(), "job-e2e", "the-run", &committed).await.unwrap();
    assert_eq!(retried, bulk_import_core::backend::CommitOutcome::Landed);
    // So is a resubmission of the job: rejected, with the job's own status untouched.
    let resubmitted = driver.run(&job, &RunOptions::default()).await.unwrap();
    assert!(matches!(resubmitted, JobOutcome::Rejected { .. }), "{resubmitted:?}");
    assert_eq!(Log::read(&store, table.id()).transactions.len(), log.transactions.len());
    let record = driver.tracker().job("job-e2e").await.unwrap().unwrap();
    assert_eq!(record.status.to_string(), "FINISHED");
    assert_eq!(record.rejected_submissions.len(), 1);
}
