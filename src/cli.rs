//! The command line: `dispatch` (Claude Code's hook backend), `check`, `explain` and `demo`.
//!
//! Exit codes: `dispatch` speaks Claude Code's protocol (0 allow or no opinion, 2 block, and a
//! host error is 2 when the event fails closed, else 1); every other subcommand exits 0 when
//! fine, 1 on error, 2 when it found a policy violation.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::bus::{DispatchContext, EventBus, Outcome, fails_closed};
use crate::decision::{HookResult, Response, first_line};
use crate::event::{DEFAULT_MAX_EVENT_BYTES, HookEvent};
use crate::settings::{Loaded, Locations, Scope, load};

const AFTER_HELP: &str = "\
Settings scopes, highest precedence first:
  managed       $HOOKHOST_MANAGED_DIR (default /etc/hookhost)/managed-settings.json
                + managed-settings.d/*.json (merged in name order)
  command line  --settings FILE
  local         <project>/.hookhost/settings.local.json
  project       <project>/.hookhost/settings.json
  user          $XDG_CONFIG_HOME/hookhost/settings.json (default ~/.config/hookhost)
The project directory is --project-dir, else $CLAUDE_PROJECT_DIR, else the event's cwd
(for `check`: the current directory).

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read one Claude Code hook event (JSON) on stdin, run the matching hooks, and answer in
    /// Claude Code's hook protocol: JSON on stdout and exit 0, or the reason on stderr and exit 2.
    ///
    /// Register it in Claude Code's managed settings as the command hook for every event
    /// hookhost should see (matcher "*").
    Dispatch(DispatchArgs),
    /// Validate the settings of every scope and print the resolved hooks with their origin.
    ///
    /// Exits 1 if any settings file is invalid.
    Check,
    /// Read one event on stdin, run it like `dispatch`, and explain the decision: which hooks
    /// matched or were skipped and why, what each answered, how long each took.
    Explain(DispatchArgs),
    /// Probe the sandbox: which layers this machine enforces, each verified by its effect in a
    /// throwaway sandboxed child. Exits 2 when the configured mode (managed `sandbox.mode`, else
    /// strict where every layer exists) or HOOKHOST_SANDBOX_REQUIRE cannot be met.
    Doctor,
    /// Run the bundled example policy (hooks-examples/shell) over the bundled sample events
    /// (hooks-examples/events) and print a table of decisions.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DispatchArgs {
    /// Largest accepted event, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_EVENT_BYTES)]
    pub max_event_bytes: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The examples directory (default: ./hooks-examples, else the one in hookhost's source tree).
    #[arg(long, value_name = "DIR")]
    pub examples: Option<PathBuf>,
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Dispatch(a) => dispatch(&cli.global, &a),
        Command::Check => check(&cli.global),
        Command::Explain(a) => explain(&cli.global, &a),
        Command::Demo(a) => demo(&a),
        Command::Doctor => {
            let cwd = std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned());
            let loaded =
                load(&Locations::from_env(cli.global.settings.clone(), cli.global.project_dir.clone(), cwd.as_deref()));
            let managed = crate::exec::sandbox::ManagedSandbox::from_value(loaded.settings.extensions.get("sandbox"))
                .unwrap_or_default();
            let mode = managed.resolve(None).map(|s| s.mode).unwrap_or_else(|_| crate::exec::sandbox::default_mode());
            crate::doctor::run(mode)
        }
    }
}

fn read_stdin(limit: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin().lock().take(limit as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The settings and event of one dispatch, or the response to give when they cannot be had.
struct Prepared {
    event: HookEvent,
    loaded: Loaded,
    project_dir: Option<PathBuf>,
    user_dir: Option<PathBuf>,
    /// Non-managed files that were skipped: reported to the user.
    skipped_files: Vec<String>,
}

fn prepare(g: &Global, a: &DispatchArgs) -> Result<Prepared, Response> {
    let fail = |closed: bool, msg: String| Response {
        stdout: String::new(),
        stderr: format!("hookhost: {msg}\n"),
        exit_code: if closed { 2 } else { 1 },
    };
    let input =
        read_stdin(a.max_event_bytes).map_err(|e| fail(true, format!("cannot read the event from stdin: {e}")))?;
    let event = match HookEvent::parse_with_limit(&input, a.max_event_bytes) {
        Ok(e) => e,
        Err(e) => {
            // Which policy applies without an event? Load what does not depend on it.
            let loaded = load(&Locations::from_env(g.settings.clone(), g.project_dir.clone(), None));
            let closed = loaded.managed_errors().next().is_some() || fails_closed(&loaded.settings, None);
            return Err(fail(closed, format!("invalid event: {e}")));
        }
    };
    let loc = Locations::from_env(g.settings.clone(), g.project_dir.clone(), event.cwd());
    let loaded = load(&loc);
    if let Some(e) = loaded.managed_errors().next() {
        return Err(fail(true, format!("managed settings are invalid, failing closed: {e}")));
    }
    let closed = fails_closed(&loaded.settings, Some(event.name()));
    if !loaded.errors.is_empty() {
        let list: Vec<String> = loaded.errors.iter().map(|e| e.to_string()).collect();
        if closed {
            return Err(fail(
                true,
                format!("invalid settings, failing closed for {}: {}", event.name(), list.join("; ")),
            ));
        }
    }
    let skipped_files = loaded.errors.iter().map(|e| format!("hookhost: skipped invalid settings file {e}")).collect();
    Ok(Prepared {
        event,
        loaded,
        user_dir: loc.user_file.as_ref().and_then(|f| f.parent()).map(Path::to_path_buf),
        project_dir: loc.project_dir,
        skipped_files,
    })
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

fn run_event(p: Prepared) -> Result<(Outcome, HookEvent), Response> {
    let bus = EventBus::new(p.loaded.settings);
    let ctx = DispatchContext { project_dir: p.project_dir, user_dir: p.user_dir };
    let mut outcome = if bus.route(&p.event, &ctx).selected.is_empty() {
        // Nothing to run: no runtime needed.
        futures_util::FutureExt::now_or_never(bus.dispatch(&p.event, &ctx)).ok_or_else(|| Response {
            stderr: "hookhost: internal error: empty dispatch did not complete\n".into(),
            exit_code: 1,
            ..Default::default()
        })?
    } else {
        let closed = bus.fails_closed(Some(p.event.name()));
        let host_error = |msg: String| Response {
            stderr: format!("hookhost: {msg}\n"),
            exit_code: if closed { 2 } else { 1 },
            ..Default::default()
        };
        let rt = runtime().map_err(|e| host_error(format!("cannot start the runtime: {e}")))?;
        // SIGTERM/SIGINT/SIGHUP (the agent gave up on us, or a shutdown) cancel the dispatch:
        // dropping it kills every hook's process group and cgroups before we exit.
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
                (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
            else {
                return Err(host_error("cannot install signal handlers".into()));
            };
            tokio::select! {
                o = bus.dispatch(&p.event, &ctx) => Ok(o),
                _ = term.recv() => Err(host_error("terminated by SIGTERM; hooks killed".into())),
                _ = int.recv() => Err(host_error("interrupted by SIGINT; hooks killed".into())),
                _ = hup.recv() => Err(host_error("hung up (SIGHUP); hooks killed".into())),
            }
        })?
    };
    outcome.verdict.system_messages.extend(p.skipped_files);
    Ok((outcome, p.event))
}

fn emit(r: &Response) -> u8 {
    // A closed pipe on our output is not something we can report anywhere.
    let _ = std::io::stdout().write_all(r.stdout.as_bytes());
    let _ = std::io::stderr().write_all(r.stderr.as_bytes());
    r.exit_code
}

fn dispatch(g: &Global, a: &DispatchArgs) -> u8 {
    let prepared = match prepare(g, a) {
        Ok(p) => p,
        Err(r) => return emit(&r),
    };
    match run_event(prepared) {
        Ok((outcome, event)) => {
            tracing::debug!(
                event = event.name(),
                decision = outcome.verdict.label(),
                hooks = outcome.runs.len(),
                "dispatched"
            );
            emit(&outcome.render(&event))
        }
        Err(r) => emit(&r),
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.as_millis() >= 10 { format!("{} ms", d.as_millis()) } else { format!("{:.2} ms", d.as_secs_f64() * 1000.0) }
}

fn explain(g: &Global, a: &DispatchArgs) -> u8 {
    let prepared = match prepare(g, a) {
        Ok(p) => p,
        Err(r) => {
            eprint!("{}", r.stderr);
            println!("dispatch would exit {} (host error)", r.exit_code);
            return 1;
        }
    };
    let subject = prepared.event.matcher_subject().map(str::to_string);
    let revision = prepared.loaded.settings.revision.clone();
    let warnings = prepared.loaded.settings.warnings.clone();
    let errors = prepared.loaded.errors.clone();
    let (outcome, event) = match run_event(prepared) {
        Ok(x) => x,
        Err(r) => {
            eprint!("{}", r.stderr);
            return 1;
        }
    };
    let mut o = String::new();
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
            if r.hook.is_async { ", async (decision ignored)" } else { "" }
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
    if !outcome.skipped.is_empty() {
        o.push_str(&format!("\nhooks skipped ({}):\n", outcome.skipped.len()));
        for (h, why) in &outcome.skipped {
            o.push_str(&format!("  {}  {}\n      from {}\n      because {}\n", h.kind(), h.label(), h.origin, why));
        }
    }
    o.push_str(&format!("\ndecision  {}\n", outcome.verdict.label()));
    if let Some(r) = &outcome.verdict.reason {
        o.push_str(&format!("reason    {}\n", first_line(r)));
    }
    for w in &outcome.verdict.why {
        o.push_str(&format!("  - {w}\n"));
    }
    let resp = outcome.render(&event);
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

fn check(g: &Global) -> u8 {
    let cwd = std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned());
    let loc = Locations::from_env(g.settings.clone(), g.project_dir.clone(), cwd.as_deref());
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
    if !s.warnings.is_empty() {
        o.push_str(&format!("\nwarnings ({}):\n", s.warnings.len()));
        for w in &s.warnings {
            o.push_str(&format!("  {w}\n"));
        }
    }
    print!("{o}");
    if loaded.errors.is_empty() {
        println!("\nok");
        0
    } else {
        eprintln!("\nerrors ({}):", loaded.errors.len());
        for e in &loaded.errors {
            eprintln!("  {e}{}", if e.managed { "  [managed: dispatch fails closed]" } else { "" });
        }
        1
    }
}

/// Where the example hooks say they are installed; the demo points this at the source tree.
pub const EXAMPLE_INSTALL_DIR: &str = "/usr/local/lib/hookhost/hooks";
const SAMPLE_PROJECT: &str = "/home/dev/project";

fn examples_dir(a: &DemoArgs) -> PathBuf {
    if let Some(d) = &a.examples {
        return d.clone();
    }
    let local = PathBuf::from("hooks-examples");
    if local.join("shell").is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hooks-examples")
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
    let examples =
        std::fs::canonicalize(examples_dir(a)).map_err(|e| format!("cannot find the examples directory: {e}"))?;
    let shell = examples.join("shell");
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
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
    let loc =
        Locations { managed_dir: managed.clone(), user_file: None, project_dir: Some(project.clone()), cli_file: None };
    let loaded = load(&loc);
    if !loaded.errors.is_empty() {
        return Err(format!(
            "example settings are invalid: {}",
            loaded.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
        ));
    }
    println!("hookhost demo: policy = {} example(s) from {}", names.len(), shell.display());
    println!("  installed as managed drop-ins: {}", names.join(", "));
    println!("  sample project: {}\n", project.display());

    let events_dir = examples.join("events");
    let mut events: Vec<PathBuf> = std::fs::read_dir(&events_dir)
        .map_err(|e| format!("{}: {e}", events_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    events.sort();
    let rt = runtime().map_err(|e| e.to_string())?;
    let bus = EventBus::new(loaded.settings);
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
    let _ = Scope::Managed;
    Ok(0)
}
