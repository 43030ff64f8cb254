//! The `hookhost` binary: parse arguments, set up logging, run, exit with the code `cli` chose.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = hookhost::cli::Cli::parse();
    // `dispatch` is silent unless RUST_LOG asks: Claude Code reads its stderr as a block reason.
    let default = match cli.command {
        hookhost::cli::Command::Dispatch(_) => "off",
        // The daemon reports what it does: settings changes, refused clients, shutdown.
        hookhost::cli::Command::Serve(_) => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    ExitCode::from(hookhost::cli::run(cli))
}
