//! Validation of a job's input files: every path expands (directories recursively, keeping
//! `*.parquet`) to at least one file, and every file is Parquet with the table's key fields, of
//! the right types and without nulls. Every problem is reported, not just the first.

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema as ArrowSchema};
use bulk_import_core::schema::{FieldType, NestedType, PrimitiveType, Schema};
use bulk_import_core::store::{Location, ObjectStores};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use parquet::arrow::ProjectionMask;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::file::metadata::ParquetMetaData;
use tokio_util::task::AbortOnDropHandle;

use super::footer::{FooterBudget, KEPT_FOOTER_BYTES, KeptFooter, reader};
use super::policy::{AllowedSources, IntakePolicy};
use super::rejection::RejectionReason;

/// How many files are inspected at once.
const CONCURRENCY: usize = 16;

/// One input file, checked.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub location: Location,
    pub size: u64,
    pub rows: u64,
    /// Its footer, for the scan, within the job's [`KEPT_FOOTER_BYTES`].
    pub footer: Option<KeptFooter>,
}

/// The rows of all the files, from their footers.
pub fn total_rows(files: &[InputFile]) -> u64 {
    files.iter().map(|f| f.rows).sum()
}

/// Expands every path and checks every file; returns the files, or every reason to reject.
pub async fn validate_inputs(
    stores: &ObjectStores,
    root: &Location,
    paths: &[String],
    schema: &Schema,
    policy: &IntakePolicy,
) -> Result<Vec<InputFile>, Vec<RejectionReason>> {
    let mut reasons = Vec::new();
    let mut candidates = Vec::new();
    for path in paths {
        let room = policy.max_input_files.map(|limit| limit.saturating_sub(candidates.len()));
        match expand(stores, root, path, &policy.allowed_sources, room).await {
            Ok(found) => candidates.extend(found),
            Err(reason) => reasons.push(reason),
        }
        if let Some(limit) = policy.max_input_files.filter(|&limit| candidates.len() > limit) {
            // Listing stops at the first file too many, and not one footer is read for a job
            // that cannot run.
            reasons.push(RejectionReason::TooManyInputFiles { limit });
            return Err(reasons);
        }
    }
    // Each check is a task of its own, so that footers are parsed on every core; a check
    // left unfinished (the job cancelled, a rejection) is stopped with its handle.
    let schema = Arc::new(schema.clone());
    let mut files = Vec::with_capacity(candidates.len());
    let mut checked = futures::stream::iter(candidates)
        .map(|listed| {
            let url = listed.location.url();
            let check = AbortOnDropHandle::new(tokio::spawn(check_file(listed, schema.clone())));
            async move {
                check.await.unwrap_or_else(|e| Err(vec![RejectionReason::InputUnreadable { path: url, reason: format!("its check stopped: {e}") }]))
            }
        })
        .buffered(CONCURRENCY);
    let mut budget = FooterBudget::new(KEPT_FOOTER_BYTES);
    while let Some(result) = checked.next().await {
        match result {
            Ok(mut file) => {
                file.footer = budget.keep(file.footer.take());
                files.push(file);
            }
            Err(file_reasons) => reasons.extend(file_reasons),
        }
    }
    let kept = files.iter().filter(|f| f.footer.is_some()).count();
    tracing::debug!("kept {kept} of {} footers for the scan, in {} bytes", files.len(), KEPT_FOOTER_BYTES - budget.left());
    if reasons.is_empty() { Ok(files) } else { Err(reasons) }
}

fn is_local_directory(location: &Location) -> bool {
    location.store_url.as_str().starts_with("file") && std::path::Path::new(&format!("/{}", location.path)).is_dir()
}

/// A file as its listing gave it.
struct Listed {
    location: Location,
    size: u64,
    e_tag: Option<String>,
}

/// A path names a file, or a directory whose `.parquet` files (at any depth) are the input.
/// Every location must be under an allowed source, the files found in a directory too: a
/// symlink inside an allowed directory may lead out of it.
///
/// A directory's listing stops once it has found more than `room` files: a job naming too many
/// is refused without listing them all.
async fn expand(
    stores: &ObjectStores,
    root: &Location,
    path: &str,
    allowed: &AllowedSources,
    room: Option<usize>,
) -> Result<Vec<Listed>, RejectionReason> {
    let unreadable = |reason: String| RejectionReason::InputUnreadable { path: path.to_string(), reason };
    let location = stores.resolve_input(&without_dot_dot(path), root).map_err(|e| unreadable(e.to_string()))?;
    let not_allowed = |resolved: String| RejectionReason::SourceNotAllowed { path: path.to_string(), resolved };
    allowed.check(&location).map_err(not_allowed)?;
    match location.store.head(&location.path).await {
        Ok(meta) => return Ok(vec![Listed { location: location.clone(), size: meta.size, e_tag: meta.e_tag }]),
        Err(object_store::Error::NotFound { .. }) => {}
        // The local store refuses to `head` a directory: list it below.
        Err(_) if is_local_directory(&location) => {}
        Err(e) => return Err(unreadable(e.to_string())),
    }
    let mut listing = location.store.list(Some(&location.path));
    let (mut listed_any, mut files) = (false, Vec::new());
    while let Some(meta) = listing.try_next().await.map_err(|e| unreadable(format!("cannot list it: {e}")))? {
        listed_any = true;
        if meta.location.filename().is_some_and(|f| f.ends_with(".parquet")) {
            files.push(Listed { location: location.at(meta.location), size: meta.size, e_tag: meta.e_tag });
            if room.is_some_and(|room| files.len() > room) {
                break;
            }
        }
    }
    if !listed_any {
        return Err(RejectionReason::InputNotFound { path: path.to_string() });
    }
    if files.is_empty() {
        return Err(RejectionReason::NoParquetInDirectory { path: path.to_string() });
    }
    for file in &files {
        allowed.check(&file.location).map_err(|resolved| RejectionReason::SourceNotAllowed { path: file.location.url(), resolved })?;
    }
    files.sort_by(|a, b| a.location.path.cmp(&b.location.path));
    Ok(files)
}

/// A local path holding `..`, canonical: where it leads is what is read, and judged. Object
/// stores refuse `..` in a path, and so do URLs of other stores here.
fn without_dot_dot(path: &str) -> std::borrow::Cow<'_, str> {
    let local = path.strip_prefix("file://").unwrap_or(path);
    let is_local = local.starts_with('/') && !path.contains("://") || path.starts_with("file://");
    if is_local
        && local.split('/').any(|segment| segment == "..")
        && let Ok(canonical) = std::path::Path::new(local).canonicalize()
    {
        return canonical.to_string_lossy().into_owned().into();
    }
    path.into()
}

fn type_matches(expected: &FieldType, actual: &DataType) -> bool {
    let primitive = |p: &PrimitiveType, t: &DataType| match p {
        PrimitiveType::IntType => matches!(t, DataType::Int32),
        PrimitiveType::LongType => matches!(t, DataType::Int64),
        PrimitiveType::StringType => matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        PrimitiveType::ByteArrayType => matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView),
    };
    match (expected, actual) {
        (FieldType::Primitive(p), t) => primitive(p, t),
        (FieldType::Nested(NestedType::ListType { element_type }), DataType::List(f) | DataType::LargeList(f)) => {
            primitive(element_type, f.data_type())
        }
        (FieldType::Nested(NestedType::MapType { .. }), DataType::Map(..)) => true,
        _ => false,
    }
}

pub(crate) use bulk_import_core::small_object_cache::FOOTER_READ_BYTES;

async fn check_file(listed: Listed, schema: Arc<Schema>) -> Result<InputFile, Vec<RejectionReason>> {
    let Listed { location, size, e_tag } = listed;
    let url = location.url();
    let reader = reader(&location, size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| vec![RejectionReason::NotParquet { url: url.clone(), reason: e.to_string() }])?;
    let file_schema = builder.schema().clone();
    let metadata = builder.metadata().clone();
    let mut reasons = check_columns(&url, &file_schema, &schema);
    if !reasons.is_empty() {
        return Err(reasons);
    }
    let key_names: Vec<&str> = schema.row_key_fields.iter().chain(&schema.sort_key_fields).map(|f| f.name.as_str()).collect();
    let (with_nulls, unknown) = null_counts_from_statistics(&metadata, &key_names);
    for (name, nulls) in with_nulls {
        reasons.push(RejectionReason::NullKeys { url: url.clone(), column: name.to_string(), nulls });
    }
    if reasons.is_empty() && !unknown.is_empty() {
        reasons.extend(scan_for_nulls(&location, size, &unknown, &url).await);
    }
    if !reasons.is_empty() {
        return Err(reasons);
    }
    let rows = metadata.file_metadata().num_rows() as u64;
    // A footer can only be kept for a file that can be told apart from a replacement.
    let footer = e_tag.map(|e_tag| KeptFooter { metadata, e_tag });
    Ok(InputFile { location, size, rows, footer })
}

fn check_columns(url: &str, file_schema: &ArrowSchema, schema: &Schema) -> Vec<RejectionReason> {
    let mut reasons = Vec::new();
    let keys = schema.row_key_fields.iter().map(|f| (f, "row key")).chain(schema.sort_key_fields.iter().map(|f| (f, "sort key")));
    for (field, role) in keys.chain(schema.value_fields.iter().map(|f| (f, "value"))) {
        match file_schema.field_with_name(&field.name) {
            Err(_) if role == "value" && field.nullable => {}
            Err(_) => reasons.push(RejectionReason::MissingColumn { url: url.to_string(), column: field.name.clone(), role }),
            Ok(actual) if !type_matches(&field.field_type, actual.data_type()) => reasons.push(RejectionReason::WrongColumnType {
                url: url.to_string(),
                column: field.name.clone(),
                role,
                actual: actual.data_type().to_string(),
                expected: serde_json::to_string(&field.field_type).unwrap_or_default(),
            }),
            Ok(_) => {}
        }
    }
    reasons
}

/// Null counts of key columns from the row groups' statistics: the columns known to hold nulls,
/// and the columns some row group has no null count for.
fn null_counts_from_statistics<'a>(metadata: &ParquetMetaData, keys: &[&'a str]) -> (Vec<(&'a str, u64)>, Vec<&'a str>) {
    let descriptor = metadata.file_metadata().schema_descr();
    let mut with_nulls = Vec::new();
    let mut unknown = Vec::new();
    for &name in keys {
        let Some(column) = (0..descriptor.num_columns()).find(|&i| descriptor.column(i).path().string() == name) else {
            unknown.push(name);
            continue;
        };
        let counts: Option<u64> = metadata
            .row_groups()
            .iter()
            .map(|rg| rg.column(column).statistics().and_then(parquet::file::statistics::Statistics::null_count_opt))
            .sum();
        match counts {
            Some(0) => {}
            Some(n) => with_nulls.push((name, n)),
            None => unknown.push(name),
        }
    }
    (with_nulls, unknown)
}

async fn scan_for_nulls(location: &Location, size: u64, columns: &[&str], url: &str) -> Vec<RejectionReason> {
    let result = async {
        let builder = ParquetRecordBatchStreamBuilder::new(reader(location, size)).await?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
        let mut stream = builder.with_projection(mask).build()?;
        let mut nulls = vec![0usize; columns.len()];
        while let Some(batch) = stream.try_next().await? {
            for (i, name) in columns.iter().enumerate() {
                if let Some(column) = batch.column_by_name(name) {
                    nulls[i] += column.null_count();
                }
            }
        }
        Ok::<_, parquet::errors::ParquetError>(nulls)
    }
    .await;
    match result {
        Err(e) => vec![RejectionReason::InputUnreadable { path: url.to_string(), reason: e.to_string() }],
        Ok(nulls) => columns
            .iter()
            .zip(nulls)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| RejectionReason::NullKeys { url: url.to_string(), column: (*name).to_string(), nulls: n as u64 })
            .collect(),
    }
}
