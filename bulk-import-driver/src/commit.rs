//! The end of a job: the manifest of the files written, the one `AddFiles` transaction, and the
//! deletion of every file an attempt wrote that the table does not reference.
//!
//! An attempt's directory is `<table dir>/bulk_import/<job id>/<run id>/`: `files/` holds the
//! writers' markers (one per file started, naming it), `manifest.json` the files the plan
//! returned. The markers, not the plan's output, say what to delete, so that files of failed or
//! retried tasks are found too.

use std::collections::HashSet;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use bulk_import_core::sketch::sketches_path;
use bulk_import_core::store::{Location, ObjectStores};
use bulk_import_core::table::Table;
use bulk_import_core::transaction::{AddedFile, FileReference, Transaction};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

/// One file a job wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenFile {
    pub partition_id: String,
    pub filename: String,
    pub rows: u64,
    pub bytes: u64,
}

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

pub fn attempt_dir(table: &Table, job_id: &str, run_id: &str) -> Location {
    table.dir().child("bulk_import").child(job_id).child(run_id)
}

/// Writes the manifest of an attempt; returns its URL.
pub async fn write_manifest(attempt: &Location, job_id: &str, files: &[WrittenFile]) -> bulk_import_core::Result<String> {
    let location = attempt.child("manifest.json");
    let body = serde_json::json!({ "jobId": job_id, "files": files });
    let bytes = serde_json::to_vec_pretty(&body).expect("manifests serialise");
    location.store.put(&location.path, bytes.into()).await?;
    Ok(location.url())
}

/// Appends the job's one `AddFiles` transaction.
pub async fn commit(table: &Table, job_id: &str, files: &[WrittenFile]) -> bulk_import_core::Result<u64> {
    let files = files
        .iter()
        .map(|f| AddedFile {
            filename: f.filename.clone(),
            references: vec![FileReference {
                partition_id: f.partition_id.clone(),
                number_of_rows: f.rows,
                count_approximate: false,
                only_contains_data_for_this_partition: true,
            }],
        })
        .collect();
    table.state_store().append(Transaction::AddFiles { job_id: Some(job_id.to_string()), files }).await
}

/// Deletes every file the attempt's writers started (with its sketches) except those in `keep`,
/// then, unless
/// `keep_markers`, the markers and the tasks' progress records. A sweep that keeps the markers
/// can be repeated to catch files that writers were still completing.
/// Returns how many data files were deleted.
pub async fn delete_attempt_files(
    stores: &ObjectStores,
    attempt: &Location,
    keep: &HashSet<String>,
    keep_markers: bool,
) -> bulk_import_core::Result<usize> {
    let markers = attempt.child("files");
    let listed: Vec<_> = markers.store.list(Some(&markers.path)).try_collect().await?;
    let mut deleted = 0;
    for marker in listed {
        let url = String::from_utf8_lossy(&markers.store.get(&marker.location).await?.bytes().await?).into_owned();
        if !keep.contains(&url) {
            let file = stores.resolve(&url)?;
            match file.store.delete(&file.path).await {
                Ok(()) => deleted += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let sidecar = file.at(sketches_path(file.path.as_ref()).into());
            match sidecar.store.delete(&sidecar.path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !keep_markers {
            markers.store.delete(&marker.location).await?;
        }
    }
    if keep_markers {
        return Ok(deleted);
    }
    let progress = attempt.child("progress");
    let records: Vec<_> = progress.store.list(Some(&progress.path)).try_collect().await?;
    for record in records {
        progress.store.delete(&record.location).await?;
    }
    Ok(deleted)
}
