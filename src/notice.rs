//! Notices for hooks that were configured but skipped: a project (or local, user, command-line)
//! hook that does not run because the project is not trusted, it changed since it was trusted,
//! or it lacks the pin `requirePinnedHooks` asks for, is said in a `systemMessage`, once per
//! agent session, like unapproved server hooks. Nothing that was configured is skipped silently.
//!
//! Owns the "once per session" memory: in one-shot `dispatch`, a marker file per (session,
//! notice) in `<state dir>/notices/` (created with `O_EXCL`: the first process to create it
//! tells the user); in the daemon, a set in memory. Without a session id, every event says it.
//! The markers are hints only (the user's own state directory): deleting them shows a notice
//! again, forging one hides a notice from that session; neither changes what runs.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use crate::settings::{Scope, Settings};

/// The most markers kept; older ones are removed when a new one is written beyond this.
const MAX_MARKERS: usize = 4096;

/// The notice for the non-managed hooks `settings` holds inactive for want of trust or a pin,
/// if any.
pub fn skipped_hooks(settings: &Settings) -> Option<String> {
    let skipped: Vec<&(std::sync::Arc<crate::hook::Hook>, String)> = settings
        .inactive
        .iter()
        .filter(|(h, why)| {
            h.origin.scope != Scope::Managed && (why.contains("hookhost trust") || why.contains("`sha256` pin"))
        })
        .collect();
    let (first, why) = skipped.first()?;
    let more = if skipped.len() > 1 { format!(" (and {} more)", skipped.len() - 1) } else { String::new() };
    Some(format!(
        "hookhost: {} {} hook(s) did not run: {} {} from {}{more}: {why}",
        skipped.len(),
        first.origin.scope,
        first.kind(),
        first.label(),
        first.origin,
    ))
}

/// Whether `notice` is new to `session` (and remember that it was told). `state_dir`: where
/// one-shot processes keep the markers; `None` in the daemon (memory only).
pub fn first_in_session(state_dir: Option<&Path>, session: Option<&str>, notice: &str) -> bool {
    let Some(session) = session.filter(|s| !s.is_empty()) else { return true };
    let key = crate::digest::sha256_hex(format!("{session}\0{notice}").as_bytes());
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    if let Ok(mut seen) = SEEN.lock() {
        let set = seen.get_or_insert_with(HashSet::new);
        if set.len() > MAX_MARKERS {
            set.clear();
        }
        if !set.insert(key.clone()) {
            return false;
        }
    }
    let Some(dir) = state_dir.map(|d| d.join("notices")) else { return true };
    if std::fs::create_dir_all(&dir).is_err() {
        return true;
    }
    let created = std::fs::OpenOptions::new().write(true).create_new(true).open(dir.join(&key[..32]));
    match created {
        Ok(_) => {
            prune(&dir);
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        // A marker that cannot be written: say it (again) rather than never.
        Err(_) => true,
    }
}

/// Keeps the marker directory bounded: beyond [`MAX_MARKERS`], the oldest half goes.
fn prune(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<(std::time::SystemTime, std::path::PathBuf)> =
        rd.flatten().filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path()))).collect();
    if entries.len() <= MAX_MARKERS {
        return;
    }
    entries.sort();
    for (_, p) in entries.iter().take(entries.len() / 2) {
        let _ = std::fs::remove_file(p);
    }
}
