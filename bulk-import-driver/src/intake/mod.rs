//! Intake: what a job asks for and whether it can be done. The job JSON (`job`), its
//! `sparkConf` (`settings`), its input files (`inputs`), and admission, which records the
//! verdict (`admission`).

pub mod admission;
pub mod inputs;
pub mod job;
pub mod settings;

pub use admission::{AcceptedJob, Admission, Reloaded};
