//! The in-process tests: every job runs on the embedded Ballista scheduler and executor, and
//! each check reads back what it left in the store. One binary, so that DataFusion and Ballista
//! are linked once for all of them (as DataFusion's own `core_integration` does).
//!
//! `cargo test -p bulk-import-tests --test embedded` runs these alone; the multi-process tests
//! are in `distributed`.

mod closed_output;
mod end_to_end;
mod full_schema;
mod global_sort;
mod job_settings;
mod pre_split;
mod routing_matches_java;
mod sketches_oracle;
mod spill_disk_full;
mod validation;
mod wide_table;
mod writer_failure;
mod zstd_contexts;
