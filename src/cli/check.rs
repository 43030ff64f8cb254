//! `hookhost check` (every settings scope parsed, located errors, the linter's findings) and
//! `hookhost init` (a starter policy). The analysis itself is `crate::lint`.

use super::*;

pub(super) fn check(g: &Global, a: &CheckArgs) -> u8 {
    let loc = g.locations();
    let loaded = load(&loc);
    let s = &loaded.settings;
    let mut o = String::new();
    o.push_str(&format!("settings revision {}\n\nfiles (highest precedence first):\n", s.revision));
    if s.sources.is_empty() {
        o.push_str("  (none found)\n");
    }
    for src in &s.sources {
        o.push_str(&format!("  {:<12} {}\n", src.scope.as_str(), src.path.display()));
    }
    if let Some(r) = &loaded.remote {
        o.push_str(&crate::cli::remote::check_summary(r));
    }
    o.push_str(&format!(
        "\nnot present: {}\n",
        [Some(loc.managed_file()), loc.local_file(), loc.project_file(), loc.user_file.clone()]
            .into_iter()
            .flatten()
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    o.push_str(&format!("\nactive hooks ({}), in configured order:\n", s.hooks.len()));
    for h in &s.hooks {
        o.push_str(&format!(
            "  {:<18} {:<16} {} {}\n      timeout {}s{}{}{}\n      from {}\n",
            h.event,
            format!("matcher {:?}", h.matcher_source.as_deref().unwrap_or("*")),
            h.kind(),
            h.label(),
            h.timeout.as_secs_f64(),
            h.if_rule.as_ref().map(|r| format!(", if {}", r.text)).unwrap_or_default(),
            match h.on_failure {
                Some(crate::hook::OnFailure::Block) => ", onFailure block",
                _ => "",
            },
            if h.is_async { ", async" } else { "" },
            h.origin
        ));
        if h.rollback {
            o.push_str("      rollback: a matching edit it rejects is undone\n");
        }
    }
    // Loading every component now compiles it (with the precompile budget) into the precompile
    // cache when this process may write one (root): events then never compile.
    let components = crate::Host::tools()
        .preload_wasm(&s.hooks, &crate::exec::RunContext { project_dir: loc.project_dir.clone(), sole: false });
    if !components.is_empty() {
        o.push_str(&format!("\nwasm components ({}):\n", components.len()));
        for (path, r) in &components {
            match r {
                Ok(how) => o.push_str(&format!("  {}\n      ok: {how}\n", path.display())),
                Err(f) => {
                    o.push_str(&format!("  {}\n      FAILED ({}): {}\n", path.display(), f.kind.as_str(), f.message))
                }
            }
        }
    }
    if !s.inactive.is_empty() {
        o.push_str(&format!("\ninactive hooks ({}):\n", s.inactive.len()));
        for (h, why) in &s.inactive {
            o.push_str(&format!(
                "  {:<18} {} {}\n      from {}\n      because {}\n",
                h.event,
                h.kind(),
                h.label(),
                h.origin,
                why
            ));
        }
    }
    o.push_str(&format!(
        "\npermission rules: {} deny, {} ask, {} allow{}\n",
        s.permissions.deny.len(),
        s.permissions.ask.len(),
        s.permissions.allow.len(),
        if s.allow_managed_permission_rules_only { " (managed rules only)" } else { "" }
    ));
    if s.allow_managed_hooks_only {
        o.push_str("allowManagedHooksOnly: only managed hooks run\n");
    }
    if s.rollback.rejected_edits == Some(true) {
        o.push_str(
            "rollbackRejectedEdits: every Edit/Write/MultiEdit/NotebookEdit a PostToolUse hook rejects is undone\n",
        );
    }
    if s.rollback.revert_config_changes == Some(true) {
        o.push_str(
            "revertBlockedConfigChanges: a blocked settings change is written back to the last accepted content\n",
        );
    }
    if s.require_pinned_hooks {
        o.push_str("requirePinnedHooks: non-managed hooks run only with a sha256 pin\n");
    }
    let mut per_event: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for h in &s.hooks {
        *per_event.entry(h.event.as_str()).or_default() += 1;
    }
    for (event, n) in per_event.into_iter().filter(|(_, n)| *n > s.max_hooks_per_event()) {
        o.push_str(&format!(
            "limit: {event} has {n} hooks, more than maxHooksPerEvent ({}): if they all match, none runs and the \
             event fails closed\n",
            s.max_hooks_per_event()
        ));
    }
    if let Some((v, scope)) = s.disable_all_hooks {
        o.push_str(&format!("disableAllHooks: {v} (from {scope} settings)\n"));
    }
    o.push_str(&format!(
        "failure policy: {}\n",
        if s.fail_closed.is_empty() {
            "fail-open unless a hook says onFailure \"block\"".to_string()
        } else {
            format!("fail closed for {}", s.fail_closed.iter().cloned().collect::<Vec<_>>().join(", "))
        }
    ));
    print!("{o}");
    crate::lint::report(&loc, &loaded, &components, a.strict)
}

pub(super) fn init_cmd(g: &Global, a: &InitArgs) -> u8 {
    use crate::init::{Request, Target};
    let loc = g.locations();
    let target = if a.project { Target::Project } else { Target::Managed };
    let (policy_file, claude_default) = match target {
        Target::Managed => (loc.managed_file(), PathBuf::from("/etc/claude-code/managed-settings.json")),
        Target::Project => match (loc.project_file(), loc.project_dir.clone()) {
            (Some(f), Some(d)) => (f, d.join(".claude/settings.json")),
            _ => {
                eprintln!("hookhost init: no project directory (pass --project-dir DIR)");
                return 1;
            }
        },
    };
    let r = Request {
        target,
        preset: a.preset,
        policy_file,
        claude_file: a.claude_settings.clone().unwrap_or(claude_default),
        force: a.force,
    };
    match crate::init::run(&r, &mut std::io::stdout().lock()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hookhost init: {e}");
            1
        }
    }
}
