//! A bulk import job as Sleeper submits it: `id`, `tableName` or `tableId`, `files`, `className`,
//! `sparkConf`, `platformSpec`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::rejection::{MAX_ID_LENGTH, RejectionReason};

/// A job whose JSON parsed and whose fields are well formed; the table and files are checked later.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkImportJob {
    pub id: String,
    pub table_name: Option<String>,
    pub table_id: Option<String>,
    pub files: Vec<String>,
    pub class_name: Option<String>,
    pub spark_conf: BTreeMap<String, String>,
    pub platform_spec: BTreeMap<String, String>,
}

/// A job that could not be parsed: its id (given or generated) and every reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    pub id: String,
    pub table_name: Option<String>,
    pub reasons: Vec<RejectionReason>,
}

/// Checks a job id: lowercase letters, digits and '-', at most 63 characters.
pub fn id_problem(id: &str) -> Option<RejectionReason> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        Some(RejectionReason::InvalidJobId(id.to_string()))
    } else if id.len() > MAX_ID_LENGTH {
        Some(RejectionReason::JobIdTooLong { id: id.to_string() })
    } else {
        None
    }
}

fn string_map(value: Option<&Value>, field: &'static str, reasons: &mut Vec<RejectionReason>) -> BTreeMap<String, String> {
    match value {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                Value::Number(_) | Value::Bool(_) => Some((k.clone(), v.to_string())),
                _ => {
                    reasons.push(RejectionReason::NotAStringValue { field, key: k.clone() });
                    None
                }
            })
            .collect(),
        Some(_) => {
            reasons.push(RejectionReason::NotAStringMap { field });
            BTreeMap::new()
        }
    }
}

fn optional_string(value: &Value, field: &'static str, reasons: &mut Vec<RejectionReason>) -> Option<String> {
    match value.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            reasons.push(RejectionReason::NotAString { field });
            None
        }
    }
}

/// Parses a job's JSON. A missing id gets a UUID; every problem found is reported, not just the first.
pub fn parse_job(raw: &str) -> Result<BulkImportJob, ParseFailure> {
    let value: Value = match serde_json::from_str(raw) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err(failure(None, None, vec![RejectionReason::NotAnObject])),
        Err(e) => return Err(failure(None, None, vec![RejectionReason::MalformedJson(e.to_string())])),
    };
    let mut reasons = Vec::new();
    let given_id = optional_string(&value, "id", &mut reasons);
    if let Some(problem) = given_id.as_deref().and_then(id_problem) {
        reasons.push(problem);
    }
    let table_name = optional_string(&value, "tableName", &mut reasons);
    let table_id = optional_string(&value, "tableId", &mut reasons);
    if table_name.is_none() && table_id.is_none() {
        reasons.push(RejectionReason::NoTable);
    }
    let files = match value.get("files") {
        None | Some(Value::Null) => {
            reasons.push(RejectionReason::FilesMissing);
            Vec::new()
        }
        Some(Value::Array(list)) if list.is_empty() => {
            reasons.push(RejectionReason::FilesEmpty);
            Vec::new()
        }
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Null => {
                    reasons.push(RejectionReason::NullFile(i));
                    None
                }
                _ => {
                    reasons.push(RejectionReason::InvalidFile(i));
                    None
                }
            })
            .collect(),
        Some(_) => {
            reasons.push(RejectionReason::FilesNotAList);
            Vec::new()
        }
    };
    let class_name = optional_string(&value, "className", &mut reasons);
    let spark_conf = string_map(value.get("sparkConf"), "sparkConf", &mut reasons);
    let platform_spec = string_map(value.get("platformSpec"), "platformSpec", &mut reasons);
    let valid_given_id = given_id.filter(|id| id_problem(id).is_none());
    if !reasons.is_empty() {
        return Err(failure(valid_given_id, table_name, reasons));
    }
    Ok(BulkImportJob {
        id: valid_given_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        table_name,
        table_id,
        files,
        class_name,
        spark_conf,
        platform_spec,
    })
}

fn failure(id: Option<String>, table_name: Option<String>, reasons: Vec<RejectionReason>) -> ParseFailure {
    ParseFailure { id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()), table_name, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_sleeper_job() {
        let job = parse_job(r#"{"id":"job-1","tableName":"t","files":["a/b.parquet"],"sparkConf":{"spark.executor.cores":"2"}}"#).unwrap();
        assert_eq!(job.id, "job-1");
        assert_eq!(job.spark_conf["spark.executor.cores"], "2");
        let generated = parse_job(r#"{"tableName":"t","files":["x"]}"#).unwrap();
        assert!(id_problem(&generated.id).is_none());
    }

    #[test]
    fn reports_every_problem() {
        let failure = parse_job(r#"{"id":"Bad_Id","files":[null, 3]}"#).unwrap_err();
        assert_eq!(
            failure.reasons,
            [RejectionReason::InvalidJobId("Bad_Id".into()), RejectionReason::NoTable, RejectionReason::NullFile(0), RejectionReason::InvalidFile(1)]
        );
        assert!(matches!(parse_job("{not json").unwrap_err().reasons[..], [RejectionReason::MalformedJson(_)]));
        let long = "a".repeat(64);
        let too_long = parse_job(&format!(r#"{{"id":"{long}","tableName":"t","files":["x"]}}"#)).unwrap_err();
        assert_eq!(too_long.reasons, [RejectionReason::JobIdTooLong { id: long }]);
        assert_eq!(too_long.reasons[0].to_string(), format!("job id {:?} is 64 characters long; the limit is 63", "a".repeat(64)));
    }
}
