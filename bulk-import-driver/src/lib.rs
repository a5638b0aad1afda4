//! The bulk import driver: job intake and validation, planning (one module per algorithm),
//! submission to Ballista, commit, the job service, and the `bulk-import` command line.

pub mod cli;
pub mod client;
pub mod commands;
pub mod commit;
pub mod copy_floor;
pub mod engine;
pub mod generate;
pub mod job;
pub mod job_settings;
pub mod planning;
pub mod pre_split;
pub mod progress;
pub mod runner;
pub mod service;
pub mod validation;

pub use engine::{Engine, EngineConfig};
pub use runner::{Driver, EngineChoice, JobOutcome, JobSummary, RunControl, RunOptions};
