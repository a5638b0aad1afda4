//! Incomplete multipart uploads: the parts of a data file whose writer died (or whose attempt
//! was given up) before completing it. They appear in no listing, and object_store cannot list
//! them, but S3 keeps and bills them until they are aborted. The seam is here, with the
//! attempt sweep that needs it; the S3 implementation lives with the AWS clients in the driver.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use crate::error::Result;
use crate::store::Location;

/// Finds and aborts a bucket's incomplete multipart uploads.
#[async_trait]
pub trait IncompleteUploads: std::fmt::Debug + Send + Sync {
    /// Aborts the incomplete uploads of exactly the objects `keys` of `bucket`, looking only
    /// under `prefix` (which every key starts with); returns how many were aborted. Uploads of
    /// other keys under the prefix, a live job's say, are left alone.
    async fn abort(&self, bucket: &str, prefix: &str, keys: &BTreeSet<String>) -> Result<usize>;
}

/// The keys of the S3 locations among `files`, by bucket.
pub fn s3_keys_by_bucket(files: &[Location]) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_bucket: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let url: &url::Url = file.store_url.as_ref();
        if matches!(url.scheme(), "s3" | "s3a")
            && let Some(bucket) = url.host_str()
        {
            by_bucket.entry(bucket.to_string()).or_default().insert(file.path.to_string());
        }
    }
    by_bucket
}

/// The longest prefix of every key that ends at a `/` (the directory they share), so that one
/// listing finds them all; empty when they share none.
pub fn shared_directory(keys: &BTreeSet<String>) -> &str {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else { return "" };
    // In sorted order, what the first and last share, every key between them shares.
    let common = first.bytes().zip(last.bytes()).take_while(|(a, b)| a == b).count();
    // By bytes: the keys may part in the middle of a character, but never in a `/`.
    first.as_bytes()[..common].iter().rposition(|b| *b == b'/').map_or("", |slash| &first[..=slash])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_shared_directory_ends_at_a_slash() {
        assert_eq!(shared_directory(&keys(&["t/data/p1/a.parquet", "t/data/p2/b.parquet", "t/data/p10/c.parquet"])), "t/data/");
        assert_eq!(shared_directory(&keys(&["t/data/p1/a.parquet"])), "t/data/p1/");
        assert_eq!(shared_directory(&keys(&["t/data/p1/ab.parquet", "t/data/p1/ac.parquet"])), "t/data/p1/");
        assert_eq!(shared_directory(&keys(&["a/x", "b/x"])), "");
        assert_eq!(shared_directory(&keys(&["é/ü/x", "é/ü/y"])), "é/ü/");
        assert_eq!(shared_directory(&keys(&["a/é", "a/è"])), "a/", "keys parting inside a character");
        assert_eq!(shared_directory(&BTreeSet::new()), "");
    }

    #[test]
    fn only_s3_locations_are_grouped_by_bucket() {
        let stores = crate::store::ObjectStores::with_s3(crate::store::S3Options { region: Some("eu-west-2".into()), ..Default::default() });
        let files: Vec<Location> = ["s3://b1/t/x.parquet", "s3://b2/t/y.parquet", "s3://b1/t/z.parquet", "/tmp/local.parquet"]
            .iter()
            .map(|u| stores.resolve(u).unwrap())
            .collect();
        let grouped = s3_keys_by_bucket(&files);
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped["b1"], keys(&["t/x.parquet", "t/z.parquet"]));
        assert_eq!(grouped["b2"], keys(&["t/y.parquet"]));
    }
}
