//! Which backend a store URL names: `sleeper://CONFIG_BUCKET` is a deployed Sleeper instance
//! (the `sleeper-instance` crate); anything else, the engine's own store in a directory or S3.

use std::sync::Arc;

use bulk_import_core::backend::Backend;
use bulk_import_core::store::ObjectStores;
pub use sleeper_instance::TaskId;

/// Opens the backend of the store at `url`. `task_id` names this process in a Sleeper
/// instance's job tracker.
pub async fn open_backend(url: &str, stores: &Arc<ObjectStores>, task_id: TaskId) -> bulk_import_core::Result<Backend> {
    match sleeper_instance::config_bucket(url) {
        Some(bucket) => sleeper_instance::open(bucket, stores, task_id).await,
        None => Backend::open(url, stores),
    }
}
