//! A backend that keeps tables, their state and the job tracker in memory, with the same
//! validation as the transaction log: for unit tests of whatever sits on the seam. Data files
//! still go to a real object store location, `data_root`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::Utc;

use crate::backend::{
    Backend, CommitOutcome, FilesCommit, JobTracker, StateStore, StateStoreProvider, TableAdmin, TableIndex, TablePropertiesProvider,
};
use crate::error::{Error, Result};
use crate::partition::{Partition, PartitionTree};
use crate::properties::TableProperties;
use crate::schema::Schema;
use crate::store::Location;
use crate::table::{Table, TableDefinition, TableStatus, validate_table_name};
use crate::tracker::{AcceptError, JobEvent, JobEventRecord, JobRecord, JobStatus, check_acceptable};
use crate::transaction::{TableFile, TableState, Transaction};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind, still consistent: carry on.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One table's state, validated and applied as the transaction log does.
#[derive(Debug)]
pub struct MemoryStateStore {
    state: Mutex<TableState>,
}

impl MemoryStateStore {
    fn append(&self, transaction: Transaction) -> Result<u64> {
        let mut state = lock(&self.state);
        state.validate(&transaction)?;
        let number = state.transaction_number + 1;
        state.apply(number, transaction)?;
        Ok(number)
    }
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn partitions(&self) -> Result<PartitionTree> {
        Ok(lock(&self.state).partitions.clone())
    }

    async fn files(&self) -> Result<Vec<TableFile>> {
        Ok(lock(&self.state).files.clone())
    }

    async fn is_job_committed(&self, job_id: &str) -> Result<bool> {
        Ok(lock(&self.state).committed_jobs.contains(job_id))
    }

    async fn extend_partition_tree(&self, update_partitions: Vec<Partition>, new_partitions: Vec<Partition>) -> Result<u64> {
        self.append(Transaction::ExtendPartitionTree { update_partitions, new_partitions })
    }

    async fn commit_files(&self, commit: FilesCommit) -> Result<CommitOutcome> {
        let transaction_number = self.append(Transaction::AddFiles { job_id: Some(commit.job_id), files: commit.files })?;
        Ok(CommitOutcome::Applied { transaction_number })
    }
}

/// Tables by name, each with its state.
#[derive(Debug)]
pub struct MemoryTables {
    data_root: Location,
    instance: TableProperties,
    tables: Mutex<BTreeMap<String, (TableDefinition, Arc<MemoryStateStore>)>>,
}

impl MemoryTables {
    fn find(&self, matches: impl Fn(&TableDefinition) -> bool) -> Option<(TableDefinition, Arc<MemoryStateStore>)> {
        lock(&self.tables).values().find(|(definition, _)| matches(definition)).cloned()
    }

    fn table(&self, definition: TableDefinition) -> Table {
        Table::new(definition, self.data_root.clone())
    }
}

#[async_trait]
impl TableIndex for MemoryTables {
    async fn table_by_name(&self, name: &str) -> Result<Option<TableStatus>> {
        Ok(lock(&self.tables).get(name).map(|(d, _)| self.table(d.clone()).status()))
    }

    async fn table_by_id(&self, table_id: &str) -> Result<Option<TableStatus>> {
        Ok(self.find(|d| d.table_id == table_id).map(|(d, _)| self.table(d).status()))
    }

    async fn list_tables(&self) -> Result<Vec<TableStatus>> {
        Ok(lock(&self.tables).values().map(|(d, _)| self.table(d.clone()).status()).collect())
    }
}

#[async_trait]
impl TablePropertiesProvider for MemoryTables {
    async fn table(&self, status: &TableStatus) -> Result<Option<Table>> {
        Ok(self.find(|d| d.table_id == status.table_id).map(|(d, _)| self.table(d)))
    }

    async fn instance_properties(&self) -> Result<TableProperties> {
        Ok(self.instance.clone())
    }
}

#[async_trait]
impl TableAdmin for MemoryTables {
    async fn create_table(&self, name: &str, schema: Schema, properties: TableProperties, partitions: PartitionTree) -> Result<Table> {
        validate_table_name(name)?;
        properties.parquet_settings()?;
        let mut tables = lock(&self.tables);
        if tables.contains_key(name) {
            return Err(Error::TableExists(name.to_string()));
        }
        let definition = TableDefinition { table_name: name.to_string(), table_id: format!("{:08x}", tables.len() + 1), schema, properties };
        let store = MemoryStateStore { state: Mutex::new(TableState::empty(&definition.schema.row_keys())) };
        store.append(Transaction::InitialisePartitions(partitions))?;
        tables.insert(name.to_string(), (definition.clone(), Arc::new(store)));
        Ok(self.table(definition))
    }
}

impl StateStoreProvider for MemoryTables {
    fn state_store(&self, table: &Table) -> Arc<dyn StateStore> {
        match self.find(|d| d.table_id == table.id()) {
            Some((_, store)) => store,
            // A table this backend does not hold has an empty state that refuses commits.
            None => Arc::new(MemoryStateStore { state: Mutex::new(TableState::empty(&table.schema().row_keys())) }),
        }
    }
}

/// One job's events and its rejected resubmissions, each in order.
#[derive(Debug, Default)]
struct JobLog {
    events: Vec<JobEventRecord>,
    rejected_submissions: Vec<JobEventRecord>,
}

impl JobLog {
    fn record(&self, job_id: &str) -> Option<JobRecord> {
        JobRecord::from_events(job_id, self.events.clone(), self.rejected_submissions.clone())
    }
}

/// Each job's events and rejected resubmissions.
#[derive(Debug, Default)]
pub struct MemoryJobTracker {
    jobs: Mutex<BTreeMap<String, JobLog>>,
}

fn now(job_id: &str, event: JobEvent) -> JobEventRecord {
    JobEventRecord { job_id: job_id.to_string(), time: Utc::now(), event }
}

#[async_trait]
impl JobTracker for MemoryJobTracker {
    async fn record(&self, job_id: &str, event: JobEvent) -> Result<()> {
        lock(&self.jobs).entry(job_id.to_string()).or_default().events.push(now(job_id, event));
        Ok(())
    }

    async fn accept(&self, job_id: &str, event: JobEvent) -> Result<(), AcceptError> {
        let mut jobs = lock(&self.jobs);
        let events = &mut jobs.entry(job_id.to_string()).or_default().events;
        check_acceptable(job_id, events)?;
        events.push(now(job_id, event));
        Ok(())
    }

    async fn record_rejected_resubmission(&self, job_id: &str, reasons: Vec<String>, raw_json: String) -> Result<()> {
        let event = JobEvent::Rejected { table_name: None, reasons, raw_json };
        lock(&self.jobs).entry(job_id.to_string()).or_default().rejected_submissions.push(now(job_id, event));
        Ok(())
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        let jobs = lock(&self.jobs);
        Ok(jobs.get(job_id).and_then(|log| log.record(job_id)))
    }

    async fn list(&self, table_name: Option<&str>, status: Option<JobStatus>) -> Result<Vec<JobRecord>> {
        let jobs = lock(&self.jobs);
        let mut records: Vec<JobRecord> = jobs.iter().filter_map(|(id, log)| log.record(id)).filter(|job| job.matches(table_name, status)).collect();
        records.sort_by_key(JobRecord::first_seen);
        Ok(records)
    }
}

/// A backend in memory whose tables write their data files under `data_root`, with these
/// instance properties.
pub fn backend(data_root: Location, instance: TableProperties) -> Backend {
    let tables = Arc::new(MemoryTables { data_root: data_root.clone(), instance, tables: Mutex::default() });
    Backend {
        table_index: tables.clone(),
        table_properties: tables.clone(),
        state_stores: tables.clone(),
        job_tracker: Arc::new(MemoryJobTracker::default()),
        table_admin: Some(tables),
        root: data_root,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyType;
    use crate::schema::KeyField;
    use crate::store::ObjectStores;
    use crate::transaction::{AddedFile, FileReference};

    fn schema() -> Schema {
        Schema::from_json(r#"{"rowKeyFields":[{"name":"key","type":"LongType"}],"sortKeyFields":[],"valueFields":[]}"#).unwrap()
    }

    fn commit(job: &str, file: &str) -> FilesCommit {
        let reference = FileReference {
            partition_id: "root".into(),
            number_of_rows: 1,
            job_id: None,
            count_approximate: false,
            only_contains_data_for_this_partition: true,
        };
        FilesCommit { job_id: job.into(), run_id: "run".into(), files: vec![AddedFile { filename: file.into(), references: vec![reference] }] }
    }

    #[tokio::test]
    async fn a_job_commits_once_and_the_tracker_accepts_an_id_once() {
        let root = ObjectStores::new().resolve(std::env::temp_dir().to_str().unwrap()).unwrap();
        let backend = backend(root, TableProperties::default());
        let keys = vec![KeyField { name: "key".into(), key_type: KeyType::Long }];
        let table = backend.create_table("t", schema(), TableProperties::default(), PartitionTree::single_leaf(&keys)).await.unwrap();
        assert!(matches!(
            backend.create_table("t", schema(), TableProperties::default(), PartitionTree::single_leaf(&keys)).await,
            Err(Error::TableExists(_))
        ));
        assert_eq!(backend.table_by_id(table.id()).await.unwrap().unwrap().name(), "t");

        let store = backend.state_store(&table);
        assert_eq!(store.commit_files(commit("j", "a")).await.unwrap(), CommitOutcome::Applied { transaction_number: 2 });
        assert!(matches!(store.commit_files(commit("j", "b")).await, Err(Error::JobAlreadyCommitted(_))));
        assert!(matches!(store.commit_files(commit("k", "a")).await, Err(Error::FileAlreadyReferenced(_))));
        assert!(backend.state_store(&table).is_job_committed("j").await.unwrap());
        assert_eq!(store.files().await.unwrap().len(), 1);

        let accepted = || JobEvent::Started { run_id: "r".into(), algorithm: "local-sort".into(), input_files: 1 };
        backend.job_tracker.record("j", JobEvent::Rejected { table_name: Some("t".into()), reasons: vec![], raw_json: "{}".into() }).await.unwrap();
        let accept = JobEvent::Accepted {
            table_name: "t".into(),
            table_id: table.id().into(),
            input_files: 1,
            input_rows: 1,
            class_name: "local-sort".into(),
            raw_json: None,
            submitted_by: None,
            warnings: vec![],
            platform_spec: BTreeMap::new(),
            run_id: None,
        };
        backend.job_tracker.accept("j", accept.clone()).await.unwrap();
        backend.job_tracker.record("j", accepted()).await.unwrap();
        assert!(matches!(backend.job_tracker.accept("j", accept).await, Err(AcceptError::AlreadyAccepted(_))));
        let record = backend.job_tracker.job("j").await.unwrap().unwrap();
        assert_eq!((record.status, record.table_name.as_deref(), record.events.len()), (JobStatus::InProgress, Some("t"), 3));
        assert_eq!(backend.job_tracker.list(Some("t"), Some(JobStatus::InProgress)).await.unwrap().len(), 1);
        assert!(backend.job_tracker.list(Some("other"), None).await.unwrap().is_empty());
    }
}
