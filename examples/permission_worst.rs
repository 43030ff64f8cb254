//! Writes the worst-case permission events of `benches/support/permission_cases.rs` as
//! Claude Code PreToolUse JSON files, for `scripts/permissions-worst.sh` (which runs each
//! through `hookhost dispatch` under `/usr/bin/time`).
//!
//! ```text
//! permission_worst OUT_DIR PROJECT_DIR
//! ```

#[path = "../benches/support/permission_cases.rs"]
mod permission_cases;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(out), Some(project)) = (args.next(), args.next()) else {
        eprintln!("usage: permission_worst OUT_DIR PROJECT_DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&out)?;
    std::fs::write(format!("{out}/policy.json"), permission_cases::POLICY)?;
    for (name, tool, input) in permission_cases::cases() {
        let event = serde_json::json!({
            "session_id": "s", "transcript_path": "/tmp/t.jsonl", "cwd": project, "permission_mode": "default",
            "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input, "tool_use_id": "t"
        });
        std::fs::write(format!("{out}/{name}.json"), serde_json::to_vec(&event)?)?;
    }
    Ok(())
}
