//! Partitions in Sleeper's JSON shape (`transaction-initialise-partitions.json`): regions keyed
//! by row-key field name, strings base64-encoded when `stringsBase64Encoded` is set, byte arrays
//! always base64, an absent `max` meaning +infinity.
//!
//! [`PartitionJson`] is the shape as serde types; [`KeyJson`] and its two conversions are the one
//! place that knows how a key value is written (a number, or base64 text).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::key::{KeyType, KeyValue};
use crate::partition::{KeyRange, Partition, PartitionTree, Region};
use crate::schema::KeyField;

/// A partition as Sleeper writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionJson {
    pub partition_id: String,
    pub is_leaf_partition: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_partition_id: Option<String>,
    #[serde(default)]
    pub child_partition_ids: Vec<String>,
    pub region: RegionJson,
    #[serde(default = "leaf_dimension")]
    pub dimension: i32,
}

fn leaf_dimension() -> i32 {
    -1
}

/// A region: one range per row-key field, by name.
///
/// Read by [`RegionVisitor`] rather than through serde's `flatten`, which would buffer every
/// region's ranges before reading them: a table of 10,000 leaves has 20,000 regions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionJson {
    #[serde(flatten)]
    pub ranges: BTreeMap<String, RangeJson>,
    pub strings_base64_encoded: bool,
}

const STRINGS_BASE64_ENCODED: &str = "stringsBase64Encoded";

impl<'de> Deserialize<'de> for RegionJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(RegionVisitor)
    }
}

/// A region's entries: `stringsBase64Encoded` (false when absent), and every other entry a
/// row key's range.
struct RegionVisitor;

impl<'de> Visitor<'de> for RegionVisitor {
    type Value = RegionJson;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a region: a range for each row key, and stringsBase64Encoded")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> std::result::Result<RegionJson, A::Error> {
        let mut region = RegionJson { ranges: BTreeMap::new(), strings_base64_encoded: false };
        while let Some(name) = entries.next_key::<String>()? {
            if name == STRINGS_BASE64_ENCODED {
                region.strings_base64_encoded = entries.next_value()?;
            } else {
                match region.ranges.entry(name) {
                    Entry::Vacant(slot) => {
                        slot.insert(entries.next_value()?);
                    }
                    Entry::Occupied(taken) => return Err(de::Error::custom(format!("two ranges for row key {:?}", taken.key()))),
                }
            }
        }
        Ok(region)
    }
}

/// A range of one row key: Sleeper's are always min-inclusive and max-exclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeJson {
    #[serde(default)]
    pub min: Option<KeyJson>,
    #[serde(default = "inclusive")]
    pub min_inclusive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<KeyJson>,
    #[serde(default)]
    pub max_inclusive: bool,
}

fn inclusive() -> bool {
    true
}

/// A key value as written in a region: ints and longs as numbers, strings and byte arrays as
/// (base64) text. Read by [`KeyVisitor`]: an untagged enum would buffer every value and try
/// each variant in turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KeyJson {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for KeyJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = KeyJson;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a region bound: a whole number or a string")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> std::result::Result<KeyJson, E> {
        Ok(KeyJson::Number(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> std::result::Result<KeyJson, E> {
        i64::try_from(value).map(KeyJson::Number).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> std::result::Result<KeyJson, E> {
        Ok(KeyJson::Text(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> std::result::Result<KeyJson, E> {
        Ok(KeyJson::Text(value))
    }
}

impl KeyJson {
    /// How Sleeper writes a key value (strings base64-encoded, as it does since it added
    /// `stringsBase64Encoded`).
    pub fn from_key(value: &KeyValue) -> Self {
        match value {
            KeyValue::Int(v) => KeyJson::Number(i64::from(*v)),
            KeyValue::Long(v) => KeyJson::Number(*v),
            KeyValue::String(v) => KeyJson::Text(BASE64.encode(v)),
            KeyValue::Bytes(v) => KeyJson::Text(BASE64.encode(v)),
        }
    }

    /// The key value of a field of `key_type`; strings are base64 when `strings_base64`.
    pub fn to_key(&self, key_type: KeyType, strings_base64: bool) -> Result<KeyValue> {
        let bad = || Error::InvalidPartitions(format!("{self:?} is not a valid {key_type} region bound"));
        let decode = |s: &str| BASE64.decode(s).map_err(|_| bad());
        Ok(match (key_type, self) {
            (KeyType::Int, KeyJson::Number(v)) => KeyValue::Int(i32::try_from(*v).map_err(|_| bad())?),
            (KeyType::Long, KeyJson::Number(v)) => KeyValue::Long(*v),
            (KeyType::String, KeyJson::Text(s)) if strings_base64 => KeyValue::String(String::from_utf8(decode(s)?).map_err(|_| bad())?),
            (KeyType::String, KeyJson::Text(s)) => KeyValue::String(s.clone()),
            (KeyType::ByteArray, KeyJson::Text(s)) => KeyValue::Bytes(decode(s)?),
            _ => return Err(bad()),
        })
    }
}

impl PartitionJson {
    pub fn from_partition(row_keys: &[KeyField], p: &Partition) -> Self {
        let ranges = row_keys
            .iter()
            .zip(&p.region.ranges)
            .map(|(key, range)| {
                let json = RangeJson {
                    min: Some(KeyJson::from_key(&range.min)),
                    min_inclusive: true,
                    max: range.max.as_ref().map(KeyJson::from_key),
                    max_inclusive: false,
                };
                (key.name.clone(), json)
            })
            .collect();
        PartitionJson {
            partition_id: p.id.clone(),
            is_leaf_partition: p.is_leaf,
            parent_partition_id: p.parent_id.clone(),
            child_partition_ids: p.child_ids.clone(),
            region: RegionJson { ranges, strings_base64_encoded: true },
            dimension: p.dimension,
        }
    }

    pub fn to_partition(&self, row_keys: &[KeyField]) -> Result<Partition> {
        let id = &self.partition_id;
        let bad = |m: String| Error::InvalidPartitions(format!("partition {id:?}: {m}"));
        let strings_base64 = self.region.strings_base64_encoded;
        let mut ranges = Vec::with_capacity(row_keys.len());
        for key in row_keys {
            let range = self.region.ranges.get(&key.name).ok_or_else(|| bad(format!("no range for row key {:?}", key.name)))?;
            if !range.min_inclusive || range.max_inclusive {
                return Err(bad("ranges must be min-inclusive and max-exclusive".into()));
            }
            let min = match &range.min {
                None => key.key_type.minimum(),
                Some(v) => v.to_key(key.key_type, strings_base64)?,
            };
            let max = range.max.as_ref().map(|v| v.to_key(key.key_type, strings_base64)).transpose()?;
            ranges.push(KeyRange { min, max });
        }
        Ok(Partition {
            id: id.clone(),
            is_leaf: self.is_leaf_partition,
            parent_id: self.parent_partition_id.clone(),
            child_ids: self.child_partition_ids.clone(),
            region: Region { ranges },
            dimension: self.dimension,
        })
    }
}

/// A list of partitions, or an object with a `partitions` list (an `InitialisePartitions`
/// transaction): what `--partitions` files hold.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PartitionsJson {
    List(Vec<PartitionJson>),
    Transaction { partitions: Vec<PartitionJson> },
}

pub fn partitions_to_json(row_keys: &[KeyField], partitions: &[Partition]) -> Vec<PartitionJson> {
    partitions.iter().map(|p| PartitionJson::from_partition(row_keys, p)).collect()
}

pub fn partitions_from_json(row_keys: &[KeyField], partitions: &[PartitionJson]) -> Result<Vec<Partition>> {
    partitions.iter().map(|p| p.to_partition(row_keys)).collect()
}

/// All partitions of a tree, in Sleeper's shape.
pub fn tree_to_json(tree: &PartitionTree) -> Vec<PartitionJson> {
    partitions_to_json(tree.row_keys(), tree.partitions())
}

/// Reads a tree from a JSON array of partitions, or an object with a `partitions` array (the
/// shape of an `InitialisePartitions` transaction).
pub fn tree_from_json(row_keys: &[KeyField], value: &Value) -> Result<PartitionTree> {
    let list = match PartitionsJson::deserialize(value) {
        Ok(PartitionsJson::List(list) | PartitionsJson::Transaction { partitions: list }) => list,
        Err(e) => {
            return Err(Error::InvalidPartitions(format!("expected a JSON array of partitions or {{\"partitions\": [...]}}: {e}")));
        }
    };
    PartitionTree::new(row_keys.to_vec(), partitions_from_json(row_keys, &list)?)
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
        let round_trip = tree_from_json(&keys, &serde_json::to_value(tree_to_json(&tree)).unwrap()).unwrap();
        assert_eq!(round_trip.partitions(), tree.partitions());
    }

    #[test]
    fn regions_read_each_row_key_range_and_the_encoding_flag() {
        let region: RegionJson = serde_json::from_str(
            r#"{"id": {"min": -5, "minInclusive": true, "max": 9000000000, "maxInclusive": false},
                "name": {"min": "a", "minInclusive": true, "max": null, "maxInclusive": false}}"#,
        )
        .unwrap();
        assert!(!region.strings_base64_encoded, "absent means plain strings");
        assert_eq!(region.ranges["id"].min, Some(KeyJson::Number(-5)));
        assert_eq!(region.ranges["id"].max, Some(KeyJson::Number(9_000_000_000)));
        assert_eq!(region.ranges["name"].min, Some(KeyJson::Text("a".into())));
        assert_eq!(region.ranges["name"].max, None);
        let encoded: RegionJson = serde_json::from_str(r#"{"stringsBase64Encoded": true, "k": {"min": "YQ=="}}"#).unwrap();
        assert!(encoded.strings_base64_encoded);
        assert!(encoded.ranges["k"].min_inclusive, "min-inclusive unless it says otherwise");
    }

    #[test]
    fn malformed_regions_are_errors() {
        for bad in [
            r#"{"k": {"min": "a"}, "k": {"min": "b"}}"#,
            r#"{"k": {"min": 1.5}}"#,
            r#"{"k": {"min": 9223372036854775808}}"#,
            r#"{"k": {"min": true}}"#,
            r#"{"k": 7}"#,
            r#"{"stringsBase64Encoded": "yes"}"#,
            r#"[{"min": "a"}]"#,
        ] {
            assert!(serde_json::from_str::<RegionJson>(bad).is_err(), "{bad}");
        }
    }
}
