//! Routing a batch of rows to leaf partitions, reading key columns in place.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, Int32Array, Int64Array, LargeBinaryArray, LargeStringArray, StringArray, StringViewArray,
    UInt32Array,
};
use arrow::datatypes::DataType;

use crate::key::{KeyRef, KeyType, KeyValue, byte_prefix, java_string_cmp};
use crate::partition::PartitionTree;

/// Why a batch could not be routed. Validation rejects such input before a job runs, so
/// these only surface for input that changed under a running job.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("row key column {column} has type {actual}, which cannot hold {expected} values")]
    WrongType { column: String, expected: KeyType, actual: DataType },
    #[error("row key column {column} holds a null at row {row}: row keys may not be null")]
    NullKey { column: String, row: usize },
    #[error("no leaf partition holds the key of row {row}: the partition tree does not cover the key space")]
    Uncovered { row: usize },
}

/// A key column viewed as [`KeyRef`]s, whatever Arrow representation the input used.
pub enum KeyColumn<'a> {
    Int(&'a Int32Array),
    Long(&'a Int64Array),
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    Binary(&'a BinaryArray),
    LargeBinary(&'a LargeBinaryArray),
    BinaryView(&'a BinaryViewArray),
}

impl<'a> KeyColumn<'a> {
    pub fn new(array: &'a ArrayRef, key_type: KeyType, column: &str) -> Result<Self, RoutingError> {
        Ok(match (key_type, array.data_type()) {
            (KeyType::Int, DataType::Int32) => KeyColumn::Int(array.as_primitive()),
            (KeyType::Long, DataType::Int64) => KeyColumn::Long(array.as_primitive()),
            (KeyType::String, DataType::Utf8) => KeyColumn::Utf8(array.as_string()),
            (KeyType::String, DataType::LargeUtf8) => KeyColumn::LargeUtf8(array.as_string()),
            (KeyType::String, DataType::Utf8View) => KeyColumn::Utf8View(array.as_string_view()),
            (KeyType::ByteArray, DataType::Binary) => KeyColumn::Binary(array.as_binary()),
            (KeyType::ByteArray, DataType::LargeBinary) => KeyColumn::LargeBinary(array.as_binary()),
            (KeyType::ByteArray, DataType::BinaryView) => KeyColumn::BinaryView(array.as_binary_view()),
            (expected, actual) => {
                return Err(RoutingError::WrongType { column: column.to_string(), expected, actual: actual.clone() });
            }
        })
    }

    #[inline]
    pub fn get(&self, row: usize) -> KeyRef<'a> {
        match self {
            KeyColumn::Int(a) => KeyRef::Int(a.value(row)),
            KeyColumn::Long(a) => KeyRef::Long(a.value(row)),
            KeyColumn::Utf8(a) => KeyRef::String(a.value(row)),
            KeyColumn::LargeUtf8(a) => KeyRef::String(a.value(row)),
            KeyColumn::Utf8View(a) => KeyRef::String(a.value(row)),
            KeyColumn::Binary(a) => KeyRef::Bytes(a.value(row)),
            KeyColumn::LargeBinary(a) => KeyRef::Bytes(a.value(row)),
            KeyColumn::BinaryView(a) => KeyRef::Bytes(a.value(row)),
        }
    }
}

/// Routes batches of rows to leaf indices (see [`PartitionTree::leaves`]) for one tree.
///
/// Descent costs one comparison per tree level, each an unpredictable branch. For the common
/// table, one string row key split at ASCII points, the router instead binary-searches the
/// split points' first 8 bytes as integers (branch-free selects), comparing whole strings only
/// when those 8 bytes tie. ASCII split points keep that exact in Java's order: byte order and
/// UTF-16 order differ only where both strings hold bytes of 0xEE or more at the first
/// difference. With many split points, a table indexed by a key's first two bytes first narrows
/// the search to the points that share them: a few steps instead of one per level of a
/// 10,000-leaf tree, each of which missed the cache.
#[derive(Debug)]
pub struct Router {
    tree: std::sync::Arc<PartitionTree>,
    ascii_cuts: Option<AsciiCuts>,
}

#[derive(Debug)]
struct AsciiCuts {
    prefixes: Vec<u64>,
    points: Vec<String>,
    /// The leaf of each interval: `points.len() + 1` of them.
    leaves: Vec<u32>,
    /// For each value `t` of a key's first two bytes, and one past the last: how many points
    /// begin below `t` (zero-padded, as in [`byte_prefix`]). Built for many points only.
    by_first_two_bytes: Option<Vec<u32>>,
}

/// From how many split points the router indexes them by their first two bytes (a table of
/// 256 KiB): below it, the binary search stays within a few cache lines anyway.
const INDEXED_POINTS: usize = 64;

/// The first two bytes of a key, zero-padded, from its [`byte_prefix`].
#[inline]
fn first_two_bytes(prefix: u64) -> usize {
    (prefix >> 48) as usize
}

impl AsciiCuts {
    fn new(tree: &PartitionTree) -> Option<Self> {
        // A tree without cuts has no points to tell the key's type by.
        if tree.row_keys().first().map(|k| k.key_type) != Some(KeyType::String) {
            return None;
        }
        let (bounds, leaves) = tree.leaves_in_key_order()?;
        let points = bounds
            .into_iter()
            .map(|b| match b {
                KeyValue::String(s) if s.is_ascii() => Some(s.clone()),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()?;
        let prefixes: Vec<u64> = points.iter().map(|p| byte_prefix(p.as_bytes())).collect();
        let by_first_two_bytes = (prefixes.len() >= INDEXED_POINTS).then(|| {
            // Prefixes are in increasing order, so each table entry is a partition point.
            let mut below = vec![0u32; (1 << 16) + 1];
            let mut point = 0;
            for (t, entry) in below.iter_mut().enumerate() {
                while point < prefixes.len() && first_two_bytes(prefixes[point]) < t {
                    point += 1;
                }
                *entry = point as u32;
            }
            below
        });
        Some(AsciiCuts { prefixes, points, leaves, by_first_two_bytes })
    }

    /// The leaf of `key`: the interval after the last split point at or below it.
    #[inline]
    fn leaf_of(&self, key: &str) -> u32 {
        let prefix = byte_prefix(key.as_bytes());
        // Points whose first two bytes are below the key's are below it, those above are above it.
        let (mut low, mut size) = match &self.by_first_two_bytes {
            Some(below) => {
                let t = first_two_bytes(prefix);
                (below[t] as usize, (below[t + 1] - below[t]) as usize)
            }
            None => (0, self.prefixes.len()),
        };
        while size > 0 {
            let half = size / 2;
            let mid = low + half;
            let point = self.prefixes[mid];
            let at_or_below = if point == prefix { java_string_cmp(&self.points[mid], key).is_le() } else { point < prefix };
            low = if at_or_below { mid + 1 } else { low };
            size = if at_or_below { size - half - 1 } else { half };
        }
        self.leaves[low]
    }
}

impl Router {
    pub fn new(tree: std::sync::Arc<PartitionTree>) -> Self {
        let ascii_cuts = AsciiCuts::new(&tree);
        Router { tree, ascii_cuts }
    }

    pub fn tree(&self) -> &std::sync::Arc<PartitionTree> {
        &self.tree
    }

    /// The leaf index of every row, given the row-key columns in schema order.
    pub fn leaf_indices(&self, key_columns: &[ArrayRef]) -> Result<UInt32Array, RoutingError> {
        let fields = self.tree.row_keys();
        let columns =
            key_columns.iter().zip(fields).map(|(array, field)| KeyColumn::new(array, field.key_type, &field.name)).collect::<Result<Vec<_>, _>>()?;
        for (array, field) in key_columns.iter().zip(fields) {
            if let Some(row) = array.logical_nulls().and_then(|n| (0..n.len()).find(|&i| n.is_null(i))) {
                return Err(RoutingError::NullKey { column: field.name.clone(), row });
            }
        }
        let rows = key_columns.first().map_or(0, arrow::array::Array::len);
        if let (Some(cuts), [column]) = (&self.ascii_cuts, &columns[..]) {
            let mut leaves = Vec::with_capacity(rows);
            for row in 0..rows {
                let KeyRef::String(key) = column.get(row) else {
                    return Err(RoutingError::WrongType {
                        column: fields[0].name.clone(),
                        expected: KeyType::String,
                        actual: key_columns[0].data_type().clone(),
                    });
                };
                leaves.push(cuts.leaf_of(key));
            }
            return Ok(UInt32Array::from(leaves));
        }
        let leaves = (0..rows)
            .map(|row| self.tree.leaf_index_by(|dimension| columns[dimension].get(row)).ok_or(RoutingError::Uncovered { row }))
            .collect::<Result<Vec<u32>, _>>()?;
        Ok(UInt32Array::from(leaves))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::schema::KeyField;

    /// Many ASCII split points, most sharing their first two bytes with others and some shorter
    /// than two bytes: the indexed search routes every key where descent of the tree does.
    #[test]
    fn indexed_routing_agrees_with_descent() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(11);
        let alphabet = ['a', 'b', 'c', '0', '~', '\u{1}'];
        let word = |rng: &mut StdRng, max_len: u32| -> String {
            let len = 1 + rng.next_u32() % max_len;
            (0..len).map(|_| alphabet[rng.next_u32() as usize % alphabet.len()]).collect()
        };
        let mut points: Vec<String> = (0..3000).map(|_| word(&mut rng, 6)).collect();
        points.sort();
        points.dedup();
        let field = KeyField { name: "k".into(), key_type: KeyType::String };
        let values: Vec<KeyValue> = points.iter().map(|p| KeyValue::String(p.clone())).collect();
        let tree = Arc::new(PartitionTree::from_split_points(std::slice::from_ref(&field), &values).unwrap());
        let router = Router::new(tree.clone());
        assert!(router.ascii_cuts.as_ref().is_some_and(|c| c.by_first_two_bytes.is_some()), "{} points are indexed", points.len());

        let mut keys: Vec<String> = (0..20_000).map(|_| word(&mut rng, 9)).collect();
        keys.extend(points.iter().cloned());
        keys.extend(points.iter().map(|p| format!("{p}\u{0}")));
        keys.extend(["", "\u{0}", "a\u{0}", "é", "aé", "~~~~~~~~~~", "\u{10000}", "b\u{ffff}"].map(String::from));
        let column: ArrayRef = Arc::new(StringArray::from(keys.clone()));
        let routed = router.leaf_indices(&[column]).unwrap();
        for (key, leaf) in keys.iter().zip(routed.values()) {
            assert_eq!(Some(*leaf), tree.leaf_index_by(|_| KeyRef::String(key)), "key {key:?}");
        }
    }

    /// A tree without cuts must not take the string fast path whatever its key type.
    #[test]
    fn a_single_leaf_routes_keys_of_every_type() {
        let keys: [(KeyType, ArrayRef); 4] = [
            (KeyType::Int, Arc::new(Int32Array::from(vec![3, -1]))),
            (KeyType::Long, Arc::new(Int64Array::from(vec![3, -1]))),
            (KeyType::String, Arc::new(StringArray::from(vec!["b", "a"]))),
            (KeyType::ByteArray, Arc::new(BinaryArray::from(vec![&b"b"[..], &b"a"[..]]))),
        ];
        for (key_type, column) in keys {
            let tree = PartitionTree::single_leaf(&[KeyField { name: "k".into(), key_type }]);
            let leaves = Router::new(Arc::new(tree)).leaf_indices(&[column]).unwrap();
            assert_eq!(leaves.values().to_vec(), vec![0, 0], "{key_type}");
        }
    }
}
