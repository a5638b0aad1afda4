//! Routing agrees with a reference that uses Java's own comparisons (`java/SleeperRoutingOracle.java`,
//! run with the JDK's source launcher): keys equal to split points, the empty string, characters
//! above U+FFFF against U+E000..U+FFFF, byte arrays with bytes at or above 0x80, Int and Long
//! extremes, and two-dimensional row keys.

use std::fmt::Write;
use std::process::Command;

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use bulk_import_core::key::{KeyType, KeyValue};
use bulk_import_core::partition::{KeyRange, Partition, PartitionTree, Region};
use bulk_import_core::router::Router;
use bulk_import_core::schema::KeyField;
use bulk_import_tests::cluster::source_path;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() { "-".into() } else { bytes.iter().map(|b| format!("{b:02x}")).collect() }
}

fn encode(value: &KeyValue) -> String {
    match value {
        KeyValue::Int(v) => v.to_string(),
        KeyValue::Long(v) => v.to_string(),
        KeyValue::String(v) => hex(v.as_bytes()),
        KeyValue::Bytes(v) => hex(v),
    }
}

fn java_type(t: KeyType) -> &'static str {
    match t {
        KeyType::Int => "INT",
        KeyType::Long => "LONG",
        KeyType::String => "STRING",
        KeyType::ByteArray => "BYTES",
    }
}

/// Routes every key with the Java reference and with our tree, and compares.
fn assert_routing_matches_java(tree: &PartitionTree, keys: &[Vec<KeyValue>]) {
    let mut input = String::from("types");
    for key in tree.row_keys() {
        write!(input, "\t{}", java_type(key.key_type)).unwrap();
    }
    input.push('\n');
    for p in tree.partitions() {
        write!(input, "part\t{}\t{}", p.id, p.parent_id.as_deref().unwrap_or("-")).unwrap();
        for range in &p.region.ranges {
            write!(input, "\t{}\t{}", encode(&range.min), range.max.as_ref().map_or("*".into(), encode)).unwrap();
        }
        input.push('\n');
    }
    for key in keys {
        input.push_str("key");
        for value in key {
            write!(input, "\t{}", encode(value)).unwrap();
        }
        input.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("input.tsv");
    std::fs::write(&input_path, input).unwrap();
    let oracle = source_path("java/SleeperRoutingOracle.java");
    let output = Command::new("java")
        .arg(&oracle)
        .arg(&input_path)
        .output()
        .expect("`java` (JDK 11 or later) runs the routing reference; the project's set-up script installs it");
    assert!(output.status.success(), "the Java reference failed: {}", String::from_utf8_lossy(&output.stderr));
    let expected: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_string).collect();
    assert_eq!(expected.len(), keys.len());
    // The router over Arrow columns, as the engine routes: for one string key, its fast path.
    if let [KeyField { key_type: KeyType::String, .. }] = tree.row_keys() {
        let column: StringArray = keys
            .iter()
            .map(|k| match &k[0] {
                KeyValue::String(v) => Some(v.as_str()),
                _ => unreachable!("string keys"),
            })
            .collect();
        let leaf_ids: Vec<&str> = tree.leaves().map(|p| p.id.as_str()).collect();
        let routed = Router::new(Arc::new(tree.clone())).leaf_indices(&[Arc::new(column) as ArrayRef]).unwrap();
        for (i, (key, expected)) in keys.iter().zip(&expected).enumerate() {
            assert_eq!(leaf_ids[routed.value(i) as usize], expected, "router, key {key:?}");
        }
    }
    for (key, expected) in keys.iter().zip(expected) {
        let refs: Vec<_> = key.iter().map(KeyValue::as_ref).collect();
        let ours = tree.leaf_of(&refs).map(|p| p.id.clone());
        assert_eq!(ours.as_deref(), Some(expected.as_str()), "key {key:?}");
    }
}

fn one_key(name: &str, key_type: KeyType) -> Vec<KeyField> {
    vec![KeyField { name: name.into(), key_type }]
}

fn s(v: &str) -> KeyValue {
    KeyValue::String(v.into())
}

#[test]
fn string_routing_matches_java_including_supplementary_characters() {
    // Strictly increasing in Java's order: U+10000 and U+1F600 (surrogates, 0xD800..) sort before
    // U+E000 and U+FFFF, although their UTF-8 bytes sort after.
    let points = vec![s("a"), s("b"), s("m"), s("m\u{0}"), s("\u{10000}"), s("\u{1F600}"), s("\u{E000}"), s("\u{FFFF}")];
    let tree = PartitionTree::from_split_points(&one_key("key", KeyType::String), &points).unwrap();
    let mut keys: Vec<Vec<KeyValue>> = points.iter().map(|p| vec![p.clone()]).collect();
    for edge in ["", "\u{0}", "a\u{0}", "az", "l", "m", "\u{7FF}", "\u{D7FF}", "\u{E000}a", "\u{FFFE}", "\u{10FFFF}", "\u{1F5FF}", "\u{FFFF}\u{FFFF}"]
    {
        keys.push(vec![s(edge)]);
    }
    let alphabet: Vec<char> = "ablmz\u{0}\u{7F}\u{80}\u{7FF}\u{E000}\u{FFFF}\u{10000}\u{1F600}\u{10FFFF}".chars().collect();
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..2000 {
        let len = rng.random_range(0..4);
        keys.push(vec![KeyValue::String((0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect())]);
    }
    assert_routing_matches_java(&tree, &keys);
}

#[test]
fn string_routing_at_ascii_split_points_matches_java() {
    // ASCII split points of 1 to 12 bytes take the router's 8-byte-prefix search; keys that tie
    // with a point on those 8 bytes, and keys of any characters, must still land as in Java.
    let points: Vec<KeyValue> = ["b", "abcdefgh", "abcdefgh\u{0}", "abcdefghij", "abcdefgi", "m", "mmmmmmmmmmmm", "n", "z"]
        .into_iter()
        .map(s)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let tree = PartitionTree::from_split_points(&one_key("key", KeyType::String), &points).unwrap();
    let mut keys: Vec<Vec<KeyValue>> = points.iter().map(|p| vec![p.clone()]).collect();
    let alphabet: Vec<char> = "abcdefghijmnz\u{0}\u{7F}\u{80}\u{E000}\u{FFFF}\u{10000}\u{1F600}".chars().collect();
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..3000 {
        let stem = ["", "abcdefgh", "abcdefg", "mmmmmmmm"][rng.random_range(0..4)];
        let len = rng.random_range(0..5);
        let tail: String = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
        keys.push(vec![KeyValue::String(format!("{stem}{tail}"))]);
    }
    assert_routing_matches_java(&tree, &keys);
}

#[test]
fn byte_array_routing_matches_java_signed_bytes() {
    // Signed order: 0x80 (-128) < 0xff (-1) < 0x00 < 0x01 0x80 < 0x7f.
    let points: Vec<KeyValue> = [vec![0x80], vec![0xff], vec![0x00], vec![0x01, 0x80], vec![0x7f]].into_iter().map(KeyValue::Bytes).collect();
    let tree = PartitionTree::from_split_points(&one_key("key", KeyType::ByteArray), &points).unwrap();
    let mut keys: Vec<Vec<KeyValue>> = points.iter().map(|p| vec![p.clone()]).collect();
    keys.push(vec![KeyValue::Bytes(vec![])]);
    let alphabet = [0x00u8, 0x01, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff];
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..2000 {
        let len = rng.random_range(0..4);
        keys.push(vec![KeyValue::Bytes((0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect())]);
    }
    assert_routing_matches_java(&tree, &keys);
}

#[test]
fn int_and_long_routing_matches_java_at_the_extremes() {
    let ints: Vec<KeyValue> = [i32::MIN + 1, -1, 0, 1, i32::MAX].into_iter().map(KeyValue::Int).collect();
    let tree = PartitionTree::from_split_points(&one_key("key", KeyType::Int), &ints).unwrap();
    let keys: Vec<Vec<KeyValue>> =
        [i32::MIN, i32::MIN + 1, -2, -1, 0, 1, 2, i32::MAX - 1, i32::MAX].into_iter().map(|v| vec![KeyValue::Int(v)]).collect();
    assert_routing_matches_java(&tree, &keys);

    let longs: Vec<KeyValue> =
        [i64::MIN + 1, i64::from(i32::MIN), -1, 0, i64::from(i32::MAX) + 1, i64::MAX].into_iter().map(KeyValue::Long).collect();
    let tree = PartitionTree::from_split_points(&one_key("key", KeyType::Long), &longs).unwrap();
    let keys: Vec<Vec<KeyValue>> =
        [i64::MIN, i64::MIN + 1, i64::from(i32::MIN) - 1, -1, 0, i64::from(i32::MAX), i64::from(i32::MAX) + 1, i64::MAX - 1, i64::MAX]
            .into_iter()
            .map(|v| vec![KeyValue::Long(v)])
            .collect();
    assert_routing_matches_java(&tree, &keys);
}

#[test]
fn two_dimensional_routing_matches_java() {
    let keys_fields = vec![KeyField { name: "a".into(), key_type: KeyType::String }, KeyField { name: "b".into(), key_type: KeyType::Long }];
    let range = |min: KeyValue, max: Option<KeyValue>| KeyRange { min, max };
    let part = |id: &str, parent: Option<&str>, children: &[&str], a: KeyRange, b: KeyRange, dimension: i32| Partition {
        id: id.into(),
        is_leaf: children.is_empty(),
        parent_id: parent.map(str::to_string),
        child_ids: children.iter().map(std::string::ToString::to_string).collect(),
        region: Region { ranges: vec![a, b] },
        dimension,
    };
    let all_a = || range(s(""), None);
    let all_b = || range(KeyValue::Long(i64::MIN), None);
    // root splits on a at "m"; L splits on b at 0; R on b at 100; RR on a at "t".
    let partitions = vec![
        part("root", None, &["L", "R"], all_a(), all_b(), 0),
        part("L", Some("root"), &["LL", "LR"], range(s(""), Some(s("m"))), all_b(), 1),
        part("R", Some("root"), &["RL", "RR"], range(s("m"), None), all_b(), 1),
        part("LL", Some("L"), &[], range(s(""), Some(s("m"))), range(KeyValue::Long(i64::MIN), Some(KeyValue::Long(0))), -1),
        part("LR", Some("L"), &[], range(s(""), Some(s("m"))), range(KeyValue::Long(0), None), -1),
        part("RL", Some("R"), &[], range(s("m"), None), range(KeyValue::Long(i64::MIN), Some(KeyValue::Long(100))), -1),
        part("RR", Some("R"), &["RRL", "RRR"], range(s("m"), None), range(KeyValue::Long(100), None), 0),
        part("RRL", Some("RR"), &[], range(s("m"), Some(s("t"))), range(KeyValue::Long(100), None), -1),
        part("RRR", Some("RR"), &[], range(s("t"), None), range(KeyValue::Long(100), None), -1),
    ];
    let tree = PartitionTree::new(keys_fields, partitions).unwrap();
    let a_values = ["", "a", "l", "m", "m\u{0}", "s", "t", "t\u{0}", "z", "\u{1F600}", "\u{FFFF}"];
    let b_values = [i64::MIN, -1, 0, 1, 99, 100, 101, i64::MAX];
    let keys: Vec<Vec<KeyValue>> = a_values.iter().flat_map(|a| b_values.iter().map(move |b| vec![s(a), KeyValue::Long(*b)])).collect();
    assert_routing_matches_java(&tree, &keys);
}
