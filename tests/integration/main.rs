//! hookhost's integration tests: one binary, real processes, real files.
//!
//! - `agents`: `dispatch --agent X` for Codex, Gemini CLI, Copilot CLI, Qwen Code and Cursor:
//!   every captured payload maps and reaches a hook, each answer is rendered in a form the agent
//!   honours (a model of each agent's observed rules; a property: never weaker), permission rules
//!   bind every agent's tools, the daemon answers the same.
//! - `bypass`: the bypass corpus of issue 17: generated variants of every class of attack on an
//!   admin's permission policy, decided by the engine and run under bash (strace) as the oracle;
//!   URL spellings against Node's WHATWG URL.
//! - `audit`: the tamper-evident audit log (chain, rotation, tampering, SIGKILL, concurrency).
//! - `scenarios`: every folder in `tests/fixtures/scenarios/` (settings per scope, an event, the
//!   expected outcome) run through the real `hookhost dispatch` binary.
//! - `cgroup_join`: a sandboxed hook starts inside its cgroup leaves with no migration (where it
//!   is, strace of the calls), and the proxy that starts it answers as an unproxied hook would.
//! - `thin`: the thin client `hookhost-dispatch` against `hookhost dispatch` (every fixture,
//!   through a daemon and without, strace showing which ran), a daemon killed mid-event, the
//!   automatic daemon (first event, racing starters, idle exit, `off`, `required`, stale socket,
//!   an impostor listener, a genuine daemon with other settings locations).
//! - `daemon`: `hookhost serve` and live settings: edits, rename-over, deletes, invalid and
//!   half-written files, the ConfigChange gate under 1,000 concurrent edits, changes made while
//!   stopped, 8 × 1,000 clients, SIGKILL/SIGTERM, peer uid check, garbage frames.
//! - `conformance`: every Claude Code 2.1.328 payload is accepted, routed and passed through.
//! - `cli`: the binary as Claude Code runs it (stdin JSON, stdout/stderr/exit code).
//! - `guests`: guests in Rust, Python and JavaScript built by their own `build.sh`: capability
//!   probes get errors and never the host's data, worlds 0.1.0 and 0.2.0 both load, one policy
//!   decides the same in all three languages.
//! - `event_names`: no event name is spelled as a string literal in `src/` outside the event
//!   facts module, the agents' adapters and tests (one event vocabulary, issue 18).
//! - `file_locks`: every lock is flock(2) (strace), an interrupted wait is retried, a gate lock
//!   that fails in `flock` fails the event closed (faults injected by strace).
//! - `files`: every file hookhost decides by (settings of every scope, pinned scripts,
//!   components, state records) is a bounded regular file: symlinks to `/dev/stdout`, FIFOs,
//!   directories, `/dev/zero`, 2 GB sparse files never hang `dispatch` and are located errors.
//! - `first_hour`: nothing fails silently: a skipped untrusted project hook is said once per
//!   session, `trust` and `pin --write` in either order, `hookhost test` refuses an empty
//!   `expect` and locates its errors, a closed pipe ends a command quietly.
//! - `hostile`: hostile input never panics and fails per the failure policy.
//! - `lint`: `hookhost check` as a linter: every one-edit misspelling of every key, event and
//!   tool name fails with a located "did you mean"; every problem of every file in one run;
//!   missing scripts and components; `--strict` and managed `hookhost.strictCheck`.
//! - `live_state`: the live settings' state under attack: tampered records never touch managed
//!   policy; a user change blocked once is blocked in every project and path spelling (the
//!   shipped guard-config-change policy); a write during a slow ConfigChange hook is never what
//!   gets accepted.
//! - `observe`: fleet observability: the audit log shipped to a real rsyslog (killed and
//!   restarted during 10,000 decisions) and to an OTLP/HTTP receiver decoding with the official
//!   protobuf definitions, `hookhost audit ship` and its cursor, the daemon's metrics scraped by
//!   a real Prometheus.
//! - `permissions`: the permission rules stage (§8): a decision table, properties, end to end.
//! - `properties`: property tests of the parsers (events, settings, hook output, `pin --write`)
//!   and the fold (never a panic, garbage never an allow, round trips, order independence).
//! - `readme`: every `sh` block of README.md and the example READMEs runs as written in a
//!   scratch root (`sh no-run: reason` marks the few that cannot run in CI).
//! - `remote`: server-managed settings against a real loopback HTTP server: fetch, cache, ETag,
//!   failures, signatures, tampered caches, `forceRemoteSettingsRefresh`, polling, the policy
//!   ConfigChange, approvals, legacy signatures.
//! - `remote_attacks`: each attack on server policy, and the test that stops it (rollback via a
//!   put-back cache and 304, replay across URLs and fleets, a replayed empty policy, expiry,
//!   version regression, future-dated state, the daemon under force and after `reject`,
//!   unsendable headers).
//! - `rollback`: rejected edits restored from PreToolUse snapshots (byte for byte, mode, created
//!   files removed, third-party writes kept, stale snapshots cleaned) and blocked ConfigChange
//!   settings files written back to their last accepted content.
//! - `runner`: the command runner's process handling (timeouts, caps, process groups).
//! - `sandbox_abuse`: the 42 hostile hooks of the sandbox design (§8), strict mode, as root.
//! - `sandbox_pool`: the daemon's warm pool: hook processes started ahead, inside every layer,
//!   used for exactly their hook and cleaned up when the daemon stops.
//! - `tool_floors`: `hookhost test`, `replay`, `explain` and `demo` run hooks under this
//!   machine's managed sandbox floor, as `dispatch` does (a hook asking for `off` runs inside).
//! - `trust`: project trust, `sha256` pins, `requirePinnedHooks`, `hookhost pin`, input limits.
//! - `wasm`: WebAssembly hooks: inline WAT components (decisions, hostile guests, sha256 pins,
//!   the precompile cache, mixed policies) and the real guests of `hooks-examples/wasm`.

mod agent_guard;
mod agents;
mod async_hooks;
mod audit;
mod bypass;
mod cgroup_join;
mod cli;
mod conformance;
mod daemon;
mod event_names;
mod faults;
mod file_locks;
mod files;
mod first_hour;
mod frontends;
mod guests;
mod hostile;
mod layering;
mod lint;
mod live_state;
mod observe;
mod parity;
mod permissions;
mod properties;
mod readme;
mod remote;
mod remote_attacks;
mod rewrite;
mod rollback;
mod rollback_patch;
mod rollback_swap;
mod runner;
mod sandbox_abuse;
mod sandbox_pool;
mod scenarios;
mod support;
mod thin;
mod tool_floors;
mod trust;
mod wasm;
