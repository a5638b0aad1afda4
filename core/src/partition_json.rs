//! Partitions in Sleeper's JSON shape (`transaction-initialise-partitions.json`): regions keyed
//! by row-key field name, strings base64-encoded when `stringsBase64Encoded` is set, byte arrays
//! always base64, an absent `max` meaning +infinity.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::key::{KeyType, KeyValue};
use crate::partition::{KeyRange, Partition, PartitionTree, Region};
use crate::schema::KeyField;

/// A key value as Sleeper writes it in a region.
pub fn key_to_json(value: &KeyValue) -> Value {
    match value {
        KeyValue::Int(v) => json!(v),
        KeyValue::Long(v) => json!(v),
        KeyValue::String(v) => json!(BASE64.encode(v)),
        KeyValue::Bytes(v) => json!(BASE64.encode(v)),
    }
}

fn key_from_json(value: &Value, key_type: KeyType, strings_base64: bool) -> Result<KeyValue> {
    let bad = || Error::InvalidPartitions(format!("{value} is not a valid {key_type} region bound"));
    let decode = |s: &str| BASE64.decode(s).map_err(|_| bad());
    Ok(match key_type {
        KeyType::Int => KeyValue::Int(value.as_i64().and_then(|v| i32::try_from(v).ok()).ok_or_else(bad)?),
        KeyType::Long => KeyValue::Long(value.as_i64().ok_or_else(bad)?),
        KeyType::String => {
            let s = value.as_str().ok_or_else(bad)?;
            KeyValue::String(if strings_base64 { String::from_utf8(decode(s)?).map_err(|_| bad())? } else { s.to_string() })
        }
        KeyType::ByteArray => KeyValue::Bytes(decode(value.as_str().ok_or_else(bad)?)?),
    })
}

pub fn partition_to_json(row_keys: &[KeyField], p: &Partition) -> Value {
    let mut region = Map::new();
    for (key, range) in row_keys.iter().zip(&p.region.ranges) {
        let mut r = Map::new();
        r.insert("min".into(), key_to_json(&range.min));
        r.insert("minInclusive".into(), json!(true));
        if let Some(max) = &range.max {
            r.insert("max".into(), key_to_json(max));
        }
        r.insert("maxInclusive".into(), json!(false));
        region.insert(key.name.clone(), Value::Object(r));
    }
    region.insert("stringsBase64Encoded".into(), json!(true));
    let mut out = Map::new();
    out.insert("partitionId".into(), json!(p.id));
    out.insert("isLeafPartition".into(), json!(p.is_leaf));
    if let Some(parent) = &p.parent_id {
        out.insert("parentPartitionId".into(), json!(parent));
    }
    out.insert("childPartitionIds".into(), json!(p.child_ids));
    out.insert("region".into(), Value::Object(region));
    out.insert("dimension".into(), json!(p.dimension));
    Value::Object(out)
}

pub fn partition_from_json(row_keys: &[KeyField], value: &Value) -> Result<Partition> {
    let bad = |m: String| Error::InvalidPartitions(m);
    let id = value["partitionId"].as_str().ok_or_else(|| bad(format!("partition without a partitionId: {value}")))?;
    let region_json = value["region"].as_object().ok_or_else(|| bad(format!("partition {id:?} has no region")))?;
    let strings_base64 = region_json.get("stringsBase64Encoded").and_then(Value::as_bool).unwrap_or(false);
    let mut ranges = Vec::with_capacity(row_keys.len());
    for key in row_keys {
        let range = region_json
            .get(&key.name)
            .ok_or_else(|| bad(format!("partition {id:?} has no range for row key {:?}", key.name)))?;
        if range.get("minInclusive").and_then(Value::as_bool) == Some(false)
            || range.get("maxInclusive").and_then(Value::as_bool) == Some(true)
        {
            return Err(bad(format!("partition {id:?}: ranges must be min-inclusive and max-exclusive")));
        }
        let min = match range.get("min") {
            None | Some(Value::Null) => key.key_type.minimum(),
            Some(v) => key_from_json(v, key.key_type, strings_base64)?,
        };
        let max = match range.get("max") {
            None | Some(Value::Null) => None,
            Some(v) => Some(key_from_json(v, key.key_type, strings_base64)?),
        };
        ranges.push(KeyRange { min, max });
    }
    let child_ids = match value.get("childPartitionIds") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => v
            .as_array()
            .ok_or_else(|| bad(format!("partition {id:?}: childPartitionIds is not a list")))?
            .iter()
            .map(|c| c.as_str().map(str::to_string).ok_or_else(|| bad(format!("partition {id:?}: a child id is not a string"))))
            .collect::<Result<_>>()?,
    };
    Ok(Partition {
        id: id.to_string(),
        is_leaf: value["isLeafPartition"].as_bool().ok_or_else(|| bad(format!("partition {id:?} has no isLeafPartition")))?,
        parent_id: value.get("parentPartitionId").and_then(Value::as_str).map(str::to_string),
        child_ids,
        region: Region { ranges },
        dimension: value.get("dimension").and_then(Value::as_i64).unwrap_or(-1) as i32,
    })
}

/// All partitions of a tree, as a JSON array.
pub fn tree_to_json(tree: &PartitionTree) -> Value {
    Value::Array(tree.partitions().iter().map(|p| partition_to_json(tree.row_keys(), p)).collect())
}

/// Reads a tree from a JSON array of partitions, or an object with a `partitions` array (the
/// shape of an `InitialisePartitions` transaction).
pub fn tree_from_json(row_keys: &[KeyField], value: &Value) -> Result<PartitionTree> {
    let list = value
        .as_array()
        .or_else(|| value.get("partitions").and_then(Value::as_array))
        .ok_or_else(|| Error::InvalidPartitions("expected a JSON array of partitions or {\"partitions\": [...]}".into()))?;
    let partitions = list.iter().map(|p| partition_from_json(row_keys, p)).collect::<Result<Vec<_>>>()?;
    PartitionTree::new(row_keys.to_vec(), partitions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyRef;

    #[test]
    fn reads_sleeper_reference_partitions() {
        let json: Value = serde_json::from_str(include_str!("../tests/data/transaction-initialise-partitions.json")).unwrap();
        let keys = vec![KeyField { name: "key".into(), key_type: KeyType::String }];
        let tree = tree_from_json(&keys, &json).unwrap();
        assert_eq!(tree.leaf_count(), 4);
        assert_eq!(tree.leaf_of(&[KeyRef::String("o")]).unwrap().id, "LR");
        assert_eq!(tree.leaf_of(&[KeyRef::String("p")]).unwrap().id, "RL");
        assert_eq!(tree.leaf_of(&[KeyRef::String("")]).unwrap().id, "LL");
        assert_eq!(tree.leaf_of(&[KeyRef::String("zz")]).unwrap().id, "RR");
        let round_trip = tree_from_json(&keys, &tree_to_json(&tree)).unwrap();
        assert_eq!(round_trip.partitions(), tree.partitions());
    }
}
