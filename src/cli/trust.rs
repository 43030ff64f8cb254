//! `hookhost trust` (record project hooks and the scripts they run) and `hookhost pin` (write
//! `sha256` pins): arguments and rendering over `crate::trust`.

use super::*;

/// The current directory, as `Locations::from_env` takes it.
pub(super) fn trust_cmd(g: &Global, a: &TrustArgs) -> u8 {
    let loc = g.locations();
    let fail = |m: String| {
        eprintln!("hookhost trust: {m}");
        1
    };
    let Some(project) = loc.project_dir.clone().filter(|p| p.is_dir()) else {
        return fail(crate::trust::TrustError::NoProjectDir.to_string());
    };
    let Some(state) = loc.state_dir.clone() else { return fail(crate::trust::TrustError::NoStateDir.to_string()) };
    let key = crate::trust::project_key(&project);
    if a.revoke {
        return match crate::trust::revoke_project(&state, &project) {
            Ok(true) => {
                println!("revoked trust in {key}: its project hooks do not run until `hookhost trust`");
                0
            }
            Ok(false) => {
                println!("{key} was not trusted");
                0
            }
            Err(e) => fail(e.to_string()),
        };
    }
    let loaded = load(&loc);
    let project_files = [loc.project_file(), loc.local_file()];
    let bad: Vec<String> = loaded
        .errors
        .iter()
        .filter(|e| project_files.iter().flatten().any(|f| *f == e.location.path))
        .map(|e| e.to_string())
        .collect();
    for b in &bad {
        // Its hooks are not loaded, so they are not trusted: once fixed they are new hooks.
        eprintln!("hookhost trust: warning: skipped invalid settings file {b}: its hooks stay untrusted");
    }
    let s = &loaded.settings;
    let hooks: Vec<_> = s.hooks.iter().chain(s.inactive.iter().map(|(h, _)| h)).cloned().collect();
    let record = match crate::trust::trust_project(&state, &project, &hooks) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    println!(
        "trusted {key}: {} project hook(s), recorded in {}",
        record.hooks.len(),
        crate::trust::TrustStore::file_path(&state).display()
    );
    for (t, h) in
        record.hooks.iter().zip(hooks.iter().filter(|h| matches!(h.origin.scope, Scope::Project | Scope::Local)))
    {
        let content = match (&t.target, &t.content) {
            (Some(target), Some(sum)) => format!("{target}  sha256 {sum}"),
            (Some(target), None) => {
                format!("{target}  UNREADABLE: this hook runs only once it can be read and trusted")
            }
            (None, _) => format!("a {} hook: not run by hookhost", h.kind()),
        };
        println!("  {:<18} {} {}\n      from {}\n      {content}", h.event, h.kind(), t.label, t.origin);
    }
    0
}

pub(super) fn pin_cmd(g: &Global, a: &PinArgs) -> u8 {
    let loc = g.locations();
    let loaded = load(&loc);
    let project = loc.project_dir.as_deref();
    let mut code = 0u8;
    for e in &loaded.errors {
        eprintln!("hookhost pin: skipped invalid settings file {e}");
        code = 1;
    }
    let mut o = String::new();
    let mut mismatches = 0usize;
    let mut wrote_project = false;
    for src in &loaded.settings.sources {
        let file = match crate::settings::file::read(&src.path, src.scope, &loc.links(src.scope)) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("hookhost pin: {e}");
                code = 1;
                continue;
            }
        };
        if file.hooks.is_empty() {
            continue;
        }
        o.push_str(&format!("{} {}\n", src.scope, src.path.display()));
        let mut to_write = std::collections::BTreeMap::new();
        for h in &file.hooks {
            let pos = (h.origin.line, h.origin.column);
            let (status, pin) = match crate::trust::current_pin(h, project) {
                Err(why) => (format!("cannot pin: {why}"), None),
                Ok((target, sum)) => {
                    let status = match &h.sha256 {
                        Some(p) if *p == sum => "pinned, matches".to_string(),
                        Some(p) => {
                            mismatches += 1;
                            format!("MISMATCH: pinned {p}; this hook does not run")
                        }
                        None => "not pinned".to_string(),
                    };
                    if h.sha256.as_deref() != Some(sum.as_str()) {
                        to_write.insert(pos, sum.clone());
                    }
                    (format!("{status}\n      covers {}", target.describe()), Some(sum))
                }
            };
            o.push_str(&format!(
                "  {}:{} {} {} {}\n      sha256 {}\n      {status}\n",
                h.origin.line,
                h.origin.column,
                h.event,
                h.kind(),
                h.label(),
                pin.as_deref().unwrap_or("-"),
            ));
        }
        if a.write && !to_write.is_empty() {
            if src.scope == Scope::Managed && !a.include_managed {
                o.push_str("  not written: a managed file (pass --include-managed)\n");
                continue;
            }
            match crate::settings::pins::write_pins(&src.path, src.scope, &to_write) {
                Ok(n) => {
                    o.push_str(&format!("  wrote {n} pin(s)\n"));
                    wrote_project |= matches!(src.scope, Scope::Project | Scope::Local);
                    // Replaced pins no longer mismatch.
                    mismatches -= file
                        .hooks
                        .iter()
                        .filter(|h| h.sha256.is_some() && to_write.contains_key(&(h.origin.line, h.origin.column)))
                        .count();
                }
                Err(e) => {
                    o.push_str(&format!("  not written: {e}\n"));
                    code = 1;
                }
            }
        }
    }
    if o.is_empty() {
        o.push_str("no hooks configured\n");
    }
    print!("{o}");
    if wrote_project {
        println!("\nproject trust is unchanged: a pin is not part of the definition `hookhost trust` records");
    }
    if mismatches > 0 && code == 0 { 2 } else { code }
}
