//! The state-store seam: everything a job needs from the place its tables live, as a few small
//! traits named after their Sleeper counterparts, and [`Backend`], the set of them a driver is
//! opened on.
//!
//! ```text
//!   TableIndex ──────────────── name or id → TableStatus
//!   TablePropertiesProvider ─── TableStatus → Table (schema, properties, data location);
//!                               the instance's properties
//!   StateStoreProvider ──────── Table → StateStore: partitions, files, pre-split, commit
//!   JobTracker ──────────────── a job's events: accepted, started, finished, failed …
//!   TableAdmin (optional) ───── create a table
//! ```
//!
//! The intake, planner, runner, commit, pre-split and job service see only these traits; the
//! plan executors see none of them (a plan carries the table's data location and nothing else).
//! [`object_store`] is the engine's own backend: tables, logs and tracker as objects under one
//! root, a local directory or an S3 prefix. [`memory`] keeps everything in memory, for tests.

pub mod memory;
pub mod object_store;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::error::{Error, Result};
use crate::partition::{Partition, PartitionTree};
use crate::properties::TableProperties;
use crate::schema::Schema;
use crate::store::{Location, ObjectStores};
use crate::table::{Table, TableStatus};
use crate::tracker::{AcceptError, JobEvent, JobRecord, JobStatus};
use crate::transaction::{AddedFile, TableFile};

/// The index from table names and ids to tables (Sleeper's `TableIndex`).
#[async_trait]
pub trait TableIndex: Debug + Send + Sync {
    async fn table_by_name(&self, name: &str) -> Result<Option<TableStatus>>;
    async fn table_by_id(&self, table_id: &str) -> Result<Option<TableStatus>>;
    /// Every table, sorted by name.
    async fn list_tables(&self) -> Result<Vec<TableStatus>>;
}

/// Table definitions, and the instance-wide properties that give their defaults (Sleeper's
/// `TablePropertiesProvider` and `InstanceProperties`).
#[async_trait]
pub trait TablePropertiesProvider: Debug + Send + Sync {
    /// The table the index names; `None` if its definition is gone (a half-created table).
    async fn table(&self, status: &TableStatus) -> Result<Option<Table>>;
    /// The instance's properties, read afresh so that a change applies to the next job.
    async fn instance_properties(&self) -> Result<TableProperties>;
}

/// The files a job commits, once.
#[derive(Debug, Clone, PartialEq)]
pub struct FilesCommit {
    pub job_id: String,
    /// The run that wrote the files.
    pub run_id: String,
    pub files: Vec<AddedFile>,
}

/// What became of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The files are in the table, at this transaction of its log.
    Applied { transaction_number: u64 },
    /// The files are in the table, but the store's answer to the commit was lost, so at which
    /// transaction is not known (see the driver's `commit`).
    Landed,
    /// The files were sent to a committer that adds them later (Sleeper's asynchronous commit):
    /// the job stays UNCOMMITTED until the committer has.
    Requested,
}

/// One table's partitions and file references (Sleeper's `StateStore`).
#[async_trait]
pub trait StateStore: Debug + Send + Sync {
    /// The current partition tree.
    async fn partitions(&self) -> Result<PartitionTree>;
    /// The current file references.
    async fn files(&self) -> Result<Vec<TableFile>>;
    /// Whether the job's files are in the table: a job commits at most once.
    async fn is_job_committed(&self, job_id: &str) -> Result<bool>;
    /// Splits current leaves into subtrees (pre-split); returns the transaction number.
    /// [`Error::PartitionTreeChanged`] if the tree changed so that the extension no longer fits.
    async fn extend_partition_tree(&self, update_partitions: Vec<Partition>, new_partitions: Vec<Partition>) -> Result<u64>;
    /// Adds a job's files, or has them added. [`Error::JobAlreadyCommitted`] if the job
    /// committed before, and nothing is added.
    async fn commit_files(&self, commit: FilesCommit) -> Result<CommitOutcome>;
    /// Checks, before a job writes anything, that its commit can go through (for example,
    /// that the committer queue exists), so that a job that cannot commit fails first.
    async fn check_commit_possible(&self) -> Result<()> {
        Ok(())
    }
}

/// The state store of each table (Sleeper's `StateStoreProvider`).
pub trait StateStoreProvider: Debug + Send + Sync {
    fn state_store(&self, table: &Table) -> Arc<dyn StateStore>;

    /// Reads a table's state ahead of a job that will need it, while the job's inputs are
    /// checked, where the store keeps what it read for the table's next reader. A provider whose
    /// stores do not keep it does nothing (the default): the read would be done twice.
    fn read_ahead(&self, _table: &Table) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// Where a job's progress is recorded and read back (Sleeper's `IngestJobTracker`).
#[async_trait]
pub trait JobTracker: Debug + Send + Sync {
    /// Records an event of a job.
    async fn record(&self, job_id: &str, event: JobEvent) -> Result<()>;
    /// Records that a job was accepted, unless a job with the same id already was and has not
    /// failed since: a failed job may be submitted again, and runs again under the same id (its
    /// commit is still refused if an earlier run committed).
    async fn accept(&self, job_id: &str, event: JobEvent) -> Result<(), AcceptError>;
    /// Records a submission rejected because it reused the id of an accepted job, beside that
    /// job's events so that it does not change the job's status.
    async fn record_rejected_resubmission(&self, job_id: &str, reasons: Vec<String>, raw_json: String) -> Result<()>;
    /// Everything recorded about a job, or `None` for an id never seen.
    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>>;
    /// All jobs, optionally only those of one table or in one status, ordered by first event.
    async fn list(&self, table_name: Option<&str>, status: Option<JobStatus>) -> Result<Vec<JobRecord>>;
}

/// Creating tables: the engine's own store does it; a Sleeper instance's tables are made by
/// Sleeper's own tools.
#[async_trait]
pub trait TableAdmin: Debug + Send + Sync {
    /// Creates a table with an initial partition tree. Fails, leaving nothing behind, if the
    /// name is taken.
    async fn create_table(&self, name: &str, schema: Schema, properties: TableProperties, partitions: PartitionTree) -> Result<Table>;
}

/// A store of tables: the seam's traits, filled by one backend.
#[derive(Debug, Clone)]
pub struct Backend {
    pub table_index: Arc<dyn TableIndex>,
    pub table_properties: Arc<dyn TablePropertiesProvider>,
    pub state_stores: Arc<dyn StateStoreProvider>,
    pub job_tracker: Arc<dyn JobTracker>,
    pub table_admin: Option<Arc<dyn TableAdmin>>,
    /// The store's root. A job's input paths without a scheme are Sleeper's `bucket/key` when
    /// it is in S3, and local paths otherwise.
    pub root: Location,
}

impl Backend {
    /// Opens the store at `url`, a local path or a `file://` or `s3://` URL.
    pub fn open(url: &str, stores: &ObjectStores) -> Result<Backend> {
        Ok(object_store::backend(stores.resolve(url)?))
    }

    /// The table with this name, if there is one.
    pub async fn table_by_name(&self, name: &str) -> Result<Option<Table>> {
        match self.table_index.table_by_name(name).await? {
            Some(status) => self.table_properties.table(&status).await,
            None => Ok(None),
        }
    }

    /// The table with this id, if there is one.
    pub async fn table_by_id(&self, table_id: &str) -> Result<Option<Table>> {
        match self.table_index.table_by_id(table_id).await? {
            Some(status) => self.table_properties.table(&status).await,
            None => Ok(None),
        }
    }

    pub fn state_store(&self, table: &Table) -> Arc<dyn StateStore> {
        self.state_stores.state_store(table)
    }

    /// Creates a table, where the backend can.
    pub async fn create_table(&self, name: &str, schema: Schema, properties: TableProperties, partitions: PartitionTree) -> Result<Table> {
        let admin = self.table_admin.as_ref().ok_or_else(|| {
            Error::Unsupported("this store's tables are not created here (a Sleeper instance's are made with Sleeper's own tools)".into())
        })?;
        admin.create_table(name, schema, properties, partitions).await
    }
}
