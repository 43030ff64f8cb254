//! The one admission rule of every front end: how settings files that cannot be used, server
//! hooks waiting for approval and the event's failure policy bear on one event, before any hook
//! runs; and the one order of the notes the user is shown about it.
//!
//! Promises: one-shot `dispatch`, the daemon and an embedder decide admission with
//! [`admit`] and compose notes with [`Notes`], so they cannot disagree. An unusable managed
//! file with no good version in force always fails closed; unapproved server hooks count as
//! failed hooks (a block where the event is in `failClosed`); any other unusable file fails
//! closed only for an event in `failClosed`, else it is reported.

use crate::error::SettingsError;
use crate::settings::Settings;

/// What the user is told while server hooks wait for `hookhost approve`.
pub(crate) const UNAPPROVED_NOTE: &str =
    "hookhost: server-managed hooks are waiting for approval and do not run: see `hookhost approvals`";

/// How settings files that cannot be used bear on one event. `errors` are the unusable files
/// with no good version in force (see [`crate::live::split_errors`]); `unapproved`: server-managed
/// hooks wait for approval. `Err` is the reason to fail closed (an unusable managed file;
/// otherwise only for an event in `failClosed`); `Ok` holds the notes for the user.
pub(crate) fn admit(
    settings: &Settings,
    errors: &[SettingsError],
    unapproved: bool,
    event: &str,
) -> Result<Vec<String>, String> {
    if let Some(e) = errors.iter().find(|e| e.managed) {
        return Err(format!("managed settings are invalid, failing closed: {e}"));
    }
    let closed = crate::bus::fails_closed(settings, Some(event));
    if closed && unapproved {
        // Unapproved server hooks count as failed hooks: under a closed failure policy, a block.
        return Err(format!(
            "server-managed hooks are not approved (remoteSettings.requireApproval) and {event} fails closed: \
             review them with `hookhost approvals`"
        ));
    }
    if closed && !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        return Err(format!("invalid settings, failing closed for {event}: {}", list.join("; ")));
    }
    Ok(errors.iter().map(|e| format!("hookhost: skipped invalid settings file {e}")).collect())
}

/// The notes one event's answer carries about the settings, in the one order every front end
/// uses: files whose last good version stays in force, skipped files, changes the gate blocked
/// while loading, server-managed settings problems, and the approval note.
#[derive(Debug, Default, Clone)]
pub(crate) struct Notes {
    pub in_force: Vec<String>,
    pub gate: Vec<String>,
    pub remote: Vec<String>,
    pub unapproved: bool,
}

impl Notes {
    /// The notes, given what [`admit`] said about skipped files. The approval note is said
    /// once per agent session (`tell_once`: [`crate::notice::first_in_session`] with the
    /// event's session), like the notice of skipped project hooks; whether server hooks run
    /// does not depend on it.
    pub fn with_skipped(self, skipped: Vec<String>, tell_once: impl FnOnce(&str) -> bool) -> Vec<String> {
        let mut out = self.in_force;
        out.extend(skipped);
        out.extend(self.gate);
        out.extend(self.remote);
        if self.unapproved && tell_once(UNAPPROVED_NOTE) {
            out.push(UNAPPROVED_NOTE.into());
        }
        out
    }
}
