//! Tools beside the import: Sleeper's system-test data (`generate`) and the benchmark's copy
//! floor (`copy_floor`).

pub mod copy_floor;
pub mod generate;
