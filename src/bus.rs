//! The event bus: for one event, pick the hooks whose matcher and `if` rule fit, run them
//! concurrently (each with its deadline), fold their answers with their failure policies into
//! one `Verdict`, and report what ran and why.
//!
//! Promises: every hook registered for the event either runs or appears in `Outcome::skipped`
//! with the reason; identical handlers configured in several scopes run once (the strictest
//! failure policy of the copies applies); a hook's failure blocks exactly when its failure
//! policy is closed (`onFailure: "block"`, or the managed `failClosed` floor for the event).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::decision::{Decision, HookResult};
use crate::decision::{FailurePolicy, FoldItem, Response, Verdict, fold, render};
use crate::event::{EventKind, HookEvent};
use crate::exec::{HookReport, RunContext, Runner};
use crate::hook::{Hook, OnFailure};
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
}

impl EventBus {
    pub fn new(settings: Settings) -> Self {
        // Invalid managed sandbox settings were reported at load; the defaults apply here.
        let managed =
            crate::exec::sandbox::ManagedSandbox::from_value(settings.extensions.get("sandbox")).unwrap_or_default();
        EventBus { settings: Arc::new(settings), runner: Arc::new(Runner::new(managed)) }
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
        let run_ctx = RunContext { project_dir: ctx.project_dir.clone() };
        let reports = join_all(route.selected.iter().map(|s| self.runner.run(&s.hook, event, &run_ctx))).await;
        let runs: Vec<HookRun> = route
            .selected
            .into_iter()
            .zip(reports)
            .map(|(s, report)| HookRun { hook: s.hook, policy: s.policy, report })
            .collect();
        let labels: Vec<String> = runs.iter().map(|r| r.hook.label()).collect();
        let rule_label = rule_hit.as_ref().map(|h| match &h.rule {
            Some(l) => format!("permission rule `{}`", l.rule.text),
            None => "permission policy".to_string(),
        });
        let rule_result = rule_hit.as_ref().map(|h| {
            HookResult::Decided(Decision {
                permission: Some(h.permission),
                reason: Some(h.reason.clone()),
                ..Decision::default()
            })
        });
        let rule_item = rule_label.as_deref().zip(rule_result.as_ref()).map(|(label, result)| FoldItem {
            label,
            result,
            policy: FailurePolicy::Open,
        });
        let items: Vec<FoldItem<'_>> = rule_item
            .into_iter()
            .chain(
                runs.iter()
                    .zip(&labels)
                    // Async hooks run, but Claude Code ignores their decisions.
                    .filter(|(r, _)| !r.hook.is_async)
                    .map(|(r, label)| FoldItem { label, result: &r.report.result, policy: r.policy.clone() }),
            )
            .collect();
        let mut verdict = fold(event, &items);
        if event.kind() == EventKind::PreToolUse && verdict.permission.is_none() && !runs.is_empty() && !verdict.stop {
            verdict.why.push("no hook made a permission decision: Claude Code's normal permission flow applies".into());
        }
        Outcome {
            rule_hit,
            runs,
            skipped: route.skipped,
            verdict,
            revision: self.settings.revision.clone(),
            duration: start.elapsed(),
        }
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
