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

/// A commit whose outcome could not be learned: it may have landed, so the run's files must
/// stay. A later submission of the job finds out (a job commits at most once).
#[derive(Debug, thiserror::Error)]
#[error("the commit's outcome is unknown, so the run's files are kept: {commit}; and the table could not be read to learn it: {check}")]
pub struct CommitOutcomeUnknown {
    commit: bulk_import_core::Error,
    check: bulk_import_core::Error,
}

/// Commits the job's files, each referenced whole from its leaf.
///
/// A commit can land and still be reported as failed: the store applied the write but its
/// answer was lost, and the client's retry then met its own transaction (as a conflict, or as
/// the job already committed). Discarding the run's files then would lose committed rows, so a
/// failed commit is settled by looking: if the table references every file the run wrote, the
/// commit landed.
pub async fn commit(state_store: &dyn StateStore, job_id: &str, run_id: &str, written: &[WrittenFile]) -> anyhow::Result<CommitOutcome> {
    let files = written
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
    let error = match state_store.commit_files(FilesCommit { job_id: job_id.to_string(), run_id: run_id.to_string(), files }).await {
        Ok(outcome) => return Ok(outcome),
        Err(error) => error,
    };
    match state_store.files().await {
        Ok(referenced) => {
            let referenced: std::collections::HashSet<&str> = referenced.iter().map(|f| f.filename.as_str()).collect();
            if !written.is_empty() && written.iter().all(|f| referenced.contains(f.filename.as_str())) {
                tracing::warn!("the commit reported {error}, but the table references every file of this run: it landed");
                Ok(CommitOutcome::Landed)
            } else {
                Err(error.into())
            }
        }
        Err(check) => Err(CommitOutcomeUnknown { commit: error, check }.into()),
    }
}
