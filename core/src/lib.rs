//! The domain of the Sleeper bulk import engine: schema, key order, partition tree, table
//! properties, the state store and job tracker in the object store, and the physical plan nodes
//! and codec that Ballista carries to executors.

pub mod codec;
pub mod error;
pub mod key;
pub mod partition;
pub mod partition_json;
pub mod plan;
pub mod properties;
pub mod router;
pub mod schema;
pub mod split_points;
pub mod state_store;
pub mod store;
pub mod table;
pub mod tracker;
pub mod transaction;

pub use error::{Error, Result};
