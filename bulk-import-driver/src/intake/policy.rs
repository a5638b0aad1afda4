//! What a job service lets its callers import. `bulk-import run` is the user's own process and
//! trusts its user; a service reads with its own rights on behalf of anyone who can reach it, so
//! it admits only input under the sources its operator allowed, and only so many files.

use std::path::{Path, PathBuf};

use bulk_import_core::store::Location;

/// The limits a job's input must keep within.
#[derive(Debug, Clone, Default)]
pub struct IntakePolicy {
    pub allowed_sources: AllowedSources,
    /// The most input files a job may name, after directories are expanded.
    pub max_input_files: Option<usize>,
}

/// Where input may come from.
#[derive(Debug, Clone, Default)]
pub enum AllowedSources {
    /// Anywhere this process can read.
    #[default]
    Any,
    /// Only under these prefixes.
    Only(Vec<SourcePrefix>),
}

/// One allowed source: a local directory (held canonical, so that `..` and symlinks in a job's
/// paths are judged by where they lead) or an object store URL prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePrefix {
    Local(PathBuf),
    Url(String),
}

impl SourcePrefix {
    /// Parses `s3://bucket/prefix/`, `file:///dir/` or `/dir/`. A local directory must exist.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("file://") {
            return Self::parse(path);
        }
        if text.contains("://") {
            let url = url::Url::parse(text).map_err(|e| format!("{text}: {e}"))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("{text}: name a bucket"));
            }
            if text.split('/').any(|segment| segment == "..") {
                return Err(format!("{text}: a source may not hold \"..\""));
            }
            // A source is a directory: `s3://data/in` must not admit `s3://data/in-secret/`. The
            // scheme is the one input paths resolve to (`s3a://` is read as `s3://`).
            let scheme = if url.scheme() == "s3a" { "s3" } else { url.scheme() };
            let path = url.path().trim_end_matches('/');
            let prefix = format!("{scheme}://{}{path}/", url.host_str().unwrap_or_default());
            return Ok(SourcePrefix::Url(prefix));
        }
        let path = Path::new(text);
        if !path.is_absolute() {
            return Err(format!("{text}: a local source must be an absolute path"));
        }
        let canonical = path.canonicalize().map_err(|e| format!("{text}: {e}"))?;
        Ok(SourcePrefix::Local(canonical))
    }

    fn holds(&self, source: &Source) -> bool {
        match (self, source) {
            (SourcePrefix::Local(dir), Source::Local(path)) => path.starts_with(dir),
            (SourcePrefix::Url(prefix), Source::Url(url)) => url.starts_with(prefix.as_str()),
            _ => false,
        }
    }
}

/// Where a location really is: a local path with `..` and symlinks resolved, or a URL.
enum Source {
    Local(PathBuf),
    Url(String),
}

impl Source {
    fn of(location: &Location) -> Self {
        if location.store_url.as_str().starts_with("file") {
            let lexical = PathBuf::from(format!("/{}", location.path));
            // A path that does not exist is judged as written; it is refused later as missing.
            Source::Local(lexical.canonicalize().unwrap_or(lexical))
        } else {
            Source::Url(location.url())
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Local(path) => path.display().to_string(),
            Source::Url(url) => url.clone(),
        }
    }
}

impl AllowedSources {
    /// The allowed local directories; `None` when any source is allowed.
    pub fn local_dirs(&self) -> Option<Vec<PathBuf>> {
        let AllowedSources::Only(prefixes) = self else { return None };
        Some(prefixes.iter().filter_map(|p| if let SourcePrefix::Local(dir) = p { Some(dir.clone()) } else { None }).collect())
    }

    /// `Ok` if the location is under an allowed source; otherwise where it really leads.
    pub fn check(&self, location: &Location) -> Result<(), String> {
        let AllowedSources::Only(prefixes) = self else { return Ok(()) };
        let source = Source::of(location);
        if prefixes.iter().any(|prefix| prefix.holds(&source)) { Ok(()) } else { Err(source.describe()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulk_import_core::store::ObjectStores;

    fn location(stores: &ObjectStores, url: &str) -> Location {
        stores.resolve(url).unwrap()
    }

    #[test]
    fn local_sources_are_judged_by_where_paths_lead() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("in");
        let outside = dir.path().join("secret");
        std::fs::create_dir_all(allowed.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("a.parquet"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.join("a.parquet"), allowed.join("link.parquet")).unwrap();
        let sources = AllowedSources::Only(vec![SourcePrefix::parse(allowed.to_str().unwrap()).unwrap()]);
        let stores = ObjectStores::default();
        let inside = format!("{}/sub/x.parquet", allowed.display());
        assert!(sources.check(&location(&stores, &inside)).is_ok());
        // A sibling whose name starts like the allowed directory is not inside it.
        let sibling = format!("{}-other/x.parquet", allowed.display());
        assert!(sources.check(&location(&stores, &sibling)).is_err());
        // A symlink inside that leads outside is refused, naming where it leads.
        let link = format!("{}/link.parquet", allowed.display());
        let refused = sources.check(&location(&stores, &link)).unwrap_err();
        assert!(refused.ends_with("secret/a.parquet"), "{refused}");
        assert!(sources.check(&location(&stores, "/etc/passwd")).is_err());
        assert!(sources.check(&location(&stores, "s3://bucket/x.parquet")).is_err());
        assert!(AllowedSources::Any.check(&location(&stores, "/etc/passwd")).is_ok());
    }

    #[test]
    fn url_sources_are_prefixes() {
        let stores = ObjectStores::default();
        let sources = AllowedSources::Only(vec![SourcePrefix::parse("s3://data/in").unwrap(), SourcePrefix::parse("s3a://whole").unwrap()]);
        assert!(sources.check(&location(&stores, "s3://data/in/a.parquet")).is_ok());
        assert!(sources.check(&location(&stores, "s3://whole/any/b.parquet")).is_ok());
        assert!(sources.check(&location(&stores, "s3://data/other/a.parquet")).is_err());
        assert!(sources.check(&location(&stores, "s3://data/in-secret/a.parquet")).is_err());
        assert!(sources.check(&location(&stores, "s3://wholesale/a.parquet")).is_err());
        assert!(SourcePrefix::parse("s3://data/in/../x/").is_err());
        assert!(SourcePrefix::parse("relative/dir").is_err());
        assert!(SourcePrefix::parse("/no/such/directory/here").is_err());
    }
}
