//! Hostile input to every reader of text and JSON a user or another system hands the engine:
//! Sleeper's partitions JSON, split points files, table properties, and transactions. Each is
//! fed random and mutated input; it must return a value or an error, never panic or hang. And
//! routing, against a reference comparator written here from Java's definitions, on random keys
//! of every key type.

#![allow(clippy::unwrap_used)] // A test: a failed step fails it.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, Int32Array, Int64Array, StringArray};
use bulk_import_core::key::{KeyType, KeyValue};
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::partition_json::{tree_from_json, tree_to_json};
use bulk_import_core::properties::TableProperties;
use bulk_import_core::router::Router;
use bulk_import_core::schema::KeyField;
use bulk_import_core::split_points::parse_split_points;
use bulk_import_core::transaction::Transaction;
use bulk_import_core::transaction_json::TransactionJson;
use proptest::prelude::*;
use serde_json::Value;

/// This crate's directory, as `cargo test` gives it when it runs the test rather than as compiled
/// in: a target directory shared by two checkouts holds test binaries either may have built.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), std::path::PathBuf::from)
}

/// Cases per property: enough to matter, brief enough for every CI run (`PROPTEST_CASES`
/// raises it for a longer hunt).
fn config() -> ProptestConfig {
    ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2_000), ..ProptestConfig::default() }
}

fn string_key() -> Vec<KeyField> {
    vec![KeyField { name: "key".into(), key_type: KeyType::String }]
}

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,14}", inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid value with one field somewhere replaced by arbitrary JSON, or removed.
fn mutate(mut value: Value, path: &[usize], replacement: Option<Value>) -> Value {
    mutate_at(&mut value, path, replacement);
    value
}

fn mutate_at(value: &mut Value, path: &[usize], replacement: Option<Value>) {
    match (path.split_first(), value) {
        (Some((step, rest)), Value::Array(items)) if !items.is_empty() => {
            let i = step % items.len();
            if rest.is_empty() && replacement.is_none() {
                items.remove(i);
            } else {
                mutate_at(&mut items[i], rest, replacement);
            }
        }
        (Some((step, rest)), Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).cloned().unwrap_or_default();
            if rest.is_empty() && replacement.is_none() {
                map.remove(&key);
            } else if let Some(inner) = map.get_mut(&key) {
                mutate_at(inner, rest, replacement);
            }
        }
        (_, value) => {
            if let Some(replacement) = replacement {
                *value = replacement;
            }
        }
    }
}

fn valid_partitions_json() -> Value {
    let points: Vec<KeyValue> = ["c", "h", "m", "t"].iter().map(|s| KeyValue::String((*s).into())).collect();
    serde_json::to_value(tree_to_json(&PartitionTree::from_split_points(&string_key(), &points).unwrap())).unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn partitions_json_never_panics(value in json()) {
        let _ = tree_from_json(&string_key(), &value);
    }

    #[test]
    fn mutated_partitions_json_never_panics(path in prop::collection::vec(0usize..16, 1..5), replacement in prop::option::of(json())) {
        let _ = tree_from_json(&string_key(), &mutate(valid_partitions_json(), &path, replacement));
    }

    #[test]
    fn split_points_never_panic(text in "(?s).{0,200}", base64 in any::<bool>()) {
        for key_type in [KeyType::Int, KeyType::Long, KeyType::String, KeyType::ByteArray] {
            if let Ok(points) = parse_split_points(&text, key_type, base64) {
                let _ = PartitionTree::from_split_points(&[KeyField { name: "k".into(), key_type }], &points);
            }
        }
    }

    #[test]
    fn table_properties_never_panic(text in "(?s)[ -~\\t\\n\\\\=:#!\u{e9}\u{1F600}]{0,300}") {
        if let Ok(properties) = TableProperties::parse(&text) {
            let _ = properties.parquet_settings();
            let _ = properties.min_leaf_partitions();
            let _ = properties.write_sketches();
        }
    }

    #[test]
    fn transactions_never_panic(type_index in 0usize..8, body in json()) {
        let types = ["INITIALISE_PARTITIONS", "EXTEND_PARTITION_TREE", "ADD_FILES", "REPLACE_FILE_REFERENCES", "SPLIT_FILE_REFERENCES",
                     "DELETE_FILES", "CLEAR_FILES", "NO_SUCH_TYPE"];
        if let Ok(transaction) = TransactionJson::from_type_and_body(types[type_index], &body.to_string()) {
            let _ = Transaction::from_json(transaction, &string_key());
        }
    }

    #[test]
    fn mutated_approved_transactions_never_panic(which in 0usize..3, path in prop::collection::vec(0usize..16, 1..6), replacement in prop::option::of(json())) {
        let (name, type_name) = [("initialise-partitions", "INITIALISE_PARTITIONS"), ("extend-partition-tree", "EXTEND_PARTITION_TREE"), ("add-files", "ADD_FILES")][which];
        let text = std::fs::read_to_string(manifest_dir().join(format!("tests/data/transaction-{name}.json"))).unwrap();
        let body = mutate(serde_json::from_str(&text).unwrap(), &path, replacement);
        if let Ok(transaction) = TransactionJson::from_type_and_body(type_name, &body.to_string()) {
            let _ = Transaction::from_json(transaction, &string_key());
        }
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(TransactionJson::from_type_and_body("ADD_FILES", &deep).is_err());
    assert!(serde_json::from_str::<Value>(&deep).is_err());
}

// Routing against a reference written from Java's definitions: `String.compareTo` compares
// UTF-16 code units; Sleeper compares byte arrays as signed bytes; ints and longs numerically.
fn java_order(a: &KeyValue, b: &KeyValue) -> Ordering {
    match (a, b) {
        (KeyValue::Int(x), KeyValue::Int(y)) => x.cmp(y),
        (KeyValue::Long(x), KeyValue::Long(y)) => x.cmp(y),
        (KeyValue::String(x), KeyValue::String(y)) => x.encode_utf16().cmp(y.encode_utf16()),
        (KeyValue::Bytes(x), KeyValue::Bytes(y)) => x.iter().map(|b| *b as i8).cmp(y.iter().map(|b| *b as i8)),
        _ => unreachable!("one key type per test"),
    }
}

fn key_value(key_type: KeyType) -> BoxedStrategy<KeyValue> {
    match key_type {
        KeyType::Int => any::<i32>().prop_map(KeyValue::Int).boxed(),
        KeyType::Long => any::<i64>().prop_map(KeyValue::Long).boxed(),
        // Surrogate-pair characters, characters above U+E000 and ASCII: where byte order and
        // UTF-16 order part.
        KeyType::String => "[a-c\u{e000}\u{ffff}\u{10000}\u{1f600}\u{7f}\u{80}]{0,6}".prop_map(KeyValue::String).boxed(),
        KeyType::ByteArray => prop::collection::vec(prop_oneof![Just(0u8), Just(1), Just(127), Just(128), Just(255), any::<u8>()], 0..5)
            .prop_map(KeyValue::Bytes)
            .boxed(),
    }
}

fn column(keys: &[KeyValue]) -> ArrayRef {
    match &keys[0] {
        KeyValue::Int(_) => Arc::new(Int32Array::from_iter_values(keys.iter().map(|k| if let KeyValue::Int(v) = k { *v } else { 0 }))),
        KeyValue::Long(_) => Arc::new(Int64Array::from_iter_values(keys.iter().map(|k| if let KeyValue::Long(v) = k { *v } else { 0 }))),
        KeyValue::String(_) => {
            Arc::new(StringArray::from_iter_values(keys.iter().map(|k| if let KeyValue::String(v) = k { v.as_str() } else { "" })))
        }
        KeyValue::Bytes(_) => {
            Arc::new(BinaryArray::from_iter_values(keys.iter().map(|k| if let KeyValue::Bytes(v) = k { v.as_slice() } else { &[] })))
        }
    }
}

fn routing_case() -> impl Strategy<Value = (KeyType, Vec<KeyValue>, Vec<KeyValue>)> {
    prop_oneof![Just(KeyType::Int), Just(KeyType::Long), Just(KeyType::String), Just(KeyType::ByteArray)].prop_flat_map(|key_type| {
        (Just(key_type), prop::collection::vec(key_value(key_type), 0..40), prop::collection::vec(key_value(key_type), 1..200))
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn routing_matches_java_order(case in routing_case()) {
        let (key_type, mut points, keys) = case;
        points.sort_by(java_order);
        points.dedup_by(|a, b| java_order(a, b) == Ordering::Equal);
        // A split at the key type's minimum would leave an empty leaf, which trees refuse.
        points.retain(|p| *p != key_type.minimum());
        let row_keys = [KeyField { name: "k".into(), key_type }];
        let tree = Arc::new(PartitionTree::from_split_points(&row_keys, &points).unwrap());
        let leaves: Vec<_> = tree.leaves().cloned().collect();
        let routed = Router::new(tree).leaf_indices(&[column(&keys)]).unwrap();
        for (row, key) in keys.iter().enumerate() {
            // The reference: the leaf's range holds the key, in Java's order.
            let range = &leaves[routed.value(row) as usize].region.ranges[0];
            let above_min = java_order(&range.min, key) != Ordering::Greater;
            let below_max = range.max.as_ref().is_none_or(|max| java_order(key, max) == Ordering::Less);
            prop_assert!(above_min && below_max, "key {:?} went to leaf {:?} (points {:?})", key, range, points);
        }
    }
}
