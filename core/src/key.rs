//! Row-key values and the order Sleeper routes by.
//!
//! Routing must reproduce Java's comparisons exactly, or rows land in a leaf where Sleeper's
//! queries will not look for them: strings compare as `String.compareTo` (UTF-16 code units) and
//! byte arrays compare as signed bytes. Neither is Arrow's order, which is used only for sorting
//! rows inside a file.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The types a row or sort key may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyType {
    #[serde(rename = "IntType")]
    Int,
    #[serde(rename = "LongType")]
    Long,
    #[serde(rename = "StringType")]
    String,
    #[serde(rename = "ByteArrayType")]
    ByteArray,
}

impl KeyType {
    /// Sleeper's name of the type, as in schema JSON.
    pub fn sleeper_name(self) -> &'static str {
        match self {
            KeyType::Int => "IntType",
            KeyType::Long => "LongType",
            KeyType::String => "StringType",
            KeyType::ByteArray => "ByteArrayType",
        }
    }

    /// The smallest value of the type: the `min` of a region that is unbounded below.
    pub fn minimum(self) -> KeyValue {
        match self {
            KeyType::Int => KeyValue::Int(i32::MIN),
            KeyType::Long => KeyValue::Long(i64::MIN),
            KeyType::String => KeyValue::String(String::new()),
            KeyType::ByteArray => KeyValue::Bytes(Vec::new()),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sleeper_name())
    }
}

/// One key value. Comparison ([`Ord`]) is Sleeper's Java order; values of different types
/// compare by type, which never happens for values of the same field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyValue {
    Int(i32),
    Long(i64),
    String(String),
    Bytes(Vec<u8>),
}

impl KeyValue {
    pub fn key_type(&self) -> KeyType {
        match self {
            KeyValue::Int(_) => KeyType::Int,
            KeyValue::Long(_) => KeyType::Long,
            KeyValue::String(_) => KeyType::String,
            KeyValue::Bytes(_) => KeyType::ByteArray,
        }
    }

    /// A borrowed view of the value, the form routing compares in.
    pub fn as_ref(&self) -> KeyRef<'_> {
        match self {
            KeyValue::Int(v) => KeyRef::Int(*v),
            KeyValue::Long(v) => KeyRef::Long(*v),
            KeyValue::String(v) => KeyRef::String(v),
            KeyValue::Bytes(v) => KeyRef::Bytes(v),
        }
    }
}

impl Ord for KeyValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_ref().cmp(&other.as_ref())
    }
}

impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::Int(v) => write!(f, "{v}"),
            KeyValue::Long(v) => write!(f, "{v}"),
            KeyValue::String(v) => write!(f, "{v:?}"),
            KeyValue::Bytes(v) => {
                f.write_str("0x")?;
                v.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// A borrowed key value, compared in Sleeper's Java order without copying column data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRef<'a> {
    Int(i32),
    Long(i64),
    String(&'a str),
    Bytes(&'a [u8]),
}

impl KeyRef<'_> {
    pub fn to_value(self) -> KeyValue {
        match self {
            KeyRef::Int(v) => KeyValue::Int(v),
            KeyRef::Long(v) => KeyValue::Long(v),
            KeyRef::String(v) => KeyValue::String(v.to_string()),
            KeyRef::Bytes(v) => KeyValue::Bytes(v.to_vec()),
        }
    }
}

impl Ord for KeyRef<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (KeyRef::Int(a), KeyRef::Int(b)) => a.cmp(b),
            (KeyRef::Long(a), KeyRef::Long(b)) => a.cmp(b),
            (KeyRef::String(a), KeyRef::String(b)) => java_string_cmp(a, b),
            (KeyRef::Bytes(a), KeyRef::Bytes(b)) => signed_bytes_cmp(a, b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl PartialOrd for KeyRef<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl KeyRef<'_> {
    fn rank(&self) -> u8 {
        match self {
            KeyRef::Int(_) => 0,
            KeyRef::Long(_) => 1,
            KeyRef::String(_) => 2,
            KeyRef::Bytes(_) => 3,
        }
    }
}

/// Java's `String.compareTo`: lexicographic over UTF-16 code units.
///
/// UTF-8 byte order equals code point order, which equals UTF-16 order except where a character
/// above U+FFFF (a surrogate pair, units 0xD800..0xDBFF first) meets one in U+E000..U+FFFF. At
/// the first differing byte, both bytes are lead bytes unless the characters share their lead
/// byte (then both are of one kind and byte order holds). Only lead bytes 0xEE..0xEF (U+E000..
/// U+FFFF) against 0xF0..0xF4 (above U+FFFF) order differently: there the longer character,
/// whose first UTF-16 unit is a surrogate, sorts first.
#[inline]
pub fn java_string_cmp(a: &str, b: &str) -> Ordering {
    java_utf8_cmp(a.as_bytes(), b.as_bytes())
}

/// [`java_string_cmp`] on the UTF-8 bytes of two strings, for holders of strings as bytes.
#[inline]
pub fn java_utf8_cmp(ab: &[u8], bb: &[u8]) -> Ordering {
    match first_difference(ab, bb) {
        None => ab.len().cmp(&bb.len()),
        Some(i) => {
            let (x, y) = (ab[i], bb[i]);
            if x >= 0xEE && y >= 0xEE && (x >= 0xF0) != (y >= 0xF0) { y.cmp(&x) } else { x.cmp(&y) }
        }
    }
}

/// The first 8 bytes of `bytes` as a big-endian number, zero-padded: when two prefixes differ,
/// they order their byte strings as the full bytes would (a shorter string that is a prefix of
/// the other pads with zeros and cannot compare greater).
#[inline]
pub fn byte_prefix(bytes: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    let n = bytes.len().min(8);
    head[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(head)
}

/// The first position at which `a` and `b` differ, within the shorter of the two; eight bytes
/// at a time, since routing compares every row's key with several split points.
#[inline]
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        let y = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if x != y {
            return Some(i + ((x ^ y).trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    (i..n).find(|&j| a[j] != b[j])
}

/// Lexicographic comparison of byte arrays as Java's signed bytes; a prefix sorts first.
pub fn signed_bytes_cmp(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = (*x as i8).cmp(&(*y as i8));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16_cmp(a: &str, b: &str) -> Ordering {
        a.encode_utf16().cmp(b.encode_utf16())
    }

    #[test]
    fn string_order_is_utf16_order() {
        let samples = [
            "",
            "a",
            "ab",
            "b",
            "\u{7f}",
            "\u{80}",
            "\u{7ff}",
            "\u{800}",
            "\u{d7ff}",
            "\u{e000}",
            "\u{fffd}",
            "\u{ffff}",
            "\u{10000}",
            "\u{1f600}",
            "\u{10ffff}",
            "a\u{1f600}",
            "a\u{ffff}",
            "\u{1f600}a",
            "\u{1f601}",
        ];
        // Behind prefixes of 0, 7, 8 and 17 bytes, so differences fall inside, at the edge of
        // and after the eight-byte steps of the comparison.
        let prefixed: Vec<String> =
            ["", "0123456", "01234567", "0123456789abcdef\u{e9}"].iter().flat_map(|p| samples.iter().map(move |s| format!("{p}{s}"))).collect();
        for a in &prefixed {
            for b in &prefixed {
                assert_eq!(java_string_cmp(a, b), utf16_cmp(a, b), "{a:?} vs {b:?}");
            }
        }
        // The case where UTF-8 byte order and Java's order disagree.
        assert_eq!(java_string_cmp("\u{1f600}", "\u{ffff}"), Ordering::Less);
        assert_eq!("\u{1f600}".cmp("\u{ffff}"), Ordering::Greater);
    }

    #[test]
    fn byte_arrays_compare_signed() {
        assert_eq!(signed_bytes_cmp(&[0x80], &[0x7f]), Ordering::Less);
        assert_eq!(signed_bytes_cmp(&[0xff], &[0x00]), Ordering::Less);
        assert_eq!(signed_bytes_cmp(&[0x01], &[0x01, 0x00]), Ordering::Less);
        assert_eq!(signed_bytes_cmp(&[], &[0x80]), Ordering::Less);
    }
}
