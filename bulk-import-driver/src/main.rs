use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use bulk_import_driver::cli::args::Cli;
use bulk_import_driver::cli::dispatch;

#[tokio::main]
async fn main() -> ExitCode {
    // Behave like other command-line tools when the reader of our output goes away
    // (`bulk-import table files t | head`): end quietly instead of panicking on a closed pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread writes.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Ballista logs every task at INFO; keep the terminal for our progress unless asked.
    let filter = EnvFilter::try_from_env("BULK_IMPORT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let cli = Cli::parse();
    cli.log.init(filter, std::io::stderr().is_terminal());
    match dispatch(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
