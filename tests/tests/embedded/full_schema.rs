//! An import into a table with Sleeper's full schema (`schema-full.json`: two row keys, Int and
//! ByteArray sort keys, Map and List values) whose partition tree, loaded from Sleeper's
//! partitions JSON, splits on both row keys.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    AsArray, BinaryArray, Int32Array, Int32Builder, Int64Array, ListBuilder, MapBuilder, MapFieldNames, RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::Int64Type;
use bulk_import_core::key::KeyRef;
use bulk_import_core::partition_json::tree_from_json;
use bulk_import_core::schema::Schema;
use bulk_import_driver::{JobOutcome, RunOptions};
use bulk_import_tests::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const SCHEMA: &str = r#"{
  "rowKeyFields": [{"name": "a", "type": "StringType"}, {"name": "b", "type": "LongType"}],
  "sortKeyFields": [{"name": "c", "type": "IntType"}, {"name": "d", "type": "ByteArrayType"}],
  "valueFields": [
    {"name": "e", "type": "IntType"},
    {"name": "f", "type": "LongType"},
    {"name": "g", "type": {"MapType": {"keyType": "IntType", "valueType": "StringType"}}},
    {"name": "h", "type": {"ListType": {"elementType": "IntType"}}, "nullable": true}
  ]
}"#;

/// root splits on `a` at "m" (base64 "bQ=="); L splits on `b` at 0; R splits on `b` at 1000.
const PARTITIONS: &str = r#"{"partitions": [
  {"partitionId": "root", "isLeafPartition": false, "childPartitionIds": ["L", "R"], "dimension": 0,
   "region": {"a": {"min": "", "minInclusive": true, "maxInclusive": false},
              "b": {"min": -9223372036854775808, "minInclusive": true, "maxInclusive": false}, "stringsBase64Encoded": true}},
  {"partitionId": "L", "isLeafPartition": false, "parentPartitionId": "root", "childPartitionIds": ["LL", "LR"], "dimension": 1,
   "region": {"a": {"min": "", "minInclusive": true, "max": "bQ==", "maxInclusive": false},
              "b": {"min": -9223372036854775808, "minInclusive": true, "maxInclusive": false}, "stringsBase64Encoded": true}},
  {"partitionId": "R", "isLeafPartition": false, "parentPartitionId": "root", "childPartitionIds": ["RL", "RR"], "dimension": 1,
   "region": {"a": {"min": "bQ==", "minInclusive": true, "maxInclusive": false},
              "b": {"min": -9223372036854775808, "minInclusive": true, "maxInclusive": false}, "stringsBase64Encoded": true}},
  {"partitionId": "LL", "isLeafPartition": true, "parentPartitionId": "L", "childPartitionIds": [], "dimension": -1,
   "region": {"a": {"min": "", "minInclusive": true, "max": "bQ==", "maxInclusive": false},
              "b": {"min": -9223372036854775808, "minInclusive": true, "max": 0, "maxInclusive": false}, "stringsBase64Encoded": true}},
  {"partitionId": "LR", "isLeafPartition": true, "parentPartitionId": "L", "childPartitionIds": [], "dimension": -1,
   "region": {"a": {"min": "", "minInclusive": true, "max": "bQ==", "maxInclusive": false},
              "b": {"min": 0, "minInclusive": true, "maxInclusive": false}, "stringsBase64Encoded": true}},
  {"partitionId": "RL", "isLeafPartition": true, "parentPartitionId": "R", "childPartitionIds": [], "dimension": -1,
   "region": {"a": {"min": "bQ==", "minInclusive": true, "maxInclusive": false},
              "b": {"min": -9223372036854775808, "minInclusive": true, "max": 1000, "maxInclusive": false}, "stringsBase64Encoded": true}},
  {"partitionId": "RR", "isLeafPartition": true, "parentPartitionId": "R", "childPartitionIds": [], "dimension": -1,
   "region": {"a": {"min": "bQ==", "minInclusive": true, "maxInclusive": false},
              "b": {"min": 1000, "minInclusive": true, "maxInclusive": false}, "stringsBase64Encoded": true}}
]}"#;

fn random_batch(rng: &mut StdRng, rows: usize, schema: &Schema) -> RecordBatch {
    let letters = |rng: &mut StdRng| -> String { (0..rng.random_range(0..4)).map(|_| rng.random_range(b'a'..=b'z') as char).collect() };
    let a: StringArray = (0..rows).map(|_| Some(letters(rng))).collect();
    let b = Int64Array::from_iter_values((0..rows).map(|_| rng.random_range(-2000..2000)));
    let c = Int32Array::from_iter_values((0..rows).map(|_| rng.random_range(-3..3)));
    let d = BinaryArray::from_iter_values((0..rows).map(|_| (0..rng.random_range(0..3)).map(|_| rng.random::<u8>()).collect::<Vec<u8>>()));
    let e = Int32Array::from_iter_values((0..rows).map(|_| rng.random()));
    let f = Int64Array::from_iter_values((0..rows).map(|_| rng.random()));
    let names = MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() };
    let mut g = MapBuilder::new(Some(names), Int32Builder::new(), StringBuilder::new());
    let mut h =
        ListBuilder::new(Int32Builder::new()).with_field(Arc::new(arrow::datatypes::Field::new("element", arrow::datatypes::DataType::Int32, true)));
    for i in 0..rows {
        for k in 0..rng.random_range(0..3) {
            g.keys().append_value(k);
            g.values().append_value(format!("v{i}"));
        }
        g.append(true).unwrap();
        if rng.random_range(0..4) == 0 {
            h.append_null();
        } else {
            h.append_value((0..rng.random_range(0..3)).map(Some));
        }
    }
    RecordBatch::try_new(
        schema.arrow_schema(),
        vec![Arc::new(a), Arc::new(b), Arc::new(c), Arc::new(d), Arc::new(e), Arc::new(f), Arc::new(g.finish()), Arc::new(h.finish())],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_schema_import_routes_on_both_row_keys() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::from_json(SCHEMA).unwrap();
    let tree = tree_from_json(&schema.row_keys(), &serde_json::from_str(PARTITIONS).unwrap()).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let input = dir.path().join("input");
    for i in 0..3 {
        write_parquet(&input.join(format!("part-{i}.parquet")), &[random_batch(&mut rng, 3000, &schema)], None);
    }
    let driver = driver(dir.path()).await;
    let table = driver.backend().create_table("full", schema.clone(), without_pre_split(), tree).await.unwrap();
    let job = format!(r#"{{"id": "full-1", "tableName": "full", "files": ["{}"], "className": "local-sort"}}"#, input.display());
    let outcome = driver.run(&job, &RunOptions::default()).await.unwrap();
    assert!(matches!(outcome, JobOutcome::Finished { .. }), "{outcome:?}");

    let log = Log::read(&dir.path().join("store"), table.id());
    let partitions = log.partitions(&schema);
    let references = log.file_references();
    assert_eq!(references.len(), 4, "one file per leaf: {references:?}");
    let mut rows_out = Vec::new();
    let mut leaves_seen = HashSet::new();
    for (url, (partition_id, rows, _)) in &references {
        let batches = read_parquet(&local_path(url));
        assert_eq!(batches.iter().map(|b| b.num_rows() as u64).sum::<u64>(), *rows);
        assert!(is_sorted_by(&batches, &["a", "b", "c", "d"]), "{url} is not sorted");
        assert_eq!(batches[0].schema().fields(), schema.arrow_schema().fields(), "the file has the table's schema");
        let region = &partitions.get(partition_id).unwrap().region;
        for batch in &batches {
            let a = column(batch, "a").as_string::<i32>();
            let b = column(batch, "b").as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                assert!(region.contains(&[KeyRef::String(a.value(i)), KeyRef::Long(b.value(i))]), "row {i} outside {partition_id}");
            }
        }
        leaves_seen.insert(partition_id.clone());
        rows_out.extend(rows_as_strings(&batches));
    }
    assert_eq!(leaves_seen, ["LL", "LR", "RL", "RR"].iter().map(std::string::ToString::to_string).collect());
    let mut rows_in: Vec<String> = files_below(&input).iter().flat_map(|f| rows_as_strings(&read_parquet(f))).collect();
    rows_in.sort();
    rows_out.sort();
    assert!(rows_in == rows_out, "rows out differ from rows in");
}
