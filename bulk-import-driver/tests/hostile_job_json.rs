//! The job JSON parser against random and mutated input: a job or every reason to reject it,
//! never a panic; and nesting deep enough to overflow a recursive parser is an error.

#![allow(clippy::unwrap_used)] // A test: a failed step fails it.

use bulk_import_driver::intake::job::parse_job;
use proptest::prelude::*;
use serde_json::{Value, json};

fn config() -> ProptestConfig {
    ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2_000), ..ProptestConfig::default() }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "(?s).{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 7] = ["id", "tableName", "tableId", "className", "files", "sparkConf", "platformSpec"];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_parsed_or_refused(text in "(?s).{0,300}") {
        let _ = parse_job(&text);
    }

    #[test]
    fn a_job_with_any_field_replaced_is_parsed_or_refused(field in 0usize..7, value in json_value(), drop in any::<bool>()) {
        let mut job = json!({"id": "job-1", "tableName": "t", "files": ["s3://b/k"], "sparkConf": {"a": "b"}, "platformSpec": {}});
        let object = job.as_object_mut().unwrap();
        if drop { object.remove(FIELDS[field]); } else { object.insert(FIELDS[field].to_string(), value); }
        let _ = parse_job(&job.to_string());
    }

    #[test]
    fn ids_of_any_characters_are_refused_or_kept_exactly(id in "(?s).{0,80}") {
        let text = json!({"id": id, "tableName": "t", "files": ["/x"]}).to_string();
        if let Ok(job) = parse_job(&text) {
            prop_assert_eq!(job.id, id);
        }
    }
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!(r#"{{"id": "x", "tableName": "t", "files": {}{}}}"#, "[".repeat(50_000), "]".repeat(50_000));
    assert!(parse_job(&deep).is_err());
}
