//! `hookhost replay`: what-if for a candidate policy. Re-runs recorded events (from an audit
//! log, or event files) through the settings with the candidate added, and reports every event
//! whose decision would change.
//!
//! Promises: the comparison is per event, by the one-word decision (`deny`, `ask`, `allow`,
//! `block`, `stop`, `none`, …); events whose input was not recorded (redacted logs, oversized
//! events) are counted as not replayable, never guessed. Replaying runs the hooks for real,
//! always sandboxed: this machine's managed sandbox floor holds, and `mode: "off"` is raised to
//! at least `best_effort` for every hook, the candidate's included (`crate::floor`). Hooks with
//! side effects will perform them again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::bus::DispatchContext;
use crate::event::HookEvent;
use crate::settings::{Locations, load};

/// One recorded event to replay.
struct Recorded {
    /// Where it came from (`audit seq 12`, `events/03-read-env.json`).
    label: String,
    event: HookEvent,
    /// The decision recorded at the time (audit logs), if known.
    was: Option<String>,
}

fn from_audit(path: &Path) -> Result<(Vec<Recorded>, usize), String> {
    let files = crate::audit::log_files(path).map_err(|e| e.to_string())?;
    let (mut out, mut skipped) = (Vec::new(), 0);
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        for line in text.lines() {
            let Ok(rec) = serde_json::from_str::<Value>(line) else { continue };
            if rec.get("kind").and_then(Value::as_str) != Some("event") {
                continue;
            }
            let Some(input) = rec.get("input").filter(|i| i.is_object()) else {
                skipped += 1;
                continue;
            };
            let bytes = serde_json::to_vec(input).map_err(|e| e.to_string())?;
            match HookEvent::parse(&bytes) {
                Ok(event) => out.push(Recorded {
                    label: format!("seq {}", rec.get("seq").and_then(Value::as_u64).unwrap_or(0)),
                    event,
                    was: rec.get("decision").and_then(Value::as_str).map(str::to_string),
                }),
                Err(_) => skipped += 1,
            }
        }
    }
    Ok((out, skipped))
}

fn from_dir(dir: &Path) -> Result<Vec<Recorded>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let event = HookEvent::parse(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(Recorded { label: p.display().to_string(), event, was: None })
        })
        .collect()
}

/// Runs the replay; returns the exit code (0 no change, 2 some decision changes, 1 error).
pub fn run(audit: Option<&Path>, events: Option<&Path>, candidate: &Path, project_dir: Option<PathBuf>) -> u8 {
    let (recorded, not_replayable) = match (audit, events) {
        (Some(a), None) => match from_audit(a) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("hookhost replay: {e}");
                return 1;
            }
        },
        (None, Some(d)) => match from_dir(d) {
            Ok(x) => (x, 0),
            Err(e) => {
                eprintln!("hookhost replay: {e}");
                return 1;
            }
        },
        _ => {
            eprintln!("hookhost replay: give exactly one of --audit FILE or --events DIR");
            return 1;
        }
    };
    let floor = match crate::floor::machine_sandbox_never_off() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("hookhost replay: {e}; no hook is run without it");
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookhost replay: {e}");
            return 1;
        }
    };
    let host = crate::Host::tools();
    let mut transitions: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut changed = 0usize;
    println!("replaying {} event(s) against the candidate {}\n", recorded.len(), candidate.display());
    for r in &recorded {
        let decide = |cli_file: Option<PathBuf>| {
            let loc = Locations::from_env(cli_file, project_dir.clone(), r.event.cwd());
            let loaded = load(&loc);
            if let Some(e) = loaded.errors.first() {
                return Err(e.to_string());
            }
            let bus = host.what_if_bus(loaded.settings, &floor);
            let ctx = DispatchContext { project_dir: loc.project_dir.clone(), user_dir: None };
            let outcome = rt.block_on(bus.dispatch(&r.event, &ctx));
            Ok((outcome.verdict.label().to_string(), outcome.verdict.reason.clone()))
        };
        let was = match &r.was {
            Some(w) => w.clone(),
            None => match decide(None) {
                Ok((d, _)) => d,
                Err(e) => {
                    eprintln!("hookhost replay: current settings: {e}");
                    return 1;
                }
            },
        };
        let (now, reason) = match decide(Some(candidate.to_path_buf())) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("hookhost replay: candidate settings: {e}");
                return 1;
            }
        };
        *transitions.entry((was.clone(), now.clone())).or_default() += 1;
        if was != now {
            changed += 1;
            let what = r.event.tool_name().map(|t| format!(" {t}")).unwrap_or_default();
            println!(
                "  {}: {}{}: was {was}, now {now}{}",
                r.label,
                r.event.name(),
                what,
                reason.map(|x| format!(" ({})", crate::decision::truncate_chars(&x, 120))).unwrap_or_default()
            );
        }
    }
    println!("\n{:<10} {:<10} {:>6}", "was", "now", "events");
    for ((was, now), n) in &transitions {
        println!("{was:<10} {now:<10} {n:>6}{}", if was != now { "   changed" } else { "" });
    }
    if not_replayable > 0 {
        println!("\n{not_replayable} recorded event(s) could not be replayed (their input was not recorded)");
    }
    println!("\n{changed} of {} decision(s) would change", recorded.len());
    if changed > 0 { 2 } else { 0 }
}
