//! `rewrite-input`: a PreToolUse hook for `Bash` that rewrites commands with remote side effects
//! into their dry-run form with `updatedInput` (`git push` → `git push --dry-run`, `rsync` →
//! `rsync --dry-run`, `kubectl apply|delete` → `… --dry-run=client`) and allows the rewritten
//! call. `updatedInput` replaces the whole `tool_input`, so every other field is kept as it was.

use hookhost_guest::{Answer, Event, hook, rewrite};

fn policy(event: &Event) -> Answer {
    let Some(dry) = event.bash_command().and_then(dry_run) else { return Answer::none() };
    let mut input = event.tool_input().clone();
    input["command"] = dry.clone().into();
    rewrite(input).with_reason(format!("rewrite-input: runs `{dry}` instead (dry run)")).with_context(format!(
        "The command was rewritten to a dry run by policy: `{dry}`. Nothing was changed remotely."
    ))
}

/// The dry-run form of a single simple command, if it needs one (compound commands are left
/// alone: rewriting one part of them could change what the rest does).
fn dry_run(command: &str) -> Option<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let (n, flag) = match words.as_slice() {
        _ if command.contains(['|', ';', '&', '\n', '`', '$', '>', '<']) || command.contains("--dry-run") => None?,
        ["git", "push", ..] => (2, "--dry-run"),
        ["kubectl", "apply" | "delete", ..] => (2, "--dry-run=client"),
        ["rsync", ..] => (1, "--dry-run"),
        _ => None?,
    };
    Some([&words[..n], &[flag], &words[n..]].concat().join(" "))
}

hook!(policy);

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
