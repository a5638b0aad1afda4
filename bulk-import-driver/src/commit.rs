//! The end of a job: the files the writers reported, and the job's one commit of them to the
//! table's state store. What an attempt wrote but did not commit is swept from its
//! [`AttemptDir`](bulk_import_core::attempt::AttemptDir).

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use bulk_import_core::attempt::WrittenFile;
use bulk_import_core::backend::{CommitOutcome, FilesCommit, StateStore};
use bulk_import_core::transaction::{AddedFile, FileReference};

/// The files listed by the writers' output batches.
pub fn written_files(batches: &[RecordBatch]) -> Vec<WrittenFile> {
    let mut files = Vec::new();
    for batch in batches {
        let partition = batch.column(0).as_string::<i32>();
        let filename = batch.column(1).as_string::<i32>();
        let rows = batch.column(2).as_primitive::<UInt64Type>();
        let bytes = batch.column(3).as_primitive::<UInt64Type>();
        for i in 0..batch.num_rows() {
            files.push(WrittenFile {
                partition_id: partition.value(i).to_string(),
                filename: filename.value(i).to_string(),
                rows: rows.value(i),
                bytes: bytes.value(i),
            });
        }
    }
    files
}

pub fn total_rows_written(files: &[WrittenFile]) -> u64 {
    files.iter().map(|f| f.rows).sum()
}

/// Commits the job's files, each referenced whole from its leaf.
pub async fn commit(state_store: &dyn StateStore, job_id: &str, run_id: &str, files: &[WrittenFile]) -> bulk_import_core::Result<CommitOutcome> {
    let files = files
        .iter()
        .map(|f| AddedFile {
            filename: f.filename.clone(),
            references: vec![FileReference {
                job_id: None,
                partition_id: f.partition_id.clone(),
                number_of_rows: f.rows,
                count_approximate: false,
                only_contains_data_for_this_partition: true,
            }],
        })
        .collect();
    state_store.commit_files(FilesCommit { job_id: job_id.to_string(), run_id: run_id.to_string(), files }).await
}
