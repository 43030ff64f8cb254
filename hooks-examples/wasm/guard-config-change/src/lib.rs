//! `guard-config-change`: a ConfigChange gate that blocks mid-session changes to settings
//! sources that are not on its allow list (user and local settings), so a running agent cannot
//! loosen its own rules; project settings and skills are allowed. `policy_settings` changes
//! cannot be blocked and are only logged.

use hookhost_guest::{Answer, Event, Kind, block, hook, log};

/// Sources whose changes apply while a session runs.
const ALLOWED: &[&str] = &["project_settings", "skills", "policy_settings"];

fn policy(event: &Event) -> Result<Answer, String> {
    let Kind::ConfigChange { source, file_path } = event.kind() else { return Ok(Answer::none()) };
    let file = file_path.unwrap_or("(unknown file)");
    if source.is_empty() {
        return Err("ConfigChange event without `source`".into());
    } else if ALLOWED.contains(&source) {
        log::debug(&format!("allowed {source} change of {file}"));
        return Ok(Answer::none());
    }
    log::warn(&format!("blocked {source} change of {file}"));
    Ok(block(format!(
        "Blocked by guard-config-change: {source} changes ({file}) are not applied mid-session; restart the session to use them."
    )))
}

hook!(policy);
