//! The event bus: for one event, pick the hooks whose matcher and `if` rule fit, run them
//! concurrently (each with its deadline), fold their answers with their failure policies into
//! one `Verdict`, and report what ran and why.
//!
//! Promises: every hook registered for the event either runs or appears in `Outcome::skipped`
//! with the reason; identical handlers configured in several scopes run once (the strictest
//! failure policy of the copies applies); a hook's failure blocks exactly when its failure
//! policy is closed (`onFailure: "block"`, or the managed `failClosed` floor for the event).
//! An event that selects more hooks than `Settings::max_hooks_per_event` runs none of them and
//! fails closed with a reason naming the limit (so piling on hooks can never switch a managed
//! hook off).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::audit::AuditLog;

use crate::decision::{Decision, HookResult};
use crate::decision::{FailurePolicy, FoldItem, Response, Verdict, fold, render};
use crate::event::{EventKind, HookEvent};
use crate::exec::{HookReport, RunContext, Runner};
use crate::hook::{Enforcement, Hook, OnFailure};
use crate::permissions::RuleContext;
use crate::permissions::engine::{self, Policy, RuleHit};
use crate::settings::Settings;

/// Events on which Claude Code ignores `onFailure` (a blocking failure would loop the agent).
const ON_FAILURE_IGNORED: &[&str] = &["Stop", "SubagentStop", "TaskCompleted", "TeammateIdle"];

/// A hook chosen for an event, with the failure policy that applies to it.
#[derive(Debug, Clone)]
pub struct Selected {
    pub hook: Arc<Hook>,
    pub policy: FailurePolicy,
}

/// The hooks for one event.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub selected: Vec<Selected>,
    /// Hooks registered for the event that do not run, and why.
    pub skipped: Vec<(Arc<Hook>, String)>,
    /// Set when more hooks matched than the limit allows: none runs, and this is the reason.
    pub over_limit: Option<String>,
}

/// One hook that ran.
#[derive(Debug, Clone)]
pub struct HookRun {
    pub hook: Arc<Hook>,
    pub policy: FailurePolicy,
    pub report: HookReport,
}

/// Everything about one dispatched event.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What the permission rules decided (PreToolUse only).
    pub rule_hit: Option<RuleHit>,
    pub runs: Vec<HookRun>,
    pub skipped: Vec<(Arc<Hook>, String)>,
    pub verdict: Verdict,
    pub revision: String,
    pub duration: Duration,
}

impl Outcome {
    /// Claude Code's answer for this outcome.
    pub fn render(&self, event: &HookEvent) -> Response {
        render(event, &self.verdict)
    }
}

/// Per-dispatch context.
#[derive(Debug, Clone, Default)]
pub struct DispatchContext {
    pub project_dir: Option<PathBuf>,
    /// hookhost's user settings directory (root of `/path` rules written in user settings).
    pub user_dir: Option<PathBuf>,
}

impl DispatchContext {
    fn rules(&self, event: &HookEvent) -> RuleContext {
        RuleContext {
            cwd: event.cwd().map(PathBuf::from).or_else(|| self.project_dir.clone()),
            root: self.project_dir.clone(),
            user_root: self.user_dir.clone(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

/// The bus: one settings revision and a runner.
#[derive(Debug)]
pub struct EventBus {
    settings: Arc<Settings>,
    runner: Arc<Runner>,
    audit: Option<Arc<AuditLog>>,
    /// Undoing rejected edits and blocked settings changes (`crate::rollback`); `None`: off.
    rollback: Option<Arc<crate::rollback::Rollback>>,
}

impl EventBus {
    pub fn new(settings: Settings) -> Self {
        // Invalid managed sandbox settings were reported at load; the defaults apply here.
        let managed =
            crate::exec::sandbox::ManagedSandbox::from_value(settings.extensions.get("sandbox")).unwrap_or_default();
        EventBus { settings: Arc::new(settings), runner: Arc::new(Runner::new(managed)), audit: None, rollback: None }
    }

    /// A bus whose WebAssembly hooks run in `runtime` (the daemon's warm, pooled runtime shared
    /// by every revision) instead of the process-wide one.
    pub fn with_wasm_runtime(settings: Settings, runtime: crate::exec::wasm::WasmRuntime) -> Self {
        let managed =
            crate::exec::sandbox::ManagedSandbox::from_value(settings.extensions.get("sandbox")).unwrap_or_default();
        let runner = Runner::new(managed).with_wasm_runtime(runtime);
        EventBus { settings: Arc::new(settings), runner: Arc::new(runner), audit: None, rollback: None }
    }

    /// Records every dispatched event in `log` (one hash-chained record per event).
    pub fn with_audit(self, log: AuditLog) -> Self {
        self.with_shared_audit(Arc::new(log))
    }

    /// Like [`EventBus::with_audit`], with a log shared with other buses (revisions).
    pub fn with_shared_audit(mut self, log: Arc<AuditLog>) -> Self {
        self.audit = Some(log);
        self
    }

    /// The audit log events are recorded in, if any.
    pub fn audit_log(&self) -> Option<&Arc<AuditLog>> {
        self.audit.as_ref()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Which hooks run for `event`, in configured order.
    pub fn route(&self, event: &HookEvent, ctx: &DispatchContext) -> Route {
        let s = &self.settings;
        let subject = event.matcher_subject();
        let tool_event = event.tool_name().is_some()
            && matches!(
                event.name(),
                "PreToolUse" | "PostToolUse" | "PostToolUseFailure" | "PermissionRequest" | "PermissionDenied"
            );
        let rule_ctx = ctx.rules(event);
        let mut route = Route::default();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for hook in s.hooks.iter().filter(|h| h.event == event.name()) {
            if !hook.matcher.matches(subject) {
                route.skipped.push((
                    hook.clone(),
                    format!(
                        "matcher {:?} does not match {:?}",
                        hook.matcher_source.as_deref().unwrap_or(""),
                        subject.unwrap_or("")
                    ),
                ));
                continue;
            }
            if let Some(rule) = &hook.if_rule {
                if !tool_event {
                    route.skipped.push((hook.clone(), format!("`if` ({}) applies only to tool events", rule.text)));
                    continue;
                }
                let input = event.tool_input().cloned().unwrap_or_default();
                if !rule.matches(event.tool_name().unwrap_or(""), &input, &rule_ctx) {
                    route.skipped.push((hook.clone(), format!("`if` rule {} does not match this call", rule.text)));
                    continue;
                }
            }
            let policy = self.policy(hook, event);
            if let Some(key) = hook.dedup_key() {
                if let Some(&i) = seen.get(&key) {
                    let first = &mut route.selected[i];
                    if matches!(first.policy, FailurePolicy::Open) && matches!(policy, FailurePolicy::Closed(_)) {
                        first.policy = policy;
                    }
                    route
                        .skipped
                        .push((hook.clone(), format!("duplicate of the hook at {} (runs once)", first.hook.origin)));
                    continue;
                }
                seen.insert(key, route.selected.len());
            }
            route.selected.push(Selected { hook: hook.clone(), policy });
        }
        let limit = s.max_hooks_per_event();
        if route.selected.len() > limit {
            let why = format!(
                "{} hooks match this {} event, more than the limit of {limit} (managed hookhost.maxHooksPerEvent); \
                 none was run",
                route.selected.len(),
                event.name()
            );
            for sel in route.selected.drain(..) {
                route.skipped.push((sel.hook, why.clone()));
            }
            route.over_limit = Some(why);
        }
        for (hook, why) in s.inactive.iter().filter(|(h, _)| h.event == event.name()) {
            route.skipped.push((hook.clone(), why.clone()));
        }
        route
    }

    fn policy(&self, hook: &Hook, event: &HookEvent) -> FailurePolicy {
        if hook.is_async {
            return FailurePolicy::Open;
        }
        if self.settings.fail_closed.contains(event.name()) {
            return FailurePolicy::Closed(format!("managed settings fail closed for {} (failClosed)", event.name()));
        }
        if hook.on_failure == Some(OnFailure::Block) && !ON_FAILURE_IGNORED.contains(&event.name()) {
            return FailurePolicy::Closed("onFailure is \"block\"".into());
        }
        FailurePolicy::Open
    }

    /// Whether a host error for this event (or an unknown event, `None`) must block.
    pub fn fails_closed(&self, event_name: Option<&str>) -> bool {
        fails_closed(&self.settings, event_name)
    }

    /// The permission stage: the rules' decision for a `PreToolUse` call.
    pub fn check_rules(&self, event: &HookEvent, ctx: &DispatchContext) -> Option<RuleHit> {
        let s = &self.settings;
        if event.kind() != EventKind::PreToolUse || (s.permissions.is_empty() && !s.disable_bypass_permissions) {
            return None;
        }
        let policy = Policy {
            lists: &s.permissions,
            strict_bash: s.strict_bash_rules,
            disable_bypass: s.disable_bypass_permissions,
        };
        engine::evaluate(&policy, event, &ctx.rules(event))
    }

    /// Routes, runs and folds one event.
    pub async fn dispatch(&self, event: &HookEvent, ctx: &DispatchContext) -> Outcome {
        let start = Instant::now();
        let rule_hit = self.check_rules(event, ctx);
        let route = self.route(event, ctx);
        let run_ctx = RunContext { project_dir: ctx.project_dir.clone(), sole: route.selected.len() == 1 };
        // A settings change that may be written back: what the hooks judge, captured first.
        let judged = self.rollback.as_ref().and_then(|rb| rb.judged(event));
        let reports = join_all(route.selected.iter().map(|s| self.runner.run(&s.hook, event, &run_ctx))).await;
        let runs: Vec<HookRun> = route
            .selected
            .into_iter()
            .zip(reports)
            .map(|(s, report)| HookRun { hook: s.hook, policy: s.policy, report })
            .collect();
        let labels: Vec<String> = runs.iter().map(|r| r.hook.label()).collect();
        // Hooks in `warn` or `audit` mode: their answers are recorded as they were, but applied
        // as a warning or not at all.
        let applied_results: Vec<HookResult> = runs
            .iter()
            .zip(&labels)
            .filter(|(r, _)| !r.hook.is_async)
            .map(|(r, label)| applied(r.report.result.clone(), r.hook.enforcement, label))
            .collect();
        let rule_label = rule_hit.as_ref().map(|h| match &h.rule {
            Some(l) => format!("permission rule `{}`", l.rule.text),
            None => "permission policy".to_string(),
        });
        let rule_result = rule_hit.as_ref().map(|h| {
            let decided = HookResult::Decided(Decision {
                permission: Some(h.permission),
                reason: Some(h.reason.clone()),
                ..Decision::default()
            });
            let mode = h.rule.as_ref().map(|l| l.enforcement).unwrap_or_default();
            applied(decided, mode, rule_label.as_deref().unwrap_or("permission rule"))
        });
        let rule_item = rule_label.as_deref().zip(rule_result.as_ref()).map(|(label, result)| FoldItem {
            label,
            result,
            policy: FailurePolicy::Open,
        });
        let limit_result = route.over_limit.as_ref().map(|why| {
            HookResult::Failed(crate::decision::HookFailure::new(crate::decision::FailureKind::Limit, why.clone()))
        });
        let limit_item = limit_result.as_ref().map(|result| FoldItem {
            label: "[hookhost]",
            result,
            policy: FailurePolicy::Closed("an exceeded hookhost limit fails closed".into()),
        });
        let items: Vec<FoldItem<'_>> = rule_item
            .into_iter()
            .chain(limit_item)
            .chain(
                runs.iter()
                    .zip(&labels)
                    // Async hooks run, but Claude Code ignores their decisions.
                    .filter(|(r, _)| !r.hook.is_async)
                    .zip(&applied_results)
                    .map(|((r, label), result)| FoldItem { label, result, policy: r.policy.clone() }),
            )
            .collect();
        let mut verdict = fold(event, &items);
        if event.kind() == EventKind::PreToolUse && verdict.permission.is_none() && !runs.is_empty() && !verdict.stop {
            verdict.why.push("no hook made a permission decision: Claude Code's normal permission flow applies".into());
        }
        let rollback_records = match &self.rollback {
            Some(rb) => {
                let tool_event = matches!(event.kind(), EventKind::PreToolUse | EventKind::PostToolUse);
                let armed = if tool_event { self.rollback_armed(event, ctx) } else { None };
                rb.stage(event, armed.as_ref(), ctx.project_dir.as_deref(), judged, &mut verdict)
            }
            None => Vec::new(),
        };
        let mut outcome = Outcome {
            rule_hit,
            runs,
            skipped: route.skipped,
            verdict,
            revision: self.settings.revision.clone(),
            duration: start.elapsed(),
        };
        if let Some(log) = &self.audit {
            let durable = event.kind() == EventKind::ConfigChange || outcome.verdict.rejects();
            let record = audit_record(event, &outcome, &self.settings);
            let appended = log.append(record, durable && rollback_records.is_empty());
            // Rollback and revert records follow their event's record.
            let appended = rollback_records.into_iter().fold(appended, |r, rec| r.and_then(|_| log.append(rec, true)));
            if let Err(e) = appended {
                tracing::warn!(error = %e, "audit: cannot record the event");
                outcome
                    .verdict
                    .system_messages
                    .push(format!("hookhost: the audit log could not record this event: {e}"));
            }
        }
        outcome
    }
}

/// Rollback (`crate::rollback`): undoing rejected edits and blocked settings changes.
impl EventBus {
    /// Undoes what hooks reject, with snapshots in `state_dir/rollback/` (opening it cleans
    /// stale snapshots): edits rejected at PostToolUse when a `rollback: true` hook or managed
    /// `hookhost.rollbackRejectedEdits` arms them, and ConfigChange blocks under managed
    /// `hookhost.revertBlockedConfigChanges`.
    pub fn with_rollback(mut self, state_dir: &std::path::Path) -> Self {
        let options = crate::rollback::RollbackOptions::from_settings(&self.settings);
        self.rollback = Some(Arc::new(crate::rollback::Rollback::open(state_dir, options)));
        self
    }

    /// Whether an edit rollback is armed for this tool call (PreToolUse or PostToolUse of an
    /// edit tool): the PostToolUse hooks with `rollback: true` that would match it, or managed
    /// `hookhost.rollbackRejectedEdits`.
    pub fn rollback_armed(&self, event: &HookEvent, ctx: &DispatchContext) -> Option<crate::rollback::Armed> {
        let (_, path) = crate::rollback::edit_target(event)?;
        let mut by = Vec::new();
        if self.settings.rollback.rejected_edits == Some(true) {
            by.push("managed hookhost.rollbackRejectedEdits".to_string());
        }
        if self.settings.hooks.iter().any(|h| h.rollback) {
            let post = if event.kind() == EventKind::PostToolUse {
                Some(event.clone())
            } else {
                let mut fields = event.fields().clone();
                fields.insert("hook_event_name".into(), "PostToolUse".into());
                serde_json::to_vec(&fields).ok().and_then(|b| HookEvent::parse(&b).ok())
            };
            if let Some(post) = post {
                let route = self.route(&post, ctx);
                by.extend(
                    route
                        .selected
                        .iter()
                        .filter(|s| s.hook.rollback && !s.hook.is_async && s.hook.enforcement == Enforcement::Enforce)
                        .map(|s| format!("hook {} ({})", s.hook.label(), s.hook.origin)),
                );
            }
        }
        (!by.is_empty()).then_some(crate::rollback::Armed { path, by })
    }
}

/// Whether host errors block for `event_name` under `settings` (`None`: the event is unknown,
/// so any `failClosed` entry makes it block).
pub fn fails_closed(settings: &Settings, event_name: Option<&str>) -> bool {
    match event_name {
        Some(e) => settings.fail_closed.contains(e),
        None => !settings.fail_closed.is_empty(),
    }
}

/// The current time as RFC 3339 UTC with microseconds.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format_rfc3339(now.as_secs() as i64, Some(now.subsec_micros()))
}

/// `secs` since the Unix epoch as RFC 3339 UTC, with `micros` as a fraction when given.
pub fn format_rfc3339(secs: i64, micros: Option<u32>) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let frac = micros.map(|u| format!(".{u:06}")).unwrap_or_default();
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// One audit record for a dispatched event.
pub fn audit_record(event: &HookEvent, outcome: &Outcome, settings: &Settings) -> Map<String, Value> {
    let a = &settings.audit;
    let mut r = Map::new();
    r.insert("time".into(), now_rfc3339().into());
    r.insert("kind".into(), "event".into());
    r.insert("host".into(), format!("hookhost {}", env!("CARGO_PKG_VERSION")).into());
    r.insert("event".into(), event.name().into());
    if let Some(t) = event.tool_name() {
        r.insert("tool".into(), t.into());
    }
    if let Some(id) = event.str_field("session_id") {
        r.insert("session_id".into(), id.into());
    }
    r.insert("input_sha256".into(), format!("{:x}", Sha256::digest(&**event.raw())).into());
    // The event itself, unless redaction says otherwise or it cannot fit a record (the digest
    // above still identifies it).
    let cap = a.max_record_bytes.unwrap_or(crate::audit::AuditOptions::default().max_record_bytes);
    if a.include_input && event.raw().len() <= cap / 2 {
        let mut input = Value::Object(event.fields().clone());
        crate::audit::redact(&mut input, &a.redact);
        r.insert("input".into(), input);
    } else if a.include_input {
        r.insert("input_omitted".into(), format!("{} bytes: over half the record size cap", event.raw().len()).into());
    }
    r.insert("settings_revision".into(), settings.revision.clone().into());
    if let Some(h) = &outcome.rule_hit {
        r.insert(
            "rule".into(),
            json!({
                "decision": h.permission.as_str(),
                "rule": h.rule.as_ref().map(|l| l.rule.text.clone()),
                "origin": h.rule.as_ref().map(|l| l.origin.to_string()),
                "reason": h.reason,
                "mode": h.rule.as_ref().map(|l| l.enforcement.as_str()),
            }),
        );
    }
    let hooks: Vec<Value> = outcome
        .runs
        .iter()
        .map(|run| {
            let mut h = json!({
                "hook": run.hook.label(),
                "origin": run.hook.origin.to_string(),
                "kind": run.hook.kind(),
                "duration_ms": (run.report.duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
                "mode": run.hook.enforcement.as_str(),
                "failure_policy": match &run.policy { FailurePolicy::Open => "open".to_string(), FailurePolicy::Closed(w) => format!("closed: {w}") },
            });
            match &run.report.result {
                HookResult::Decided(d) => h["answer"] = d.summary().into(),
                HookResult::Failed(f) => {
                    h["failure"] = f.kind.as_str().into();
                    h["failure_detail"] = f.message.clone().into();
                }
            }
            if let Some(sb) = &run.report.sandbox {
                h["sandbox"] = sb.summary().into();
            }
            h
        })
        .collect();
    r.insert("hooks".into(), Value::Array(hooks));
    let skipped: Vec<Value> = outcome
        .skipped
        .iter()
        .map(|(h, why)| json!({"hook": h.label(), "origin": h.origin.to_string(), "why": why}))
        .collect();
    if !skipped.is_empty() {
        r.insert("skipped".into(), Value::Array(skipped));
    }
    r.insert("decision".into(), outcome.verdict.label().into());
    if let Some(reason) = &outcome.verdict.reason {
        r.insert("reason".into(), reason.clone().into());
    }
    r.insert("duration_ms".into(), ((outcome.duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0).into());
    r
}

/// A hook's or rule's answer as its enforcement mode applies it: `enforce` unchanged; `warn`
/// turns a rejection or failure into a warning to the user; `audit` applies nothing.
fn applied(result: HookResult, mode: Enforcement, label: &str) -> HookResult {
    let rejects = |d: &Decision| {
        d.block
            || d.stop
            || matches!(
                d.permission,
                Some(
                    crate::decision::Permission::Deny
                        | crate::decision::Permission::Ask
                        | crate::decision::Permission::Defer
                )
            )
    };
    match mode {
        Enforcement::Enforce => result,
        Enforcement::Audit => HookResult::Decided(Decision::default()),
        Enforcement::Warn => {
            let would = match &result {
                HookResult::Decided(d) if rejects(d) => Some(format!("would {}", d.summary())),
                HookResult::Decided(_) => None,
                HookResult::Failed(f) => Some(format!("would fail ({}): {}", f.kind.as_str(), f.message)),
            };
            HookResult::Decided(Decision {
                system_message: would.map(|w| format!("hookhost [warn mode]: {label} {w}")),
                ..Decision::default()
            })
        }
    }
}
