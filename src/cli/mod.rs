//! The command line: `dispatch` (Claude Code's hook backend), `check`, `explain`, `trust`,
//! `pin`, `doctor`, `audit`, `test` and `demo`; the server-managed settings commands (`status`,
//! `remote`, `sign`, `keygen`, `approvals`, `approve`, `reject`) live in `remote`.
//!
//! This file holds the argument types (`Cli`, `Command`, one `Args` struct per command) and the
//! dispatch to one file per command group: `dispatch` (and `async-hooks`), `serve`, `explain`,
//! `check` (and `init`), `trust` (and `pin`), `demo`, `remote`, `ship` (`audit ship`) and
//! `agents` (the other agents' edge of `dispatch`). No file here decides policy: each renders
//! what `crate::Host` or the layer it fronts answered.
//!
//! Exit codes: `dispatch` speaks Claude Code's protocol (0 allow or no opinion, 2 block, and a
//! host error is 2 when the event fails closed, else 1); every other subcommand exits 0 when
//! fine, 1 on error, 2 when it found a policy violation.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::bus::{DispatchContext, Outcome};
use crate::decision::{HookResult, Response, first_line};
use crate::error::HostFault;
use crate::event::{DEFAULT_MAX_EVENT_BYTES, HookEvent};
use crate::settings::{Locations, Scope, load};

pub mod agents;
mod check;
mod demo;
mod dispatch;
mod explain;
pub mod remote;
mod serve;
pub mod ship;
mod trust;

use check::{check, init_cmd};
use demo::demo;
use dispatch::{async_hooks_cmd, dispatch_cmd, emit, oneshot_host};
use explain::explain;
use serve::serve_cmd;
use trust::{pin_cmd, trust_cmd};

const AFTER_HELP: &str = "\
Settings scopes, highest precedence first:
  server        fetched from managed `remoteSettings.url`, cached in $XDG_STATE_HOME/hookhost/remote;
                replaces the managed files when it delivers any keys (`hookhost status`)
  managed       $HOOKHOST_MANAGED_DIR (default /etc/hookhost)/managed-settings.json
                + managed-settings.d/*.json (merged in name order)
  command line  --settings FILE
  local         <project>/.hookhost/settings.local.json
  project       <project>/.hookhost/settings.json
  user          $XDG_CONFIG_HOME/hookhost/settings.json (default ~/.config/hookhost)
The project directory is --project-dir, else $CLAUDE_PROJECT_DIR, else the event's cwd
(for `check`, `trust` and `pin`: the current directory).

Trust: hooks from the project and local files run only after `hookhost trust` recorded
them (their definitions and the scripts they run) in $XDG_STATE_HOME/hookhost (default
~/.local/state/hookhost); an edited hook or script needs `hookhost trust` again. `sha256` on
a hook pins its script (`hookhost pin --write` writes pins); a mismatch never runs.

Sandbox: HOOKHOST_SANDBOX_REQUIRE=layer,layer,… makes those layers mandatory for every
command hook (a hook whose required layer is missing does not run) and for `doctor`.

Logging: RUST_LOG (e.g. RUST_LOG=hookhost=debug); `dispatch` logs nothing unless it is set,
because Claude Code reads dispatch's stderr as the block reason.";

/// hookhost: runs the hooks an organisation attaches to a coding agent's events and answers
/// with one decision the agent obeys.
#[derive(Debug, Parser)]
#[command(name = "hookhost", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Extra settings file, at "command line" scope (above local, project and user).
    #[arg(long, global = true, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Project directory (default: $CLAUDE_PROJECT_DIR, else the event's cwd).
    #[arg(long, global = true, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
}

impl Global {
    /// The settings locations for a command without an event: the project is `--project-dir`,
    /// else `$CLAUDE_PROJECT_DIR`, else the current directory.
    pub fn locations(&self) -> Locations {
        let cwd = std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned());
        Locations::from_env(self.settings.clone(), self.project_dir.clone(), cwd.as_deref())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read one Claude Code hook event (JSON) on stdin, run the matching hooks, and answer in
    /// Claude Code's hook protocol: JSON on stdout and exit 0, or the reason on stderr and exit 2.
    ///
    /// Register it in Claude Code's managed settings as the command hook for every event
    /// hookhost should see (matcher "*").
    ///
    /// With HOOKHOST_SOCKET (or --socket) it is a thin client of `hookhost serve`: the daemon
    /// answers. Nothing is sent to a listener that is neither this user nor root (SO_PEERCRED);
    /// a root daemon (not this user's) answers with the managed policy only. If the daemon is
    /// unreachable, runs as another user, refuses or does not answer in time, the event fails
    /// closed (exit 2 with the reason) when managed `failClosed` lists it, else it is evaluated
    /// in-process with a note.
    ///
    /// The fast path to register is `hookhost-dispatch` (installed next to this binary): it asks
    /// this user's automatic daemon (started by the first event) and runs `hookhost dispatch`
    /// only when none answers. Managed `hookhost.daemon`: "auto" (default), "off", or
    /// "required" (then `dispatch` too asks the automatic daemon, and fails closed without one).
    Dispatch(DispatchCmd),
    /// Run the warm daemon: serve events from `hookhost dispatch` thin clients on a Unix socket,
    /// keep settings live (every settings file is watched; a change goes through the
    /// ConfigChange hooks before it applies) and WebAssembly hooks warm.
    ///
    /// Only clients whose uid is allowed (default: the daemon's own and root) are answered. A
    /// client of another uid than the daemon's gets decisions of the managed policy only: its
    /// settings file and project directory are refused, none of its files is read. The socket's
    /// directory must be writable by the daemon's uid (or root) only.
    /// SIGTERM or SIGINT: stop accepting, finish in-flight events, remove the socket, exit 0.
    ///
    /// Each project's settings files below managed scope start from their last known good
    /// records ($XDG_STATE_HOME/hookhost/settings/files/, one per file, the user's file shared
    /// by every project), so files changed while no daemon ran are gated too; managed files are
    /// read from their own location;
    /// with --project-dir that project is loaded (and gated) at start. Server-managed settings
    /// (remoteSettings) are fetched at start and polled; with forceRemoteSettingsRefresh a failed
    /// fetch means the daemon refuses to start (exit 1).
    Serve(ServeArgs),
    /// Register `hookhost dispatch --agent X` as a coding agent's command hook for every event
    /// hookhost handles, in that agent's own config file at --scope (managed: the system file;
    /// user; project). Merges without losing keys or comments, is idempotent, keeps the previous
    /// content as FILE.hookhost-backup; --dry-run prints the diff; --uninstall removes exactly
    /// hookhost's entries. Paths: --config, $HOME, --project-dir, HOOKHOST_INSTALL_ETC.
    Install(crate::install::InstallArgs),
    /// Validate the settings of every scope and print the resolved hooks with their origin.
    /// Loads every wasm hook's component too, compiling it (up to 10 minutes and 8 GiB) into the
    /// precompile cache when run as root (`XDG_CACHE_HOME=/var/cache` fills the system cache that
    /// every user's dispatch reads).
    ///
    /// Lists every problem of every settings file in one run (file:line:column, with "did you
    /// mean …" for misspelled keys, events and tool names) and says what dispatch does about an
    /// invalid file. Exits 1 when anything would not take effect as written (an invalid file, a
    /// misspelled name, a missing hook script, a component that does not load); warnings count
    /// too with --strict or managed `hookhost.strictCheck: true`.
    Check(CheckArgs),
    /// Read one event on stdin, run it like `dispatch`, and explain the decision: which hooks
    /// matched or were skipped and why, what each answered, how long each took.
    Explain(DispatchArgs),
    /// Probe the sandbox: which layers this machine enforces, each verified by its effect in a
    /// throwaway sandboxed child. Exits 2 when the configured mode (managed `sandbox.mode`, else
    /// strict where every layer exists) or HOOKHOST_SANDBOX_REQUIRE cannot be met.
    Doctor,
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// What-if for a candidate policy: re-run recorded events with the candidate settings file
    /// (given with --settings, at command-line scope on top of the current scopes) and print every
    /// decision that would change, with counts. Exits 2 if any decision changes. Hooks run for
    /// real, always sandboxed (the managed floor holds; `mode: "off"` is raised to best_effort),
    /// so hooks with side effects perform them again.
    Replay(ReplayArgs),
    /// Trust this project's hooks: record, in the user state directory, the hash of every hook
    /// definition in <project>/.hookhost/settings.json and settings.local.json and of the script
    /// (or command line) each runs. Until then those hooks do not run; editing one, or the
    /// script behind it, revokes trust for that hook until `trust` is run again.
    ///
    /// Review the files and scripts first: trusting runs them on your next agent session.
    Trust(TrustArgs),
    /// Print the sha256 pin of every configured hook (the script or program file it runs, else
    /// its command line; a wasm hook's component) and whether it matches the `sha256` written
    /// in settings. Exits 2 when a written pin does not match (that hook would not run), 1 on
    /// error.
    Pin(PinArgs),
    /// Test hooks: run the cases of each test file (the settings that configure the hooks, wasm
    /// or command, and events with the expected decision) and print PASS/FAIL per case.
    ///
    /// A directory stands for its tests.json and those of its subdirectories. Exits 2 when a
    /// case failed, 1 when a test file could not be used. The file format is in README.md
    /// ("Testing hooks"). This machine's managed sandbox floor holds for the hooks under test.
    Test(TestArgs),
    /// Create a WebAssembly hook project in NAME/ that builds with the language's stock tools
    /// (cargo, componentize-py, componentize-js): the policy file with an example rule, the SDK
    /// and WIT world vendored, an executable build.sh (installs the toolchain from the package
    /// registries when missing; prints the component's path last), settings.json, tests.json
    /// and a README. Then: NAME/build.sh && hookhost test NAME.
    New(NewArgs),
    /// Run the bundled example policy (hooks-examples/shell, plus the WebAssembly hook
    /// hooks-examples/wasm/block-dangerous-bash when it is built) over the bundled sample events
    /// (hooks-examples/events) and print a table of decisions. This machine's managed sandbox
    /// floor holds for the examples.
    Demo(DemoArgs),
    /// Write a starting policy (commented; `--preset`) and register `hookhost dispatch` in Claude
    /// Code (with a `timeout`), printing what was written where. `--managed` (default):
    /// $HOOKHOST_MANAGED_DIR/managed-settings.json and /etc/claude-code/managed-settings.json;
    /// `--project`: <project>/.hookhost/settings.json and <project>/.claude/settings.json.
    /// Existing files are never overwritten (without --force; a Claude Code file never: the
    /// registration to merge is printed).
    Init(InitArgs),
    /// Print the shell completion script for SHELL (e.g. `hookhost completions bash >
    /// /usr/share/bash-completion/completions/hookhost`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, hookhost(1), in roff (e.g. `hookhost man > /usr/local/share/man/man1/hookhost.1`).
    Man,
    /// Show where managed settings come from (server, endpoint, none), the server revision,
    /// the last fetch and its result, and whether the cache verified; the revision on disk and
    /// the live one; the automatic daemon; with --socket, that daemon's view.
    Status(crate::cli::remote::StatusArgs),
    /// Server-managed settings (`remoteSettings` in endpoint-managed settings).
    #[command(subcommand)]
    Remote(crate::cli::remote::RemoteCommand),
    /// Sign a settings file for delivery from a server: prints the signed envelope
    /// ({"hookhostSigned": 2, "url" | "fleet", "version", "expires", "payload", "signature"})
    /// that any static web server can serve as it is: valid only for that URL (or fleet), only
    /// above the version clients verified before, only until it expires. `--legacy` writes the
    /// old bare signature (clients accept it only with `remoteSettings.allowLegacySignatures`).
    Sign(crate::cli::remote::SignArgs),
    /// Generate an ed25519 signing key: writes the private key to OUT (mode 0600) and prints
    /// the base64 public key for `remoteSettings.publicKey`.
    Keygen(crate::cli::remote::KeygenArgs),
    /// List what the current server-managed settings revision would run (hooks, env vars) and
    /// whether it is approved. With `remoteSettings.requireApproval`, server hooks run only once
    /// their revision is approved.
    Approvals,
    /// Approve the current server-managed settings revision (its hooks then run). Audited.
    Approve(crate::cli::remote::ApproveArgs),
    /// Reject the current server-managed settings revision (its hooks do not run). Audited.
    Reject(crate::cli::remote::ApproveArgs),
    /// Internal: the detached process of a one-shot `dispatch` that runs its `async: true`
    /// hooks after the decision was answered (sandboxed, audited as `async_hook` records). Reads
    /// its job from stdin; not for direct use.
    #[command(name = "async-hooks", hide = true)]
    AsyncHooks,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Write managed settings (the default).
    #[arg(long, conflicts_with = "project")]
    pub managed: bool,
    /// Write the project's .hookhost/settings.json instead (managed-only keys left out).
    #[arg(long)]
    pub project: bool,
    /// The starting policy.
    #[arg(long, value_enum, default_value = "claude-code-baseline")]
    pub preset: crate::init::Preset,
    /// Claude Code's settings file to register hookhost in (default: its managed settings, or
    /// <project>/.claude/settings.json with --project).
    #[arg(long, value_name = "FILE")]
    pub claude_settings: Option<PathBuf>,
    /// Replace an existing hookhost settings file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Treat every warning as an error (managed `hookhost.strictCheck: true` makes this the
    /// default).
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// Forget this project instead: its hooks stop running until trusted again.
    #[arg(long)]
    pub revoke: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PinArgs {
    /// Write the pins into the settings files the hooks come from (adding `sha256`, or
    /// replacing one that no longer matches); the rest of each file is kept as it is.
    #[arg(long)]
    pub write: bool,
    /// With --write, also write into managed settings files (skipped otherwise).
    #[arg(long, requires = "write")]
    pub include_managed: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Replay the events recorded in this audit log (with its rotated files); the recorded
    /// decisions are the baseline.
    #[arg(long, value_name = "FILE", conflicts_with = "events")]
    pub audit: Option<PathBuf>,
    /// Replay the event files (*.json) in this directory; the current settings give the baseline.
    #[arg(long, value_name = "DIR")]
    pub events: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of an audit log (with its rotated files) and compare it with its
    /// anchor: reports the first bad record, a cut or re-hashed tail, and every anchor break
    /// a writer recorded. Exits 0 when intact (a torn last line after a crash is reported, not
    /// an error), 2 when a record was changed, removed or reordered, the set does not end at
    /// the anchored record, or it holds an anchor break; 1 when the log or the anchor cannot be
    /// read.
    Verify {
        /// The log file (default: the configured audit log).
        file: Option<PathBuf>,
        /// The anchor file (default: managed `audit.anchor` for the configured log, else
        /// `<FILE>.anchor`).
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
    },
    /// Ship the audit log to the sinks of managed `audit.ship` (syslog, OpenTelemetry), for a
    /// machine that runs no daemon (`hookhost serve` ships by itself). Each sink resumes from
    /// its cursor and gets every record after it, in order. Without --follow: until every sink
    /// has every record now in the log (exit 0), or --timeout passes (exit 1, with each sink's
    /// lag and error). With --follow: until SIGTERM or SIGINT. Exits 1 when another shipper
    /// (e.g. the daemon) holds a sink's cursor.
    Ship(ShipArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ShipArgs {
    /// Keep following the log until SIGTERM or SIGINT.
    #[arg(long)]
    pub follow: bool,
    /// Only these sinks (by `name`; repeat for several).
    #[arg(long = "sink", value_name = "NAME")]
    pub sinks: Vec<String>,
    /// Without --follow: give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = parse_seconds)]
    pub timeout: f64,
}

#[derive(Debug, Clone, Args)]
pub struct DispatchArgs {
    /// Largest accepted event, in bytes (1 to 1073741824).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_EVENT_BYTES, value_parser = parse_max_event_bytes)]
    pub max_event_bytes: usize,
    /// The agent that sends the event: its payload is mapped to Claude Code's form for the
    /// hooks and rules, and the answer to the form that agent honours (README "Agents").
    /// claude (the default) passes bytes through unchanged.
    #[arg(long, env = "HOOKHOST_AGENT", value_name = "AGENT", value_enum, default_value_t = crate::agents::Agent::Claude)]
    pub agent: crate::agents::Agent,
    /// The agent's event name when its payload has none (Copilot CLI's camelCase hooks, e.g.
    /// preToolUse); `hookhost install` writes it.
    #[arg(long, env = "HOOKHOST_AGENT_EVENT", value_name = "EVENT")]
    pub agent_event: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DispatchCmd {
    #[command(flatten)]
    pub args: DispatchArgs,
    /// Ask the `hookhost serve` daemon listening on this socket instead of evaluating in-process.
    #[arg(long, env = "HOOKHOST_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Longest wait for the daemon's answer, in seconds, from 0.001 to 86400 (default: the
    /// event's hook timeout plus 0.5 s, e.g. 600.5 s, 2 s for SessionEnd: room for the daemon to
    /// answer after a hook timed out). Any other value is an error: dispatch then blocks (exit 2).
    #[arg(long, env = "HOOKHOST_SOCKET_TIMEOUT", value_name = "SECONDS", value_parser = parse_socket_timeout)]
    pub socket_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The Unix socket to listen on (default: $XDG_RUNTIME_DIR/hookhost.sock, else
    /// /run/hookhost.sock). A stale socket is replaced; a live one is an error.
    #[arg(long, env = "HOOKHOST_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// A uid (or user name) allowed to send events; repeat for several. Default: the daemon's
    /// own uid and root.
    #[arg(long = "allow-uid", value_name = "UID")]
    pub allow_uid: Vec<String>,
    /// Permission bits of the socket file, in octal (0660 lets a group connect; the uid check
    /// still applies).
    #[arg(long, value_name = "MODE", default_value = "0600", value_parser = parse_mode)]
    pub socket_mode: u32,
    /// The most projects (distinct project directories) served at once (1 to 65536).
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = parse_max_projects)]
    pub max_projects: usize,
    /// The most connections open at once from one uid; more are answered with an error and
    /// closed.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections_per_uid: usize,
    /// Close a connection that sends no request for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = parse_seconds)]
    pub idle_timeout: f64,
    /// A frame (a request, from its first byte to its last, or a reply) must be through within
    /// this many seconds; else the connection is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_seconds)]
    pub frame_timeout: f64,
    /// The most bytes of requests in flight across all connections (at least one largest
    /// frame, 16 MiB + 64 KiB; one uid at most three quarters of it): a frame's declared length
    /// is reserved when its header arrives, and a frame that finds no room is refused with an
    /// error.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_buffered_bytes: usize,
    /// Serve Prometheus metrics (OpenMetrics text) at http://ADDR/metrics, e.g.
    /// 127.0.0.1:9464. Off by default. The endpoint is unauthenticated: bind it to loopback or
    /// a management network only (exactly the IP address and port given; no host names).
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Exit after this many seconds with no connection (default: never; 900 for --auto).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub idle_exit: Option<f64>,
    /// Run as this user's automatic daemon (what `hookhost-dispatch` starts; see "Warm by
    /// default" in the README): holds SOCKET.lock (exits at once, 0, when another daemon holds
    /// it), replaces whatever else listens at the socket, creates its directory 0700, ignores
    /// SIGHUP, and stops answering (and exits) when managed `hookhost.daemon` is "off".
    #[arg(long)]
    pub auto: bool,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err("a number of seconds, more than 0 and at most 86400".into()),
    }
}

/// How much longer than the event's hook timeout the thin client waits for its daemon by default.
pub const THIN_CLIENT_MARGIN: Duration = Duration::from_millis(500);

/// The largest `--max-event-bytes`.
pub const MAX_EVENT_BYTES_CEILING: usize = 1 << 30;
/// The shortest `--socket-timeout` / `HOOKHOST_SOCKET_TIMEOUT`, in seconds.
pub const MIN_SOCKET_TIMEOUT_SECONDS: f64 = 0.001;
/// The longest `--socket-timeout` / `HOOKHOST_SOCKET_TIMEOUT`, in seconds.
pub const MAX_SOCKET_TIMEOUT_SECONDS: f64 = 86_400.0;

fn parse_max_event_bytes(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_EVENT_BYTES_CEILING).contains(n))
        .ok_or_else(|| format!("must be a whole number of bytes from 1 to {MAX_EVENT_BYTES_CEILING}"))
}

fn parse_max_projects(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=65_536).contains(n))
        .ok_or_else(|| "must be a whole number from 1 to 65536".to_string())
}

/// Seconds as a `Duration`: a number from 0.001 to 86400 (so NaN, infinities, negative numbers,
/// 0, 1e-300 and 1e300 are refused, never turned into a panic, a zero deadline or a default).
fn parse_socket_timeout(s: &str) -> Result<Duration, String> {
    let why = || {
        format!(
            "HOOKHOST_SOCKET_TIMEOUT / --socket-timeout must be a number of seconds from \
             {MIN_SOCKET_TIMEOUT_SECONDS} to {MAX_SOCKET_TIMEOUT_SECONDS}"
        )
    };
    let secs = s.trim().parse::<f64>().map_err(|_| why())?;
    if !(MIN_SOCKET_TIMEOUT_SECONDS..=MAX_SOCKET_TIMEOUT_SECONDS).contains(&secs) {
        return Err(why());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| why())
}

/// The exit code and report for arguments clap refused (or `--help`/`--version`, which exit 0).
/// A `dispatch` whose arguments or environment are invalid cannot know its event's policy, so it
/// blocks (the one exit-code map, `HostFault::Evaluation` with the policy unknown); every other
/// subcommand exits 1.
pub fn usage_error(e: &clap::Error) -> u8 {
    if e.exit_code() == 0 {
        let _ = e.print();
        return crate::error::EXIT_OK;
    }
    if invoked_subcommand().as_deref() == Some("dispatch") {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("invalid arguments");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let code = crate::error::dispatch_exit_code(crate::error::HostFault::Evaluation, None);
        eprintln!("hookhost: invalid arguments or environment: {first}; failing closed (the event was not read)");
        return code;
    }
    let _ = e.print();
    crate::error::EXIT_ERROR
}

/// The subcommand named on the command line, skipping global options.
fn invoked_subcommand() -> Option<String> {
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let a = a.to_string_lossy();
        if a == "--settings" || a == "--project-dir" {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a.into_owned());
        }
    }
    None
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8).map_err(|e| format!("not an octal mode: {e}"))?;
    if m & !0o777 != 0 {
        return Err("only permission bits (0..0777) are allowed".into());
    }
    Ok(m)
}

#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// Test files, or directories holding tests.json files.
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct NewArgs {
    /// The hook's language.
    #[arg(long, value_enum)]
    pub lang: crate::scaffold::Lang,
    /// The project's name (lowercase letters, digits, dashes): the directory created.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The event the hook is for.
    #[arg(long, default_value = crate::event::EventName::PreToolUse.as_str())]
    pub event: String,
    /// The matcher (for events that have one), e.g. Bash or "Edit|Write".
    #[arg(long)]
    pub matcher: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The examples directory (default: ./hooks-examples, else the copy bundled in the binary).
    #[arg(long, value_name = "DIR")]
    pub examples: Option<PathBuf>,
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Dispatch(a) => emit(&dispatch_cmd(&cli.global, &a)),
        Command::Serve(a) => serve_cmd(&cli.global, &a),
        Command::Install(a) => {
            match crate::install::run(cli.global.project_dir.as_deref(), &a, &mut std::io::stdout().lock()) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("hookhost install: {e}");
                    1
                }
            }
        }
        Command::Check(a) => check(&cli.global, &a),
        Command::Explain(a) => explain(&cli.global, &a),
        Command::Demo(a) => demo(&a),
        Command::Test(a) => match crate::hooktest::run(&a.paths, &mut std::io::stdout().lock()) {
            Ok(summary) => summary.exit_code(),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => crate::pipe::EXIT_BROKEN_PIPE,
            Err(e) => {
                eprintln!("hookhost test: {e}");
                1
            }
        },
        Command::New(a) => {
            let hook = crate::scaffold::NewHook {
                lang: a.lang,
                name: a.name,
                event: a.event,
                matcher: a.matcher,
                parent: PathBuf::from("."),
            };
            match crate::scaffold::run(&hook, &mut std::io::stdout().lock()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("hookhost new: {e}");
                    1
                }
            }
        }
        Command::Init(a) => init_cmd(&cli.global, &a),
        Command::Completions { shell } => match crate::completions::completions(shell, &mut std::io::stdout().lock()) {
            Ok(()) => 0,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => crate::pipe::EXIT_BROKEN_PIPE,
            Err(e) => {
                eprintln!("hookhost completions: {e}");
                1
            }
        },
        Command::Man => match crate::completions::man(&mut std::io::stdout().lock()) {
            Ok(()) => 0,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => crate::pipe::EXIT_BROKEN_PIPE,
            Err(e) => {
                eprintln!("hookhost man: {e}");
                1
            }
        },
        Command::Trust(a) => trust_cmd(&cli.global, &a),
        Command::Pin(a) => pin_cmd(&cli.global, &a),
        Command::Audit(AuditCommand::Verify { file, anchor }) => {
            let configured = load(&cli.global.locations()).settings.audit;
            let configured_log = audit_path(&configured);
            let Some(file) = file.or_else(|| configured_log.clone()) else {
                eprintln!("hookhost audit verify: no audit log configured; name the file");
                return 1;
            };
            let same = |a: &Path, b: &Path| std::path::absolute(a).ok() == std::path::absolute(b).ok();
            let anchor = anchor.unwrap_or_else(|| match (&configured_log, &configured.anchor) {
                (Some(log), Some(a)) if same(log, &file) => a.clone(),
                _ => crate::audit::default_anchor(&file),
            });
            match crate::audit::verify_anchored(&file, Some(&anchor)) {
                Ok(report) => {
                    println!("{report}");
                    match report.integrity() {
                        crate::audit::Integrity::Tampered => 2,
                        _ => 0,
                    }
                }
                Err(e) => {
                    eprintln!("hookhost audit verify: {e}");
                    1
                }
            }
        }
        Command::Audit(AuditCommand::Ship(a)) => crate::cli::ship::ship_cmd(&cli.global, &a),
        Command::Replay(a) => match &cli.global.settings {
            Some(candidate) => {
                crate::replay::run(a.audit.as_deref(), a.events.as_deref(), candidate, cli.global.project_dir.clone())
            }
            None => {
                eprintln!("hookhost replay: name the candidate policy with --settings FILE");
                1
            }
        },
        Command::Status(a) => crate::cli::remote::status_cmd(&cli.global, &a),
        Command::Remote(c) => crate::cli::remote::remote_cmd(&cli.global, &c),
        Command::Sign(a) => crate::cli::remote::sign_cmd(&a),
        Command::Keygen(a) => crate::cli::remote::keygen_cmd(&a),
        Command::Approvals => crate::cli::remote::approvals_cmd(&cli.global),
        Command::Approve(a) => crate::cli::remote::decide_cmd(&cli.global, &a, true),
        Command::Reject(a) => crate::cli::remote::decide_cmd(&cli.global, &a, false),
        Command::AsyncHooks => async_hooks_cmd(&cli.global),
        Command::Doctor => {
            let loaded = load(&cli.global.locations());
            // An unusable managed policy: the most demanding mode is checked.
            let mode = match loaded.settings.managed_sandbox() {
                Ok(m) => m.resolve(None).mode,
                Err(_) => crate::exec::sandbox::Mode::Strict,
            };
            let code = crate::doctor::run(mode);
            let project = cli.global.project_dir.clone().or_else(|| std::env::current_dir().ok()).unwrap_or_default();
            println!();
            for line in crate::install::doctor_report(&project) {
                println!("{line}");
            }
            code
        }
    }
}

/// The audit log file the settings name (see [`crate::audit::configured_path`]).
fn audit_path(a: &crate::settings::file::AuditSettings) -> Option<PathBuf> {
    crate::audit::configured_path(a)
}

pub(super) fn read_stdin(limit: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    std::io::stdin().lock().take(limit).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The host of one-shot `dispatch` (and of its thin client's fallback, `explain` and
/// `async-hooks`): the standard locations with `--settings` and `--project-dir`.
pub(super) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

pub(super) fn fmt_duration(d: Duration) -> String {
    if d.as_millis() >= 10 { format!("{} ms", d.as_millis()) } else { format!("{:.2} ms", d.as_secs_f64() * 1000.0) }
}
