//! The command-line side of shipping: `hookhost audit ship` and the shipping section of
//! `hookhost status` (arguments and rendering only; the work is in `crate::audit::ship`, which knows no
//! front end).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::audit::ship::{ShipOptions, SinkStatus};
use crate::settings::file::AuditSettings;

/// Sets `stop` on SIGTERM or SIGINT (a thread with its own small runtime).
fn stop_on_signal(stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new().name("hookhost-signals".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            stop.store(true, Ordering::Relaxed);
        });
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch for SIGTERM/SIGINT");
    }
}

/// One sink's line: `name (kind): delivered up to seq N of M; lag R records, S s[; error: …]`.
pub fn line(s: &SinkStatus) -> String {
    let mut l = format!(
        "{} ({}): delivered up to seq {} of {}; lag {} record(s), {:.1} s",
        s.name, s.kind, s.delivered_seq, s.log_seq, s.lag_records, s.lag_seconds
    );
    if s.waiting_for_lock {
        l.push_str("; waiting: another shipper holds this sink");
    } else if let Some(e) = &s.error {
        l.push_str(&format!("; error: {e}"));
    }
    for n in &s.notices {
        l.push_str(&format!("\n    notice: {n}"));
    }
    l
}

/// `hookhost audit ship`.
pub fn ship_cmd(g: &crate::cli::Global, a: &crate::cli::ShipArgs) -> u8 {
    let loaded = crate::settings::load(&g.locations());
    for e in loaded.errors.iter().filter(|e| e.managed) {
        eprintln!("hookhost audit ship: WARNING: {e}");
    }
    let Some(mut options) = ShipOptions::from_settings(&loaded.settings.audit) else {
        eprintln!("hookhost audit ship: no sink to ship to (managed `audit.ship` is empty, or auditing is off)");
        return 1;
    };
    if !a.sinks.is_empty() {
        if let Some(unknown) = a.sinks.iter().find(|n| !options.sinks.iter().any(|s| &s.name == *n)) {
            let known: Vec<&str> = options.sinks.iter().map(|s| s.name.as_str()).collect();
            eprintln!("hookhost audit ship: no sink named {unknown:?} (configured: {})", known.join(", "));
            return 1;
        }
        options.sinks.retain(|s| a.sinks.contains(&s.name));
    }
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(stop.clone());
    if a.follow {
        eprintln!("hookhost audit ship: following {} (SIGTERM or SIGINT stops)", options.log.display());
    }
    let results = crate::audit::ship::run_cli(&options, a.follow, Duration::from_secs_f64(a.timeout), &stop);
    let mut code = 0;
    for r in results {
        match r {
            Ok(d) => {
                println!("{}", line(&d.status));
                if !d.caught_up && !a.follow {
                    code = 1;
                }
            }
            Err(e) => {
                eprintln!("hookhost audit ship: {e}");
                code = 1;
            }
        }
    }
    if code != 0 && !a.follow {
        eprintln!("hookhost audit ship: not every record was delivered; run again (each sink resumes from its cursor)");
    }
    code
}

/// The shipping section of `hookhost status`: the daemon's view when it ships, else what the
/// cursor files say. `None` when no sink is configured.
pub fn status(audit: &AuditSettings, daemon: Option<&[SinkStatus]>) -> Option<Value> {
    if audit.ship.is_empty() {
        return None;
    }
    let sinks: Vec<Value> = match daemon.filter(|d| !d.is_empty()) {
        Some(d) => d.iter().map(|s| json!({"from": "daemon", "status": s})).collect(),
        None => crate::audit::ship::status_from_files(audit)
            .into_iter()
            .zip(&audit.ship)
            .map(|(r, cfg)| match r {
                Ok(s) => json!({"from": "cursor", "status": s}),
                Err(e) => json!({"from": "cursor", "name": cfg.name, "error": e}),
            })
            .collect(),
    };
    Some(Value::Array(sinks))
}

/// The text of [`status`], one line per sink.
pub fn status_text(v: &Value) -> String {
    let mut out = String::new();
    for s in v.as_array().into_iter().flatten() {
        let from = s.get("from").and_then(Value::as_str).unwrap_or("");
        match s.get("status").and_then(|st| serde_json::from_value::<SinkStatus>(st.clone()).ok()) {
            Some(st) => out.push_str(&format!("audit sink         {} [{from}]\n", line(&st))),
            None => out.push_str(&format!(
                "audit sink         {}: {}\n",
                s.get("name").and_then(Value::as_str).unwrap_or("?"),
                s.get("error").and_then(Value::as_str).unwrap_or("unknown")
            )),
        }
    }
    out
}
