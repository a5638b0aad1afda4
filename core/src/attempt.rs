//! The attempt directory: the one place a run of a job keeps what the driver and the writer
//! tasks tell each other, wherever each of them runs.
//!
//! ```text
//! <table dir>/bulk_import/<job id>/<run id>/
//!     files/<uuid>           a writer names the data files it is about to start here, one URL
//!                            a line, before it starts them, so that every file of an attempt
//!                            can be found and deleted
//!     progress/<task>.json   each writer task's files and rows so far (TaskProgressRecord)
//!     abandoned              the driver gave the attempt up: writers stop, late files go
//!     lease.json             the driver running the attempt is alive until `expires` (Lease)
//!     manifest.json          the files the plan returned, written before the commit
//! ```
//!
//! After a run only the manifest (of a committed run) or the abandoned mark (of a discarded
//! one) is left; everything else is swept.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sketch::sketches_path;
use crate::store::{Location, ObjectStores};
use crate::table::Table;

const FILES: &str = "files";
const PROGRESS: &str = "progress";
const ABANDONED: &str = "abandoned";
const MANIFEST: &str = "manifest.json";
const LEASE: &str = "lease.json";
/// How many of an attempt's objects a sweep reads or deletes at once: a run of 10,000 files
/// leaves over a thousand markers, and a sweep of one object at a time was a tenth of a wide
/// job's time between its last file and FINISHED.
const SWEEP_CONCURRENCY: usize = 16;

/// A live driver's claim on a run, renewed while it runs: a job service taking up unfinished
/// jobs leaves a run alone while its lease holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub expires: chrono::DateTime<chrono::Utc>,
}

/// One file a job wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenFile {
    pub partition_id: String,
    pub filename: String,
    pub rows: u64,
    pub bytes: u64,
}

/// The manifest of an attempt: the files its plan returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub job_id: String,
    pub files: Vec<WrittenFile>,
}

/// A writer task's progress, rewritten after each file it completes: a retried task starts its
/// partition's record again, so the records sum to what the live attempts have written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskProgressRecord {
    pub files: u64,
    pub rows: u64,
    pub done: bool,
}

/// One run's attempt directory.
#[derive(Debug, Clone)]
pub struct AttemptDir {
    location: Location,
}

impl AttemptDir {
    /// The directory of every attempt of every job of a table.
    pub fn all_attempts(table: &Table) -> Location {
        table.dir().child("bulk_import")
    }

    /// The attempt directory of one run of a job.
    pub fn for_run(table: &Table, job_id: &str, run_id: &str) -> Self {
        AttemptDir { location: Self::all_attempts(table).child(job_id).child(run_id) }
    }

    /// The job and run ids an attempt directory's URL names ([`Self::for_run`]'s layout).
    pub fn job_and_run_of(url: &str) -> Option<(&str, &str)> {
        let mut segments = url.trim_end_matches('/').rsplit('/');
        let (run_id, job_id) = (segments.next()?, segments.next()?);
        (segments.next()? == "bulk_import").then_some((job_id, run_id))
    }

    /// An attempt directory at a location a plan carried (a writer task's view).
    pub fn at(location: Location) -> Self {
        AttemptDir { location }
    }

    pub fn url(&self) -> String {
        self.location.url()
    }

    /// Whether an object left under [`AttemptDir::all_attempts`] after its run ended is one
    /// that is meant to stay (a committed run's manifest, a discarded run's mark).
    pub fn is_kept_after_run(url: &str) -> bool {
        url.ends_with(&format!("/{MANIFEST}")) || url.ends_with(&format!("/{ABANDONED}"))
    }

    // The writer's side.

    /// Names data files before a writer starts them: one marker object for all of them, so
    /// that a task writing thousands of small files does not write thousands of markers.
    /// Returns the marker, which the writer removes if it finds the attempt abandoned.
    pub async fn record_files(&self, urls: &[String]) -> Result<Option<Location>> {
        if urls.is_empty() {
            return Ok(None);
        }
        let marker = self.location.child(FILES).child(&uuid::Uuid::new_v4().to_string());
        marker.store.put(&marker.path, PutPayload::from(urls.join("\n").into_bytes())).await?;
        Ok(Some(marker))
    }

    /// Removes a writer task's own objects from an abandoned attempt: its markers and its
    /// progress record. Absent ones are fine.
    pub async fn remove_task_objects(&self, task: usize, markers: &[Location]) -> Result<()> {
        for marker in markers {
            delete_if_present(marker).await?;
        }
        delete_if_present(&self.location.child(PROGRESS).child(&format!("{task:06}.json"))).await.map(drop)
    }

    /// Whether the driver gave this attempt up. Ballista does not always stop a job's running
    /// tasks when the job ends, so writers look before starting a file and after finishing one.
    pub async fn is_abandoned(&self) -> Result<bool> {
        let mark = self.location.child(ABANDONED);
        match mark.store.head(&mark.path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Rewrites a writer task's progress record.
    pub async fn write_task_progress(&self, task: usize, record: TaskProgressRecord) -> Result<()> {
        let location = self.location.child(PROGRESS).child(&format!("{task:06}.json"));
        let json = serde_json::to_vec(&record).map_err(|e| corrupt("task progress", &location, &e))?;
        location.store.put(&location.path, PutPayload::from(json)).await?;
        Ok(())
    }

    // The driver's side.

    /// Sums the writer tasks' records: (tasks done, rows written).
    pub async fn read_progress(&self) -> Result<(u32, u64)> {
        let dir = self.location.child(PROGRESS);
        let listed: Vec<_> = dir.store.list(Some(&dir.path)).try_collect().await?;
        let (mut done, mut rows) = (0, 0);
        for meta in listed {
            let bytes = match dir.store.get(&meta.location).await {
                Ok(result) => result.bytes().await?,
                // Deleted since the listing: the attempt is being cleaned up.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            // A record caught half-written by a store without atomic puts counts next time.
            let Ok(record) = serde_json::from_slice::<TaskProgressRecord>(&bytes) else { continue };
            done += u32::from(record.done);
            rows += record.rows;
        }
        Ok((done, rows))
    }

    /// Writes the manifest; returns its URL.
    pub async fn write_manifest(&self, job_id: &str, files: &[WrittenFile]) -> Result<String> {
        let location = self.location.child(MANIFEST);
        let manifest = Manifest { job_id: job_id.to_string(), files: files.to_vec() };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| corrupt("manifest", &location, &e))?;
        location.store.put(&location.path, bytes.into()).await?;
        Ok(location.url())
    }

    /// Claims or renews the run for `holder` until `valid_for` from now.
    pub async fn renew_lease(&self, holder: &str, valid_for: std::time::Duration) -> Result<()> {
        let location = self.location.child(LEASE);
        let expires = chrono::Utc::now() + chrono::Duration::from_std(valid_for).unwrap_or(chrono::Duration::MAX);
        let json = serde_json::to_vec(&Lease { holder: holder.to_string(), expires }).map_err(|e| corrupt("lease", &location, &e))?;
        location.store.put(&location.path, PutPayload::from(json)).await?;
        Ok(())
    }

    /// The run's lease, if it has one.
    pub async fn lease(&self) -> Result<Option<Lease>> {
        read_json(&self.location.child(LEASE), "lease").await
    }

    /// Gives the run up: the lease goes.
    pub async fn release_lease(&self) -> Result<()> {
        delete_if_present(&self.location.child(LEASE)).await.map(drop)
    }

    /// The manifest, if the run wrote one.
    pub async fn read_manifest(&self) -> Result<Option<Manifest>> {
        read_json(&self.location.child(MANIFEST), "manifest").await
    }

    pub async fn delete_manifest(&self) -> Result<()> {
        delete_if_present(&self.location.child(MANIFEST)).await.map(drop)
    }

    /// Marks the attempt abandoned; the mark stays, so that a late task never writes into it.
    pub async fn mark_abandoned(&self) -> Result<()> {
        let mark = self.location.child(ABANDONED);
        mark.store.put(&mark.path, PutPayload::from_static(b"abandoned\n")).await?;
        Ok(())
    }

    /// Deletes every file the attempt's writers started (with its sketches) except those in
    /// `keep`, then, unless `keep_markers`, aborts those files' incomplete S3 uploads and deletes
    /// the markers and the tasks' progress records. A sweep
    /// that keeps the markers can be repeated to catch files that writers were still completing.
    /// Returns how many data files were deleted.
    pub async fn sweep(&self, stores: &ObjectStores, keep: &HashSet<String>, keep_markers: bool) -> Result<usize> {
        let markers = self.location.child(FILES);
        let listed: Vec<Path> = markers.store.list(Some(&markers.path)).map_ok(|m| m.location).try_collect().await?;
        let named = read_markers(&markers, listed.clone()).await?;
        // A marker may name files its writer never started: they are not there to delete.
        let swept: Vec<Location> =
            named.iter().flat_map(|urls| urls.lines()).filter(|url| !keep.contains(*url)).map(|url| stores.resolve(url)).collect::<Result<_>>()?;
        let deleted = futures::stream::iter(swept.clone())
            .map(|file| async move {
                let deleted = delete_if_present(&file).await?;
                delete_if_present(&file.at(sketches_path(file.path.as_ref()).into())).await?;
                Ok::<_, Error>(usize::from(deleted))
            })
            .buffer_unordered(SWEEP_CONCURRENCY)
            .try_fold(0, |sum, deleted| async move { Ok(sum + deleted) })
            .await?;
        if keep_markers {
            return Ok(deleted);
        }
        // A writer that died in the middle of a file leaves its parts behind, in no listing; the
        // markers, which go next, are the only record of their keys. Done in the last sweep only,
        // once late writers have had their grace. A store that will not list uploads (no
        // permission, say) is no reason to keep the attempt's files: S3's lifecycle rule for
        // incomplete uploads (docs/operations.md) is the backstop.
        match stores.abort_incomplete_uploads(&swept).await {
            Ok(0) => {}
            Ok(aborted) => tracing::info!("{aborted} incomplete multipart uploads of attempt {} aborted", self.url()),
            Err(e) => tracing::warn!("the incomplete multipart uploads of attempt {} could not be aborted: {e}", self.url()),
        }
        delete_all(&markers, listed).await?;
        let progress = self.location.child(PROGRESS);
        let records: Vec<Path> = progress.store.list(Some(&progress.path)).map_ok(|m| m.location).try_collect().await?;
        delete_all(&progress, records).await?;
        Ok(deleted)
    }
}

/// The file URLs each listed marker names. A marker gone since the listing names nothing: a
/// writer that finds its attempt abandoned removes its own files, then its markers, while the
/// driver sweeps.
async fn read_markers(markers: &Location, listed: Vec<Path>) -> Result<Vec<String>> {
    // Owned in each future (not borrowed), so that the sweep stays `Send` for spawned callers.
    let named = futures::stream::iter(listed)
        .map(|marker| {
            let store = markers.store.clone();
            async move {
                match store.get(&marker).await {
                    Ok(read) => Ok(String::from_utf8_lossy(&read.bytes().await?).into_owned()),
                    Err(object_store::Error::NotFound { .. }) => Ok(String::new()),
                    Err(e) => Err(e),
                }
            }
        })
        .buffered(SWEEP_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(named)
}

/// Deletes objects of `location`'s store through its `delete_stream`: concurrently, or in bulk
/// requests where the store has them (S3 deletes up to 1,000 keys a request). One already gone
/// (its writer removed it) is no error.
async fn delete_all(location: &Location, paths: Vec<Path>) -> Result<()> {
    let paths = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
    let mut deleted = location.store.delete_stream(paths);
    while let Some(result) = deleted.next().await {
        match result {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// An object's JSON, if the object is there.
async fn read_json<T: serde::de::DeserializeOwned>(location: &Location, what: &'static str) -> Result<Option<T>> {
    let bytes = match location.store.get(&location.path).await {
        Ok(result) => result.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(what, location, &e))
}

/// Deletes an object; false if it was not there.
async fn delete_if_present(location: &Location) -> Result<bool> {
    match location.store.delete(&location.path).await {
        Ok(()) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn corrupt(what: &'static str, location: &Location, e: &serde_json::Error) -> Error {
    Error::Corrupt { what, location: location.url(), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_urls_job_and_run_are_read_back() {
        assert_eq!(AttemptDir::job_and_run_of("s3://b/t/1a2b/bulk_import/job-1/run-9"), Some(("job-1", "run-9")));
        assert_eq!(AttemptDir::job_and_run_of("file:///t/bulk_import/job-1/run-9/"), Some(("job-1", "run-9")));
        assert_eq!(AttemptDir::job_and_run_of("file:///t/elsewhere/job-1/run-9"), None);
        assert_eq!(AttemptDir::job_and_run_of("run-9"), None);
    }

    async fn exists(location: &Location) -> bool {
        location.store.head(&location.path).await.is_ok()
    }

    /// Markers of more files than a sweep takes at once, some kept, some never started.
    #[tokio::test]
    async fn a_sweep_deletes_every_named_file_but_the_kept_then_the_markers() {
        let dir = tempfile::tempdir().unwrap();
        let stores = ObjectStores::new();
        let root = stores.resolve(dir.path().to_str().unwrap()).unwrap();
        let attempt = AttemptDir::at(root.child("bulk_import").child("job-1").child("run-1"));
        let files: Vec<Location> = (0..50).map(|i| root.child(&format!("data/partition_{}/{i}.parquet", i % 7))).collect();
        let mut keep = HashSet::new();
        for (i, file) in files.iter().enumerate() {
            if i % 10 == 9 {
                continue; // named, never started
            }
            file.store.put(&file.path, PutPayload::from_static(b"rows")).await.unwrap();
            let sketches = file.at(sketches_path(file.path.as_ref()).into());
            sketches.store.put(&sketches.path, PutPayload::from_static(b"sketch")).await.unwrap();
            if i % 5 == 0 {
                keep.insert(file.url());
            }
        }
        for chunk in files.chunks(3) {
            attempt.record_files(&chunk.iter().map(Location::url).collect::<Vec<_>>()).await.unwrap();
        }
        attempt.write_task_progress(3, TaskProgressRecord { files: 1, rows: 4, done: false }).await.unwrap();

        // 45 files were started, 10 of them kept.
        assert_eq!(attempt.sweep(&stores, &keep, true).await.unwrap(), 35);
        assert_eq!(attempt.sweep(&stores, &keep, true).await.unwrap(), 0, "a repeated sweep finds nothing more");
        assert!(exists(&attempt.location.child(PROGRESS).child("000003.json")).await, "a sweep that keeps the markers keeps progress");
        assert_eq!(attempt.sweep(&stores, &keep, false).await.unwrap(), 0);
        for file in &files {
            let sketches = file.at(sketches_path(file.path.as_ref()).into());
            let kept = keep.contains(&file.url());
            assert_eq!(exists(file).await, kept, "{}", file.url());
            assert_eq!(exists(&sketches).await, kept, "the sketches of {}", file.url());
        }
        let left: Vec<_> = attempt.location.store.list(Some(&attempt.location.path)).try_collect().await.unwrap();
        assert!(left.is_empty(), "markers and progress are gone: {left:?}");
    }

    /// A writer that finds its attempt abandoned removes its own markers while the driver
    /// sweeps: a marker listed and gone before it is read, or before it is deleted, is no error.
    #[tokio::test]
    async fn markers_removed_by_their_writers_during_a_sweep_stop_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let stores = ObjectStores::new();
        let root = stores.resolve(dir.path().to_str().unwrap()).unwrap();
        let markers = root.child("bulk_import").child("job-1").child("run-1").child(FILES);
        let attempt = AttemptDir::at(root.child("bulk_import").child("job-1").child("run-1"));
        let file = root.child("data/partition_1/a.parquet");
        file.store.put(&file.path, PutPayload::from_static(b"rows")).await.unwrap();
        let marker = attempt.record_files(&[file.url()]).await.unwrap().unwrap();
        let gone = markers.child("removed-by-its-writer").path;

        let named = read_markers(&markers, vec![gone.clone(), marker.path.clone()]).await.unwrap();
        assert_eq!(named, [String::new(), file.url()]);
        delete_all(&markers, vec![gone, marker.path.clone()]).await.unwrap();
        assert!(!exists(&marker).await, "the marker after the gone one is deleted too");
    }
}
