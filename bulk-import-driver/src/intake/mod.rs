//! Intake: what a job asks for and whether it can be done. The job JSON (`job`), its
//! `sparkConf` (`settings`), its input files (`inputs`), and admission, which records the
//! verdict (`admission`) with every reason to reject (`rejection`).

pub mod admission;
pub mod footer;
pub mod inputs;
pub mod job;
pub mod policy;
pub mod rejection;
pub mod settings;

pub use admission::{AcceptedJob, Admission, Reloaded};
pub use policy::{AllowedSources, IntakePolicy, SourcePrefix};
pub use rejection::RejectionReason;
