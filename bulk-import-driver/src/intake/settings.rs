//! Per-job engine settings from a job's `sparkConf`, as Sleeper users write them.
//!
//! - `spark.sql.shuffle.partitions`, then `spark.default.parallelism`: how many tasks sort and
//!   write (the shuffle partition count).
//! - `spark.executor.instances` × `spark.executor.cores`: the parallelism hint, the task slots
//!   the plan is cut for.
//! - Keys beginning `datafusion.` or `ballista.`: the job's session settings.
//! - Our own keys begin `bulkimport.`: `bulkimport.shuffle.partitions` and
//!   `bulkimport.parallelism`, which win over their Spark equivalents.
//! - Any other key means nothing here: it is kept as a warning on the job's ACCEPTED event,
//!   never silently dropped.

use std::collections::BTreeMap;

use super::rejection::RejectionReason;

/// The prefix of this project's own `sparkConf` keys.
pub const OWN_PREFIX: &str = "bulkimport.";
const OWN_SHUFFLE_PARTITIONS: &str = "bulkimport.shuffle.partitions";
const OWN_PARALLELISM: &str = "bulkimport.parallelism";
const SPARK_SHUFFLE_PARTITIONS: &str = "spark.sql.shuffle.partitions";
const SPARK_DEFAULT_PARALLELISM: &str = "spark.default.parallelism";
const SPARK_EXECUTOR_INSTANCES: &str = "spark.executor.instances";
const SPARK_EXECUTOR_CORES: &str = "spark.executor.cores";

/// Whether `key` is a DataFusion or Ballista session setting.
pub fn is_session_key(key: &str) -> bool {
    key.starts_with("datafusion.") || key.starts_with("ballista.")
}

/// What a job's `sparkConf` asks of the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobSettings {
    pub shuffle_partitions: Option<usize>,
    pub parallelism: Option<usize>,
    /// DataFusion and Ballista session settings, in key order.
    pub session: Vec<(String, String)>,
    /// One line per key that means nothing here.
    pub warnings: Vec<String>,
}

/// Reads the settings from `spark_conf`; `Err` holds every value that cannot be used.
pub fn job_settings(spark_conf: &BTreeMap<String, String>) -> Result<JobSettings, Vec<RejectionReason>> {
    let mut problems = Vec::new();
    let mut count = |key: &str| -> Option<usize> {
        let value = spark_conf.get(key)?;
        match value.trim().parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                problems.push(RejectionReason::NotACount { key: key.to_string(), value: value.clone() });
                None
            }
        }
    };
    let spark_parallelism = match (count(SPARK_EXECUTOR_INSTANCES), count(SPARK_EXECUTOR_CORES)) {
        (Some(instances), Some(cores)) => Some(instances * cores),
        (Some(instances), None) => Some(instances),
        (None, cores) => cores,
    };
    let settings_shuffle = count(SPARK_SHUFFLE_PARTITIONS).or(count(SPARK_DEFAULT_PARALLELISM));
    let shuffle_partitions = count(OWN_SHUFFLE_PARTITIONS).or(settings_shuffle);
    let parallelism = count(OWN_PARALLELISM).or(spark_parallelism);
    let known = [
        OWN_SHUFFLE_PARTITIONS,
        OWN_PARALLELISM,
        SPARK_SHUFFLE_PARTITIONS,
        SPARK_DEFAULT_PARALLELISM,
        SPARK_EXECUTOR_INSTANCES,
        SPARK_EXECUTOR_CORES,
    ];
    let mut session = Vec::new();
    let mut warnings = Vec::new();
    for (key, value) in spark_conf {
        if is_session_key(key) {
            session.push((key.clone(), value.clone()));
        } else if key.starts_with(OWN_PREFIX) && !known.contains(&key.as_str()) {
            problems.push(RejectionReason::UnknownOwnSetting { key: key.clone(), own: format!("{OWN_SHUFFLE_PARTITIONS} and {OWN_PARALLELISM}") });
        } else if !known.contains(&key.as_str()) {
            warnings.push(format!("sparkConf {key}={value} means nothing to this engine and was ignored"));
        }
    }
    if problems.is_empty() { Ok(JobSettings { shuffle_partitions, parallelism, session, warnings }) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn spark_keys_map_to_shuffle_partitions_and_parallelism() {
        let settings = job_settings(&conf(&[
            ("spark.sql.shuffle.partitions", "64"),
            ("spark.default.parallelism", "32"),
            ("spark.executor.instances", "3"),
            ("spark.executor.cores", "4"),
        ]))
        .unwrap();
        assert_eq!(settings.shuffle_partitions, Some(64));
        assert_eq!(settings.parallelism, Some(12));
        assert!(settings.warnings.is_empty() && settings.session.is_empty());
        let settings = job_settings(&conf(&[("spark.default.parallelism", "32")])).unwrap();
        assert_eq!(settings.shuffle_partitions, Some(32));
        assert_eq!(settings.parallelism, None);
    }

    #[test]
    fn own_keys_win_and_session_keys_pass_through() {
        let settings = job_settings(&conf(&[
            ("bulkimport.shuffle.partitions", "8"),
            ("spark.sql.shuffle.partitions", "64"),
            ("bulkimport.parallelism", "6"),
            ("spark.executor.cores", "2"),
            ("datafusion.execution.batch_size", "16384"),
            ("ballista.shuffle.compression.codec", "zstd"),
        ]))
        .unwrap();
        assert_eq!((settings.shuffle_partitions, settings.parallelism), (Some(8), Some(6)));
        assert_eq!(
            settings.session,
            vec![
                ("ballista.shuffle.compression.codec".to_string(), "zstd".to_string()),
                ("datafusion.execution.batch_size".to_string(), "16384".to_string()),
            ]
        );
    }

    #[test]
    fn keys_that_mean_nothing_here_are_warnings() {
        let settings = job_settings(&conf(&[("spark.executor.memory", "16g"), ("spark.sql.adaptive.enabled", "true")])).unwrap();
        assert_eq!(settings.warnings.len(), 2);
        assert!(settings.warnings[0].contains("spark.executor.memory=16g"), "{:?}", settings.warnings);
    }

    #[test]
    fn unusable_values_and_unknown_own_keys_are_rejections() {
        let problems =
            job_settings(&conf(&[("spark.sql.shuffle.partitions", "lots"), ("spark.executor.cores", "0"), ("bulkimport.memory", "4g")])).unwrap_err();
        assert!(
            matches!(
                problems.as_slice(),
                [
                    RejectionReason::NotACount { value: zero, .. },
                    RejectionReason::NotACount { value: lots, .. },
                    RejectionReason::UnknownOwnSetting { key, .. },
                ] if key == "bulkimport.memory" && zero == "0" && lots == "lots"
            ),
            "{problems:?}"
        );
    }
}
