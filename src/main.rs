//! The `hookhost` binary: parse arguments, set up logging, run, exit with the code `cli` chose.
//!
//! A panic anywhere is caught here and answered like any host error (`hookhost::fault`): for
//! `dispatch`, exit 2 (block) when the event fails closed or its policy was not known yet, never
//! Rust's 101.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // hookhost's own compile child (exec::wasm::Compiler::Child): not a command for people.
    if std::env::args_os().nth(1).is_some_and(|a| a == "__compile-wasm") {
        let args: Vec<String> = std::env::args_os().skip(2).map(|a| a.to_string_lossy().into_owned()).collect();
        return ExitCode::from(hookhost::exec::wasm::compile_child_main(&args));
    }
    hookhost::exec::wasm::Compiler::in_hookhost_executable();
    hookhost::fault::install();
    let cli = match hookhost::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(hookhost::cli::usage_error(&e)),
    };
    let dispatch = matches!(cli.command, hookhost::cli::Command::Dispatch(_));
    if dispatch {
        hookhost::fault::note_front_end(hookhost::fault::FrontEnd::Dispatch);
    }
    // A closed stdout (`hookhost test | head -1`) ends a command quietly (exit 141, no panic);
    // not for dispatch, whose panics are answered by its failure policy, nor the daemon.
    if hookhost::pipe::applies_to(&cli.command) {
        hookhost::pipe::install();
    }
    // `dispatch` is silent unless RUST_LOG asks: Claude Code reads its stderr as a block reason.
    let default = match cli.command {
        hookhost::cli::Command::Dispatch(_) => "off",
        // The daemon reports what it does: settings changes, refused clients, shutdown.
        hookhost::cli::Command::Serve(_) => "info",
        _ => "warn",
    };
    // Logging off (dispatch without RUST_LOG): no subscriber at all, which is the same silence
    // without building one on every event (issue 23).
    let off = default == "off" && std::env::var_os("RUST_LOG").is_none();
    if !off {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
        // No ANSI colour where stderr is not a terminal (journald, a log file, a pipe).
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    }
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hookhost::cli::run(cli))) {
        Ok(code) => code,
        Err(payload) => hookhost::fault::answer(payload.as_ref()),
    };
    ExitCode::from(code)
}
