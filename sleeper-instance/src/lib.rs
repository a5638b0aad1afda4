//! The Sleeper-instance backend: a deployed Sleeper instance (version 0.36) as a store of tables,
//! read and written exactly as Sleeper's own Spark bulk import does, so that everything else in
//! the instance (compaction, partition splitting, queries, garbage collection, reports) keeps
//! working on what an import leaves.
//!
//! ```text
//! sleeper://<config bucket>
//!   instance.properties ───────────── InstanceProperties (instance.rs)
//!   tables/table-<id>.properties ──── SleeperTables: schema, properties, defaults (tables.rs)
//!   DynamoDB table index ──────────── DynamoTableIndex (table_index.rs)
//!   DynamoDB partitions/files logs,
//!   Arrow snapshots in the data bucket ─ SleeperStateStore (state_store/)
//!   state store committer FIFO queue ── Committer (committer.rs)
//!   DynamoDB ingest job tracker ────── SleeperJobTracker (tracker.rs)
//! ```
//!
//! Only this crate talks to AWS; the planner, executors and writer see a `Table` and URLs.

pub mod aws;
pub mod committer;
pub mod instance;
pub mod job_queue;
pub mod state_store;
pub mod table_index;
pub mod tables;
pub mod tracker;

use std::sync::Arc;

use bulk_import_core::Result;
use bulk_import_core::backend::Backend;
use bulk_import_core::store::ObjectStores;

pub use instance::InstanceProperties;

/// The scheme of a Sleeper instance's store URL: `sleeper://<config bucket>`.
pub const SCHEME: &str = "sleeper://";

/// The config bucket a `sleeper://` URL names, if it is one.
pub fn config_bucket(url: &str) -> Option<&str> {
    url.strip_prefix(SCHEME).map(|bucket| bucket.trim_end_matches('/'))
}

/// What this process is, in the tracker's `TaskId`: the task id Sleeper's starter gave the
/// driver, or this host's name.
#[derive(Debug, Clone)]
pub struct TaskId(pub String);

impl Default for TaskId {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into());
        TaskId(format!("bulk-import-{host}"))
    }
}

/// Opens the instance whose config bucket is `config_bucket`: reads its properties and connects
/// to its DynamoDB tables and queues. Fails with a clear error, having written nothing, when the
/// bucket or a needed property is missing.
pub async fn open(config_bucket: &str, stores: &Arc<ObjectStores>, task_id: TaskId) -> Result<Backend> {
    let instance = Arc::new(InstanceProperties::load(config_bucket, stores).await?);
    let clients = aws::Clients::from_environment().await;
    let tables = Arc::new(tables::SleeperTables::new(instance.clone(), stores)?);
    let index = Arc::new(table_index::DynamoTableIndex::new(&instance, clients.dynamo.clone())?);
    let state_stores = Arc::new(state_store::SleeperStateStores::new(&instance, clients.clone(), stores, task_id.clone())?);
    let tracker = Arc::new(tracker::SleeperJobTracker::new(&instance, clients.dynamo.clone(), index.clone(), task_id)?);
    Ok(Backend {
        table_index: index,
        table_properties: tables.clone(),
        state_stores,
        job_tracker: tracker,
        table_admin: None,
        root: tables.data_root().clone(),
    })
}
