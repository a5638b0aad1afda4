//! The instance's ingest job tracker (`DynamoDBIngestJobTracker`), which Sleeper's reports and
//! its EKS state machine read: every update is an item of `sleeper-<id>-ingest-job-updates`
//! (keyed by `TableId` and `<jobId>|<millis>|<8 hex>`) and an update of the job's item in
//! `sleeper-<id>-ingest-job-lookup`. Updates of one run share its `JobRunId`.
//!
//! The engine's events map onto Sleeper's updates: ACCEPTED and REJECTED are `validated`,
//! STARTED `started`, FINISHED `finished` (with `JobCommittedWhenFilesAdded` when the files
//! went to the committer), FAILED `failed`. The engine's own progress events (PARTITIONS_SPLIT,
//! RUNNING, FILES_WRITTEN) have no place there and are not kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use bulk_import_core::backend::{JobTracker, TableIndex};
use bulk_import_core::tracker::{AcceptError, JobEvent, JobEventRecord, JobRecord, JobStatus, check_acceptable};
use bulk_import_core::{Error, Result};
use chrono::{DateTime, TimeZone, Utc};
use rand::RngExt;

use crate::TaskId;
use crate::aws::remote;
use crate::instance::{ID, InstanceProperties, TRACKER_ENABLED, TRACKER_TTL_SECONDS};
use crate::table_index::DynamoTableIndex;

const TABLE_ID: &str = "TableId";
const JOB_ID: &str = "JobId";
const JOB_ID_AND_UPDATE: &str = "JobIdAndUpdate";
const UPDATE_TIME: &str = "UpdateTime";
const UPDATE_TYPE: &str = "UpdateType";
const EXPIRY_DATE: &str = "ExpiryDate";
const VALIDATION_TIME: &str = "ValidationTime";
const VALIDATION_RESULT: &str = "ValidationResult";
const VALIDATION_REASONS: &str = "ValidationReasons";
const JSON_MESSAGE: &str = "JsonMessage";
const INPUT_FILES_COUNT: &str = "InputFilesCount";
const START_TIME: &str = "StartTime";
const FILES_WRITTEN_TIME: &str = "FilesWrittenTime";
const FILES_WRITTEN_COUNT: &str = "FilesWrittenCount";
const FINISH_TIME: &str = "FinishTime";
const JOB_COMMITTED_WHEN_FILES_ADDED: &str = "JobCommittedWhenFilesAdded";
const ROWS_READ: &str = "RowsRead";
const ROWS_WRITTEN: &str = "RowsWritten";
const FAILURE_REASONS: &str = "FailureReasons";
const JOB_RUN_ID: &str = "JobRunId";
const TASK_ID: &str = "TaskId";
/// What Sleeper records as the table of a job whose table is unknown.
const TABLE_ID_UNKNOWN: &str = "-";

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn strings(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().cloned().map(AttributeValue::S).collect())
}

#[derive(Debug)]
pub struct SleeperJobTracker {
    dynamo: aws_sdk_dynamodb::Client,
    updates_table: String,
    lookup_table: String,
    enabled: bool,
    ttl_seconds: i64,
    index: Arc<DynamoTableIndex>,
    task_id: TaskId,
    /// The table of each job seen, so that its later updates need no look-up.
    table_of_job: Mutex<HashMap<String, String>>,
}

impl SleeperJobTracker {
    pub fn new(instance: &InstanceProperties, dynamo: aws_sdk_dynamodb::Client, index: Arc<DynamoTableIndex>, task_id: TaskId) -> Result<Self> {
        let id = instance.require(ID)?;
        let ttl_seconds = instance.get(TRACKER_TTL_SECONDS).map_or(Ok(604_800), str::parse::<i64>).map_err(|_| {
            Error::InvalidProperties(format!(
                "{TRACKER_TTL_SECONDS}={} is not a number of seconds",
                instance.get(TRACKER_TTL_SECONDS).unwrap_or_default()
            ))
        })?;
        Ok(SleeperJobTracker {
            dynamo,
            updates_table: format!("sleeper-{id}-ingest-job-updates"),
            lookup_table: format!("sleeper-{id}-ingest-job-lookup"),
            enabled: instance.get(TRACKER_ENABLED).is_none_or(|v| v.eq_ignore_ascii_case("true")),
            ttl_seconds,
            index,
            task_id,
            table_of_job: Mutex::default(),
        })
    }

    fn remember(&self, job_id: &str, table_id: &str) {
        self.table_of_job.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(job_id.to_string(), table_id.to_string());
    }

    /// The table a job's updates are filed under: as seen, or from its lookup item.
    async fn table_of(&self, job_id: &str) -> Result<Option<String>> {
        if let Some(table) = self.table_of_job.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(job_id) {
            return Ok(Some(table.clone()));
        }
        let output = self
            .dynamo
            .get_item()
            .table_name(&self.lookup_table)
            .key(JOB_ID, s(job_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| remote(format!("cannot look up job {job_id} in {}", self.lookup_table), &e))?;
        let table = output.item().and_then(|item| item.get(TABLE_ID)).and_then(|v| v.as_s().ok()).cloned();
        if let Some(table) = &table {
            self.remember(job_id, table);
        }
        Ok(table)
    }

    /// The update item for `event`, without the fields common to every update; `None` for the
    /// engine's own progress events.
    async fn update(&self, job_id: &str, event: &JobEvent, now: i64) -> Result<Option<(String, Item)>> {
        let task = || s(self.task_id.0.clone());
        let mut item = Item::new();
        let table = match event {
            JobEvent::Accepted { table_id, input_files, run_id, .. } => {
                self.remember(job_id, table_id);
                item.insert(UPDATE_TYPE.into(), s("validated"));
                item.insert(VALIDATION_TIME.into(), n(now));
                item.insert(VALIDATION_RESULT.into(), s("ACCEPTED"));
                item.insert(VALIDATION_REASONS.into(), strings(&[]));
                item.insert(INPUT_FILES_COUNT.into(), n(input_files));
                if let Some(run_id) = run_id {
                    item.insert(JOB_RUN_ID.into(), s(run_id.clone()));
                }
                table_id.clone()
            }
            JobEvent::Rejected { table_name, reasons, raw_json } => {
                let table = match table_name {
                    Some(name) => self.index.table_by_name(name).await?.map(|t| t.table_id),
                    None => None,
                };
                item.insert(UPDATE_TYPE.into(), s("validated"));
                item.insert(VALIDATION_TIME.into(), n(now));
                item.insert(VALIDATION_RESULT.into(), s("REJECTED"));
                item.insert(VALIDATION_REASONS.into(), strings(reasons));
                item.insert(JSON_MESSAGE.into(), s(raw_json.clone()));
                item.insert(INPUT_FILES_COUNT.into(), n(0));
                table.unwrap_or_else(|| TABLE_ID_UNKNOWN.to_string())
            }
            JobEvent::Started { run_id, input_files, .. } => {
                item.insert(UPDATE_TYPE.into(), s("started"));
                item.insert(START_TIME.into(), n(now));
                item.insert(JOB_RUN_ID.into(), s(run_id.clone()));
                item.insert(TASK_ID.into(), task());
                item.insert(INPUT_FILES_COUNT.into(), n(input_files));
                self.table_of(job_id).await?.unwrap_or_else(|| TABLE_ID_UNKNOWN.to_string())
            }
            JobEvent::Finished { run_id, rows_read, rows_written, files_written, committed_when_files_added, .. } => {
                item.insert(UPDATE_TYPE.into(), s("finished"));
                item.insert(JOB_RUN_ID.into(), s(run_id.clone()));
                item.insert(TASK_ID.into(), task());
                item.insert(FINISH_TIME.into(), n(now));
                item.insert(ROWS_READ.into(), n(rows_read));
                item.insert(ROWS_WRITTEN.into(), n(rows_written));
                item.insert(JOB_COMMITTED_WHEN_FILES_ADDED.into(), AttributeValue::Bool(*committed_when_files_added));
                item.insert(FILES_WRITTEN_COUNT.into(), n(files_written));
                self.table_of(job_id).await?.unwrap_or_else(|| TABLE_ID_UNKNOWN.to_string())
            }
            JobEvent::FilesAdded { run_id, files_added } => {
                item.insert(UPDATE_TYPE.into(), s("addedFiles"));
                item.insert(FILES_WRITTEN_TIME.into(), n(now));
                item.insert(JOB_RUN_ID.into(), s(run_id.clone()));
                item.insert(TASK_ID.into(), task());
                item.insert(FILES_WRITTEN_COUNT.into(), n(files_added));
                self.table_of(job_id).await?.unwrap_or_else(|| TABLE_ID_UNKNOWN.to_string())
            }
            JobEvent::Failed { run_id, reason, .. } => {
                item.insert(UPDATE_TYPE.into(), s("failed"));
                if let Some(run_id) = run_id {
                    item.insert(JOB_RUN_ID.into(), s(run_id.clone()));
                }
                item.insert(TASK_ID.into(), task());
                item.insert(FINISH_TIME.into(), n(now));
                item.insert(FAILURE_REASONS.into(), strings(std::slice::from_ref(reason)));
                self.table_of(job_id).await?.unwrap_or_else(|| TABLE_ID_UNKNOWN.to_string())
            }
            JobEvent::PartitionsSplit { .. } | JobEvent::Running { .. } | JobEvent::FilesWritten { .. } => return Ok(None),
        };
        Ok(Some((table, item)))
    }

    /// Writes an update: an item in the updates table, and the job's lookup item.
    async fn save(&self, job_id: &str, event: &JobEvent) -> Result<()> {
        let now = Utc::now();
        let millis = now.timestamp_millis();
        let Some((table_id, mut item)) = self.update(job_id, event, millis).await? else {
            tracing::debug!("job {job_id}: {event:?} has no place in Sleeper's tracker");
            return Ok(());
        };
        let expiry = now.timestamp() + self.ttl_seconds;
        let update_id = format!("{:08x}", rand::rng().random::<u32>());
        item.insert(TABLE_ID.into(), s(table_id.clone()));
        item.insert(JOB_ID.into(), s(job_id));
        item.insert(JOB_ID_AND_UPDATE.into(), s(format!("{job_id}|{millis}|{update_id}")));
        item.insert(UPDATE_TIME.into(), n(millis));
        item.insert(EXPIRY_DATE.into(), n(expiry));
        let update_type = item.get(UPDATE_TYPE).cloned().unwrap_or_else(|| s(""));
        let validation = item.get(VALIDATION_RESULT).cloned();
        self.dynamo
            .put_item()
            .table_name(&self.updates_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| remote(format!("cannot record an update of job {job_id} in {}", self.updates_table), &e))?;
        let mut expression = "SET #Table = :table, #FirstUpdate = if_not_exists(#FirstUpdate, :update_time), #LastUpdate = :update_time, \
                              #LastUpdateType = :update_type, #Expiry = if_not_exists(#Expiry, :expiry)"
            .to_string();
        let mut request = self
            .dynamo
            .update_item()
            .table_name(&self.lookup_table)
            .key(JOB_ID, s(job_id))
            .expression_attribute_names("#Table", TABLE_ID)
            .expression_attribute_names("#FirstUpdate", "FirstUpdateTime")
            .expression_attribute_names("#LastUpdate", "LastUpdateTime")
            .expression_attribute_names("#LastUpdateType", "LastUpdateType")
            .expression_attribute_names("#Expiry", EXPIRY_DATE)
            .expression_attribute_values(":table", s(table_id))
            .expression_attribute_values(":update_time", n(millis))
            .expression_attribute_values(":update_type", update_type)
            .expression_attribute_values(":expiry", n(expiry));
        if let Some(validation) = validation {
            expression.push_str(", #LastValidationResult = :validation_result");
            request = request
                .expression_attribute_names("#LastValidationResult", "LastValidationResult")
                .expression_attribute_values(":validation_result", validation);
        }
        request
            .update_expression(expression)
            .send()
            .await
            .map_err(|e| remote(format!("cannot record an update of job {job_id} in {}", self.lookup_table), &e))?;
        Ok(())
    }

    async fn table_name(&self, table_id: &str) -> Option<String> {
        self.index.table_by_id(table_id).await.ok().flatten().map(|t| t.table_name)
    }

    /// Every update item of a table, or of one job of it.
    async fn query_updates(&self, table_id: &str, job_id: Option<&str>) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut from: Option<Item> = None;
        loop {
            let mut query = self
                .dynamo
                .query()
                .table_name(&self.updates_table)
                .expression_attribute_names("#TableId", TABLE_ID)
                .expression_attribute_values(":table_id", s(table_id))
                .set_exclusive_start_key(from.take());
            query = match job_id {
                Some(job_id) => query
                    .key_condition_expression("#TableId = :table_id AND begins_with(#JobAndUpdate, :job_id)")
                    .expression_attribute_names("#JobAndUpdate", JOB_ID_AND_UPDATE)
                    .expression_attribute_values(":job_id", s(format!("{job_id}|"))),
                None => query.key_condition_expression("#TableId = :table_id"),
            };
            let output = query.send().await.map_err(|e| remote(format!("cannot read {} for table {table_id}", self.updates_table), &e))?;
            items.extend(output.items().iter().cloned());
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => from = Some(key.clone()),
                _ => break,
            }
        }
        Ok(items)
    }

    /// The engine's events of a job from Sleeper's update items, in time order.
    async fn records(&self, job_id: &str, items: &[Item]) -> Vec<JobEventRecord> {
        let mut table_names: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut records = Vec::new();
        for item in items {
            let table_id = string(item, TABLE_ID).unwrap_or_default();
            if !table_names.contains_key(&table_id) {
                let name = self.table_name(&table_id).await;
                table_names.insert(table_id.clone(), name);
            }
            let table_name = table_names.get(&table_id).cloned().flatten();
            if let Some(event) = event_of(item, &table_id, table_name) {
                let time = number(item, UPDATE_TIME).and_then(|ms| Utc.timestamp_millis_opt(ms).single()).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
                records.push(JobEventRecord { job_id: job_id.to_string(), time, event });
            }
        }
        records.sort_by_key(|r| r.time);
        records
    }
}

fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn count(item: &Item, name: &str) -> u64 {
    number(item, name).and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

fn string_list(item: &Item, name: &str) -> Vec<String> {
    item.get(name).and_then(|v| v.as_l().ok()).map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect()).unwrap_or_default()
}

/// The engine's event for one of Sleeper's update items.
fn event_of(item: &Item, table_id: &str, table_name: Option<String>) -> Option<JobEvent> {
    let run_id = string(item, JOB_RUN_ID);
    Some(match string(item, UPDATE_TYPE)?.as_str() {
        "validated" if string(item, VALIDATION_RESULT).as_deref() == Some("ACCEPTED") => JobEvent::Accepted {
            table_name: table_name.unwrap_or_default(),
            table_id: table_id.to_string(),
            input_files: count(item, INPUT_FILES_COUNT),
            input_rows: 0,
            class_name: String::new(),
            raw_json: None,
            submitted_by: None,
            warnings: Vec::new(),
            platform_spec: BTreeMap::new(),
            run_id,
        },
        "validated" => JobEvent::Rejected {
            table_name,
            reasons: string_list(item, VALIDATION_REASONS),
            raw_json: string(item, JSON_MESSAGE).unwrap_or_default(),
        },
        "started" => JobEvent::Started { run_id: run_id.unwrap_or_default(), algorithm: String::new(), input_files: count(item, INPUT_FILES_COUNT) },
        "finished" => JobEvent::Finished {
            run_id: run_id.unwrap_or_default(),
            input_files: 0,
            rows_read: count(item, ROWS_READ),
            rows_written: count(item, ROWS_WRITTEN),
            files_written: count(item, FILES_WRITTEN_COUNT),
            duration_seconds: 0.0,
            rows_per_second: 0.0,
            committed_when_files_added: item.get(JOB_COMMITTED_WHEN_FILES_ADDED).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        },
        "addedFiles" => JobEvent::FilesAdded { run_id: run_id.unwrap_or_default(), files_added: count(item, FILES_WRITTEN_COUNT) },
        "failed" => JobEvent::Failed { run_id, reason: string_list(item, FAILURE_REASONS).join("; "), interrupted: false },
        _ => return None,
    })
}

#[async_trait]
impl JobTracker for SleeperJobTracker {
    async fn record(&self, job_id: &str, event: JobEvent) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        self.save(job_id, &event).await
    }

    async fn accept(&self, job_id: &str, event: JobEvent) -> std::result::Result<(), AcceptError> {
        if let Some(job) = self.job(job_id).await? {
            check_acceptable(job_id, &job.events)?;
        }
        self.record(job_id, event).await?;
        Ok(())
    }

    async fn record_rejected_resubmission(&self, job_id: &str, reasons: Vec<String>, _raw_json: String) -> Result<()> {
        // Sleeper's tracker files every update under the job, and a REJECTED update would change
        // the accepted job's status in Sleeper's reports: the resubmission is logged instead.
        tracing::warn!("job {job_id}: a resubmission was rejected: {}", reasons.join("; "));
        Ok(())
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        let Some(table_id) = self.table_of(job_id).await? else { return Ok(None) };
        let items = self.query_updates(&table_id, Some(job_id)).await?;
        let records = self.records(job_id, &items).await;
        Ok(JobRecord::from_events(job_id, records, Vec::new()))
    }

    async fn list(&self, table_name: Option<&str>, status: Option<JobStatus>) -> Result<Vec<JobRecord>> {
        let tables = match table_name {
            Some(name) => self.index.table_by_name(name).await?.into_iter().collect(),
            None => self.index.list_tables().await?,
        };
        let mut jobs = Vec::new();
        for table in tables {
            let mut by_job: BTreeMap<String, Vec<Item>> = BTreeMap::new();
            for item in self.query_updates(&table.table_id, None).await? {
                if let Some(job_id) = string(&item, JOB_ID) {
                    by_job.entry(job_id).or_default().push(item);
                }
            }
            for (job_id, items) in by_job {
                let records = self.records(&job_id, &items).await;
                if let Some(job) = JobRecord::from_events(&job_id, records, Vec::new())
                    && job.matches(table_name, status)
                {
                    jobs.push(job);
                }
            }
        }
        jobs.sort_by_key(JobRecord::first_seen);
        Ok(jobs)
    }
}
