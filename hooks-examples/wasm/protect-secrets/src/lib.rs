//! `protect-secrets`: a PreToolUse gate for `Read`, `Edit`, `Write`, `MultiEdit` and
//! `NotebookEdit` that denies access to secrets, with gitignore-style patterns matched against
//! the path relative to the project (the event's `cwd`): `.env`, `.env.*` (but not the
//! `.env.example` template) and anything under a `secrets/` directory.

wit_bindgen::generate!({ world: "hook", path: "../../../wit" });

/// gitignore-style rules, last match wins: `!` re-allows, a pattern without `/` matches a name
/// at any depth, `**` matches any number of directories, `*` and `?` stay within one name.
const RULES: &[&str] = &[".env", ".env.*", "!.env.example", "!.env.sample", "!.env.template", "**/secrets/**"];
const TOOLS: &[&str] = &["Read", "Edit", "Write", "MultiEdit", "NotebookEdit"];

struct ProtectSecrets;

impl Guest for ProtectSecrets {
    fn handle(event: Event) -> Result<Response, String> {
        let none = Response {
            decision: None,
            reason: None,
            additional_context: None,
            updated_input_json: None,
            system_message: None,
        };
        let tool = event.tool_name.as_deref().unwrap_or("");
        if event.hook_event_name != "PreToolUse" || !TOOLS.contains(&tool) {
            return Ok(none);
        }
        let payload: serde_json::Value =
            serde_json::from_str(&event.payload_json).map_err(|e| format!("event is not JSON: {e}"))?;
        let input = &payload["tool_input"];
        let Some(path) = input["file_path"].as_str().or_else(|| input["notebook_path"].as_str()) else {
            return Ok(none);
        };
        let cwd = payload["cwd"].as_str().unwrap_or("");
        let rel = relative(path, cwd);
        match protected(&rel) {
            Some(rule) => Ok(Response {
                decision: Some(Decision::Deny),
                reason: Some(format!(
                    "Blocked by protect-secrets: {rel} matches `{rule}`; secrets must not be read or written by the agent."
                )),
                ..none
            }),
            None => Ok(none),
        }
    }
}

export!(ProtectSecrets);

/// `path` relative to `cwd` when it is inside it, else the absolute path without its leading `/`;
/// `.` and empty components are dropped.
fn relative(path: &str, cwd: &str) -> String {
    let cwd = cwd.trim_end_matches('/');
    let rest = match path.strip_prefix(cwd) {
        Some(r) if !cwd.is_empty() && r.starts_with('/') => r,
        _ => path,
    };
    rest.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}

/// The rule that protects `rel`, if any (last matching rule wins; a `!` rule un-protects).
fn protected(rel: &str) -> Option<&'static str> {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut hit = None;
    for rule in RULES {
        let (negated, pattern) = match rule.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, *rule),
        };
        let matched = if pattern.contains('/') {
            let pat: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
            match_parts(&pat, &parts)
        } else {
            parts.last().is_some_and(|name| glob(pattern.as_bytes(), name.as_bytes()))
        };
        if matched {
            hit = if negated { None } else { Some(*rule) };
        }
    }
    hit
}

/// Path components against pattern components, `**` matching zero or more components.
fn match_parts(pat: &[&str], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((&"**", rest)) => (0..=parts.len()).any(|i| match_parts(rest, &parts[i..])),
        Some((p, rest)) => parts
            .split_first()
            .is_some_and(|(name, tail)| glob(p.as_bytes(), name.as_bytes()) && match_parts(rest, tail)),
    }
}

/// One name against a pattern with `*` and `?`.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.split_first(), s.split_first()) {
        (None, None) => true,
        (Some((b'*', pr)), _) => glob(pr, s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some((b'?', pr)), Some((_, sr))) => glob(pr, sr),
        (Some((a, pr)), Some((b, sr))) if a == b => glob(pr, sr),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{protected, relative};

    #[test]
    fn rules() {
        for p in [".env", ".env.local", "app/.env.production", "secrets/api-key.txt", "a/secrets/b/c.pem"] {
            assert!(protected(p).is_some(), "{p}");
        }
        for p in [".env.example", "src/main.rs", "environment.md", "secrets.md", "docs/.envrc"] {
            assert!(protected(p).is_none(), "{p}");
        }
        assert_eq!(relative("/home/dev/project/./secrets/k", "/home/dev/project/"), "secrets/k");
        assert_eq!(relative("/etc/app/.env", "/home/dev/project"), "etc/app/.env");
    }
}
