//! The domain of the Sleeper bulk import engine: schema, key order, partition tree, table
//! properties, the state-store seam and its backends ([`backend`]), the attempt directory, and
//! the physical plan nodes and codec that Ballista carries to executors.

pub mod attempt;
pub mod backend;
pub mod codec;
pub mod confined_store;
pub mod counted_store;
pub mod error;
pub mod incomplete_uploads;
pub mod key;
pub mod logging;
pub mod partition;
pub mod partition_json;
pub mod plan;
pub mod presplit;
pub mod properties;
pub mod router;
pub mod s3_args;
pub mod schema;
pub mod sketch;
pub mod small_local_io;
pub mod small_object_cache;
pub mod split_points;
pub mod store;
pub mod store_metrics;
pub mod table;
pub mod tracker;
pub mod transaction;
pub mod transaction_json;
pub mod zstd_contexts;
pub mod zstd_table_sizes;

pub use error::{Error, Result};

/// The largest gRPC message any of our processes sends or accepts (plans, task definitions,
/// shuffle fetches). Ballista's default of 16 MiB is too small for a plan with 10,000 input
/// files into a table of 10,000 leaves; this leaves a wide margin.
pub const GRPC_MAX_MESSAGE_BYTES: usize = 512 << 20;
