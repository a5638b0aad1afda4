//! How every binary logs: human-readable lines by default, or `--log-format json`, one JSON
//! object a line for log collectors, with the fields of the spans a line was logged in (a job's
//! id and its engine job id, for example).

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The `--log-format` argument, shared by every binary.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// How log lines are written: text for people, or json (one object a line) for machines.
    #[arg(long, global = true, env = "BULK_IMPORT_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Installs the global subscriber, writing to stderr; colours only for text on a terminal.
    pub fn init(&self, filter: EnvFilter, ansi: bool) {
        let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
        match self.log_format {
            LogFormat::Text => builder.with_ansi(ansi).init(),
            LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).flatten_event(true).init(),
        }
    }
}
