//! A closed pipe on stdout (`hookhost test | head -1`, `hookhost replay … | head`) ends the
//! command quietly, as a Unix filter ends: exit 141 (128 + SIGPIPE, what a shell reports for a
//! process killed by SIGPIPE), no panic message, never Rust's 101.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe is an `EPIPE` error: `println!` panics with
//! "failed printing to stdout", explicit writes return `ErrorKind::BrokenPipe`. [`install`] wraps
//! the panic hook to turn the first into a quiet exit; front ends map the second with
//! [`EXIT_BROKEN_PIPE`]. `dispatch` is not concerned: it ignores errors writing its answer.

/// The exit code of a command whose stdout was closed under it.
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// Whether a closed stdout ends `command` quietly: every command but `dispatch`, `serve` and the
/// internal `async-hooks` (a panic there is a host fault, answered per the failure policy).
pub fn applies_to(command: &crate::cli::Command) -> bool {
    use crate::cli::Command;
    !matches!(command, Command::Dispatch(_) | Command::Serve(_) | Command::AsyncHooks)
}

/// Wraps the current panic hook: a panic from writing to a closed pipe (`println!`'s "failed
/// printing to stdout: Broken pipe (os error 32)", a library's `expect` on `BrokenPipe`) exits
/// 141 quietly.
pub fn install() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_broken_pipe_panic(info.payload()) {
            std::process::exit(i32::from(EXIT_BROKEN_PIPE));
        }
        previous(info);
    }));
}

fn is_broken_pipe_panic(p: &(dyn std::any::Any + Send)) -> bool {
    let text = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
    text.is_some_and(|t| t.contains("os error 32") || t.contains("BrokenPipe"))
}
