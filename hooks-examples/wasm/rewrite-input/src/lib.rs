//! `rewrite-input`: a PreToolUse hook for `Bash` that rewrites commands with remote side effects
//! into their dry-run form with `updatedInput` (`git push` → `git push --dry-run`, `rsync` →
//! `rsync --dry-run`, `kubectl apply|delete` → `… --dry-run=client`) and allows the rewritten
//! call. `updatedInput` replaces the whole `tool_input`, so every other field is kept as it was.

wit_bindgen::generate!({ world: "hook", path: "../../../wit" });

struct RewriteInput;

impl Guest for RewriteInput {
    fn handle(event: Event) -> Result<Response, String> {
        let none = Response {
            decision: None,
            reason: None,
            additional_context: None,
            updated_input_json: None,
            system_message: None,
        };
        if event.hook_event_name != "PreToolUse" || event.tool_name.as_deref() != Some("Bash") {
            return Ok(none);
        }
        let payload: serde_json::Value =
            serde_json::from_str(&event.payload_json).map_err(|e| format!("event is not JSON: {e}"))?;
        let mut input = payload["tool_input"].clone();
        let Some(command) = input["command"].as_str() else { return Ok(none) };
        let Some(rewritten) = dry_run(command) else { return Ok(none) };
        input["command"] = serde_json::Value::String(rewritten.clone());
        Ok(Response {
            decision: Some(Decision::Allow),
            reason: Some(format!("rewrite-input: runs `{rewritten}` instead (dry run)")),
            additional_context: Some(format!(
                "The command was rewritten to a dry run by policy: `{rewritten}`. Nothing was changed remotely."
            )),
            updated_input_json: Some(input.to_string()),
            system_message: None,
        })
    }
}

export!(RewriteInput);

/// The dry-run form of a single simple command, if it needs one (compound commands are left
/// alone: rewriting one part of them could change what the rest does).
fn dry_run(command: &str) -> Option<String> {
    let trimmed = command.trim();
    if trimmed.contains(['|', ';', '&', '\n', '`', '$', '>', '<']) || trimmed.contains("--dry-run") {
        return None;
    }
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    match words.as_slice() {
        ["git", "push", ..] => Some(format!("git push --dry-run{}", rest(&words[2..]))),
        ["rsync", ..] => Some(format!("rsync --dry-run{}", rest(&words[1..]))),
        ["kubectl", verb @ ("apply" | "delete"), ..] => {
            Some(format!("kubectl {verb} --dry-run=client{}", rest(&words[2..])))
        }
        _ => None,
    }
}

fn rest(words: &[&str]) -> String {
    words.iter().map(|w| format!(" {w}")).collect()
}

#[cfg(test)]
mod tests {
    use super::dry_run;

    #[test]
    fn rewrites() {
        assert_eq!(dry_run("git push origin main").as_deref(), Some("git push --dry-run origin main"));
        assert_eq!(dry_run("rsync -a src/ host:dst/").as_deref(), Some("rsync --dry-run -a src/ host:dst/"));
        assert_eq!(dry_run("kubectl apply -f x.yaml").as_deref(), Some("kubectl apply --dry-run=client -f x.yaml"));
        assert_eq!(dry_run("git push --dry-run"), None);
        assert_eq!(dry_run("git status"), None);
        assert_eq!(dry_run("git push && rm x"), None);
    }
}
