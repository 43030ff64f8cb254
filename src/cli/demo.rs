//! `hookhost demo`: the bundled example policy run against sample events of every agent, each
//! answer checked against what the example says it does.

use super::*;

/// Where the example hooks say they are installed; the demo points this at the source tree.
pub const EXAMPLE_INSTALL_DIR: &str = "/usr/local/lib/hookhost/hooks";
/// The WebAssembly examples the demo adds to its policy when they are built.
pub(super) const DEMO_WASM_EXAMPLES: &[&str] = &["block-dangerous-bash"];
pub(super) const SAMPLE_PROJECT: &str = "/home/dev/project";

/// `--examples`, else `./hooks-examples`; `None`: the copy bundled in the binary
/// (`crate::demo_bundle`), so an installed binary needs no source tree.
pub(super) fn examples_dir(a: &DemoArgs) -> Option<PathBuf> {
    if let Some(d) = &a.examples {
        return Some(d.clone());
    }
    let local = PathBuf::from("hooks-examples");
    local.join("shell").is_dir().then_some(local)
}

pub(super) fn demo(a: &DemoArgs) -> u8 {
    match demo_inner(a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hookhost demo: {e}");
            1
        }
    }
}

pub(super) fn demo_inner(a: &DemoArgs) -> Result<u8, String> {
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
pub(super) fn demo_agents(
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
