//! The bulk import driver. Its folders follow a job's path:
//!
//! - [`intake`]: the job JSON, its settings and input files, admission (ACCEPTED / REJECTED);
//! - [`planning`]: pre-split, and one plan module per algorithm;
//! - [`execution`]: the engine (DataFusion in process, or Ballista), the run, its lease and monitor;
//! - [`commit`]: the files written and the job's one commit;
//! - [`driver`]: the [`Driver`] that holds the backend and engine and runs the stages in order;
//!   [`backends`]: which backend a store URL names; [`s3_uploads`]: S3's incomplete uploads;
//! - [`service`]: the gRPC job service, its queue, recovery and KEDA scaler;
//! - [`cli`]: the `bulk-import` command line; [`tools`]: data generation and the copy floor.

pub mod backends;
pub mod cli;
pub mod commit;
pub mod driver;
pub mod execution;
pub mod intake;
pub mod planning;
pub mod s3_uploads;
pub mod service;
pub mod tools;

pub use driver::{Driver, EngineChoice, JobOutcome, JobSummary, RunControl, RunOptions};
pub use execution::engine::{EmbeddedEngine, Engine, EngineConfig};
