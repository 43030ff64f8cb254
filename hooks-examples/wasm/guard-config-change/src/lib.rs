//! `guard-config-change`: a ConfigChange gate that blocks mid-session changes to settings
//! sources that are not on its allow list (user and local settings), so a running agent cannot
//! loosen its own rules; project settings and skills are allowed. `policy_settings` changes
//! cannot be blocked and are only logged.

wit_bindgen::generate!({ world: "hook", path: "../../../wit" });

use hookhost::hook::log::{Level, write};

/// Sources whose changes apply while a session runs.
const ALLOWED: &[&str] = &["project_settings", "skills", "policy_settings"];

struct GuardConfigChange;

impl Guest for GuardConfigChange {
    fn handle(event: Event) -> Result<Response, String> {
        let none = Response {
            decision: None,
            reason: None,
            additional_context: None,
            updated_input_json: None,
            system_message: None,
        };
        if event.hook_event_name != "ConfigChange" {
            return Ok(none);
        }
        let payload: serde_json::Value =
            serde_json::from_str(&event.payload_json).map_err(|e| format!("event is not JSON: {e}"))?;
        let source = payload["source"].as_str().ok_or("ConfigChange event without `source`")?;
        let file = payload["file_path"].as_str().unwrap_or("(unknown file)");
        if ALLOWED.contains(&source) {
            write(Level::Debug, &format!("allowed {source} change of {file}"));
            return Ok(none);
        }
        write(Level::Warn, &format!("blocked {source} change of {file}"));
        Ok(Response {
            decision: Some(Decision::Block),
            reason: Some(format!(
                "Blocked by guard-config-change: {source} changes ({file}) are not applied mid-session; restart the session to use them."
            )),
            ..none
        })
    }
}

export!(GuardConfigChange);
