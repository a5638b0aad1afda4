//! The `.sketches` sidecars the writers leave beside each data file, read back by Apache
//! DataSketches' own reader (the C++ library's Python binding, `tests/oracle/read_sketches.py`):
//! one classic quantiles sketch per row key — string, long, int (widened to long) and byte
//! array — with the file's row count, its exact minimum and maximum, and quantiles whose true
//! ranks are within the sketch's error of the ranks asked for. A table that turns sketches off
//! gets none.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Int32Type, Int64Type};
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::properties::WRITE_SKETCHES;
use bulk_import_core::schema::Schema;
use bulk_import_driver::{JobOutcome, RunOptions};
use bulk_import_tests::cluster::{source_path, venv_binary};
use bulk_import_tests::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

const SCHEMA: &str = r#"{
  "rowKeyFields": [{"name": "s", "type": "StringType"}, {"name": "l", "type": "LongType"},
                   {"name": "i", "type": "IntType"}, {"name": "y", "type": "ByteArrayType"}],
  "sortKeyFields": [],
  "valueFields": [{"name": "v", "type": "IntType"}]
}"#;

/// Enough rows for the sketches to have compacted into several levels (2k = 2048).
const ROWS: usize = 60_000;

fn random_batch(schema: &Schema) -> RecordBatch {
    let mut rng = StdRng::seed_from_u64(41);
    let s: StringArray =
        (0..ROWS).map(|_| Some((0..rng.random_range(1..8)).map(|_| rng.random_range(b'a'..=b'z') as char).collect::<String>())).collect();
    let l = Int64Array::from_iter_values((0..ROWS).map(|_| rng.random::<i64>()));
    let i = Int32Array::from_iter_values((0..ROWS).map(|_| rng.random::<i32>()));
    // Bytes below 0x80, where Java's signed order and Python's unsigned order agree.
    let y = BinaryArray::from_iter_values((0..ROWS).map(|_| (0..rng.random_range(0..6)).map(|_| rng.random_range(0..0x80u8)).collect::<Vec<u8>>()));
    let v = Int32Array::from_iter_values(0..ROWS as i32);
    RecordBatch::try_new(schema.arrow_schema(), vec![Arc::new(s), Arc::new(l), Arc::new(i), Arc::new(y), Arc::new(v)]).unwrap()
}

/// A column's values as JSON, the way the oracle prints them (ints widened, bytes in hex).
fn json_values(column: &dyn Array) -> Vec<Value> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    if let Some(a) = column.as_string_opt::<i32>() {
        a.iter().map(|v| Value::from(v.unwrap())).collect()
    } else if let Some(a) = column.as_primitive_opt::<Int64Type>() {
        a.values().iter().map(|&v| Value::from(v)).collect()
    } else if let Some(a) = column.as_primitive_opt::<Int32Type>() {
        a.values().iter().map(|&v| Value::from(i64::from(v))).collect()
    } else {
        column.as_binary::<i32>().iter().map(|v| Value::from(hex(v.unwrap()))).collect()
    }
}

/// Orders the oracle's JSON values as the sketch does (for this data, Java's order).
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_i64().unwrap().cmp(&y.as_i64().unwrap()),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => panic!("mixed values {a} {b}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sketches_read_back_by_datasketches_hold_the_files_quantiles() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::from_json(SCHEMA).unwrap();
    let batch = random_batch(&schema);
    write_parquet(&dir.path().join("input/rows.parquet"), std::slice::from_ref(&batch), None);
    let driver = driver(dir.path()).await;
    let tree = PartitionTree::from_split_points(&schema.row_keys(), &[]).unwrap();
    let mut without = without_pre_split();
    without.0.insert(WRITE_SKETCHES.into(), "false".into());
    driver.backend().create_table("sketched", schema.clone(), without_pre_split(), tree.clone()).await.unwrap();
    driver.backend().create_table("unsketched", schema.clone(), without, tree).await.unwrap();
    for table in ["sketched", "unsketched"] {
        let job = format!(r#"{{"id": "{table}", "tableName": "{table}", "files": ["{}"]}}"#, dir.path().join("input").display());
        let outcome = driver.run(&job, &RunOptions::default()).await.unwrap();
        assert!(matches!(outcome, JobOutcome::Finished { .. }), "{outcome:?}");
    }
    let store = dir.path().join("store");
    let sketched = driver.backend().table_by_name("sketched").await.unwrap().unwrap();
    let unsketched = driver.backend().table_by_name("unsketched").await.unwrap().unwrap();
    let sidecars = |id: &str| -> Vec<_> {
        files_below(&store.join(id).join("data")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "sketches")).collect()
    };
    assert!(sidecars(unsketched.id()).is_empty(), "a table without sketches got some");
    let references = Log::read(&store, sketched.id()).file_references();
    assert_eq!(references.len(), 1, "one leaf, one file");
    let data_file = local_path(references.keys().next().unwrap());
    assert_eq!(sidecars(sketched.id()), [data_file.with_extension("sketches")]);

    let output = std::process::Command::new(venv_binary("python"))
        .arg(source_path("oracle/read_sketches.py"))
        .arg(data_file.with_extension("sketches"))
        .args(["string", "long", "long", "bytes"])
        .output()
        .unwrap();
    assert!(output.status.success(), "the oracle could not read the sketches: {}", String::from_utf8_lossy(&output.stderr));
    let fields: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(fields.len(), 4);

    let written = read_parquet(&data_file);
    for (name, field) in ["s", "l", "i", "y"].iter().zip(&fields) {
        let mut values: Vec<Value> = written.iter().flat_map(|b| json_values(b.column_by_name(name).unwrap().as_ref())).collect();
        values.sort_by(compare);
        let n = values.len();
        assert_eq!(n, ROWS);
        assert_eq!(field["k"], 1024, "{name}");
        assert_eq!(field["n"], ROWS as u64, "{name}");
        assert_eq!(field["min"], values[0], "{name}");
        assert_eq!(field["max"], values[n - 1], "{name}");
        let quantiles = field["quantiles"].as_array().unwrap();
        assert_eq!(quantiles.len(), 101);
        for (percent, q) in quantiles.iter().enumerate() {
            // The true rank of the returned item spans from the values below it to those at or
            // below it; the rank asked for must fall within that span, give or take 1%.
            let below = values.partition_point(|v| compare(v, q).is_lt()) as f64 / n as f64;
            let at_or_below = values.partition_point(|v| compare(v, q).is_le()) as f64 / n as f64;
            let asked = percent as f64 / 100.0;
            assert!(below - 0.01 <= asked && asked <= at_or_below + 0.01, "{name}: quantile {asked} is {q}, of true rank {below}..{at_or_below}");
        }
    }
}
