//! Split points files: values of the first row key, one per line, strictly increasing. Strings
//! are plain text or, when asked, base64; byte arrays are always base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::{Error, Result};
use crate::key::{KeyType, KeyValue};

/// Parses a split points file's text for a first row key of `key_type`.
pub fn parse_split_points(text: &str, key_type: KeyType, strings_base64: bool) -> Result<Vec<KeyValue>> {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            parse_one(line, key_type, strings_base64).map_err(|reason| Error::InvalidSplitPoints(format!("line {}: {reason}", i + 1)))
        })
        .collect()
}

fn parse_one(line: &str, key_type: KeyType, strings_base64: bool) -> std::result::Result<KeyValue, String> {
    if line.is_empty() {
        return Err("empty line".into());
    }
    let base64 = |s: &str| BASE64.decode(s.trim()).map_err(|e| format!("{s:?} is not base64: {e}"));
    match key_type {
        KeyType::Int => line.trim().parse().map(KeyValue::Int).map_err(|_| format!("{line:?} is not an IntType value")),
        KeyType::Long => line.trim().parse().map(KeyValue::Long).map_err(|_| format!("{line:?} is not a LongType value")),
        KeyType::String if strings_base64 => {
            String::from_utf8(base64(line)?).map(KeyValue::String).map_err(|_| format!("{line:?} does not decode to UTF-8"))
        }
        KeyType::String => Ok(KeyValue::String(line.to_string())),
        KeyType::ByteArray => base64(line).map(KeyValue::Bytes),
    }
}

/// Writes split points in the file format [`parse_split_points`] reads, strings as plain text.
pub fn format_split_points(points: &[KeyValue]) -> String {
    points
        .iter()
        .map(|p| match p {
            KeyValue::Int(v) => format!("{v}\n"),
            KeyValue::Long(v) => format!("{v}\n"),
            KeyValue::String(v) => format!("{v}\n"),
            KeyValue::Bytes(v) => format!("{}\n", BASE64.encode(v)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_type() {
        assert_eq!(parse_split_points("1\n20\n", KeyType::Long, false).unwrap(), vec![KeyValue::Long(1), KeyValue::Long(20)]);
        assert_eq!(parse_split_points("aGk=\n", KeyType::String, true).unwrap(), vec![KeyValue::String("hi".into())]);
        assert_eq!(parse_split_points("aGk=\n", KeyType::String, false).unwrap(), vec![KeyValue::String("aGk=".into())]);
        assert_eq!(parse_split_points("gA==\n", KeyType::ByteArray, false).unwrap(), vec![KeyValue::Bytes(vec![0x80])]);
    }

    #[test]
    fn reports_the_bad_line() {
        let err = parse_split_points("1\nx\n", KeyType::Int, false).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(parse_split_points("3000000000\n", KeyType::Int, false).is_err());
        assert!(parse_split_points("a\n\nb\n", KeyType::String, false).is_err());
        assert!(parse_split_points("not base64!\n", KeyType::ByteArray, false).is_err());
    }
}
