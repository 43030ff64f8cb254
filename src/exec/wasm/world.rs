//! The versions of world `hook` hookhost loads, and what a component may import.
//!
//! Owns: the bindings of `hookhost:hook@0.2.0` (`wit/world.wit`, the current world) and
//! `hookhost:hook@0.1.0` (`wit/compat/0.1.0/world.wit`, frozen); linking the `log` import of
//! both; choosing, per component, the world it was built against; the import allow-list.
//!
//! Promises:
//! - A component built against either world loads and runs; one built against 0.1.0 gets the
//!   event without the fields 0.1.0 does not have (its `payload-json` is the same), and its
//!   response means exactly what the same response means in 0.2.0.
//! - A component may import only `hookhost:hook/{types,log}` of a version the host knows and the
//!   WASI 0.2 interfaces in [`GRANTED_WASI`]; the host serves each of those from a context that
//!   grants nothing (`WasmRuntime` builds it: no preopened directory, no environment, no
//!   arguments, stdin closed, every socket, address and name lookup denied; clocks and random are
//!   real). Anything else (`wasi:http`, a WASI 0.3 interface, another package) is refused at
//!   load, by name.
//!
//! Does not: decide what a response means (`to_decision` in the parent does, for both worlds).

use wasmtime::component::{HasSelf, InstancePre, Linker};
use wasmtime::{AsContextMut, Store};

use super::GuestState;

/// The current world, `wit/world.wit`.
pub(super) mod v0_2 {
    wasmtime::component::bindgen!({ world: "hook", path: "wit" });
}

/// The 0.1.0 world, kept so components built against it still load.
mod v0_1 {
    wasmtime::component::bindgen!({ world: "hook", path: "wit/compat/0.1.0" });
}

pub(super) use v0_2::hookhost::hook::{log, types};

/// The WASI 0.2 interfaces a component may import (any 0.2.x version). All of them are served by
/// a context that grants nothing: `wasi:filesystem` with no preopened directory (so there is no
/// descriptor to open anything from), `wasi:sockets` with TCP, UDP and name lookups disabled and
/// every address refused, `wasi:cli/environment` empty. Python and JavaScript runtimes import
/// filesystem and sockets whether or not the hook uses them.
pub const GRANTED_WASI: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// The world versions hookhost loads, newest first (semver-compatible patch versions of each
/// are accepted too, as the linker does).
pub const WORLD_VERSIONS: &[&str] = &["0.2.0", "0.1.0"];

/// The semver compatibility key of a release version: `0.2.9` → `0.2`, `1.4.0` → `1`. A
/// pre-release or anything that is not `MAJOR.MINOR.PATCH` has none.
fn compat_key(version: &str) -> Option<&str> {
    let parts: Vec<&str> = version.split('.').collect();
    let number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [major, minor, patch] if number(major) && number(minor) && number(patch) => {
            Some(if *major == "0" { &version[..major.len() + 1 + minor.len()] } else { major })
        }
        _ => None,
    }
}

/// Whether the host grants the import named `name` (e.g. `wasi:io/streams@0.2.9`).
pub fn granted(name: &str) -> bool {
    let Some((interface, version)) = name.split_once('@') else { return false };
    let Some(key) = compat_key(version) else { return false };
    if GRANTED_WASI.contains(&interface) {
        return key == "0.2";
    }
    matches!(interface, "hookhost:hook/types" | "hookhost:hook/log")
        && WORLD_VERSIONS.iter().any(|v| compat_key(v) == Some(key))
}

/// A hint for a refused import, where there is a usual cause.
pub fn refusal_hint(name: &str) -> Option<String> {
    if name.starts_with("wasi:http/") {
        Some("a JavaScript hook built with componentize-js imports wasi:http unless built with `-d http`".into())
    } else if name.starts_with("wasi:") && name.contains("@0.3") {
        Some("hookhost links WASI 0.2 (build for wasm32-wasip2)".into())
    } else if name.starts_with("hookhost:hook/") {
        Some(format!("hookhost loads components built against hookhost:hook@{}", WORLD_VERSIONS.join(" or @")))
    } else {
        None
    }
}

/// Links the `log` import of every world version (the `types` interfaces need nothing).
pub(super) fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    v0_2::Hook::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    v0_1::Hook::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    Ok(())
}

/// A pre-linked component of one of the world versions.
pub(super) enum HookPre {
    V0_2(v0_2::HookPre<GuestState>),
    V0_1(v0_1::HookPre<GuestState>),
}

/// A live instance's exports.
pub(super) enum Hook {
    V0_2(v0_2::Hook),
    V0_1(v0_1::Hook),
}

impl HookPre {
    /// Checks the component's `handle` export against each world version, newest first.
    pub fn new(pre: InstancePre<GuestState>) -> Result<Self, String> {
        let newest = match v0_2::HookPre::new(pre.clone()) {
            Ok(p) => return Ok(HookPre::V0_2(p)),
            Err(e) => format!("{e:#}"),
        };
        v0_1::HookPre::new(pre).map(HookPre::V0_1).map_err(|_| newest)
    }

    /// The world version the component was built against.
    pub fn version(&self) -> &'static str {
        match self {
            HookPre::V0_2(_) => "0.2.0",
            HookPre::V0_1(_) => "0.1.0",
        }
    }

    pub fn instantiate(&self, store: &mut Store<GuestState>) -> wasmtime::Result<Hook> {
        Ok(match self {
            HookPre::V0_2(p) => Hook::V0_2(p.instantiate(store)?),
            HookPre::V0_1(p) => Hook::V0_1(p.instantiate(store)?),
        })
    }
}

impl Hook {
    /// Calls `handle` with the event in the component's own world; the response comes back in
    /// the current world's types.
    pub fn call_handle(
        &self,
        mut store: impl AsContextMut<Data = GuestState>,
        event: &types::Event,
    ) -> wasmtime::Result<Result<types::Response, String>> {
        match self {
            Hook::V0_2(h) => h.call_handle(store.as_context_mut(), event),
            Hook::V0_1(h) => {
                let old = v0_1::hookhost::hook::types::Event {
                    hook_event_name: event.hook_event_name.clone(),
                    tool_name: event.tool_name.clone(),
                    payload_json: event.payload_json.clone(),
                };
                Ok(h.call_handle(store.as_context_mut(), &old)?.map(from_v0_1))
            }
        }
    }
}

fn from_v0_1(r: v0_1::hookhost::hook::types::Response) -> types::Response {
    use v0_1::hookhost::hook::types::Decision as Old;
    types::Response {
        decision: r.decision.map(|d| match d {
            Old::Allow => types::Decision::Allow,
            Old::Deny => types::Decision::Deny,
            Old::Ask => types::Decision::Ask,
            Old::Defer => types::Decision::Defer,
            Old::Block => types::Decision::Block,
        }),
        reason: r.reason,
        additional_context: r.additional_context,
        updated_input_json: r.updated_input_json,
        system_message: r.system_message,
    }
}

impl types::Host for GuestState {}
impl v0_1::hookhost::hook::types::Host for GuestState {}

impl log::Host for GuestState {
    fn write(&mut self, level: log::Level, message: String) {
        self.log_line(level, message);
    }
}

impl v0_1::hookhost::hook::log::Host for GuestState {
    fn write(&mut self, level: v0_1::hookhost::hook::log::Level, message: String) {
        use v0_1::hookhost::hook::log::Level as Old;
        let level = match level {
            Old::Debug => log::Level::Debug,
            Old::Info => log::Level::Info,
            Old::Warn => log::Level::Warn,
            Old::Error => log::Level::Error,
        };
        self.log_line(level, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        for ok in [
            "wasi:io/streams@0.2.0",
            "wasi:io/streams@0.2.12",
            "wasi:filesystem/preopens@0.2.9",
            "wasi:sockets/tcp@0.2.6",
            "wasi:cli/environment@0.2.3",
            "hookhost:hook/log@0.1.0",
            "hookhost:hook/types@0.2.0",
            "hookhost:hook/types@0.2.1",
        ] {
            assert!(granted(ok), "{ok}");
        }
        for refused in [
            "wasi:http/types@0.2.10",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:io/streams@0.3.0",
            "wasi:io/streams@1.0.0",
            "wasi:io/streams",
            "wasi:io/streams@",
            "wasi:io/streams@0.2",
            "wasi:io/streamsx@0.2.0",
            "wasi:keyvalue/store@0.2.0",
            "wasi:clocks/timezone@0.2.0",
            "wasi:filesystem/types@0.3.0-rc",
            "hookhost:hook/log@0.3.0",
            "hookhost:hook/log@1.0.0",
            "hookhost:hook/exfil@0.2.0",
            "evil:exfil/send@1.0.0",
            "wasi:io/error@0.2.0@0.2.0",
            "",
        ] {
            assert!(!granted(refused), "{refused}");
        }
    }

    #[test]
    fn the_agent_comes_from_the_event() {
        use crate::event::HookEvent;
        let agent = |json: &str| {
            super::super::GuestEvent::new(&HookEvent::parse(json.as_bytes()).unwrap())
                .wit
                .agent
                .map(|a| (a.name, a.version))
        };
        assert_eq!(
            agent(r#"{"hook_event_name": "Stop", "agent": {"name": "codex", "version": "1.2", "payload": {}}}"#),
            Some(("codex".to_string(), Some("1.2".to_string())))
        );
        assert_eq!(agent(r#"{"hook_event_name": "Stop", "agent": {"name": "gemini"}}"#), Some(("gemini".into(), None)));
        for none in [
            r#"{"hook_event_name": "Stop"}"#,
            r#"{"hook_event_name": "Stop", "agent": "codex"}"#,
            r#"{"hook_event_name": "Stop", "agent": {"name": 1}}"#,
            r#"{"hook_event_name": "Stop", "agent": {"version": "1"}}"#,
        ] {
            assert_eq!(agent(none), None, "{none}");
        }
    }

    #[test]
    fn compat_keys() {
        assert_eq!(compat_key("0.2.9"), Some("0.2"));
        assert_eq!(compat_key("0.1.0"), Some("0.1"));
        assert_eq!(compat_key("1.4.0"), Some("1"));
        for bad in ["x.1.0", "0", "0.2", "0.2.0-rc", "0.2.0@0.2.0", "0.2.x", ""] {
            assert_eq!(compat_key(bad), None, "{bad}");
        }
    }
}
