//! `hookhost-dispatch`: the thin client agents register as their hook command (see
//! `crates/hookhost-dispatch`). It links that small crate only: no tokio, no wasmtime, no
//! settings parser, so it starts like `/bin/true`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(hookhost_dispatch::main_impl::run())
}
