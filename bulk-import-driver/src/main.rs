use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use bulk_import_driver::cli::args::Cli;
use bulk_import_driver::cli::dispatch;
use bulk_import_driver::cli::output::OutputClosed;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run());
    // Once the command has answered, all that can still run is a blocking thread freeing the
    // memory of an executed plan (a wide job's 190,000 scan metrics, let go after the job's
    // answer). Dropping the runtime would wait for it; exiting gives the memory back at once.
    runtime.shutdown_background();
    code
}

async fn run() -> ExitCode {
    // SIGPIPE stays ignored, as Rust leaves it: with its default, any socket write to a peer
    // that has reset the connection would kill the service (see `cli::output`).
    // Ballista logs every task at INFO; keep the terminal for our progress unless asked.
    let filter = EnvFilter::try_from_env("BULK_IMPORT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let cli = Cli::parse();
    cli.log.init(filter, std::io::stderr().is_terminal());
    let result = dispatch(cli).await;
    let contexts = bulk_import_core::zstd_contexts::counts();
    let sized_tables = bulk_import_core::zstd_table_sizes::sized_compressions();
    tracing::debug!(created = contexts.created, reused = contexts.reused, sized_tables, "zstd contexts");
    match result {
        Ok(code) => code,
        // The reader of a listing went away (`bulk-import table files t | head`): it has what it wanted.
        Err(error) if error.is::<OutputClosed>() => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
