//! The engine's own backend: every table, transaction log and job event is an object under one
//! root, a local directory or an S3 prefix, so that the embedded default needs only a directory
//! and a deployment only a bucket. Every log append is a create-if-absent put, which is what
//! makes commits exactly once on any store with conditional puts.
//!
//! ```text
//! <root>/instance.properties                      the instance's properties (optional)
//! <root>/table-index/<name>.json                  name → id           (tables.rs)
//! <root>/<table id>/table.json                    schema, properties  (tables.rs)
//! <root>/<table id>/statestore/                   transaction log     (transaction_log.rs)
//! <root>/<table id>/data/partition_<leaf>/        data files and sketches
//! <root>/<table id>/bulk_import/<job>/<run>/      attempt directories (crate::attempt)
//! <root>/job-tracker/jobs/<job id>/               job events          (job_tracker.rs)
//! ```

pub mod job_tracker;
pub mod tables;
pub mod transaction_log;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::execution::cache::lru_queue::LruQueue;
use futures::future::BoxFuture;

pub use job_tracker::ObjectStoreJobTracker;
pub use tables::{INSTANCE_PROPERTIES, Tables};
pub use transaction_log::TransactionLog;

use crate::backend::{Backend, StateStore, StateStoreProvider};
use crate::store::Location;
use crate::table::Table;

/// How many tables' logs are kept, with the state each last read (Sleeper's state store
/// provider keeps 10 by default).
const KEPT_LOGS: usize = 10;

/// The transaction log of each table, in the table's directory.
///
/// One log per table is kept for the process, least recently used first out, so that the state
/// it last read outlives a job: a job's execution after its admission, and the table's next job,
/// read only the transactions appended since. A table of 10,000 leaves starts with a 7 MB
/// transaction; it is read once, and while the first job's inputs are checked.
pub struct TransactionLogs {
    /// By the URL of the table's state-store directory.
    kept: Mutex<LruQueue<String, Arc<TransactionLog>>>,
}

impl Default for TransactionLogs {
    fn default() -> Self {
        TransactionLogs { kept: Mutex::new(LruQueue::new()) }
    }
}

impl fmt::Debug for TransactionLogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionLogs").finish_non_exhaustive()
    }
}

impl TransactionLogs {
    fn log(&self, table: &Table) -> Arc<TransactionLog> {
        let log = TransactionLog::for_table(table);
        let key = log.url();
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kept) = kept.get(&key) {
            return kept.clone();
        }
        let log = Arc::new(log);
        kept.put(key, log.clone());
        while kept.len() > KEPT_LOGS {
            kept.pop();
        }
        log
    }
}

impl StateStoreProvider for TransactionLogs {
    fn state_store(&self, table: &Table) -> Arc<dyn StateStore> {
        self.log(table)
    }

    fn read_ahead(&self, table: &Table) -> BoxFuture<'static, ()> {
        let log = self.log(table);
        Box::pin(async move {
            // What fails here fails again, and is reported, when the job reads the state.
            if let Err(e) = log.read_ahead().await {
                tracing::debug!("reading the state of {} ahead of a job: {e}", log.url());
            }
        })
    }
}

/// The backend whose tables, logs and tracker live under `root`.
pub fn backend(root: Location) -> Backend {
    let tables = Arc::new(Tables::new(root.clone()));
    Backend {
        table_index: tables.clone(),
        table_properties: tables.clone(),
        state_stores: Arc::new(TransactionLogs::default()),
        job_tracker: Arc::new(ObjectStoreJobTracker::new(&root)),
        table_admin: Some(tables),
        root,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::PartitionTree;
    use crate::properties::TableProperties;
    use crate::schema::Schema;
    use crate::store::ObjectStores;

    fn same(a: &Arc<dyn StateStore>, b: &Arc<dyn StateStore>) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
    }

    #[tokio::test]
    async fn a_table_keeps_one_log_and_the_logs_of_the_least_recently_used_tables_go() {
        let dir = tempfile::tempdir().unwrap();
        let backend = backend(ObjectStores::new().resolve(dir.path().to_str().unwrap()).unwrap());
        let schema = Schema::from_json(r#"{"rowKeyFields":[{"name":"key","type":"LongType"}],"sortKeyFields":[],"valueFields":[]}"#).unwrap();
        let partitions = PartitionTree::single_leaf(&schema.row_keys());
        let admin = backend.table_admin.clone().unwrap();
        let mut tables = Vec::new();
        for i in 0..=KEPT_LOGS {
            tables.push(admin.create_table(&format!("t{i}"), schema.clone(), TableProperties::default(), partitions.clone()).await.unwrap());
        }
        let first = backend.state_store(&tables[0]);
        backend.state_stores.read_ahead(&tables[0]).await;
        assert!(same(&first, &backend.state_store(&tables[0])), "a table's log is kept, with what it read");
        assert_eq!(first.partitions().await.unwrap().leaf_count(), 1);
        for table in &tables[1..] {
            backend.state_store(table);
        }
        assert!(!same(&first, &backend.state_store(&tables[0])), "the first table's log was the least recently used of {}", KEPT_LOGS + 1);
    }
}
