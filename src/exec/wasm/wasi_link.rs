//! Linking WASI 0.2 per component: only the interfaces a component imports.
//!
//! Owns: the table from a granted WASI interface name to the call that links it.
//!
//! Promises:
//! - Each interface is linked exactly as `wasmtime_wasi::p2::add_to_linker_sync` links it (the
//!   same host implementation, sync where that function is sync), served by the same deny-all
//!   context: a component gets nothing it would not get from the whole WASI linker.
//! - An interface outside [`super::GRANTED_WASI`] is never linked (the caller refuses such a
//!   component before it gets here; an interface missing from the table fails the pre-link, by
//!   name, never silently).
//!
//! Why: linking all of WASI costs about 75 µs per engine (it was most of a one-shot `dispatch`'s
//! engine start); a Rust hook imports a dozen interfaces, most of them tiny.
//!
//! Does not: decide what is granted (`world::granted`) or build the context (`GuestWasi`).

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{self, cli, clocks, filesystem, random, sockets};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};

/// The resource table, as wasmtime-wasi's own (private) `HasIo` gives it to the io interfaces.
struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

type Add<T> = fn(&mut Linker<T>) -> wasmtime::Result<()>;

/// The linker call of `interface` (`wasi:io/streams`, no version), if it is one hookhost grants.
fn adder<T: WasiView + 'static>(interface: &str) -> Option<Add<T>> {
    let add: Add<T> = match interface {
        "wasi:io/error" => |l| bindings::sync::io::error::add_to_linker::<T, HasIo>(l, |t| t.ctx().table),
        "wasi:io/poll" => |l| bindings::sync::io::poll::add_to_linker::<T, HasIo>(l, |t| t.ctx().table),
        "wasi:io/streams" => |l| bindings::sync::io::streams::add_to_linker::<T, HasIo>(l, |t| t.ctx().table),
        "wasi:clocks/wall-clock" => |l| clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks),
        "wasi:clocks/monotonic-clock" => |l| clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks),
        "wasi:filesystem/preopens" => |l| filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem),
        "wasi:filesystem/types" => {
            |l| bindings::sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)
        }
        "wasi:random/random" => |l| random::random::add_to_linker::<T, WasiRandom>(l, T::random),
        "wasi:random/insecure" => |l| random::insecure::add_to_linker::<T, WasiRandom>(l, T::random),
        "wasi:random/insecure-seed" => |l| random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random),
        "wasi:cli/exit" => |l| cli::exit::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:cli/environment" => |l| cli::environment::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:cli/stdin" => |l| cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:cli/stdout" => |l| cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:cli/stderr" => |l| cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:cli/terminal-input" => |l| cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:cli/terminal-output" => |l| cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:cli/terminal-stdin" => |l| cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:cli/terminal-stdout" => |l| cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:cli/terminal-stderr" => |l| cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli),
        "wasi:sockets/tcp-create-socket" => {
            |l| sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)
        }
        "wasi:sockets/instance-network" => {
            |l| sockets::instance_network::add_to_linker::<T, WasiSockets>(l, T::sockets)
        }
        "wasi:sockets/network" => |l| {
            let options = bindings::sync::LinkOptions::default();
            sockets::network::add_to_linker::<T, WasiSockets>(l, &(&options).into(), T::sockets)
        },
        "wasi:sockets/ip-name-lookup" => |l| sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, T::sockets),
        "wasi:sockets/tcp" => |l| bindings::sync::sockets::tcp::add_to_linker::<T, WasiSockets>(l, T::sockets),
        "wasi:sockets/udp" => |l| bindings::sync::sockets::udp::add_to_linker::<T, WasiSockets>(l, T::sockets),
        "wasi:sockets/udp-create-socket" => {
            |l| bindings::sync::sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)
        }
        _ => return None,
    };
    Some(add)
}

/// Links each granted WASI interface among `imports` (full names, `wasi:io/streams@0.2.6`) once.
pub(super) fn add_imported<'a, T: WasiView + 'static>(
    linker: &mut Linker<T>,
    imports: impl IntoIterator<Item = &'a str>,
) -> wasmtime::Result<()> {
    let mut linked: Vec<&str> = Vec::new();
    for name in imports {
        let interface = name.split_once('@').map_or(name, |(i, _)| i);
        if linked.contains(&interface) || !super::GRANTED_WASI.contains(&interface) {
            continue;
        }
        if let Some(add) = adder::<T>(interface) {
            add(linker)?;
            linked.push(interface);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every interface hookhost grants has its linker call, and nothing else has one.
    #[test]
    fn every_granted_interface_is_linkable() {
        for i in super::super::GRANTED_WASI {
            assert!(adder::<super::super::GuestState>(i).is_some(), "{i}");
        }
        for i in ["wasi:http/types", "wasi:io/streams@0.2.6", "hookhost:hook/log", ""] {
            assert!(adder::<super::super::GuestState>(i).is_none(), "{i}");
        }
    }

    /// Linking every granted interface one by one gives what the whole WASI linker gives: a
    /// linker that accepts each of them (no name collides, none is missing).
    #[test]
    fn all_granted_interfaces_link_together() {
        let engine = wasmtime::Engine::default();
        let mut linker = Linker::<super::super::GuestState>::new(&engine);
        let names: Vec<String> = super::super::GRANTED_WASI.iter().map(|i| format!("{i}@0.2.6")).collect();
        add_imported(&mut linker, names.iter().map(String::as_str)).unwrap();
    }
}
