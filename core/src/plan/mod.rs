//! Physical plan nodes of the bulk import engine, carried to executors by [`crate::codec`].

pub mod data_file_sink;
pub mod file_writer;
mod gather;
pub mod key_range;
pub mod label_rows;
pub mod leaf_partition;
mod leaf_runs;
pub mod leaf_sort;
pub mod proto_convert;
mod run_file;
mod sort_keys;
pub mod writer_ledger;

pub use file_writer::{FileWriterConfig, PartitionFileWriterExec, written_files_schema};
pub use key_range::{KeyRangeExec, KeyRanges};
pub use label_rows::{LabelRowsExec, RowLabeller};
pub use leaf_partition::{LeafLabels, LeafPartitionExec};
pub use leaf_sort::LeafSortExec;
