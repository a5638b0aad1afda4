//! Protocol buffer messages of the bulk import engine.
//!
//! - `plan`: the physical plan nodes that the project's Ballista codec carries between the
//!   driver, the scheduler and the executors.
//! - `service`: the `BulkImportService` gRPC API of the job service, client and server.
//! - `keda`: KEDA's external scaler API, which the job service also serves.

/// Plan-node messages (`proto/plan.proto`).
pub mod plan {
    include!(concat!(env!("OUT_DIR"), "/sleeper.bulkimport.plan.rs"));
}

/// The job service API (`proto/service.proto`).
pub mod service {
    include!(concat!(env!("OUT_DIR"), "/sleeper.bulkimport.v1.rs"));

    /// Encoded descriptors of the service, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/service_descriptor.bin"));
}

/// KEDA's external scaler API (`proto/keda.proto`).
pub mod keda {
    include!(concat!(env!("OUT_DIR"), "/externalscaler.rs"));
}
