//! Sleeper's partition tree: key-range partitions, a balanced tree built from split points, and
//! the descent that finds a row's leaf exactly as Sleeper's `PartitionTree.getLeafPartition` does.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::key::{KeyRef, KeyValue};
use crate::schema::KeyField;

/// The range of one row-key field: `min` inclusive, `max` exclusive, no `max` meaning +infinity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub min: KeyValue,
    pub max: Option<KeyValue>,
}

impl KeyRange {
    pub fn contains(&self, key: KeyRef<'_>) -> bool {
        self.min.as_ref() <= key && self.max.as_ref().is_none_or(|max| key < max.as_ref())
    }
}

/// One range per row-key field, in schema order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub ranges: Vec<KeyRange>,
}

impl Region {
    /// The whole key space of the given row keys.
    pub fn everything(row_keys: &[KeyField]) -> Self {
        Region { ranges: row_keys.iter().map(|k| KeyRange { min: k.key_type.minimum(), max: None }).collect() }
    }

    pub fn contains(&self, key: &[KeyRef<'_>]) -> bool {
        self.ranges.iter().zip(key).all(|(range, value)| range.contains(*value))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub id: String,
    pub is_leaf: bool,
    pub parent_id: Option<String>,
    pub child_ids: Vec<String>,
    pub region: Region,
    /// The row-key dimension this partition was split on; -1 for a leaf.
    pub dimension: i32,
}

/// A validated partition tree with an index for descent.
#[derive(Debug, Clone)]
pub struct PartitionTree {
    row_keys: Vec<KeyField>,
    partitions: Vec<Partition>,
    by_id: HashMap<String, usize>,
    root: usize,
    /// For each partition, the positions of its children.
    children: Vec<Vec<usize>>,
    /// Positions of the leaves; a leaf's index in this list is its leaf index.
    leaves: Vec<usize>,
    /// For each partition, how descent leaves it (see [`Step`]).
    steps: Vec<Step>,
    /// Whether the root's region is smaller than the whole key space, so that a key may fall
    /// outside every partition.
    root_bounded: bool,
}

/// How descent leaves a partition. Sleeper tests the key against each child's region in turn;
/// when the children are the two halves of their parent cut at one value of one dimension (every
/// tree Sleeper builds), a single comparison with that value gives the same answer. Routing
/// billions of rows makes that the difference between 8 comparisons per row and 32.
#[derive(Debug, Clone)]
enum Step {
    Leaf(u32),
    Cut {
        dimension: usize,
        at: KeyValue,
        below: usize,
        from: usize,
    },
    /// Children of any other shape: test each child's region, as Sleeper does.
    Search,
}

impl PartitionTree {
    /// A tree holding one root partition that is a leaf.
    pub fn single_leaf(row_keys: &[KeyField]) -> Self {
        Self::from_split_points(row_keys, &[]).expect("no split points is always valid")
    }

    /// A balanced tree whose leaves are split on the first row key at the given points, built as
    /// Sleeper's `PartitionsFromSplitPoints` does: leaves from the split points, then each level
    /// pairs neighbours under a new parent until one root remains.
    pub fn from_split_points(row_keys: &[KeyField], split_points: &[KeyValue]) -> Result<Self> {
        let first = row_keys.first().ok_or_else(|| Error::InvalidSplitPoints("no row keys".into()))?;
        for point in split_points {
            if point.key_type() != first.key_type {
                return Err(Error::InvalidSplitPoints(format!("split point {point} is not of the first row key's type {}", first.key_type)));
            }
        }
        for pair in split_points.windows(2) {
            if pair[0] >= pair[1] {
                return Err(Error::InvalidSplitPoints(format!(
                    "split points must be strictly increasing, but {} is followed by {}",
                    pair[0], pair[1]
                )));
            }
        }
        Self::new(row_keys.to_vec(), balanced_subtree(&Region::everything(row_keys), split_points, "root", None))
    }

    /// The partitions that split leaf `leaf_id` at `points` (strictly increasing values of the
    /// first row key, strictly inside the leaf's range of it): the leaf, updated to be the root of
    /// a balanced subtree, and the subtree's new partitions. Sleeper's `ExtendPartitionTree`
    /// transaction carries the two lists.
    pub fn split_leaf(&self, leaf_id: &str, points: &[KeyValue]) -> Result<(Partition, Vec<Partition>)> {
        let invalid = |m: String| Error::InvalidSplitPoints(m);
        let leaf = self.get(leaf_id).filter(|p| p.is_leaf).ok_or_else(|| Error::NotALeafPartition(leaf_id.to_string()))?;
        let range = &leaf.region.ranges[0];
        let [first_key, ..] = self.row_keys.as_slice() else { return Err(invalid("no row keys".into())) };
        for point in points {
            if point.key_type() != first_key.key_type || !range.contains(point.as_ref()) || *point == range.min {
                return Err(invalid(format!("split point {point} is not strictly inside partition {leaf_id:?}")));
            }
        }
        if let Some([before, after]) = points.windows(2).find(|pair| pair[0] >= pair[1]) {
            return Err(invalid(format!("split points must be strictly increasing, but {before} is followed by {after}")));
        }
        let mut subtree = balanced_subtree(&leaf.region, points, leaf_id, leaf.parent_id.clone());
        let at = subtree.iter().position(|p| p.id == leaf_id).expect("the subtree's root is the leaf");
        let updated = subtree.swap_remove(at);
        Ok((updated, subtree))
    }

    /// Validates a set of partitions (as loaded from Sleeper's JSON) and indexes it.
    pub fn new(row_keys: Vec<KeyField>, partitions: Vec<Partition>) -> Result<Self> {
        let invalid = |m: String| Error::InvalidPartitions(m);
        let mut by_id = HashMap::with_capacity(partitions.len());
        for (i, p) in partitions.iter().enumerate() {
            if by_id.insert(p.id.clone(), i).is_some() {
                return Err(invalid(format!("partition id {:?} appears twice", p.id)));
            }
            if p.region.ranges.len() != row_keys.len() {
                return Err(invalid(format!("partition {:?} has {} ranges for {} row keys", p.id, p.region.ranges.len(), row_keys.len())));
            }
            for (range, key) in p.region.ranges.iter().zip(&row_keys) {
                let types_match = range.min.key_type() == key.key_type && range.max.as_ref().is_none_or(|m| m.key_type() == key.key_type);
                if !types_match {
                    return Err(invalid(format!("partition {:?}: range of {:?} is not of type {}", p.id, key.name, key.key_type)));
                }
                if range.max.as_ref().is_some_and(|max| *max <= range.min) {
                    return Err(invalid(format!("partition {:?}: range of {:?} is empty", p.id, key.name)));
                }
            }
        }
        let roots: Vec<usize> = (0..partitions.len()).filter(|&i| partitions[i].parent_id.is_none()).collect();
        let [root] = roots[..] else {
            return Err(invalid(format!("expected exactly one root partition, found {}", roots.len())));
        };
        let mut children = vec![Vec::new(); partitions.len()];
        for (i, p) in partitions.iter().enumerate() {
            if p.is_leaf != p.child_ids.is_empty() {
                return Err(invalid(format!("partition {:?}: a partition is a leaf exactly when it has no children", p.id)));
            }
            for child_id in &p.child_ids {
                let &child = by_id.get(child_id).ok_or_else(|| invalid(format!("partition {:?} names unknown child {child_id:?}", p.id)))?;
                if partitions[child].parent_id.as_deref() != Some(p.id.as_str()) {
                    return Err(invalid(format!("partition {child_id:?} does not name {:?} as its parent", p.id)));
                }
                children[i].push(child);
            }
        }
        // Every partition must be reachable from the root, or the parent links form a cycle.
        let mut seen = vec![false; partitions.len()];
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                return Err(invalid(format!("partition {:?} is reached twice", partitions[i].id)));
            }
            stack.extend(&children[i]);
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(invalid(format!("partition {:?} is not reachable from the root", partitions[i].id)));
        }
        let leaves: Vec<usize> = (0..partitions.len()).filter(|&i| partitions[i].is_leaf).collect();
        let mut leaf_index = vec![None; partitions.len()];
        for (n, &i) in leaves.iter().enumerate() {
            leaf_index[i] = Some(n as u32);
        }
        let steps = (0..partitions.len()).map(|i| step(&partitions, i, &children[i], leaf_index[i])).collect();
        let root_bounded = partitions[root].region != Region::everything(&row_keys);
        Ok(PartitionTree { row_keys, partitions, by_id, root, children, leaves, steps, root_bounded })
    }

    pub fn row_keys(&self) -> &[KeyField] {
        &self.row_keys
    }

    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    pub fn root(&self) -> &Partition {
        &self.partitions[self.root]
    }

    pub fn get(&self, id: &str) -> Option<&Partition> {
        self.by_id.get(id).map(|&i| &self.partitions[i])
    }

    /// The leaves, in leaf-index order.
    pub fn leaves(&self) -> impl Iterator<Item = &Partition> {
        self.leaves.iter().map(|&i| &self.partitions[i])
    }

    /// The leaves in the order of a depth-first walk taking children as listed: key order for
    /// Sleeper's trees, whose children are listed low range first. For showing leaves to people.
    pub fn leaves_depth_first(&self) -> Vec<&Partition> {
        let mut leaves = Vec::with_capacity(self.leaves.len());
        let mut pending = vec![self.root()];
        while let Some(partition) = pending.pop() {
            if partition.child_ids.is_empty() {
                leaves.push(partition);
            } else {
                pending.extend(partition.child_ids.iter().rev().filter_map(|id| self.get(id)));
            }
        }
        leaves
    }

    pub fn leaf_count(&self) -> usize {
        self.leaves.len()
    }

    /// The leaf index of the leaf holding `key` (one value per row key), found by descending
    /// from the root into the child whose region holds the key, as Sleeper does. `None` only
    /// for a key outside the root's region or a tree whose children do not cover their parent.
    pub fn leaf_index_of(&self, key: &[KeyRef<'_>]) -> Option<u32> {
        self.leaf_index_by(|dimension| key[dimension])
    }

    /// As [`Self::leaf_index_of`], reading the key's value in each dimension from `key` as
    /// descent needs it, so callers routing columns need not gather each row's key first.
    #[inline]
    pub fn leaf_index_by<'k>(&self, key: impl Fn(usize) -> KeyRef<'k>) -> Option<u32> {
        let contains = |node: usize| self.partitions[node].region.ranges.iter().enumerate().all(|(d, r)| r.contains(key(d)));
        let mut node = self.root;
        if self.root_bounded && !contains(node) {
            return None;
        }
        loop {
            node = match &self.steps[node] {
                Step::Leaf(leaf) => return Some(*leaf),
                Step::Cut { dimension, at, below, from } => {
                    if key(*dimension) < at.as_ref() {
                        *below
                    } else {
                        *from
                    }
                }
                Step::Search => *self.children[node].iter().find(|&&c| contains(c))?,
            };
        }
    }

    /// For a tree of one row key in which every parent is cut into two halves (so descent
    /// always ends in the leaf whose range holds the key): the cut values in increasing order,
    /// and the leaf index of each interval they make (one more than the cuts), read from the
    /// same steps descent takes, in order. The leaf of a key is then the interval holding it.
    pub fn leaves_in_key_order(&self) -> Option<(Vec<&KeyValue>, Vec<u32>)> {
        enum Visit<'a> {
            Node(usize),
            Cut(&'a KeyValue),
        }
        if self.row_keys.len() != 1 || self.root_bounded {
            return None;
        }
        let (mut cuts, mut leaves) = (Vec::new(), Vec::new());
        let mut pending = vec![Visit::Node(self.root)];
        while let Some(visit) = pending.pop() {
            match visit {
                Visit::Cut(at) => cuts.push(at),
                Visit::Node(node) => match &self.steps[node] {
                    Step::Leaf(leaf) => leaves.push(*leaf),
                    Step::Cut { at, below, from, .. } => pending.extend([Visit::Node(*from), Visit::Cut(at), Visit::Node(*below)]),
                    Step::Search => return None,
                },
            }
        }
        Some((cuts, leaves))
    }

    pub fn leaf_of(&self, key: &[KeyRef<'_>]) -> Option<&Partition> {
        self.leaf_index_of(key).map(|i| &self.partitions[self.leaves[i as usize]])
    }
}

/// How descent leaves partition `i` (see [`Step`]).
fn step(partitions: &[Partition], i: usize, children: &[usize], leaf_index: Option<u32>) -> Step {
    if let Some(leaf) = leaf_index {
        return Step::Leaf(leaf);
    }
    let [a, b] = children[..] else {
        return Step::Search;
    };
    let parent = &partitions[i].region.ranges;
    let (ra, rb) = (&partitions[a].region.ranges, &partitions[b].region.ranges);
    let differing: Vec<usize> = (0..parent.len()).filter(|&d| ra[d] != parent[d] || rb[d] != parent[d]).collect();
    let [dimension] = differing[..] else {
        return Step::Search;
    };
    let halves = |low: &KeyRange, high: &KeyRange| {
        let whole = &parent[dimension];
        low.min == whole.min && high.max == whole.max && low.max.as_ref() == Some(&high.min)
    };
    if halves(&ra[dimension], &rb[dimension]) {
        Step::Cut { dimension, at: rb[dimension].min.clone(), below: a, from: b }
    } else if halves(&rb[dimension], &ra[dimension]) {
        Step::Cut { dimension, at: ra[dimension].min.clone(), below: b, from: a }
    } else {
        Step::Search
    }
}

/// A balanced tree over `whole`, cut on the first row key at `points`, built as Sleeper's
/// `PartitionsFromSplitPoints` does: leaves from the points, then each level pairs neighbours
/// under a new parent until one remains, which takes `root_id` and `root_parent`.
fn balanced_subtree(whole: &Region, points: &[KeyValue], root_id: &str, root_parent: Option<String>) -> Vec<Partition> {
    let region_between = |min: Option<&KeyValue>, max: Option<&KeyValue>| {
        let mut region = whole.clone();
        if let Some(min) = min {
            region.ranges[0].min = min.clone();
        }
        region.ranges[0].max = max.or(whole.ranges[0].max.as_ref()).cloned();
        region
    };
    let mut partitions = Vec::new();
    let mut level: Vec<usize> = Vec::new();
    for i in 0..=points.len() {
        let min = if i == 0 { None } else { Some(&points[i - 1]) };
        partitions.push(Partition {
            id: uuid::Uuid::new_v4().to_string(),
            is_leaf: true,
            parent_id: None,
            child_ids: Vec::new(),
            region: region_between(min, points.get(i)),
            dimension: -1,
        });
        level.push(i);
    }
    while level.len() > 1 {
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            if let [left, right] = *pair {
                let region = region_between(Some(&partitions[left].region.ranges[0].min), partitions[right].region.ranges[0].max.as_ref());
                let parent = Partition {
                    id: uuid::Uuid::new_v4().to_string(),
                    is_leaf: false,
                    parent_id: None,
                    child_ids: vec![partitions[left].id.clone(), partitions[right].id.clone()],
                    region,
                    dimension: 0,
                };
                let parent_pos = partitions.len();
                partitions[left].parent_id = Some(parent.id.clone());
                partitions[right].parent_id = Some(parent.id.clone());
                partitions.push(parent);
                next.push(parent_pos);
            } else {
                next.push(pair[0]);
            }
        }
        level = next;
    }
    let root = level[0];
    let generated_id = std::mem::replace(&mut partitions[root].id, root_id.to_string());
    partitions[root].parent_id = root_parent;
    for p in &mut partitions {
        if p.parent_id.as_deref() == Some(generated_id.as_str()) {
            p.parent_id = Some(root_id.to_string());
        }
    }
    partitions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyType;

    fn string_key() -> Vec<KeyField> {
        vec![KeyField { name: "key".into(), key_type: KeyType::String }]
    }

    #[test]
    fn balanced_tree_from_split_points_routes_to_ranges() {
        let points: Vec<KeyValue> = ["b", "d", "f", "h", "j"].iter().map(|s| KeyValue::String(s.to_string())).collect();
        let tree = PartitionTree::from_split_points(&string_key(), &points).unwrap();
        assert_eq!(tree.leaf_count(), 6);
        assert_eq!(tree.root().id, "root");
        for (key, min) in [("", ""), ("a", ""), ("b", "b"), ("c", "b"), ("i", "h"), ("j", "j"), ("zzz", "j")] {
            let leaf = tree.leaf_of(&[KeyRef::String(key)]).unwrap();
            assert_eq!(leaf.region.ranges[0].min, KeyValue::String(min.into()), "key {key:?}");
        }
        // Depth of a balanced tree of 6 leaves is 3.
        let depth = |leaf: &Partition| {
            let (mut d, mut parent) = (0, leaf.parent_id.clone());
            while let Some(id) = parent {
                parent = tree.get(&id).unwrap().parent_id.clone();
                d += 1;
            }
            d
        };
        assert!(tree.leaves().all(|l| depth(l) <= 3));
    }

    #[test]
    fn depth_first_leaves_are_in_key_order() {
        let points: Vec<KeyValue> = ["b", "d", "f", "h", "j"].iter().map(|s| KeyValue::String(s.to_string())).collect();
        let tree = PartitionTree::from_split_points(&string_key(), &points).unwrap();
        let mins: Vec<String> = tree.leaves_depth_first().iter().map(|l| l.region.ranges[0].min.to_string()).collect();
        let sorted = {
            let mut m = mins.clone();
            m.sort();
            m
        };
        assert_eq!(mins.len(), 6);
        assert_eq!(mins, sorted);
    }

    #[test]
    fn rejects_unordered_or_mistyped_split_points() {
        let s = |v: &str| KeyValue::String(v.into());
        assert!(PartitionTree::from_split_points(&string_key(), &[s("b"), s("b")]).is_err());
        assert!(PartitionTree::from_split_points(&string_key(), &[s("c"), s("b")]).is_err());
        assert!(PartitionTree::from_split_points(&string_key(), &[KeyValue::Long(1)]).is_err());
    }

    #[test]
    fn children_not_cut_in_two_are_searched_as_sleeper_does() {
        let s = |v: &str| KeyValue::String(v.into());
        let range = |min: &str, max: Option<&str>| Region { ranges: vec![KeyRange { min: s(min), max: max.map(s) }] };
        let node = |id: &str, parent: Option<&str>, children: &[&str], region: Region| Partition {
            id: id.into(),
            is_leaf: children.is_empty(),
            parent_id: parent.map(str::to_string),
            child_ids: children.iter().map(std::string::ToString::to_string).collect(),
            region,
            dimension: if children.is_empty() { -1 } else { 0 },
        };
        let tree = PartitionTree::new(
            string_key(),
            vec![
                node("root", None, &["a", "b", "c"], range("", None)),
                node("a", Some("root"), &[], range("", Some("f"))),
                node("b", Some("root"), &[], range("f", Some("p"))),
                node("c", Some("root"), &[], range("p", None)),
            ],
        )
        .unwrap();
        for (key, leaf) in [("", "a"), ("e", "a"), ("f", "b"), ("ozz", "b"), ("p", "c"), ("zzz", "c")] {
            assert_eq!(tree.leaf_of(&[KeyRef::String(key)]).unwrap().id, leaf, "key {key:?}");
        }
    }

    #[test]
    fn a_key_outside_a_bounded_root_has_no_leaf() {
        let s = |v: &str| KeyValue::String(v.into());
        let leaf = Partition {
            id: "root".into(),
            is_leaf: true,
            parent_id: None,
            child_ids: vec![],
            region: Region { ranges: vec![KeyRange { min: s("m"), max: None }] },
            dimension: -1,
        };
        let tree = PartitionTree::new(string_key(), vec![leaf]).unwrap();
        assert!(tree.leaf_of(&[KeyRef::String("a")]).is_none());
        assert_eq!(tree.leaf_of(&[KeyRef::String("m")]).unwrap().id, "root");
    }
}
