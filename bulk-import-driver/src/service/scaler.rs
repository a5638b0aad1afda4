//! KEDA's external scaler API (`externalscaler.ExternalScaler`), served beside the job service so
//! that KEDA sizes the executor pool by the queue: `executorsPerJob` executors (from the
//! ScaledObject trigger's metadata, default 1) for each job queued or running, and none when no
//! job is. Ballista's own scaler reports itself active at all times, so a pool it scales never
//! reaches zero; this one does.

use std::sync::Arc;

use bulk_import_proto::keda::external_scaler_server::ExternalScaler;
use bulk_import_proto::keda::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec, MetricValue, ScaledObjectRef,
};
use tonic::{Request, Response, Status};

use super::queue::JobQueue;

/// The metric KEDA divides by its target (1) to get the executor replicas wanted.
pub const EXECUTORS_WANTED: &str = "bulk_import_executors_wanted";

/// The trigger metadata key giving the executors wanted per job.
pub const EXECUTORS_PER_JOB: &str = "executorsPerJob";

pub struct QueueScaler {
    queue: Arc<JobQueue>,
}

impl QueueScaler {
    pub fn new(queue: Arc<JobQueue>) -> Self {
        QueueScaler { queue }
    }
}

fn executors_per_job(object: Option<&ScaledObjectRef>) -> Result<i64, Status> {
    match object.and_then(|o| o.scaler_metadata.get(EXECUTORS_PER_JOB)) {
        None => Ok(1),
        Some(value) => value
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Status::invalid_argument(format!("{EXECUTORS_PER_JOB}={value:?} is not a positive whole number"))),
    }
}

#[tonic::async_trait]
impl ExternalScaler for QueueScaler {
    async fn is_active(&self, _request: Request<ScaledObjectRef>) -> Result<Response<IsActiveResponse>, Status> {
        Ok(Response::new(IsActiveResponse { result: self.queue.active_jobs() > 0 }))
    }

    async fn get_metric_spec(&self, _request: Request<ScaledObjectRef>) -> Result<Response<GetMetricSpecResponse>, Status> {
        let spec = MetricSpec { metric_name: EXECUTORS_WANTED.to_string(), target_size: 1 };
        Ok(Response::new(GetMetricSpecResponse { metric_specs: vec![spec] }))
    }

    async fn get_metrics(&self, request: Request<GetMetricsRequest>) -> Result<Response<GetMetricsResponse>, Status> {
        let per_job = executors_per_job(request.get_ref().scaled_object_ref.as_ref())?;
        let wanted = self.queue.active_jobs() as i64 * per_job;
        let value = MetricValue { metric_name: EXECUTORS_WANTED.to_string(), metric_value: wanted };
        Ok(Response::new(GetMetricsResponse { metric_values: vec![value] }))
    }
}
