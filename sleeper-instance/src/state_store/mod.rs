//! A table's state store in a Sleeper instance (`DynamoDBTransactionLogStateStore`): its
//! partitions and files, each the latest snapshot plus the log after it, and the two writes a
//! bulk import makes: an `EXTEND_PARTITION_TREE` appended to the partitions log (pre-split,
//! always synchronous, as Sleeper's), and the job's `ADD_FILES`, sent to the committer queue or
//! appended to the files log as the table's settings say.
//!
//! A log is never read from transaction 1: Sleeper deletes old items once a snapshot covers
//! them. The state is the snapshot's, then every item after it, which must follow on without a
//! gap.

pub mod files;
pub mod log;
pub mod partitions;
pub mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use bulk_import_core::backend::{CommitOutcome, FilesCommit, StateStore, StateStoreProvider};
use bulk_import_core::partition::{Partition, PartitionTree};
use bulk_import_core::schema::KeyField;
use bulk_import_core::store::{Location, ObjectStores};
use bulk_import_core::store_metrics::{STORE_METRICS, logs};
use bulk_import_core::table::Table;
use bulk_import_core::transaction::{TableFile, extended};
use bulk_import_core::transaction_json::{AddFilesJson, TransactionJson};
use bulk_import_core::{Error, Result};
use tokio::sync::Mutex;

use self::files::FilesState;
use self::log::{LogEntry, TransactionLog};
use self::partitions::PartitionsState;
use self::snapshot::latest_snapshots;
use crate::TaskId;
use crate::aws::Clients;
use crate::committer::Committer;
use crate::instance::{FILES_LOG, InstanceProperties, LATEST_SNAPSHOTS, PARTITIONS_LOG};
use crate::tables::BULK_IMPORT_COMMIT_ASYNC;

/// Attempts at appending to a log while other writers take the numbers first, with jittered
/// exponential backoff (Sleeper's own: 10 attempts).
const APPEND_ATTEMPTS: usize = 10;

fn append_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(APPEND_ATTEMPTS)
        .with_jitter()
}

/// The state stores of an instance's tables.
#[derive(Debug)]
pub struct SleeperStateStores {
    clients: Clients,
    data_bucket: Location,
    files_log: String,
    partitions_log: String,
    latest_snapshots: String,
    committer: Committer,
    task_id: TaskId,
}

impl SleeperStateStores {
    pub fn new(instance: &InstanceProperties, clients: Clients, stores: &ObjectStores, task_id: TaskId) -> Result<Self> {
        let data_bucket = instance.data_bucket(stores)?;
        Ok(SleeperStateStores {
            files_log: instance.require(FILES_LOG)?.to_string(),
            partitions_log: instance.require(PARTITIONS_LOG)?.to_string(),
            latest_snapshots: instance.require(LATEST_SNAPSHOTS)?.to_string(),
            committer: Committer::new(instance, clients.sqs.clone(), data_bucket.clone()),
            clients,
            data_bucket,
            task_id,
        })
    }
}

impl StateStoreProvider for SleeperStateStores {
    fn state_store(&self, table: &Table) -> Arc<dyn StateStore> {
        let commit_async = table.definition.properties.raw(BULK_IMPORT_COMMIT_ASYNC).is_none_or(|v| v.eq_ignore_ascii_case("true"));
        let log = |name: &str| TransactionLog::new(self.clients.dynamo.clone(), name, table.id(), self.data_bucket.clone());
        Arc::new(SleeperStateStore {
            table_id: table.id().to_string(),
            row_keys: table.schema().row_keys(),
            dynamo: self.clients.dynamo.clone(),
            latest_snapshots: self.latest_snapshots.clone(),
            data_bucket: self.data_bucket.clone(),
            files_log: log(&self.files_log),
            partitions_log: log(&self.partitions_log),
            committer: self.committer.clone(),
            commit_async,
            task_id: self.task_id.clone(),
            cache: Mutex::default(),
        })
    }
}

/// The state as of the last read: the number of the last transaction applied, and the state.
#[derive(Debug, Default)]
struct Cached {
    partitions: Option<(u64, PartitionsState)>,
    files: Option<(u64, FilesState)>,
}

#[derive(Debug)]
pub struct SleeperStateStore {
    table_id: String,
    row_keys: Vec<KeyField>,
    dynamo: aws_sdk_dynamodb::Client,
    latest_snapshots: String,
    data_bucket: Location,
    files_log: TransactionLog,
    partitions_log: TransactionLog,
    committer: Committer,
    commit_async: bool,
    task_id: TaskId,
    cache: Mutex<Cached>,
}

/// Checks that log entries follow the state read so far without a gap.
fn check_follows(table_id: &str, log: &str, last: u64, entries: &[LogEntry]) -> Result<()> {
    for (expected, entry) in (last + 1..).zip(entries) {
        if entry.number != expected {
            let reason = if last == 0 && expected == 1 {
                format!(
                    "the log starts at transaction {} with no snapshot before it: its earlier items were deleted, and no snapshot covers them",
                    entry.number
                )
            } else {
                format!("transaction {expected} is missing: the log jumps from {} to {}", expected - 1, entry.number)
            };
            return Err(Error::Corrupt { what: "transaction log", location: format!("{log} of table {table_id}"), reason });
        }
    }
    Ok(())
}

impl SleeperStateStore {
    async fn partitions_state(&self) -> Result<(u64, PartitionsState)> {
        let started = std::time::Instant::now();
        let mut cache = self.cache.lock().await;
        let (mut last, mut state) = match cache.partitions.take() {
            Some(cached) => cached,
            None => match latest_snapshots(&self.dynamo, &self.latest_snapshots, &self.table_id).await?.partitions {
                Some(snapshot) => {
                    let partitions = snapshot::read_partitions(&self.data_bucket, &snapshot, &self.row_keys).await?;
                    (snapshot.transaction_number, PartitionsState::from_partitions(partitions))
                }
                None => (0, PartitionsState::default()),
            },
        };
        let entries = self.partitions_log.read_from(last + 1).await?;
        check_follows(&self.table_id, "the partitions log", last, &entries)?;
        for entry in &entries {
            state.apply(&entry.transaction, &self.row_keys)?;
            last = entry.number;
        }
        tracing::info!(
            "table {}: partitions read to transaction {last} ({} from the log) in {:.3} s",
            self.table_id,
            entries.len(),
            started.elapsed().as_secs_f64()
        );
        cache.partitions = Some((last, state.clone()));
        Ok((last, state))
    }

    async fn files_state(&self) -> Result<(u64, FilesState)> {
        let started = std::time::Instant::now();
        let mut cache = self.cache.lock().await;
        let (mut last, mut state) = match cache.files.take() {
            Some(cached) => cached,
            None => match latest_snapshots(&self.dynamo, &self.latest_snapshots, &self.table_id).await?.files {
                Some(snapshot) => (snapshot.transaction_number, snapshot::read_files(&self.data_bucket, &snapshot).await?),
                None => (0, FilesState::default()),
            },
        };
        let entries = self.files_log.read_from(last + 1).await?;
        check_follows(&self.table_id, "the files log", last, &entries)?;
        for entry in &entries {
            state.apply(&entry.transaction);
            last = entry.number;
        }
        tracing::info!(
            "table {}: files read to transaction {last} ({} from the log) in {:.3} s",
            self.table_id,
            entries.len(),
            started.elapsed().as_secs_f64()
        );
        cache.files = Some((last, state.clone()));
        Ok((last, state))
    }

    /// One try at an extension against the latest tree: its number, or `None` if another
    /// writer took the number first.
    async fn try_extend(&self, update_partitions: &[Partition], new_partitions: &[Partition]) -> Result<Option<u64>> {
        let (last, state) = self.partitions_state().await?;
        extended(&state.tree(&self.row_keys)?, update_partitions, new_partitions)?;
        let transaction = TransactionJson::ExtendPartitionTree {
            update_partitions: bulk_import_core::partition_json::partitions_to_json(&self.row_keys, update_partitions),
            new_partitions: bulk_import_core::partition_json::partitions_to_json(&self.row_keys, new_partitions),
        };
        Ok(self.partitions_log.try_append(last + 1, &transaction).await?.then_some(last + 1))
    }

    /// One try at appending a job's files to the files log (a synchronous commit).
    async fn try_add_files(&self, commit: &FilesCommit) -> Result<Option<u64>> {
        let (last, state) = self.files_state().await?;
        if let Some(existing) = commit.files.iter().find(|f| state.contains(&f.filename)) {
            return Err(Error::FileAlreadyReferenced(existing.filename.clone()));
        }
        // Sleeper's synchronous bulk import commit carries the files alone.
        let transaction = TransactionJson::AddFiles(AddFilesJson::new(None, commit.files.clone()));
        Ok(self.files_log.try_append(last + 1, &transaction).await?.then_some(last + 1))
    }
}

async fn with_retries<F, Fut>(what: &str, attempt: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<u64>>>,
{
    let mut attempt = attempt;
    let try_once = || {
        let next = attempt();
        async move { next.await?.ok_or(Error::WriteConflict) }
    };
    let retried = |_: &Error, _| STORE_METRICS.retried(logs::SLEEPER_TRANSACTION_LOG);
    try_once.retry(append_backoff()).when(|e| matches!(e, Error::WriteConflict)).notify(retried).await.map_err(|e| match e {
        Error::WriteConflict => {
            STORE_METRICS.gave_up(logs::SLEEPER_TRANSACTION_LOG);
            tracing::warn!("{what}: other writers took every transaction number tried");
            Error::TooManyConflicts(APPEND_ATTEMPTS)
        }
        other => other,
    })
}

#[async_trait]
impl StateStore for SleeperStateStore {
    async fn partitions(&self) -> Result<PartitionTree> {
        self.partitions_state().await?.1.tree(&self.row_keys)
    }

    async fn files(&self) -> Result<Vec<TableFile>> {
        Ok(self.files_state().await?.1.table_files())
    }

    async fn is_job_committed(&self, job_id: &str) -> Result<bool> {
        Ok(self.files_state().await?.1.added_by(job_id))
    }

    async fn extend_partition_tree(&self, update_partitions: Vec<Partition>, new_partitions: Vec<Partition>) -> Result<u64> {
        with_retries("pre-split", || self.try_extend(&update_partitions, &new_partitions)).await
    }

    async fn commit_files(&self, commit: FilesCommit) -> Result<CommitOutcome> {
        let started = std::time::Instant::now();
        let outcome = self.commit_files_now(commit).await?;
        tracing::info!("table {}: commit {outcome:?} in {:.3} s", self.table_id, started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    async fn check_commit_possible(&self) -> Result<()> {
        if self.commit_async { self.committer.check_queue().await } else { Ok(()) }
    }
}

impl SleeperStateStore {
    async fn commit_files_now(&self, commit: FilesCommit) -> Result<CommitOutcome> {
        if self.commit_async {
            let add = AddFilesJson {
                job_id: Some(commit.job_id.clone()),
                task_id: Some(self.task_id.0.clone()),
                job_run_id: Some(commit.run_id.clone()),
                written_time: Some(chrono::Utc::now().timestamp_millis()),
                files: commit.files,
            };
            self.committer.send(&self.table_id, &TransactionJson::AddFiles(add)).await?;
            return Ok(CommitOutcome::Requested);
        }
        let transaction_number = with_retries("commit", || self.try_add_files(&commit)).await?;
        Ok(CommitOutcome::Applied { transaction_number })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(numbers: &[u64]) -> Vec<LogEntry> {
        numbers.iter().map(|&number| LogEntry { number, transaction: TransactionJson::ClearFiles {} }).collect()
    }

    #[test]
    fn a_log_must_follow_its_snapshot_without_a_gap() {
        assert!(check_follows("t", "log", 0, &entries(&[1, 2, 3])).is_ok());
        assert!(check_follows("t", "log", 40, &entries(&[41, 42])).is_ok());
        assert!(check_follows("t", "log", 40, &[]).is_ok());
        let deleted = check_follows("t", "log", 0, &entries(&[201, 202])).unwrap_err();
        assert!(deleted.to_string().contains("no snapshot covers them"), "{deleted}");
        let gap = check_follows("t", "log", 40, &entries(&[41, 43])).unwrap_err();
        assert!(gap.to_string().contains("transaction 42 is missing"), "{gap}");
    }
}
