//! Sleeper's JSON report (`JsonIngestJobStatusReporter`): `queueMessages`, then `jobList`, each
//! job's runs latest first, each run's updates in order with Sleeper's field names and `type`.

use serde_json::{Map, Value, json};

use super::model::{ReportJob, RunUpdate};
use super::standard::instant;

/// The report, pretty-printed as Sleeper's Gson prints it (two-space indent, no nulls), with
/// the messages waiting on each of Sleeper's queues by its field name (`ingestMessages`); this
/// engine has none of them.
pub fn json_report(jobs: &[ReportJob], queues: &[(&str, u64)]) -> String {
    let job_list: Vec<Value> = jobs.iter().map(job_json).collect();
    let queue_messages: Map<String, Value> = queues.iter().map(|(name, n)| ((*name).to_string(), json!(n))).collect();
    let report = json!({"queueMessages": queue_messages, "jobList": job_list});
    serde_json::to_string_pretty(&report).unwrap_or_default()
}

fn job_json(job: &ReportJob) -> Value {
    let runs: Vec<Value> = job
        .runs
        .iter()
        .map(|run| {
            let mut object = Map::new();
            if let Some(task) = &run.task_id {
                object.insert("taskId".into(), task.clone().into());
            }
            object.insert("updates".into(), run.updates.iter().map(|t| update_json(&t.update, &instant(t.recorded))).collect());
            Value::Object(object)
        })
        .collect();
    json!({"jobId": job.job_id, "jobRuns": runs})
}

fn update_json(update: &RunUpdate, recorded: &str) -> Value {
    match update {
        RunUpdate::Accepted { time, input_files } => {
            json!({"validationTime": instant(*time), "updateTime": recorded, "inputFileCount": input_files, "type": "ACCEPTED"})
        }
        RunUpdate::Rejected { time, input_files, reasons } => json!({
            "inputFileCount": input_files, "validationTime": instant(*time), "updateTime": recorded, "reasons": reasons, "type": "REJECTED"
        }),
        RunUpdate::Started { time, input_files } => {
            json!({"inputFileCount": input_files, "startTime": instant(*time), "updateTime": recorded, "type": "STARTED"})
        }
        RunUpdate::Finished { time, rows_read, rows_written, files_written, committed_separately, .. } => json!({
            "updateTime": recorded,
            "finishTime": instant(*time),
            "rowsProcessed": {"rowsRead": rows_read, "rowsWritten": rows_written},
            "numFilesWrittenByJob": files_written,
            "committedBySeparateFileUpdates": committed_separately,
            "type": if *committed_separately { "FINISHED_WHEN_FILES_COMMITTED" } else { "FINISHED" },
        }),
        RunUpdate::FilesAdded { time, files } => {
            json!({"writtenTime": instant(*time), "updateTime": recorded, "fileCount": files, "type": "ADDED_FILES"})
        }
        RunUpdate::Failed { start, time, reasons } => {
            let mut object = json!({"updateTime": recorded, "failureTime": instant(*time), "failureReasons": reasons, "type": "FAILED"});
            if let Some(start) = start {
                object["timeInProcess"] = json!((*time - *start).num_milliseconds() as f64 / 1000.0);
            }
            object
        }
    }
}
