//! Protocol buffer messages of the bulk import engine.
//!
//! `plan` holds the physical plan nodes that the project's Ballista codec carries between the
//! driver, the scheduler and the executors.

/// Plan-node messages (`proto/plan.proto`).
pub mod plan {
    include!(concat!(env!("OUT_DIR"), "/sleeper.bulkimport.plan.rs"));
}
