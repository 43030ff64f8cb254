//! The permission stage of `PreToolUse`: the merged `permissions` rules evaluated deny → ask →
//! allow, before hooks' answers are folded in.
//!
//! - deny: the first deny rule (configured order) that matches wins. For Bash, a rule matches
//!   when **any** simple command matches it, including those inside substitutions and groups;
//!   `Read(…)` rules also bind the files Bash commands read, and `Edit(…)`/`Write(…)` rules the
//!   files they write (arguments and redirections).
//! - ask: the same, with the ask list.
//! - allow: a Bash call is allowed only when **every** simple command matches an allow rule
//!   and the line has no command or process substitution; other calls when a rule matches.
//! - A command line that cannot be split reliably is never allowed (fail closed): with deny
//!   rules that bind Bash it is denied, with only ask/allow rules it is an `ask`.
//! - `permissions.disableBypassPermissionsMode: "disable"` denies calls made in
//!   `bypassPermissions` mode.
//!
//! The result is one `RuleHit` naming the rule and where it was written; the bus folds it with
//! the hooks' answers (a rule deny is a deny, ask an ask; hooks can still deny an allowed call).

use serde_json::Value;

use super::bash::{self, Parsed};
use super::{
    LocatedRule, PathMatch, PermissionLists, RuleContext, bash_matches, path, path_matches, target_paths,
    webfetch_matches, wildcard,
};
use crate::decision::Permission;
use crate::event::HookEvent;

/// What the rules decided, and why.
#[derive(Debug, Clone)]
pub struct RuleHit {
    pub permission: Permission,
    /// The deciding rule (none for a mode or parse decision).
    pub rule: Option<LocatedRule>,
    pub reason: String,
}

/// The rule lists and options that apply.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub lists: &'a PermissionLists,
    /// Managed `hookhost.strictBashRules`.
    pub strict_bash: bool,
    /// `permissions.disableBypassPermissionsMode == "disable"`.
    pub disable_bypass: bool,
}

/// The call being judged.
struct Call<'a> {
    tool: &'a str,
    input: &'a Value,
    bash: Option<Option<Parsed>>,
    raw_command: &'a str,
}

fn describe(l: &LocatedRule) -> String {
    format!(
        "`{}` ({} settings {}:{}:{})",
        l.rule.text,
        l.origin.scope,
        l.origin.path.display(),
        l.origin.line,
        l.origin.column
    )
}

/// Evaluates the rules for a `PreToolUse` event. `None`: no rule has an opinion.
pub fn evaluate(policy: &Policy<'_>, event: &HookEvent, ctx: &RuleContext) -> Option<RuleHit> {
    if policy.disable_bypass && event.str_field("permission_mode") == Some("bypassPermissions") {
        return Some(RuleHit {
            permission: Permission::Deny,
            rule: None,
            reason: "bypassPermissions mode is disabled by policy (permissions.disableBypassPermissionsMode)".into(),
        });
    }
    let tool = event.tool_name()?;
    let null = Value::Null;
    let input = event.tool_input().unwrap_or(&null);
    let raw_command = if tool == "Bash" { input.get("command").and_then(Value::as_str).unwrap_or("") } else { "" };
    let call =
        Call { tool, input, bash: (tool == "Bash").then(|| bash::parse(raw_command, policy.strict_bash)), raw_command };
    let lists = policy.lists;

    for (list, permission, verb) in
        [(&lists.deny, Permission::Deny, "denied"), (&lists.ask, Permission::Ask, "needs approval under")]
    {
        for l in list {
            if let Some(what) = hits(l, &call, ctx, PathMatch::Any) {
                return Some(RuleHit {
                    permission,
                    rule: Some(l.clone()),
                    reason: format!("{verb} permission rule {}{what}", describe(l)),
                });
            }
        }
    }

    if let Some(parsed) = &call.bash {
        let bash_rules = lists
            .allow
            .iter()
            .chain(&lists.deny)
            .chain(&lists.ask)
            .any(|l| l.rule.tool == "Bash" || l.rule.specifier.is_some());
        let Some(parsed) = parsed else {
            // Fail closed: with deny rules that could bind a Bash call, a command we cannot read
            // is denied; with only ask/allow rules it needs approval.
            let deny_rules = lists
                .deny
                .iter()
                .any(|l| l.rule.tool == "Bash" || matches!(l.rule.tool.as_str(), "Read" | "Edit" | "Write"));
            let reason = "the command cannot be parsed reliably (run-time program names, `eval`, `case`, functions or unbalanced quoting)";
            return if deny_rules {
                Some(RuleHit {
                    permission: Permission::Deny,
                    rule: None,
                    reason: format!("{reason}; denied because deny rules apply (fail closed)"),
                })
            } else {
                bash_rules.then(|| RuleHit {
                    permission: Permission::Ask,
                    rule: None,
                    reason: format!("{reason}, so permission rules cannot allow it"),
                })
            };
        };
        let allowed: Vec<&LocatedRule> = parsed
            .commands
            .iter()
            .filter(|c| !c.text.is_empty())
            .map(|c| {
                lists.allow.iter().find(|l| {
                    l.rule.tool == "Bash" && l.rule.specifier.as_deref().is_none_or(|s| bash_matches(s, &c.text))
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let first = *allowed.first()?;
        if parsed.has_substitution {
            return Some(RuleHit {
                permission: Permission::Ask,
                rule: Some(first.clone()),
                reason: "command or process substitution is never allowed by a rule".into(),
            });
        }
        return Some(RuleHit {
            permission: Permission::Allow,
            rule: Some(first.clone()),
            reason: format!("allowed by permission rule {}", describe(first)),
        });
    }
    lists.allow.iter().find(|l| hits(l, &call, ctx, PathMatch::All).is_some()).map(|l| RuleHit {
        permission: Permission::Allow,
        rule: Some(l.clone()),
        reason: format!("allowed by permission rule {}", describe(l)),
    })
}

/// Whether rule `l` matches the call (deny/ask semantics: any part); returns a detail suffix.
fn hits(l: &LocatedRule, call: &Call<'_>, ctx: &RuleContext, how: PathMatch) -> Option<String> {
    let rule = &l.rule;
    let root = ctx.root_for(l.origin.scope);
    if let Some(parsed) = &call.bash {
        let spec = rule.specifier.as_deref();
        if rule.tool == "Bash" {
            let Some(spec) = spec else { return Some(String::new()) };
            return match parsed {
                Some(p) => p
                    .commands
                    .iter()
                    .find(|c| !c.text.is_empty() && bash_matches(spec, &c.text))
                    .map(|c| format!(": `{}`", c.text)),
                // Unparsable: a rule whose text appears anywhere still applies.
                None => wildcard(&format!("*{spec}*"), call.raw_command)
                    .then(|| ": (in a command that cannot be parsed)".to_string()),
            };
        }
        let (reads, writes) = match (rule.tool.as_str(), spec) {
            ("Read", Some(_)) => (true, false),
            ("Edit" | "Write", Some(_)) => (false, true),
            _ => return None,
        };
        let spec = spec?;
        // A command that carries a patch (`apply_patch <<'EOF'`): the files it lists are written.
        if writes
            && let Some(f) = target_paths(call.input).iter().find(|f| path_matches(spec, f, ctx, &root, false, how))
        {
            return Some(format!(": the patch in the command writes {f}"));
        }
        let p = parsed.as_ref()?;
        for c in &p.commands {
            let files = if reads {
                &c.reads
            } else if writes {
                &c.writes
            } else {
                continue;
            };
            // A glob argument is judged by what the shell would expand it to, too.
            let cwd = ctx.cwd.clone().unwrap_or_else(|| std::path::PathBuf::from("/"));
            let expanded: Vec<String> =
                files.iter().flat_map(|f| std::iter::once(f.clone()).chain(path::expand_glob(f, &cwd))).collect();
            if let Some(f) = expanded.iter().find(|f| path_matches(spec, f, ctx, &root, true, how)) {
                let what = if reads { "reads" } else { "writes" };
                return Some(format!(
                    ": `{}` {what} {f}",
                    if c.text.is_empty() { "(interpreter code)" } else { &c.text }
                ));
            }
        }
        return None;
    }
    let Some(spec) = &rule.specifier else {
        return rule.names_tool(call.tool).then(String::new);
    };
    if call.tool == "WebFetch" && rule.tool == "WebFetch" {
        return webfetch_matches(spec, call.input).then(String::new);
    }
    if rule.binds_path_tool(call.tool)
        && matches!(
            rule.tool.as_str(),
            "Read" | "Edit" | "Write" | "MultiEdit" | "NotebookEdit" | "Glob" | "Grep" | "LS"
        )
    {
        // Every path the call names (a patch names several: one denied path denies it).
        let mut targets = target_paths(call.input);
        if targets.is_empty() {
            targets.extend(ctx.cwd.as_ref().map(|c| c.to_string_lossy().into_owned()));
        }
        if targets.is_empty() {
            return None;
        }
        return match how {
            PathMatch::Any => {
                targets.iter().find(|t| path_matches(spec, t, ctx, &root, false, how)).map(|t| format!(": {t}"))
            }
            PathMatch::All => targets
                .iter()
                .all(|t| path_matches(spec, t, ctx, &root, false, how))
                .then(|| format!(": {}", targets.join(", "))),
        };
    }
    if rule.names_tool(call.tool) {
        // Other tools: the specifier against the input's first string field (MCP arguments etc.).
        let s = call.input.as_object()?.values().find_map(Value::as_str)?;
        return wildcard(spec, s).then(String::new);
    }
    None
}
