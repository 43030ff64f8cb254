//! The command line: `dispatch` (Claude Code's hook backend), `check`, `explain`, `trust`,
//! `pin`, `doctor`, `audit`, `test` and `demo`; the server-managed settings commands (`status`,
//! `remote`, `sign`, `keygen`, `approvals`, `approve`, `reject`) live in `remote_cli`.
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
    /// the last fetch and its result, and whether the cache verified.
    Status(crate::cli_remote::StatusArgs),
    /// Server-managed settings (`remoteSettings` in endpoint-managed settings).
    #[command(subcommand)]
    Remote(crate::cli_remote::RemoteCommand),
    /// Sign a settings file for delivery from a server: prints the signed envelope
    /// ({"hookhostSigned": 2, "url" | "fleet", "version", "expires", "payload", "signature"})
    /// that any static web server can serve as it is: valid only for that URL (or fleet), only
    /// above the version clients verified before, only until it expires. `--legacy` writes the
    /// old bare signature (clients accept it only with `remoteSettings.allowLegacySignatures`).
    Sign(crate::cli_remote::SignArgs),
    /// Generate an ed25519 signing key: writes the private key to OUT (mode 0600) and prints
    /// the base64 public key for `remoteSettings.publicKey`.
    Keygen(crate::cli_remote::KeygenArgs),
    /// List what the current server-managed settings revision would run (hooks, env vars) and
    /// whether it is approved. With `remoteSettings.requireApproval`, server hooks run only once
    /// their revision is approved.
    Approvals,
    /// Approve the current server-managed settings revision (its hooks then run). Audited.
    Approve(crate::cli_remote::ApproveArgs),
    /// Reject the current server-managed settings revision (its hooks do not run). Audited.
    Reject(crate::cli_remote::ApproveArgs),
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
        Command::Audit(AuditCommand::Ship(a)) => crate::cli_ship::ship_cmd(&cli.global, &a),
        Command::Replay(a) => match &cli.global.settings {
            Some(candidate) => {
                crate::replay::run(a.audit.as_deref(), a.events.as_deref(), candidate, cli.global.project_dir.clone())
            }
            None => {
                eprintln!("hookhost replay: name the candidate policy with --settings FILE");
                1
            }
        },
        Command::Status(a) => crate::cli_remote::status_cmd(&cli.global, &a),
        Command::Remote(c) => crate::cli_remote::remote_cmd(&cli.global, &c),
        Command::Sign(a) => crate::cli_remote::sign_cmd(&a),
        Command::Keygen(a) => crate::cli_remote::keygen_cmd(&a),
        Command::Approvals => crate::cli_remote::approvals_cmd(&cli.global),
        Command::Approve(a) => crate::cli_remote::decide_cmd(&cli.global, &a, true),
        Command::Reject(a) => crate::cli_remote::decide_cmd(&cli.global, &a, false),
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

fn read_stdin(limit: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    std::io::stdin().lock().take(limit).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The host of one-shot `dispatch` (and of its thin client's fallback, `explain` and
/// `async-hooks`): the standard locations with `--settings` and `--project-dir`.
fn oneshot_host(g: &Global, front: crate::host::FrontEnd, max_event_bytes: usize) -> Result<crate::Host, Response> {
    let mut b = crate::Host::builder()
        .front_end(front)
        .max_event_bytes(max_event_bytes)
        .remote(crate::host::RemoteMode::Startup);
    if let Some(s) = &g.settings {
        b = b.settings_file(s.clone());
    }
    if let Some(p) = &g.project_dir {
        b = b.project_dir(p.clone());
    }
    let g2 = g.clone();
    b = b.detach_with(std::sync::Arc::new(move |event, outcome| detach_async(&g2, event, outcome)));
    b.build().map_err(|e| crate::host::host_error(HostFault::Evaluation, None, e))
}

/// The audit log file the settings name (see [`crate::audit::configured_path`]).
pub fn audit_path(a: &crate::settings::file::AuditSettings) -> Option<PathBuf> {
    crate::audit::configured_path(a)
}

fn emit(r: &Response) -> u8 {
    // A closed pipe on our output is not something we can report anywhere.
    let _ = std::io::stdout().write_all(r.stdout.as_bytes());
    let _ = std::io::stderr().write_all(r.stderr.as_bytes());
    r.exit_code
}

/// `hookhost dispatch`: the agent's payload → the canonical event (`crate::agents`), the
/// canonical event → hookhost's answer (in-process, through the daemon, or as the thin
/// client's fallback), the answer → the agent's wire form. For Claude Code (the default) both
/// ends are the identity.
fn dispatch_cmd(g: &Global, a: &DispatchCmd) -> Response {
    crate::fault::test_point("read");
    let input = match read_stdin(a.args.max_event_bytes) {
        Ok(i) => i,
        Err(e) => {
            return crate::host::host_error(
                HostFault::Evaluation,
                None,
                format!("cannot read the event from stdin: {e}"),
            );
        }
    };
    crate::cli_agents::dispatch(a.args.agent, a.args.agent_event.as_deref(), &a.args, &input, |args, canonical| match (
        crate::daemon::auto::Fallback::from_env(),
        a.socket.as_ref().filter(|s| !s.as_os_str().is_empty()),
    ) {
        (Some(fallback), _) => dispatch_fallback(g, args, canonical, fallback),
        (None, Some(socket)) => dispatch_via_daemon(g, a, args, socket, canonical),
        (None, None) => dispatch(g, args, canonical),
    })
}

/// One-shot `dispatch` of the canonical event `input`.
fn dispatch(g: &Global, a: &DispatchArgs, input: &[u8]) -> Response {
    let host = match oneshot_host(g, crate::host::FrontEnd::OneShot, a.max_event_bytes) {
        Ok(h) => h,
        Err(r) => return r,
    };
    // The settings are loaded once: managed `hookhost.daemon` is read from the revision the
    // event was prepared under.
    let p = match prepare_oneshot(&host, input) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if p.loaded.settings.daemon_mode == crate::daemon::auto::DaemonMode::Required {
        // Managed `hookhost.daemon: "required"`: only a daemon answers, even when `dispatch` is
        // run directly rather than through `hookhost-dispatch`.
        let fallback = crate::daemon::auto::Fallback {
            kind: crate::daemon::auto::FallbackKind::Unavailable,
            cause: "`hookhost dispatch` ran without a daemon".into(),
            socket: None,
        };
        return daemon_required(g, &host, input, &p.loaded.settings, &fallback);
    }
    run_prepared(&host, p, None)
}

/// [`crate::Host::prepare`] from synchronous code: the event parsed, its settings loaded
/// through the gate and admitted; `Err`: the response to give instead.
fn prepare_oneshot(host: &crate::Host, input: &[u8]) -> Result<crate::host::Prepared, Response> {
    match host.block_on(host.prepare(input, &crate::host::Target::default())) {
        Ok(r) => r,
        Err(e) => Err(crate::host::host_error(HostFault::Evaluation, None, e)),
    }
}

/// Runs a prepared event from synchronous code.
fn run_prepared(host: &crate::Host, p: crate::host::Prepared, note: Option<String>) -> Response {
    match host.block_on(host.run_prepared(p, note)) {
        Ok(r) => r,
        Err(e) => crate::host::host_error(HostFault::Evaluation, None, e),
    }
}

/// What a one-shot `dispatch` hands to its detached `async-hooks` process on stdin.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct AsyncJob {
    v: u32,
    /// The event, exactly as the agent sent it.
    event: String,
    /// The settings revision the hooks were routed under: the detached process runs them only
    /// under the same revision.
    revision: String,
    hooks: Vec<crate::bus::HookRef>,
}

/// Starts the detached process that runs `outcome.detached` (the `async: true` hooks) after
/// this dispatch has answered: `hookhost async-hooks` with the same settings arguments, in its
/// own process group, stdout and stderr on /dev/null (Claude Code waits for neither), the job
/// on its stdin. It is not waited for: it outlives this process, runs the hooks sandboxed and
/// appends one `async_hook` audit record per hook when each finishes.
fn detach_async(g: &Global, event: &HookEvent, outcome: &Outcome) -> Result<u32, String> {
    use std::os::unix::process::CommandExt;
    let job = AsyncJob {
        v: 1,
        event: String::from_utf8_lossy(event.raw()).into_owned(),
        revision: outcome.revision.clone(),
        hooks: outcome.detached.iter().map(|h| crate::bus::HookRef::of(h)).collect(),
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the hookhost binary: {e}"))?;
    let mut c = std::process::Command::new(exe);
    if let Some(s) = &g.settings {
        c.arg("--settings").arg(s);
    }
    if let Some(p) = &g.project_dir {
        c.arg("--project-dir").arg(p);
    }
    c.arg("async-hooks")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let mut child = c.spawn().map_err(|e| format!("cannot start `hookhost async-hooks`: {e}"))?;
    let bytes = serde_json::to_vec(&job).map_err(|e| e.to_string())?;
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(&bytes).map_err(|e| format!("cannot hand over the job: {e}")),
        None => Err("no pipe to the async-hooks process".to_string()),
    };
    if let Err(e) = written {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    // Not waited for: it outlives this process (re-parented when we exit).
    Ok(child.id())
}

/// `hookhost async-hooks`: runs the job a one-shot dispatch detached (see `detach_async`).
fn async_hooks_cmd(g: &Global) -> u8 {
    let input = match read_stdin(crate::daemon::MAX_FRAME.saturating_mul(2)) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "async-hooks: cannot read the job");
            return crate::error::EXIT_ERROR;
        }
    };
    let job: AsyncJob = match serde_json::from_slice(&input) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(error = %e, "async-hooks: invalid job");
            return crate::error::EXIT_ERROR;
        }
    };
    let host = match oneshot_host(g, crate::host::FrontEnd::OneShot, job.event.len().max(DEFAULT_MAX_EVENT_BYTES)) {
        Ok(h) => h,
        Err(r) => {
            tracing::error!(error = %r.stderr.trim(), "async-hooks: cannot build the host");
            return crate::error::EXIT_ERROR;
        }
    };
    match host.block_on(host.run_detached(job.event.as_bytes(), &job.revision, &job.hooks)) {
        Ok(Ok(())) => crate::error::EXIT_OK,
        Ok(Err(e)) | Err(e) => {
            tracing::error!(error = %e, "async-hooks: not run");
            crate::error::EXIT_ERROR
        }
    }
}

/// `dispatch` as a thin client of the daemon at `socket`; on any daemon failure, the host
/// decides between failing closed and evaluating in-process (the event's failure policy).
fn dispatch_via_daemon(g: &Global, a: &DispatchCmd, args: &DispatchArgs, socket: &Path, input: &[u8]) -> Response {
    let host = match oneshot_host(g, crate::host::FrontEnd::OneShot, args.max_event_bytes) {
        Ok(h) => h,
        Err(r) => return r,
    };
    // An event that does not parse is handled in-process, exactly as without a daemon.
    let parsed = HookEvent::parse_with_limit(input, args.max_event_bytes).ok();
    let (Some(event), Ok(text)) = (parsed, std::str::from_utf8(input)) else {
        return host.dispatch_blocking(input);
    };
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let project_dir = g
        .project_dir
        .clone()
        .or_else(|| std::env::var_os("CLAUDE_PROJECT_DIR").filter(|v| !v.is_empty()).map(PathBuf::from))
        .map(|p| absolute(&p));
    // A daemon of another uid (root, serving several users) reads none of this user's files:
    // it answers with the managed policy, so the project is not sent (the event's `cwd` selects
    // none there either). An explicit `--settings` is sent, and refused: the failure policy
    // then decides, as for any refusal. The daemon must be this binary (when it is this user's)
    // and answer for this process's settings locations and version (`hookhost_dispatch::ask`).
    crate::fault::note_event_name(event.name());
    // A hook that runs into its timeout is killed at it: the daemon answers just after, so the
    // default wait leaves it room (else the event would be evaluated twice, once in-process).
    let deadline = a.socket_timeout.unwrap_or_else(|| crate::hook::default_timeout(event.name()) + THIN_CLIENT_MARGIN);
    let err = match ask_daemon(
        socket,
        text,
        project_dir.as_deref(),
        g.settings.as_deref().map(absolute).as_deref(),
        deadline,
    ) {
        Ok(r) => return r,
        Err(f) => f.message().to_string(),
    };
    tracing::warn!(error = %err, "daemon unavailable");
    match host.block_on(host.dispatch_after_daemon_failure(input, &err)) {
        Ok(r) => r,
        Err(e) => crate::host::host_error(HostFault::Evaluation, None, format!("{err}; {e}")),
    }
}

/// One event to the daemon at `socket` through the thin client's checks (listener uid and
/// binary, identity).
fn ask_daemon(
    socket: &Path,
    event: &str,
    project_dir: Option<&Path>,
    settings: Option<&Path>,
    deadline: Duration,
) -> Result<Response, hookhost_dispatch::Failure> {
    let exe = std::env::current_exe().ok();
    let expect = hookhost_dispatch::Identity::from_env();
    let ask =
        hookhost_dispatch::Ask { socket, event, project_dir, settings, expect: &expect, bin: exe.as_deref(), deadline };
    hookhost_dispatch::ask(&ask).map(|a| Response { stdout: a.stdout, stderr: a.stderr, exit_code: a.exit_code })
}

/// `dispatch` handed over by `hookhost-dispatch` (the thin client) after the daemon gave no
/// usable answer (`daemon::auto::Fallback`). The daemon named by `HOOKHOST_SOCKET`, or an
/// automatic daemon that took the event and failed: today's semantics (the event fails closed
/// where managed `failClosed` lists it, naming the cause, else it is evaluated in-process with
/// a note). No automatic daemon: managed `hookhost.daemon` decides (`off`: in-process; `auto`:
/// start one and answer in-process; `required`: start one and ask it, else fail closed).
fn dispatch_fallback(g: &Global, a: &DispatchArgs, input: &[u8], fallback: crate::daemon::auto::Fallback) -> Response {
    use crate::daemon::auto::{DaemonMode, FallbackKind};
    let host = match oneshot_host(g, crate::host::FrontEnd::OneShot, a.max_event_bytes) {
        Ok(h) => h,
        Err(r) => return r,
    };
    // An event that does not parse is answered as without a daemon.
    let Ok(event) = HookEvent::parse_with_limit(input, a.max_event_bytes) else {
        return host.dispatch_blocking(input);
    };
    crate::fault::note_event_name(event.name());
    // The settings are loaded once: managed `hookhost.daemon` is read from the revision the
    // event was prepared under.
    let p = match prepare_oneshot(&host, input) {
        Ok(p) => p,
        Err(mut r) => {
            if fallback.kind != FallbackKind::Unavailable {
                r.stderr = format!("hookhost: {}\n{}", fallback.cause, r.stderr);
            }
            return r;
        }
    };
    let mode = p.loaded.settings.daemon_mode;
    if fallback.kind != FallbackKind::Explicit && mode == DaemonMode::Auto {
        start_auto_daemon(fallback.socket.as_deref());
    }
    match (&fallback.kind, mode) {
        (FallbackKind::Unavailable, DaemonMode::Off | DaemonMode::Auto) => run_prepared(&host, p, None),
        (FallbackKind::Unavailable | FallbackKind::Failed, DaemonMode::Required) => {
            daemon_required(g, &host, input, &p.loaded.settings, &fallback)
        }
        // The daemon took the event and failed: the event's failure policy decides (fail
        // closed naming the cause, else in-process with a note), as `dispatch --socket` does.
        _ => match host.block_on(host.run_after_daemon_failure(p, &fallback.cause)) {
            Ok(r) => r,
            Err(e) => crate::host::host_error(HostFault::Evaluation, None, format!("{}; {e}", fallback.cause)),
        },
    }
}

/// Starts the automatic daemon at `socket` (else this binary's automatic socket), noting a
/// failure in the log only: the event is answered either way.
fn start_auto_daemon(socket: Option<&Path>) {
    let Some(socket) = socket.map(Path::to_path_buf).or_else(crate::daemon::auto::auto_socket) else {
        return;
    };
    match crate::daemon::auto::start(&socket) {
        Ok(s) => tracing::debug!(socket = %socket.display(), started = ?s, "automatic daemon"),
        Err(e) => tracing::warn!(error = %e, "cannot start the automatic daemon"),
    }
}

/// Managed `hookhost.daemon: "required"`: the event is answered by the automatic daemon (started
/// if needed, waited for at most `REQUIRED_WAIT`), else it fails closed naming the cause.
fn daemon_required(
    g: &Global,
    host: &crate::Host,
    input: &[u8],
    settings: &crate::settings::Settings,
    fallback: &crate::daemon::auto::Fallback,
) -> Response {
    use crate::daemon::auto::{FallbackKind, REQUIRED_WAIT};
    // An event that does not parse is answered (and refused) as without a daemon.
    let Ok(event) = HookEvent::parse_with_limit(input, usize::MAX) else {
        return host.dispatch_blocking(input);
    };
    let name = event.name().to_string();
    let socket = fallback.socket.clone().or_else(crate::daemon::auto::auto_socket);
    let mut cause = fallback.cause.clone();
    start_auto_daemon(socket.as_deref());
    if fallback.kind == FallbackKind::Unavailable
        && let Some(socket) = &socket
        && let Ok(text) = std::str::from_utf8(input)
    {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let project_dir = g
            .project_dir
            .clone()
            .or_else(|| std::env::var_os("CLAUDE_PROJECT_DIR").filter(|v| !v.is_empty()).map(PathBuf::from))
            .map(|p| absolute(&p));
        let settings_file = g.settings.as_deref().map(absolute);
        let start = std::time::Instant::now();
        loop {
            let deadline = crate::hook::default_timeout(&name) + THIN_CLIENT_MARGIN;
            match ask_daemon(socket, text, project_dir.as_deref(), settings_file.as_deref(), deadline) {
                Ok(r) => return r,
                Err(hookhost_dispatch::Failure::Unavailable(_)) if start.elapsed() < REQUIRED_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(f) => {
                    cause = f.message().to_string();
                    break;
                }
            }
        }
    }
    let msg =
        format!("managed hookhost.daemon is \"required\" and no daemon answered ({cause}); failing closed for {name}");
    let r = crate::host::host_error(HostFault::Evaluation, Some(true), &msg);
    crate::fault::audit_host_error(&settings.audit, &settings.revision, Some(&name), &msg, r.exit_code);
    r
}

fn serve_cmd(g: &Global, a: &ServeArgs) -> u8 {
    use crate::daemon::server;
    let mut options = server::ServeOptions::new(a.socket.clone().unwrap_or_else(crate::daemon::default_socket));
    options.mode = a.socket_mode;
    options.max_connections_per_uid = a.max_connections_per_uid.max(1);
    options.idle_timeout = Duration::from_secs_f64(a.idle_timeout);
    options.frame_timeout = Duration::from_secs_f64(a.frame_timeout);
    options.max_buffered_bytes = a.max_buffered_bytes;
    // Observability (issue 24): bind the metrics endpoint now, so a bad address stops the start.
    if let Some(addr) = a.metrics {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => options.metrics = Some(std::sync::Arc::new(l)),
            Err(e) => {
                eprintln!("hookhost serve: --metrics {addr}: {e}");
                return 1;
            }
        }
    }
    options.auto = a.auto;
    options.idle_exit =
        a.idle_exit.map(Duration::from_secs_f64).or(a.auto.then_some(crate::daemon::auto::DEFAULT_IDLE_EXIT));
    // The automatic daemon: one per socket, held for its life.
    let _lock = if a.auto {
        if let Err(e) = crate::daemon::auto::ensure_dir(&options.socket) {
            eprintln!("hookhost serve: cannot create the directory of {}: {e}", options.socket.display());
            return 1;
        }
        match crate::daemon::auto::lock(&options.socket) {
            Ok(Some(l)) => Some(l),
            Ok(None) => {
                eprintln!("hookhost serve: another automatic daemon holds {}.lock; exiting", options.socket.display());
                return 0;
            }
            Err(e) => {
                eprintln!("hookhost serve: cannot take {}.lock: {e}", options.socket.display());
                return 1;
            }
        }
    } else {
        None
    };
    // Warm the project named on the command line: its changes made while no daemon ran are
    // gated at start, not at the first event.
    if g.project_dir.is_some() || g.settings.is_some() {
        let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        options.preload.push((g.project_dir.as_ref().map(abs), g.settings.as_ref().map(abs)));
    }
    for u in &a.allow_uid {
        match server::parse_uid(u) {
            Ok(uid) => options.allowed_uids.push(uid),
            Err(e) => {
                eprintln!("hookhost serve: --allow-uid {u}: {e}");
                return 1;
            }
        }
    }
    // Observability (issue 24): the audit shipping of the managed settings at start.
    options.ship = crate::ship::ShipOptions::from_settings(&crate::settings::load(&g.locations()).settings.audit);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookhost serve: cannot start the runtime: {e}");
            return 1;
        }
    };
    // Socket activation (systemd's hookhost.socket): the socket is inherited, not bound here.
    let inherited = match crate::daemon::activation::inherited() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("hookhost serve: socket activation: {e}");
            return 1;
        }
    };
    if let Some((_, path)) = &inherited {
        options.socket = path.clone();
        options.socket_activated = true;
    }
    rt.block_on(async {
        // Server-managed settings: fetched now when there is no cache (or
        // forceRemoteSettingsRefresh asks for a fresh copy, without which the daemon refuses to
        // start), then polled. WebAssembly pooled, sandboxes prepared ahead, settings live.
        let host = crate::Host::builder()
            .watch(true)
            .remote(crate::host::RemoteMode::Poll)
            .wasm(crate::host::WasmAllocator::Pooled)
            .sandbox_pool(true)
            .max_projects(a.max_projects.max(1))
            .max_event_bytes(options.max_event_bytes)
            .build();
        let host = match host {
            Ok(h) => h,
            Err(e) => {
                eprintln!("hookhost serve: refusing to start: {e}");
                return 1;
            }
        };
        for w in host.warnings() {
            eprintln!("hookhost serve: WARNING: {w}");
        }
        let bound = match inherited {
            Some((l, _)) => tokio::net::UnixListener::from_std(l).map_err(|e| e.to_string()),
            None => server::bind(&options).map_err(|e| e.to_string()),
        };
        let listener = match bound {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hookhost serve: {e}");
                host.shutdown().await;
                return 1;
            }
        };
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(_hup)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
        else {
            eprintln!("hookhost serve: cannot install signal handlers");
            return 1;
        };
        eprintln!(
            "hookhost serve: listening on {}{}",
            options.socket.display(),
            if options.socket_activated {
                " (socket from systemd; its mode and group are the .socket unit's)"
            } else {
                ""
            }
        );
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        server::serve(listener, options, host, shutdown).await;
        0
    })
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

fn fmt_duration(d: Duration) -> String {
    if d.as_millis() >= 10 { format!("{} ms", d.as_millis()) } else { format!("{:.2} ms", d.as_secs_f64() * 1000.0) }
}

fn explain(g: &Global, a: &DispatchArgs) -> u8 {
    let failed = |r: Response| {
        eprint!("{}", r.stderr);
        println!("dispatch would exit {} (host error)", r.exit_code);
        1
    };
    let input = match read_stdin(a.max_event_bytes) {
        Ok(i) => i,
        Err(e) => {
            return failed(crate::host::host_error(
                HostFault::Evaluation,
                None,
                format!("cannot read the event from stdin: {e}"),
            ));
        }
    };
    // `--agent`: the mapping applied, then the canonical event explained.
    let inbound = match a.agent.accept(&input, a.agent_event.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("hookhost: {}: {e}", a.agent.name());
            println!("dispatch would exit 2 (host error)");
            return 1;
        }
    };
    let limit = if inbound.agent == crate::agents::Agent::Claude {
        a.max_event_bytes
    } else {
        crate::cli_agents::canonical_limit(a.max_event_bytes)
    };
    let host = match oneshot_host(g, crate::host::FrontEnd::Explain, limit) {
        Ok(h) => h,
        Err(r) => return failed(r),
    };
    let explained = match host.block_on(host.explain(&inbound.canonical)) {
        Ok(Ok(x)) => x,
        Ok(Err(r)) => return failed(r),
        Err(e) => return failed(crate::host::host_error(HostFault::Evaluation, None, e)),
    };
    let crate::host::Explained { event, outcome, revision, warnings, errors, rollback } = explained;
    let subject = event.matcher_subject().map(str::to_string);
    let mut o = String::new();
    if inbound.agent != crate::agents::Agent::Claude {
        for line in inbound.describe() {
            o.push_str(&format!("{line}\n"));
        }
    }
    o.push_str(&format!("event     {}", event.name()));
    if let Some(s) = &subject {
        o.push_str(&format!(" (matcher subject {s:?})"));
    }
    o.push_str(&format!("\nsettings  revision {}\n", &revision[..12.min(revision.len())]));
    for e in &errors {
        o.push_str(&format!("  skipped invalid file: {e}\n"));
    }
    for w in &warnings {
        o.push_str(&format!("  warning: {w}\n"));
    }
    if event.kind() == crate::event::EventKind::PreToolUse {
        match &outcome.rule_hit {
            Some(h) => o.push_str(&format!("\npermission rules: {}\n  {}\n", h.permission.as_str(), h.reason)),
            None => o.push_str("\npermission rules: no rule applies\n"),
        }
    }
    o.push_str(&format!("\nhooks that ran ({}):\n", outcome.runs.len()));
    for r in &outcome.runs {
        let answer = match &r.report.result {
            HookResult::Decided(d) => d.summary(),
            HookResult::Failed(f) => format!("FAILED ({}): {}", f.kind.as_str(), f.message),
        };
        let policy = match &r.policy {
            crate::decision::FailurePolicy::Open => "fail-open".to_string(),
            crate::decision::FailurePolicy::Closed(w) => format!("fail-closed: {w}"),
        };
        o.push_str(&format!(
            "  {}  {}\n      from {}\n      answered: {}\n      took {}, {}{}\n",
            r.hook.kind(),
            r.hook.label(),
            r.hook.origin,
            answer,
            fmt_duration(r.report.duration),
            policy,
            match r.hook.enforcement {
                crate::vocab::Enforcement::Enforce if r.hook.is_async => ", async (decision ignored)",
                crate::vocab::Enforcement::Enforce => "",
                crate::vocab::Enforcement::Warn => ", mode warn (a rejection is only a warning)",
                crate::vocab::Enforcement::Audit => ", mode audit (recorded, not applied)",
            }
        ));
        if let Some(sb) = &r.report.sandbox {
            o.push_str(&format!("      sandbox: {}\n", sb.summary()));
            for (layer, status) in &sb.layers {
                o.push_str(&format!("        {:<15} {status}\n", layer.as_str()));
            }
        }
        if let Some(h) = &r.report.stderr_head {
            o.push_str(&format!("      stderr: {h}\n"));
        }
    }
    for c in &outcome.rewrites {
        o.push_str(&format!(
            "\nrewritten input checked again (pass {}): {}\n",
            c.pass,
            crate::decision::truncate_chars(&c.input.to_string(), 200)
        ));
        match &c.rule_hit {
            Some(h) => o.push_str(&format!("  permission rules: {}: {}\n", h.permission.as_str(), h.reason)),
            None => o.push_str("  permission rules: no rule applies\n"),
        }
        for r in &c.runs {
            let answer = match &r.report.result {
                HookResult::Decided(d) => d.summary(),
                HookResult::Failed(f) => format!("FAILED ({}): {}", f.kind.as_str(), f.message),
            };
            o.push_str(&format!("  {} {} answered: {answer}\n", r.hook.kind(), r.hook.label()));
        }
        o.push_str(&format!("  this pass: {}\n", c.verdict.label()));
    }
    if !outcome.detached.is_empty() {
        o.push_str(&format!("\nasync hooks ({}), not awaited by dispatch:\n", outcome.detached.len()));
        for h in &outcome.detached {
            o.push_str(&format!("  {}  {}\n      from {}\n", h.kind(), h.label(), h.origin));
        }
    }
    if !outcome.skipped.is_empty() {
        o.push_str(&format!("\nhooks skipped ({}):\n", outcome.skipped.len()));
        for (h, why) in &outcome.skipped {
            o.push_str(&format!("  {}  {}\n      from {}\n      because {}\n", h.kind(), h.label(), h.origin, why));
        }
    }
    if let Some(r) = rollback {
        o.push_str(&format!("\n{r}\n"));
    }
    o.push_str(&format!("\ndecision  {}\n", outcome.verdict.label()));
    if let Some(r) = &outcome.verdict.reason {
        o.push_str(&format!("reason    {}\n", first_line(r)));
    }
    for w in &outcome.verdict.why {
        o.push_str(&format!("  - {w}\n"));
    }
    let claude_form = outcome.render(&event);
    let resp = inbound.render(&claude_form);
    if inbound.agent != crate::agents::Agent::Claude {
        o.push_str(&format!(
            "\nin Claude Code's form: exit {} {}",
            claude_form.exit_code,
            claude_form.stdout.trim_end()
        ));
        o.push_str(&format!("\nanswered to {} in its own form:", inbound.agent.name()));
    }
    o.push_str(&format!("\n`hookhost dispatch` would exit {}", resp.exit_code));
    if !resp.stdout.is_empty() {
        o.push_str(&format!(" and print:\n  {}", resp.stdout.trim_end()));
    }
    if !resp.stderr.is_empty() {
        o.push_str(&format!("\n  stderr: {}", resp.stderr.trim_end()));
    }
    o.push_str(&format!("\n(total {})\n", fmt_duration(outcome.duration)));
    print!("{o}");
    0
}

fn check(g: &Global, a: &CheckArgs) -> u8 {
    let loc = g.locations();
    let loaded = load(&loc);
    let s = &loaded.settings;
    let mut o = String::new();
    o.push_str(&format!("settings revision {}\n\nfiles (highest precedence first):\n", s.revision));
    if s.sources.is_empty() {
        o.push_str("  (none found)\n");
    }
    for src in &s.sources {
        o.push_str(&format!("  {:<12} {}\n", src.scope.as_str(), src.path.display()));
    }
    if let Some(r) = &loaded.remote {
        o.push_str(&crate::cli_remote::check_summary(r));
    }
    o.push_str(&format!(
        "\nnot present: {}\n",
        [Some(loc.managed_file()), loc.local_file(), loc.project_file(), loc.user_file.clone()]
            .into_iter()
            .flatten()
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    o.push_str(&format!("\nactive hooks ({}), in configured order:\n", s.hooks.len()));
    for h in &s.hooks {
        o.push_str(&format!(
            "  {:<18} {:<16} {} {}\n      timeout {}s{}{}{}\n      from {}\n",
            h.event,
            format!("matcher {:?}", h.matcher_source.as_deref().unwrap_or("*")),
            h.kind(),
            h.label(),
            h.timeout.as_secs_f64(),
            h.if_rule.as_ref().map(|r| format!(", if {}", r.text)).unwrap_or_default(),
            match h.on_failure {
                Some(crate::hook::OnFailure::Block) => ", onFailure block",
                _ => "",
            },
            if h.is_async { ", async" } else { "" },
            h.origin
        ));
        if h.rollback {
            o.push_str("      rollback: a matching edit it rejects is undone\n");
        }
    }
    // Loading every component now compiles it (with the precompile budget) into the precompile
    // cache when this process may write one (root): events then never compile.
    let components = crate::Host::tools()
        .preload_wasm(&s.hooks, &crate::exec::RunContext { project_dir: loc.project_dir.clone(), sole: false });
    if !components.is_empty() {
        o.push_str(&format!("\nwasm components ({}):\n", components.len()));
        for (path, r) in &components {
            match r {
                Ok(how) => o.push_str(&format!("  {}\n      ok: {how}\n", path.display())),
                Err(f) => {
                    o.push_str(&format!("  {}\n      FAILED ({}): {}\n", path.display(), f.kind.as_str(), f.message))
                }
            }
        }
    }
    if !s.inactive.is_empty() {
        o.push_str(&format!("\ninactive hooks ({}):\n", s.inactive.len()));
        for (h, why) in &s.inactive {
            o.push_str(&format!(
                "  {:<18} {} {}\n      from {}\n      because {}\n",
                h.event,
                h.kind(),
                h.label(),
                h.origin,
                why
            ));
        }
    }
    o.push_str(&format!(
        "\npermission rules: {} deny, {} ask, {} allow{}\n",
        s.permissions.deny.len(),
        s.permissions.ask.len(),
        s.permissions.allow.len(),
        if s.allow_managed_permission_rules_only { " (managed rules only)" } else { "" }
    ));
    if s.allow_managed_hooks_only {
        o.push_str("allowManagedHooksOnly: only managed hooks run\n");
    }
    if s.rollback.rejected_edits == Some(true) {
        o.push_str(
            "rollbackRejectedEdits: every Edit/Write/MultiEdit/NotebookEdit a PostToolUse hook rejects is undone\n",
        );
    }
    if s.rollback.revert_config_changes == Some(true) {
        o.push_str(
            "revertBlockedConfigChanges: a blocked settings change is written back to the last accepted content\n",
        );
    }
    if s.require_pinned_hooks {
        o.push_str("requirePinnedHooks: non-managed hooks run only with a sha256 pin\n");
    }
    let mut per_event: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for h in &s.hooks {
        *per_event.entry(h.event.as_str()).or_default() += 1;
    }
    for (event, n) in per_event.into_iter().filter(|(_, n)| *n > s.max_hooks_per_event()) {
        o.push_str(&format!(
            "limit: {event} has {n} hooks, more than maxHooksPerEvent ({}): if they all match, none runs and the \
             event fails closed\n",
            s.max_hooks_per_event()
        ));
    }
    if let Some((v, scope)) = s.disable_all_hooks {
        o.push_str(&format!("disableAllHooks: {v} (from {scope} settings)\n"));
    }
    o.push_str(&format!(
        "failure policy: {}\n",
        if s.fail_closed.is_empty() {
            "fail-open unless a hook says onFailure \"block\"".to_string()
        } else {
            format!("fail closed for {}", s.fail_closed.iter().cloned().collect::<Vec<_>>().join(", "))
        }
    ));
    print!("{o}");
    crate::lint::report(&loc, &loaded, &components, a.strict)
}

fn init_cmd(g: &Global, a: &InitArgs) -> u8 {
    use crate::init::{Request, Target};
    let loc = g.locations();
    let target = if a.project { Target::Project } else { Target::Managed };
    let (policy_file, claude_default) = match target {
        Target::Managed => (loc.managed_file(), PathBuf::from("/etc/claude-code/managed-settings.json")),
        Target::Project => match (loc.project_file(), loc.project_dir.clone()) {
            (Some(f), Some(d)) => (f, d.join(".claude/settings.json")),
            _ => {
                eprintln!("hookhost init: no project directory (pass --project-dir DIR)");
                return 1;
            }
        },
    };
    let r = Request {
        target,
        preset: a.preset,
        policy_file,
        claude_file: a.claude_settings.clone().unwrap_or(claude_default),
        force: a.force,
    };
    match crate::init::run(&r, &mut std::io::stdout().lock()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hookhost init: {e}");
            1
        }
    }
}

/// The current directory, as `Locations::from_env` takes it.
fn trust_cmd(g: &Global, a: &TrustArgs) -> u8 {
    let loc = g.locations();
    let fail = |m: String| {
        eprintln!("hookhost trust: {m}");
        1
    };
    let Some(project) = loc.project_dir.clone().filter(|p| p.is_dir()) else {
        return fail(crate::trust::TrustError::NoProjectDir.to_string());
    };
    let Some(state) = loc.state_dir.clone() else { return fail(crate::trust::TrustError::NoStateDir.to_string()) };
    let key = crate::trust::project_key(&project);
    if a.revoke {
        return match crate::trust::revoke_project(&state, &project) {
            Ok(true) => {
                println!("revoked trust in {key}: its project hooks do not run until `hookhost trust`");
                0
            }
            Ok(false) => {
                println!("{key} was not trusted");
                0
            }
            Err(e) => fail(e.to_string()),
        };
    }
    let loaded = load(&loc);
    let project_files = [loc.project_file(), loc.local_file()];
    let bad: Vec<String> = loaded
        .errors
        .iter()
        .filter(|e| project_files.iter().flatten().any(|f| *f == e.location.path))
        .map(|e| e.to_string())
        .collect();
    for b in &bad {
        // Its hooks are not loaded, so they are not trusted: once fixed they are new hooks.
        eprintln!("hookhost trust: warning: skipped invalid settings file {b}: its hooks stay untrusted");
    }
    let s = &loaded.settings;
    let hooks: Vec<_> = s.hooks.iter().chain(s.inactive.iter().map(|(h, _)| h)).cloned().collect();
    let record = match crate::trust::trust_project(&state, &project, &hooks) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    println!(
        "trusted {key}: {} project hook(s), recorded in {}",
        record.hooks.len(),
        crate::trust::TrustStore::file_path(&state).display()
    );
    for (t, h) in
        record.hooks.iter().zip(hooks.iter().filter(|h| matches!(h.origin.scope, Scope::Project | Scope::Local)))
    {
        let content = match (&t.target, &t.content) {
            (Some(target), Some(sum)) => format!("{target}  sha256 {sum}"),
            (Some(target), None) => {
                format!("{target}  UNREADABLE: this hook runs only once it can be read and trusted")
            }
            (None, _) => format!("a {} hook: not run by hookhost", h.kind()),
        };
        println!("  {:<18} {} {}\n      from {}\n      {content}", h.event, h.kind(), t.label, t.origin);
    }
    0
}

fn pin_cmd(g: &Global, a: &PinArgs) -> u8 {
    let loc = g.locations();
    let loaded = load(&loc);
    let project = loc.project_dir.as_deref();
    let mut code = 0u8;
    for e in &loaded.errors {
        eprintln!("hookhost pin: skipped invalid settings file {e}");
        code = 1;
    }
    let mut o = String::new();
    let mut mismatches = 0usize;
    let mut wrote_project = false;
    for src in &loaded.settings.sources {
        let file = match crate::settings::file::read(&src.path, src.scope, &loc.links(src.scope)) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("hookhost pin: {e}");
                code = 1;
                continue;
            }
        };
        if file.hooks.is_empty() {
            continue;
        }
        o.push_str(&format!("{} {}\n", src.scope, src.path.display()));
        let mut to_write = std::collections::BTreeMap::new();
        for h in &file.hooks {
            let pos = (h.origin.line, h.origin.column);
            let (status, pin) = match crate::trust::current_pin(h, project) {
                Err(why) => (format!("cannot pin: {why}"), None),
                Ok((target, sum)) => {
                    let status = match &h.sha256 {
                        Some(p) if *p == sum => "pinned, matches".to_string(),
                        Some(p) => {
                            mismatches += 1;
                            format!("MISMATCH: pinned {p}; this hook does not run")
                        }
                        None => "not pinned".to_string(),
                    };
                    if h.sha256.as_deref() != Some(sum.as_str()) {
                        to_write.insert(pos, sum.clone());
                    }
                    (format!("{status}\n      covers {}", target.describe()), Some(sum))
                }
            };
            o.push_str(&format!(
                "  {}:{} {} {} {}\n      sha256 {}\n      {status}\n",
                h.origin.line,
                h.origin.column,
                h.event,
                h.kind(),
                h.label(),
                pin.as_deref().unwrap_or("-"),
            ));
        }
        if a.write && !to_write.is_empty() {
            if src.scope == Scope::Managed && !a.include_managed {
                o.push_str("  not written: a managed file (pass --include-managed)\n");
                continue;
            }
            match crate::trust::write_pins(&src.path, src.scope, &to_write) {
                Ok(n) => {
                    o.push_str(&format!("  wrote {n} pin(s)\n"));
                    wrote_project |= matches!(src.scope, Scope::Project | Scope::Local);
                    // Replaced pins no longer mismatch.
                    mismatches -= file
                        .hooks
                        .iter()
                        .filter(|h| h.sha256.is_some() && to_write.contains_key(&(h.origin.line, h.origin.column)))
                        .count();
                }
                Err(e) => {
                    o.push_str(&format!("  not written: {e}\n"));
                    code = 1;
                }
            }
        }
    }
    if o.is_empty() {
        o.push_str("no hooks configured\n");
    }
    print!("{o}");
    if wrote_project {
        println!("\nproject trust is unchanged: a pin is not part of the definition `hookhost trust` records");
    }
    if mismatches > 0 && code == 0 { 2 } else { code }
}

/// Where the example hooks say they are installed; the demo points this at the source tree.
pub const EXAMPLE_INSTALL_DIR: &str = "/usr/local/lib/hookhost/hooks";
/// The WebAssembly examples the demo adds to its policy when they are built.
const DEMO_WASM_EXAMPLES: &[&str] = &["block-dangerous-bash"];
const SAMPLE_PROJECT: &str = "/home/dev/project";

/// `--examples`, else `./hooks-examples`; `None`: the copy bundled in the binary
/// (`crate::demo_bundle`), so an installed binary needs no source tree.
fn examples_dir(a: &DemoArgs) -> Option<PathBuf> {
    if let Some(d) = &a.examples {
        return Some(d.clone());
    }
    let local = PathBuf::from("hooks-examples");
    local.join("shell").is_dir().then_some(local)
}

fn demo(a: &DemoArgs) -> u8 {
    match demo_inner(a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hookhost demo: {e}");
            1
        }
    }
}

fn demo_inner(a: &DemoArgs) -> Result<u8, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let examples = match examples_dir(a) {
        Some(d) => std::fs::canonicalize(&d).map_err(|e| format!("{}: cannot find the examples: {e}", d.display()))?,
        None => {
            let d = tmp.path().join("hooks-examples");
            crate::demo_bundle::write_to(&d).map_err(|e| format!("cannot write the bundled examples: {e}"))?;
            println!("hookhost demo: no ./hooks-examples here; using the examples bundled in this binary");
            d
        }
    };
    let shell = examples.join("shell");
    let project = tmp.path().join("project");
    let managed = tmp.path().join("managed");
    let dropins = managed.join("managed-settings.d");
    // `.hookhost/` exists so the audit-edits hook's sandbox can grant it (Landlock grants existing paths).
    for d in [&project.join("src"), &project.join("secrets"), &project.join(".hookhost"), &dropins] {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    let write = |p: &Path, s: &str| std::fs::write(p, s).map_err(|e| format!("{}: {e}", p.display()));
    write(&project.join(".env"), "API_KEY=demo-not-a-real-key\n")?;
    write(&project.join("src/main.rs"), "fn main() {}\n")?;

    // Install every example's settings as a managed drop-in, as an admin would.
    let mut names: Vec<String> = std::fs::read_dir(&shell)
        .map_err(|e| format!("{}: {e}", shell.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("settings.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for (i, n) in names.iter().enumerate() {
        let text = std::fs::read_to_string(shell.join(n).join("settings.json")).map_err(|e| e.to_string())?;
        let text = text.replace(EXAMPLE_INSTALL_DIR, &shell.to_string_lossy());
        write(&dropins.join(format!("{:02}-{n}.json", i + 1)), &text)?;
    }
    // The WebAssembly examples of the demo policy, when built (their own cargo workspace).
    let wasm_built = examples.join("wasm").join("target/wasm32-wasip2/release");
    let mut wasm_names = Vec::new();
    for n in DEMO_WASM_EXAMPLES {
        let settings = examples.join("wasm").join(n).join("settings.json");
        if !settings.is_file() || !wasm_built.join(format!("{}.wasm", n.replace('-', "_"))).is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&settings).map_err(|e| format!("{}: {e}", settings.display()))?;
        let text = text.replace(EXAMPLE_INSTALL_DIR, &wasm_built.to_string_lossy());
        write(&dropins.join(format!("{:02}-wasm-{n}.json", names.len() + wasm_names.len() + 1)), &text)?;
        wasm_names.push(n.to_string());
    }
    let loc = Locations {
        managed_dir: managed.clone(),
        user_file: None,
        project_dir: Some(project.clone()),
        cli_file: None,
        state_dir: None,
    };
    let loaded = load(&loc);
    if !loaded.errors.is_empty() {
        return Err(format!(
            "example settings are invalid: {}",
            loaded.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
        ));
    }
    println!("hookhost demo: policy = {} example(s) from {}", names.len(), shell.display());
    println!("  installed as managed drop-ins: {}", names.join(", "));
    if wasm_names.is_empty() {
        println!(
            "  WebAssembly examples not built, so not in the policy (cd hooks-examples/wasm && cargo build --release --target wasm32-wasip2)"
        );
    } else {
        println!("  WebAssembly hooks, from {}: {}", wasm_built.display(), wasm_names.join(", "));
    }
    println!("  sample project: {}\n", project.display());

    let events_dir = examples.join("events");
    let mut events: Vec<PathBuf> = std::fs::read_dir(&events_dir)
        .map_err(|e| format!("{}: {e}", events_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    events.sort();
    let rt = runtime().map_err(|e| e.to_string())?;
    // The examples stand in for this machine's managed files, not for its sandbox floor.
    let floor = crate::floor::machine_sandbox()?;
    let bus = crate::Host::tools().what_if_bus(loaded.settings, &floor);
    let ctx = DispatchContext { project_dir: Some(project.clone()), user_dir: None };
    println!("{:<26} {:<14} {:<34} {:<6} {:<5} reason", "sample", "event", "tool / source", "hooks", "exit");
    println!("{}", "-".repeat(120));
    let mut rows = 0;
    for path in &events {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = text.replace(SAMPLE_PROJECT, &project.to_string_lossy());
        let event = HookEvent::parse(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        let outcome = rt.block_on(bus.dispatch(&event, &ctx));
        let resp = outcome.render(&event);
        let what = match (event.tool_name(), event.config_change()) {
            (Some(t), _) => {
                let input = event.tool_input().cloned().unwrap_or_default();
                let arg = ["command", "file_path", "pattern"]
                    .iter()
                    .find_map(|k| input.get(*k).and_then(|v| v.as_str()).map(str::to_string));
                let arg = arg.map(|a| a.replace(&*project.to_string_lossy(), ".")).unwrap_or_default();
                format!("{t} {}", first_line(&arg))
            }
            (None, Some(cc)) => cc.source.as_str().to_string(),
            _ => String::new(),
        };
        let decision = outcome.verdict.label();
        let reason = outcome.verdict.reason.as_deref().map(first_line).unwrap_or_default();
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        println!(
            "{:<26} {:<14} {:<34} {:<6} {:<5} {}{}",
            crate::decision::truncate_chars(&name, 26),
            event.name(),
            crate::decision::truncate_chars(&what, 34),
            outcome.runs.len(),
            resp.exit_code,
            decision,
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {}", crate::decision::truncate_chars(&reason, 60))
            }
        );
        rows += 1;
    }
    let log = project.join(".hookhost").join("audit-edits.jsonl");
    println!("\n{rows} events dispatched.");
    match std::fs::read_to_string(&log) {
        Ok(t) => {
            println!("audit-edits wrote {} record(s) to {}:", t.lines().count(), log.display());
            for l in t.lines() {
                println!("  {}", crate::decision::truncate_chars(l, 150));
            }
        }
        Err(_) => println!("audit-edits wrote no records"),
    }
    // Issue 21: the multi-agent example over one event per agent, in each agent's wire form.
    demo_agents(&examples, &loc, &floor, &rt)?;
    let _ = Scope::Managed;
    Ok(0)
}

/// `hookhost demo`, its second part (issue 21): the bundled multi-agent policy
/// (`hooks-examples/multi-agent/settings.json`, one more managed drop-in of the demo's policy)
/// over one event per agent (the first case of each agent in its `tests.json`: the same `curl`
/// as each agent sends it), mapped by the agent's adapter, decided by the same bus, and shown
/// in the wire form that agent gets back. The first table is unchanged; an examples tree
/// without `multi-agent/` skips this part. Returns how many agents were shown.
fn demo_agents(
    examples: &Path,
    loc: &Locations,
    floor: &crate::exec::sandbox::ManagedSandbox,
    rt: &tokio::runtime::Runtime,
) -> Result<usize, String> {
    let dir = examples.join("multi-agent");
    let tests = dir.join("tests.json");
    if !tests.is_file() {
        return Ok(0);
    }
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let dropin = loc.managed_dropin_dir().join("99-multi-agent.json");
    std::fs::write(&dropin, read(&dir.join("settings.json"))?).map_err(|e| format!("{}: {e}", dropin.display()))?;
    let loaded = load(loc);
    if !loaded.errors.is_empty() {
        return Err(format!(
            "the multi-agent example's settings are invalid: {}",
            loaded.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
        ));
    }
    let bus = crate::Host::tools().what_if_bus(loaded.settings, floor);
    let ctx = DispatchContext { project_dir: loc.project_dir.clone(), user_dir: None };
    let cases: serde_json::Value =
        serde_json::from_slice(&read(&tests)?).map_err(|e| format!("{}: {e}", tests.display()))?;
    println!("\nOne policy, every agent: {} (Bash(curl *) denied) over one event per agent", dir.display());
    println!("{:<8} {:<22} {:<30} {:<9} agent's wire answer", "agent", "agent event / tool", "canonical", "decision");
    println!("{}", "-".repeat(120));
    let mut shown: Vec<crate::agents::Agent> = Vec::new();
    for case in cases.get("cases").and_then(serde_json::Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let (Some(agent), Some(event)) = (
            case.get("agent").and_then(serde_json::Value::as_str).and_then(crate::agents::Agent::parse),
            case.get("event").and_then(serde_json::Value::as_str),
        ) else {
            continue;
        };
        if shown.contains(&agent) {
            continue;
        }
        shown.push(agent);
        let payload = read(&dir.join(event))?;
        let hint = case.get("agentEvent").and_then(serde_json::Value::as_str);
        let inbound = agent.accept(&payload, hint).map_err(|e| format!("{event}: {}", e.0))?;
        let canonical = HookEvent::parse(&inbound.canonical).map_err(|e| format!("{event}: {e}"))?;
        let outcome = rt.block_on(bus.dispatch(&canonical, &ctx));
        let wire = inbound.render(&outcome.render(&canonical));
        let theirs = match (&inbound.agent_event, canonical.str_field("hook_event_name")) {
            (a, _) if !a.is_empty() => {
                let tool = inbound.original.get("tool_name").or(inbound.original.get("toolName"));
                format!("{a} {}", tool.and_then(serde_json::Value::as_str).unwrap_or(""))
            }
            (_, Some(e)) => format!("{e} {}", canonical.tool_name().unwrap_or("")),
            _ => String::new(),
        };
        let command =
            canonical.tool_input().and_then(|i| i.get("command")).and_then(serde_json::Value::as_str).unwrap_or("");
        let canon = format!("{} {} {}", canonical.name(), canonical.tool_name().unwrap_or(""), command);
        let answer = match (wire.stdout.trim(), wire.stderr.trim()) {
            ("", "") => String::new(),
            ("", err) => format!("stderr: {}", first_line(err)),
            (out, _) => first_line(out),
        };
        println!(
            "{:<8} {:<22} {:<30} {:<9} exit {} {}",
            agent.name(),
            crate::decision::truncate_chars(theirs.trim(), 22),
            crate::decision::truncate_chars(&canon, 30),
            outcome.verdict.label(),
            wire.exit_code,
            crate::decision::truncate_chars(&answer, 90)
        );
    }
    Ok(shown.len())
}
