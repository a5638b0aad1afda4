//! The state store of the engine's own backend: a table's transaction log in the object store.
//!
//! Transaction `n` is the object `transactions/<n, 20 digits>.json`, created only if absent. Two
//! writers racing for the same number: one wins, the other re-reads the log, re-validates its
//! transaction against the new state and retries with backoff. Every `SNAPSHOT_INTERVAL`
//! transactions a snapshot of the whole state is written, so a reader starts from the latest
//! snapshot instead of the first transaction.

use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::backend::{CommitOutcome, FilesCommit, StateStore};
use crate::error::{Error, Result};
use crate::partition::{Partition, PartitionTree};
use crate::schema::KeyField;
use crate::store::Location;
use crate::store_metrics::{STORE_METRICS, logs};
use crate::table::Table;
use crate::transaction::{SnapshotJson, TableFile, TableState, Transaction, TransactionJson};

const SNAPSHOT_INTERVAL: u64 = 100;
const MAX_ATTEMPTS: usize = 50;

/// How a writer that lost a race for a transaction number waits before it re-reads the log and
/// tries the next number: jittered exponential backoff from 10 ms up to 2 s, 50 attempts.
fn conflict_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(MAX_ATTEMPTS)
        .with_jitter()
}

/// One object of the log: the transaction, its number and when it was appended.
///
/// Only written: a reader reads the object as its [`TransactionJson`], whose adjacent tagging
/// steps over the number and the time. Read as this struct, serde's `flatten` would buffer the
/// whole transaction before reading it (7 MB for a table of 10,000 leaves).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogEntry {
    transaction_number: u64,
    update_time: String,
    #[serde(flatten)]
    transaction: TransactionJson,
}

/// A state read from the log, kept for the next reader.
#[derive(Debug)]
struct Kept {
    state: TableState,
    /// The e-tag of the object of the state's last transaction, when known: another object in
    /// its place means another log (a table restored, or made again at the same path).
    last_e_tag: Option<String>,
}

/// Whether the log continues a state read from it before.
enum Continued {
    Yes,
    No,
}

/// The transaction log of one table.
#[derive(Debug)]
pub struct TransactionLog {
    root: Location,
    row_keys: Vec<KeyField>,
    /// The state as of the last read, so that a reader only reads newer transactions.
    cached: Mutex<Option<Kept>>,
}

fn number_name(number: u64) -> String {
    format!("{number:020}.json")
}

fn parse_number(name: &str) -> Option<u64> {
    name.strip_suffix(".json")?.parse().ok()
}

impl TransactionLog {
    /// The log of a table whose state-store directory is `root`.
    pub fn new(root: Location, row_keys: Vec<KeyField>) -> Self {
        TransactionLog { root, row_keys, cached: Mutex::new(None) }
    }

    /// The log of a table of this backend: `<table dir>/statestore/`.
    pub fn for_table(table: &Table) -> Self {
        TransactionLog::new(table.dir().child("statestore"), table.schema().row_keys())
    }

    /// The URL of the log's directory.
    pub fn url(&self) -> String {
        self.root.url()
    }

    fn transactions(&self) -> Location {
        self.root.child("transactions")
    }

    fn snapshots(&self) -> Location {
        self.root.child("snapshots")
    }

    /// The current state: the latest snapshot plus every later transaction.
    pub async fn state(&self) -> Result<TableState> {
        self.read(TableState::clone).await
    }

    /// Brings the kept state up to date, for a reader to come.
    pub async fn read_ahead(&self) -> Result<()> {
        self.read(|_| ()).await
    }

    /// What `f` takes from the current state, which is not copied for it: a table of 10,000
    /// leaves has 20,000 partitions, and one of many files as many references.
    async fn read<R>(&self, f: impl FnOnce(&TableState) -> R) -> Result<R> {
        let mut cached = self.cached.lock().await;
        Ok(f(&self.current(&mut cached).await?.state))
    }

    /// The kept state, brought up to date.
    async fn current<'a>(&self, cached: &'a mut Option<Kept>) -> Result<&'a mut Kept> {
        let kept = match cached.take() {
            Some(mut kept) => match self.read_newer(&mut kept, true).await? {
                Continued::Yes => kept,
                Continued::No => self.read_all().await?,
            },
            None => self.read_all().await?,
        };
        Ok(cached.insert(kept))
    }

    async fn read_all(&self) -> Result<Kept> {
        let state = self.latest_snapshot().await?.unwrap_or_else(|| TableState::empty(&self.row_keys));
        let mut kept = Kept { state, last_e_tag: None };
        self.read_newer(&mut kept, false).await?;
        Ok(kept)
    }

    async fn latest_snapshot(&self) -> Result<Option<TableState>> {
        let dir = self.snapshots();
        let metas: Vec<_> = dir.store.list(Some(&dir.path)).try_collect().await?;
        let Some(latest) = metas.iter().filter_map(|m| m.location.filename().and_then(parse_number).map(|n| (n, m))).max_by_key(|(n, _)| *n) else {
            return Ok(None);
        };
        let bytes = dir.store.get(&latest.1.location).await?.bytes().await?;
        let snapshot: SnapshotJson = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            what: "snapshot",
            location: latest.1.location.to_string(),
            reason: e.to_string(),
        })?;
        TableState::from_snapshot(snapshot, &self.row_keys).map(Some)
    }

    /// Applies, in order, every transaction after the kept state's number. With
    /// `must_hold_own`, [`Continued::No`], with nothing applied, if the log no longer holds the
    /// state's own last transaction as it was read (a snapshot's may have been pruned).
    async fn read_newer(&self, kept: &mut Kept, must_hold_own: bool) -> Result<Continued> {
        let dir = self.transactions();
        // Listed from just before the state's own transaction, to see that it is still there.
        let own = kept.state.transaction_number;
        let offset = dir.path.clone().join(number_name(own.saturating_sub(1)).as_str());
        let mut listed: Vec<(u64, Option<String>)> = dir
            .store
            .list_with_offset(Some(&dir.path), &offset)
            .try_filter_map(|m| async move { Ok(m.location.filename().and_then(parse_number).map(|n| (n, m.e_tag))) })
            .try_collect()
            .await?;
        listed.sort_unstable();
        if own > 0 {
            let listed_own = listed.iter().find(|(n, _)| *n == own).map(|(_, e_tag)| e_tag);
            match (listed_own, &kept.last_e_tag) {
                (None, _) if must_hold_own => return Ok(Continued::No),
                (Some(listed), Some(read)) if must_hold_own && listed.as_ref() != Some(read) => return Ok(Continued::No),
                (Some(listed), _) => kept.last_e_tag.clone_from(listed),
                (None, _) => {}
            }
        }
        for (number, e_tag) in listed.into_iter().filter(|(n, _)| *n > own) {
            if number != kept.state.transaction_number + 1 {
                // A gap can only be a listing that is not yet consistent: stop at it.
                break;
            }
            let transaction = self.read_transaction(number).await?;
            kept.state.apply(number, transaction).map_err(|e| Error::Corrupt {
                what: "transaction",
                location: self.transactions().child(&number_name(number)).url(),
                reason: e.to_string(),
            })?;
            kept.last_e_tag = e_tag;
        }
        Ok(Continued::Yes)
    }

    async fn read_transaction(&self, number: u64) -> Result<Transaction> {
        let location = self.transactions().child(&number_name(number));
        let bytes = location.store.get(&location.path).await?.bytes().await?;
        let corrupt = |reason: String| Error::Corrupt { what: "transaction", location: location.url(), reason };
        let transaction: TransactionJson = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        Transaction::from_json(transaction, &self.row_keys).map_err(|e| corrupt(e.to_string()))
    }

    /// Appends a transaction, validated against the latest state; returns its number. A conflict
    /// with another writer re-reads, re-validates and retries with backoff ([`conflict_backoff`]).
    pub async fn append(&self, transaction: Transaction) -> Result<u64> {
        let attempt = || self.try_append(&transaction);
        let retried = |_: &Error, _| STORE_METRICS.retried(logs::TRANSACTION_LOG);
        attempt.retry(conflict_backoff()).when(|e| matches!(e, Error::WriteConflict)).notify(retried).await.map_err(|e| match e {
            Error::WriteConflict => {
                STORE_METRICS.gave_up(logs::TRANSACTION_LOG);
                Error::TooManyConflicts(MAX_ATTEMPTS)
            }
            other => other,
        })
    }

    /// One try at appending at the number after the latest state's. The kept state is checked
    /// and changed where it is, under its lock: it is not copied for the try, nor the copy
    /// dropped after it.
    async fn try_append(&self, transaction: &Transaction) -> Result<u64> {
        let mut cached = self.cached.lock().await;
        let kept = self.current(&mut cached).await?;
        kept.state.validate(transaction)?;
        let number = kept.state.transaction_number + 1;
        let body =
            LogEntry { transaction_number: number, update_time: chrono::Utc::now().to_rfc3339(), transaction: transaction.to_json(&self.row_keys) };
        let location = self.transactions().child(&number_name(number));
        // Compact, as Sleeper writes its transactions: a table of 10,000 leaves starts with a
        // 7 MB transaction (11 MB indented), and every job reads it.
        let bytes = serde_json::to_vec(&body).map_err(|e| Error::Corrupt { what: "transaction", location: location.url(), reason: e.to_string() })?;
        if !location.create(bytes).await? {
            return Err(Error::WriteConflict);
        }
        if let Err(e) = kept.state.apply(number, transaction.clone()) {
            // Validated, so not expected; but a state applied in part is not kept.
            *cached = None;
            return Err(e);
        }
        // The e-tag of the object just written is not known: the next read takes it as listed.
        kept.last_e_tag = None;
        if number % SNAPSHOT_INTERVAL == 0 {
            // Best effort: a missing snapshot only makes later reads longer.
            if let Err(e) = self.write_snapshot(&kept.state).await {
                tracing::warn!("could not write snapshot {number}: {e}");
            }
        }
        Ok(number)
    }

    async fn write_snapshot(&self, state: &TableState) -> Result<()> {
        let location = self.snapshots().child(&number_name(state.transaction_number));
        let bytes = serde_json::to_vec(&state.to_snapshot()).map_err(|e| Error::Corrupt {
            what: "snapshot",
            location: location.url(),
            reason: e.to_string(),
        })?;
        location.store.put(&location.path, bytes.into()).await?;
        Ok(())
    }
}

#[async_trait]
impl StateStore for TransactionLog {
    async fn partitions(&self) -> Result<PartitionTree> {
        self.read(|state| state.partitions.clone()).await
    }

    async fn files(&self) -> Result<Vec<TableFile>> {
        self.read(|state| state.files.clone()).await
    }

    async fn is_job_committed(&self, job_id: &str) -> Result<bool> {
        self.read(|state| state.committed_jobs.contains(job_id)).await
    }

    async fn extend_partition_tree(&self, update_partitions: Vec<Partition>, new_partitions: Vec<Partition>) -> Result<u64> {
        self.append(Transaction::ExtendPartitionTree { update_partitions, new_partitions }).await
    }

    async fn commit_files(&self, commit: FilesCommit) -> Result<CommitOutcome> {
        let transaction_number = self.append(Transaction::AddFiles { job_id: Some(commit.job_id), files: commit.files }).await?;
        Ok(CommitOutcome::Applied { transaction_number })
    }
}
