//! The job service's KEDA external scaler, called over gRPC as KEDA calls it: inactive and
//! wanting no executors while the queue is empty, active and wanting `executorsPerJob` per job
//! while a job runs, and back to zero when it has finished.

use std::collections::HashMap;
use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_proto::keda::external_scaler_client::ExternalScalerClient;
use bulk_import_proto::keda::{GetMetricsRequest, ScaledObjectRef};
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::Service;
use bulk_import_tests::distributed::*;

fn scaled_object(executors_per_job: &str) -> ScaledObjectRef {
    let metadata = HashMap::from([("executorsPerJob".to_string(), executors_per_job.to_string())]);
    ScaledObjectRef { name: "executors".into(), namespace: "bulk-import".into(), scaler_metadata: metadata }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scaler_follows_the_queue_down_to_zero() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), 1_500_000, 4, 16, 41);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "t", &splits).await;
    let service = Service::start(dir.path(), "service", &store, None, &[], &[]);
    let mut jobs = client(&service.url()).await;
    let mut scaler = ExternalScalerClient::connect(service.url()).await.unwrap();
    let wanted = |scaler: &mut ExternalScalerClient<tonic::transport::Channel>, per_job: &'static str| {
        let mut scaler = scaler.clone();
        async move {
            let request = GetMetricsRequest { scaled_object_ref: Some(scaled_object(per_job)), metric_name: "bulk_import_executors_wanted".into() };
            let response = scaler.get_metrics(request).await.unwrap().into_inner();
            assert_eq!(response.metric_values.len(), 1);
            response.metric_values[0].metric_value
        }
    };

    let spec = scaler.get_metric_spec(scaled_object("3")).await.unwrap().into_inner();
    assert_eq!((spec.metric_specs[0].metric_name.as_str(), spec.metric_specs[0].target_size), ("bulk_import_executors_wanted", 1));
    assert!(!scaler.is_active(scaled_object("3")).await.unwrap().into_inner().result, "active with an empty queue");
    assert_eq!(wanted(&mut scaler, "3").await, 0);

    let accepted = submit(&mut jobs, job_json("big", "t", &[input.to_str().unwrap()])).await;
    assert_eq!(accepted.status(), api::JobStatus::Accepted);
    assert!(scaler.is_active(scaled_object("3")).await.unwrap().into_inner().result, "inactive while a job runs");
    assert_eq!(wanted(&mut scaler, "3").await, 3);
    assert_eq!(wanted(&mut scaler, "1").await, 1);
    let bad = GetMetricsRequest { scaled_object_ref: Some(scaled_object("lots")), metric_name: String::new() };
    assert_eq!(scaler.get_metrics(bad).await.unwrap_err().code(), tonic::Code::InvalidArgument);

    let last = watch_to_end(&mut jobs, "big", Duration::from_mins(3)).await;
    assert_eq!(last.status(), api::JobStatus::Finished, "{last:?}");
    // The queue forgets a job just after its last update.
    for _ in 0..100 {
        if !scaler.is_active(scaled_object("3")).await.unwrap().into_inner().result {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!scaler.is_active(scaled_object("3")).await.unwrap().into_inner().result, "still active after the job ended");
    assert_eq!(wanted(&mut scaler, "3").await, 0);
}
