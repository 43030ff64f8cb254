//! `protect-secrets`: a PreToolUse gate for `Read`, `Edit`, `Write`, `MultiEdit` and
//! `NotebookEdit` that denies access to secrets, with gitignore-style rules matched against the
//! path relative to the project (the event's `cwd`): `.env`, `.env.*` (but not the `.env.example`
//! template) and anything under a `secrets/` directory.

use hookhost_guest::paths::{Rules, relative};
use hookhost_guest::{Answer, Event, Kind, deny, hook};

const RULES: &[&str] = &[".env", ".env.*", "!.env.example", "!.env.sample", "!.env.template", "**/secrets/**"];
const TOOLS: &[&str] = &["Read", "Edit", "Write", "MultiEdit", "NotebookEdit"];

fn policy(event: &Event) -> Answer {
    let (Kind::PreToolUse { tool_name, .. }, Some(path)) = (event.kind(), event.file_path()) else {
        return Answer::none();
    };
    let rel = relative(path, event.cwd().unwrap_or_default());
    match Rules::new(RULES).matching(&rel) {
        Some(rule) if TOOLS.contains(&tool_name) => deny(format!(
            "Blocked by protect-secrets: {rel} matches `{rule}`; secrets must not be read or written by the agent."
        )),
        _ => Answer::none(),
    }
}

hook!(policy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let rules = Rules::new(RULES);
        for p in [".env", ".env.local", "app/.env.production", "secrets/api-key.txt", "a/secrets/b/c.pem", ".env/x"] {
            assert!(rules.matching(p).is_some(), "{p}");
        }
        for p in [".env.example", "src/main.rs", "environment.md", "secrets.md", "docs/.envrc"] {
            assert!(rules.matching(p).is_none(), "{p}");
        }
        assert_eq!(relative("/home/dev/project/./secrets/k", "/home/dev/project/"), "secrets/k");
        assert_eq!(relative("/home/dev/project/.env.example/../.env", "/home/dev/project"), ".env");
        assert_eq!(relative("/etc/app/.env", "/home/dev/project"), "etc/app/.env");
    }
}
