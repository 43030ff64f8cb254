//! `hookhost explain`: runs an event through the same host as `dispatch` and renders which hooks
//! matched, what each answered and why, the fold, and whether rollback is armed. Writes nothing.

use super::*;

pub(super) fn explain(g: &Global, a: &DispatchArgs) -> u8 {
    let failed = |r: Response| {
        eprint!("{}", r.stderr);
        println!("dispatch would exit {} (host error)", r.exit_code);
        1
    };
    let input = match read_stdin(a.max_event_bytes) {
        Ok(i) => i,
        Err(e) => {
            return failed(crate::host::host_error(
                HostFault::Evaluation,
                None,
                format!("cannot read the event from stdin: {e}"),
            ));
        }
    };
    // `--agent`: the mapping applied, then the canonical event explained.
    let inbound = match a.agent.accept(&input, a.agent_event.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("hookhost: {}: {e}", a.agent.name());
            println!("dispatch would exit 2 (host error)");
            return 1;
        }
    };
    let limit = if inbound.agent == crate::agents::Agent::Claude {
        a.max_event_bytes
    } else {
        crate::cli::agents::canonical_limit(a.max_event_bytes)
    };
    let host = match oneshot_host(g, crate::host::FrontEnd::Explain, limit) {
        Ok(h) => h,
        Err(r) => return failed(r),
    };
    let explained = match host.block_on(host.explain(&inbound.canonical)) {
        Ok(Ok(x)) => x,
        Ok(Err(r)) => return failed(r),
        Err(e) => return failed(crate::host::host_error(HostFault::Evaluation, None, e)),
    };
    let crate::host::Explained { event, outcome, revision, warnings, errors, rollback } = explained;
    let subject = event.matcher_subject().map(str::to_string);
    let mut o = String::new();
    if inbound.agent != crate::agents::Agent::Claude {
        for line in inbound.describe() {
            o.push_str(&format!("{line}\n"));
        }
    }
    o.push_str(&format!("event     {}", event.name()));
    if let Some(s) = &subject {
        o.push_str(&format!(" (matcher subject {s:?})"));
    }
    o.push_str(&format!("\nsettings  revision {}\n", &revision[..12.min(revision.len())]));
    for e in &errors {
        o.push_str(&format!("  skipped invalid file: {e}\n"));
    }
    for w in &warnings {
        o.push_str(&format!("  warning: {w}\n"));
    }
    if event.kind() == crate::event::EventKind::PreToolUse {
        match &outcome.rule_hit {
            Some(h) => o.push_str(&format!("\npermission rules: {}\n  {}\n", h.permission.as_str(), h.reason)),
            None => o.push_str("\npermission rules: no rule applies\n"),
        }
    }
    o.push_str(&format!("\nhooks that ran ({}):\n", outcome.runs.len()));
    for r in &outcome.runs {
        let answer = match &r.report.result {
            HookResult::Decided(d) => d.summary(),
            HookResult::Failed(f) => format!("FAILED ({}): {}", f.kind.as_str(), f.message),
        };
        let policy = match &r.policy {
            crate::decision::FailurePolicy::Open => "fail-open".to_string(),
            crate::decision::FailurePolicy::Closed(w) => format!("fail-closed: {w}"),
        };
        o.push_str(&format!(
            "  {}  {}\n      from {}\n      answered: {}\n      took {}, {}{}\n",
            r.hook.kind(),
            r.hook.label(),
            r.hook.origin,
            answer,
            fmt_duration(r.report.duration),
            policy,
            match r.hook.enforcement {
                crate::vocab::Enforcement::Enforce if r.hook.is_async => ", async (decision ignored)",
                crate::vocab::Enforcement::Enforce => "",
                crate::vocab::Enforcement::Warn => ", mode warn (a rejection is only a warning)",
                crate::vocab::Enforcement::Audit => ", mode audit (recorded, not applied)",
            }
        ));
        if let Some(sb) = &r.report.sandbox {
            o.push_str(&format!("      sandbox: {}\n", sb.summary()));
            for (layer, status) in &sb.layers {
                o.push_str(&format!("        {:<15} {status}\n", layer.as_str()));
            }
        }
        if let Some(h) = &r.report.stderr_head {
            o.push_str(&format!("      stderr: {h}\n"));
        }
    }
    for c in &outcome.rewrites {
        o.push_str(&format!(
            "\nrewritten input checked again (pass {}): {}\n",
            c.pass,
            crate::decision::truncate_chars(&c.input.to_string(), 200)
        ));
        match &c.rule_hit {
            Some(h) => o.push_str(&format!("  permission rules: {}: {}\n", h.permission.as_str(), h.reason)),
            None => o.push_str("  permission rules: no rule applies\n"),
        }
        for r in &c.runs {
            let answer = match &r.report.result {
                HookResult::Decided(d) => d.summary(),
                HookResult::Failed(f) => format!("FAILED ({}): {}", f.kind.as_str(), f.message),
            };
            o.push_str(&format!("  {} {} answered: {answer}\n", r.hook.kind(), r.hook.label()));
        }
        o.push_str(&format!("  this pass: {}\n", c.verdict.label()));
    }
    if !outcome.detached.is_empty() {
        o.push_str(&format!("\nasync hooks ({}), not awaited by dispatch:\n", outcome.detached.len()));
        for h in &outcome.detached {
            o.push_str(&format!("  {}  {}\n      from {}\n", h.kind(), h.label(), h.origin));
        }
    }
    if !outcome.skipped.is_empty() {
        o.push_str(&format!("\nhooks skipped ({}):\n", outcome.skipped.len()));
        for (h, why) in &outcome.skipped {
            o.push_str(&format!("  {}  {}\n      from {}\n      because {}\n", h.kind(), h.label(), h.origin, why));
        }
    }
    if let Some(r) = rollback {
        o.push_str(&format!("\n{r}\n"));
    }
    o.push_str(&format!("\ndecision  {}\n", outcome.verdict.label()));
    if let Some(r) = &outcome.verdict.reason {
        o.push_str(&format!("reason    {}\n", first_line(r)));
    }
    for w in &outcome.verdict.why {
        o.push_str(&format!("  - {w}\n"));
    }
    let claude_form = outcome.render(&event);
    let resp = inbound.render(&claude_form);
    if inbound.agent != crate::agents::Agent::Claude {
        o.push_str(&format!(
            "\nin Claude Code's form: exit {} {}",
            claude_form.exit_code,
            claude_form.stdout.trim_end()
        ));
        o.push_str(&format!("\nanswered to {} in its own form:", inbound.agent.name()));
    }
    o.push_str(&format!("\n`hookhost dispatch` would exit {}", resp.exit_code));
    if !resp.stdout.is_empty() {
        o.push_str(&format!(" and print:\n  {}", resp.stdout.trim_end()));
    }
    if !resp.stderr.is_empty() {
        o.push_str(&format!("\n  stderr: {}", resp.stderr.trim_end()));
    }
    o.push_str(&format!("\n(total {})\n", fmt_duration(outcome.duration)));
    print!("{o}");
    0
}
