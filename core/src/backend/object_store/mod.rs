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

use std::sync::Arc;

pub use job_tracker::ObjectStoreJobTracker;
pub use tables::{INSTANCE_PROPERTIES, Tables};
pub use transaction_log::TransactionLog;

use crate::backend::{Backend, StateStore, StateStoreProvider};
use crate::store::Location;
use crate::table::Table;

/// The transaction log of each table, in the table's directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransactionLogs;

impl StateStoreProvider for TransactionLogs {
    fn state_store(&self, table: &Table) -> Arc<dyn StateStore> {
        Arc::new(TransactionLog::for_table(table))
    }
}

/// The backend whose tables, logs and tracker live under `root`.
pub fn backend(root: Location) -> Backend {
    let tables = Arc::new(Tables::new(root.clone()));
    Backend {
        table_index: tables.clone(),
        table_properties: tables.clone(),
        state_stores: Arc::new(TransactionLogs),
        job_tracker: Arc::new(ObjectStoreJobTracker::new(&root)),
        table_admin: Some(tables),
        root,
    }
}
