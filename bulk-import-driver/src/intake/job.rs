//! A bulk import job as Sleeper submits it: `id`, `tableName` or `tableId`, `files`, `className`,
//! `sparkConf`, `platformSpec`.

use std::collections::BTreeMap;

use serde_json::Value;

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
    pub reasons: Vec<String>,
}

const MAX_ID_LENGTH: usize = 63;

/// Checks a job id: lowercase letters, digits and '-', at most 63 characters.
pub fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        Some(format!("job id {id:?} must match ^[a-z0-9-]+$"))
    } else if id.len() > MAX_ID_LENGTH {
        Some(format!("job id {id:?} is {} characters long; the limit is {MAX_ID_LENGTH}", id.len()))
    } else {
        None
    }
}

fn string_map(value: Option<&Value>, field: &str, reasons: &mut Vec<String>) -> BTreeMap<String, String> {
    match value {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                Value::Number(_) | Value::Bool(_) => Some((k.clone(), v.to_string())),
                _ => {
                    reasons.push(format!("{field}.{k} must be a string"));
                    None
                }
            })
            .collect(),
        Some(_) => {
            reasons.push(format!("{field} must be an object of string values"));
            BTreeMap::new()
        }
    }
}

fn optional_string(value: &Value, field: &str, reasons: &mut Vec<String>) -> Option<String> {
    match value.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            reasons.push(format!("{field} must be a string"));
            None
        }
    }
}

/// Parses a job's JSON. A missing id gets a UUID; every problem found is reported, not just the first.
pub fn parse_job(raw: &str) -> Result<BulkImportJob, ParseFailure> {
    let value: Value = match serde_json::from_str(raw) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err(failure(None, None, vec!["the job must be a JSON object".into()])),
        Err(e) => return Err(failure(None, None, vec![format!("malformed JSON: {e}")])),
    };
    let mut reasons = Vec::new();
    let given_id = optional_string(&value, "id", &mut reasons);
    if let Some(problem) = given_id.as_deref().and_then(id_problem) {
        reasons.push(problem);
    }
    let table_name = optional_string(&value, "tableName", &mut reasons);
    let table_id = optional_string(&value, "tableId", &mut reasons);
    if table_name.is_none() && table_id.is_none() {
        reasons.push("the job names no table: give tableName or tableId".into());
    }
    let files = match value.get("files") {
        None | Some(Value::Null) => {
            reasons.push("files is missing: list at least one input file or directory".into());
            Vec::new()
        }
        Some(Value::Array(list)) if list.is_empty() => {
            reasons.push("files is empty: list at least one input file or directory".into());
            Vec::new()
        }
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Null => {
                    reasons.push(format!("files[{i}] is null"));
                    None
                }
                _ => {
                    reasons.push(format!("files[{i}] must be a non-empty string"));
                    None
                }
            })
            .collect(),
        Some(_) => {
            reasons.push("files must be a list of paths".into());
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

fn failure(id: Option<String>, table_name: Option<String>, reasons: Vec<String>) -> ParseFailure {
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
        assert_eq!(failure.reasons.len(), 4, "{:?}", failure.reasons);
        assert!(parse_job("{not json").unwrap_err().reasons[0].starts_with("malformed JSON"));
        let long = "a".repeat(64);
        assert!(parse_job(&format!(r#"{{"id":"{long}","tableName":"t","files":["x"]}}"#)).is_err());
    }
}
