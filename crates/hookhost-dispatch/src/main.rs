//! `hookhost-dispatch`: the thin client agents register as their hook command (see the
//! library). No tokio, no wasmtime, no settings parser; built statically for
//! `x86_64-unknown-linux-musl` it starts faster than a dynamically linked `/bin/true`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(hookhost_dispatch::main_impl::run())
}
