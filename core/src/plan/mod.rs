//! Physical plan nodes of the bulk import engine, carried to executors by [`crate::codec`].

pub mod file_writer;
pub mod leaf_partition;
pub mod leaf_sort;
pub mod proto_convert;

pub use file_writer::{FileWriterConfig, PartitionFileWriterExec, written_files_schema};
pub use leaf_partition::LeafPartitionExec;
pub use leaf_sort::LeafSortExec;
