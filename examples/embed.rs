//! Embedding hookhost in an agent: a toy agent loop that asks a `hookhost::Host` before every
//! tool call and obeys the answer, over a temporary project and a managed policy.
//!
//! Run: `cargo run --example embed` (CI does). It asserts every decision, so it exits non-zero
//! if hookhost ever answered differently.
//!
//! The policy (what an admin would put in `/etc/hookhost/managed-settings.json`):
//! - a permission rule: never read `.env` files;
//! - a command hook (run sandboxed) that blocks `rm -rf`;
//! - `failClosed` for PreToolUse: a broken or missing hook blocks instead of letting the call
//!   through.
//!
//! Nothing here is process-global: the host owns its settings, runtimes and audit log, and is
//! shared by the agent's tasks (`Host` is `Clone + Send + Sync`).

use std::path::Path;

use serde_json::{Value, json};

/// What the agent wants to do next.
struct Step {
    tool: &'static str,
    input: Value,
    /// What the policy must answer: `true` for go ahead.
    allowed: bool,
}

/// The agent's side of the protocol: the event JSON for a tool call.
fn pre_tool_use(project: &Path, tool: &str, input: &Value) -> Vec<u8> {
    json!({
        "session_id": "embed-demo",
        "transcript_path": "",
        "cwd": project,
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": format!("toolu_{tool}"),
    })
    .to_string()
    .into_bytes()
}

/// How an agent obeys a response: exit code 2 blocks (reason on stderr); a `deny` or `ask`
/// permission decision on stdout does not go ahead; anything else proceeds.
fn goes_ahead(r: &hookhost::Response) -> (bool, String) {
    if r.exit_code == 2 {
        return (false, r.stderr.trim().to_string());
    }
    let answer: Value = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    let out = &answer["hookSpecificOutput"];
    match out["permissionDecision"].as_str() {
        Some("deny" | "ask") => (false, out["permissionDecisionReason"].as_str().unwrap_or("").to_string()),
        _ => (true, String::new()),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let machine = tempfile::tempdir()?;
    let managed = machine.path().join("managed");
    let project = machine.path().join("project");
    std::fs::create_dir_all(&managed)?;
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::write(project.join(".env"), "API_KEY=not-a-real-key\n")?;
    std::fs::write(project.join("src/main.rs"), "fn main() {}\n")?;
    std::fs::write(
        managed.join("managed-settings.json"),
        json!({
            "permissions": {"deny": ["Read(**/.env)"]},
            "failClosed": ["PreToolUse"],
            "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command",
                "command": "grep -q 'rm -rf' && { echo 'rm -rf is not allowed here' >&2; exit 2; }; exit 0"}]}]}
        })
        .to_string(),
    )?;

    // Denied by default: no network fetch of server settings, no sandbox pool, on-demand wasm;
    // the managed policy (rules, hooks, failClosed, sandbox floor) always applies.
    let host = hookhost::Host::builder()
        .managed_dir(&managed)
        .project_dir(&project)
        .user_settings(None)
        .state_dir(Some(machine.path().join("state")))
        .build()?;

    let plan = [
        Step { tool: "Bash", input: json!({"command": "ls src"}), allowed: true },
        Step { tool: "Read", input: json!({"file_path": project.join("src/main.rs")}), allowed: true },
        Step { tool: "Read", input: json!({"file_path": project.join(".env")}), allowed: false },
        Step { tool: "Bash", input: json!({"command": "rm -rf src"}), allowed: false },
        Step { tool: "Bash", input: json!({"command": "cargo build"}), allowed: true },
    ];

    // The agent's tasks share the host: each step is decided on its own task, concurrently.
    let mut tasks = tokio::task::JoinSet::new();
    for (i, step) in plan.iter().enumerate() {
        let (host, event) = (host.clone(), pre_tool_use(&project, step.tool, &step.input));
        tasks.spawn(async move { (i, host.dispatch(&event).await) });
    }
    let mut answers = vec![None; plan.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, response) = done?;
        answers[i] = Some(response);
    }

    let mut wrong = 0;
    for (step, response) in plan.iter().zip(answers) {
        let response = response.ok_or("a step got no answer")?;
        let (go, why) = goes_ahead(&response);
        println!(
            "{:<5} {:<60} {}{}",
            step.tool,
            step.input.to_string().replace(&*project.to_string_lossy(), "."),
            if go { "go ahead" } else { "BLOCKED" },
            if why.is_empty() { String::new() } else { format!(": {why}") }
        );
        if go != step.allowed {
            eprintln!("  expected {}", if step.allowed { "go ahead" } else { "blocked" });
            wrong += 1;
        }
    }
    // The agent never ran a tool, so nothing was deleted.
    assert!(project.join("src/main.rs").exists());
    host.shutdown().await;
    if wrong > 0 {
        return Err(format!("{wrong} decision(s) differ from the policy").into());
    }
    println!("every decision as the policy says");
    Ok(())
}
