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
//! hook off). An event that cannot be recorded in the configured audit log (it cannot be
//! opened, or the append fails: a directory at its path, a full disk, an unusable anchor) is a
//! host error under the event's failure policy: where managed `failClosed` lists the event,
//! the verdict becomes that host error (Claude Code sees exit 2 with the cause), else the
//! cause is added as a `systemMessage`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Map, Value, json};

use crate::audit::AuditLog;
use crate::settings::file::AuditSettings;

use crate::decision::{Decision, HookResult, Permission};
use crate::decision::{FailurePolicy, FoldItem, Response, Verdict, fold, render};
use crate::event::{EventKind, EventName, HookEvent};
use crate::exec::{HookReport, RunContext, Runner};
use crate::hook::{Enforcement, Hook, OnFailure};
use crate::permissions::RuleContext;
use crate::permissions::engine::{self, Policy, RuleHit};
use crate::settings::Settings;

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
    /// PreToolUse (and PermissionRequest allows): each input a hook rewrote, checked again.
    pub rewrites: Vec<RewriteCheck>,
    /// `async: true` hooks that matched and were not awaited: running in the background
    /// ([`AsyncHooks::Background`]) or left to the front end to detach ([`AsyncHooks::Detach`]).
    pub detached: Vec<Arc<Hook>>,
    pub revision: String,
    pub duration: Duration,
}

/// What the bus does with `async: true` hooks, whose decisions Claude Code ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsyncHooks {
    /// Run them with the others and report them (tests, `explain`, `replay`, embedders).
    #[default]
    Await,
    /// Start them on the current tokio runtime and answer without waiting; each writes its own
    /// audit record when it finishes (the daemon).
    Background,
    /// Do not run them: list them in [`Outcome::detached`] for the front end, which hands them
    /// to a process that outlives it (one-shot `dispatch`; see [`EventBus::run_detached`]).
    Detach,
}

impl Outcome {
    /// Claude Code's answer for this outcome.
    pub fn render(&self, event: &HookEvent) -> Response {
        render(event, &self.verdict)
    }

    /// The hooks that tried to block (answered "block", exit 2 on an unblockable event, or
    /// `continue: false`), with their reasons: the one definition used where a block decides
    /// nothing (a managed or server-managed settings change) but is still reported.
    pub(crate) fn tried_to_block(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter_map(|r| match &r.report.result {
                crate::decision::HookResult::Decided(d) if d.block || d.notice.is_some() || d.stop => Some(format!(
                    "{}: {}",
                    r.hook.label(),
                    d.reason
                        .as_deref()
                        .or(d.notice.as_deref())
                        .or(d.stop_reason.as_deref())
                        .unwrap_or(if d.block { "block" } else { "stop" })
                        .trim()
                )),
                _ => None,
            })
            .collect()
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

/// Where a bus records its events.
#[derive(Debug)]
enum Recorder {
    Log(Arc<AuditLog>),
    /// The configured log could not be opened: each event tries again; until it opens, no
    /// event can be recorded.
    Unopened {
        settings: AuditSettings,
        opened: std::sync::Mutex<Option<Arc<AuditLog>>>,
    },
}

/// The bus: one settings revision and a runner.
#[derive(Debug)]
pub struct EventBus {
    settings: Arc<Settings>,
    runner: Arc<Runner>,
    audit: Option<Recorder>,
    /// Undoing rejected edits and blocked settings changes (`crate::rollback`); `None`: off.
    rollback: Option<Arc<crate::rollback::Rollback>>,
    async_hooks: AsyncHooks,
}

impl EventBus {
    pub fn new(settings: Settings) -> Self {
        // An unusable managed sandbox policy was reported at load (a managed error: dispatch
        // fails closed); a bus built anyway runs no command hook (never the defaults).
        let runner = Runner::for_revision(settings.managed_sandbox(), &settings.hooks);
        Self::with_runner(settings, runner)
    }

    fn with_runner(settings: Settings, runner: Runner) -> Self {
        EventBus {
            settings: Arc::new(settings),
            runner: Arc::new(runner),
            audit: None,
            rollback: None,
            async_hooks: AsyncHooks::default(),
        }
    }

    /// A bus whose WebAssembly hooks run in `runtime` (the daemon's warm, pooled runtime shared
    /// by every revision) instead of the process-wide one.
    pub fn with_wasm_runtime(settings: Settings, runtime: crate::exec::wasm::WasmRuntime) -> Self {
        let runner = Runner::for_revision(settings.managed_sandbox(), &settings.hooks).with_wasm_runtime(runtime);
        Self::with_runner(settings, runner)
    }

    /// A bus whose WebAssembly hooks run in the runtime `source` gives at the first wasm hook
    /// that runs (a `Host`'s, built then): an event no wasm hook matches starts no engine.
    pub fn with_wasm_source(settings: Settings, source: crate::exec::WasmSource) -> Self {
        let runner = Runner::for_revision(settings.managed_sandbox(), &settings.hooks).with_wasm_source(source);
        Self::with_runner(settings, runner)
    }

    /// Whether a WebAssembly runtime was started (or given) for this bus's hooks.
    pub fn wasm_started(&self) -> bool {
        self.runner.wasm_started()
    }

    /// Records every dispatched event in `log` (one hash-chained record per event).
    pub fn with_audit(self, log: AuditLog) -> Self {
        self.with_shared_audit(Arc::new(log))
    }

    /// Like [`EventBus::with_audit`], with a log shared with other buses (revisions).
    pub fn with_shared_audit(mut self, log: Arc<AuditLog>) -> Self {
        self.audit = Some(Recorder::Log(log));
        self
    }

    /// Prepares command hooks' sandboxes through `pool`, its owner's warm pool, while the owner
    /// keeps it (default: none, every run prepared inline).
    pub fn with_sandbox_pool(self, pool: Option<&crate::exec::sandbox::SandboxPool>) -> Self {
        if let Some(pool) = pool {
            self.runner.use_sandbox_pool(pool);
        }
        self
    }

    /// What to do with `async: true` hooks (default [`AsyncHooks::Await`]).
    pub fn with_async_hooks(mut self, mode: AsyncHooks) -> Self {
        self.async_hooks = mode;
        self
    }

    /// The audit log events are recorded in, if any.
    pub fn audit_log(&self) -> Option<Arc<AuditLog>> {
        self.recorder().ok().flatten()
    }

    /// Records every event in the log `settings` configure, which could not be opened: each
    /// event opens it again, and while it cannot, the event cannot be recorded (a host error
    /// under its failure policy).
    pub fn with_unopened_audit(mut self, settings: AuditSettings) -> Self {
        self.audit = Some(Recorder::Unopened { settings, opened: std::sync::Mutex::new(None) });
        self
    }

    /// The open audit log (`None`: not auditing), or why it cannot be opened.
    fn recorder(&self) -> Result<Option<Arc<AuditLog>>, String> {
        match &self.audit {
            None => Ok(None),
            Some(Recorder::Log(log)) => Ok(Some(log.clone())),
            Some(Recorder::Unopened { settings, opened }) => {
                let mut opened = opened.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(log) = opened.as_ref() {
                    return Ok(Some(log.clone()));
                }
                match crate::audit::open_configured(settings) {
                    Ok(log) => {
                        *opened = log.map(Arc::new);
                        Ok(opened.clone())
                    }
                    Err(e) => Err(format!("the audit log cannot be opened: {e}")),
                }
            }
        }
    }

    /// An event that cannot be recorded: a host error under the event's failure policy.
    fn cannot_record(&self, event: &HookEvent, verdict: &mut Verdict, cause: String) {
        tracing::warn!(error = %cause, "audit: cannot record the event");
        if self.fails_closed(Some(event.name())) {
            verdict.host_error = Some(format!("{cause}; failing closed for {} (managed failClosed)", event.name()));
        } else {
            verdict.system_messages.push(format!("hookhost: {cause}"));
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Which hooks run for `event`, in configured order.
    pub fn route(&self, event: &HookEvent, ctx: &DispatchContext) -> Route {
        let s = &self.settings;
        let subject = event.matcher_subject();
        let tool_event = event.tool_name().is_some() && event.facts().is_tool_event();
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
        if hook.on_failure == Some(OnFailure::Block) && !event.facts().on_failure_ignored {
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

    /// Routes, runs and folds one event: the permission rules and the hooks on the agent's
    /// input, then (PreToolUse) every input a hook rewrote, checked again the same way
    /// ([`MAX_REWRITE_PASSES`]), then rollback and the audit record. `async: true` hooks run as
    /// the bus's [`AsyncHooks`] mode says.
    pub async fn dispatch(&self, event: &HookEvent, ctx: &DispatchContext) -> Outcome {
        let start = Instant::now();
        // A settings change that may be written back: what the hooks judge, captured first
        // (a file read: off the async workers, like every disk access below).
        let judged = self.rollback.as_ref().and_then(|rb| crate::offload::blocking(|| rb.judged(event)));
        let Pass { rule_hit, runs, skipped, mut verdict, detached, author } = self.evaluate(event, ctx, 1, None).await;
        let mut rewrites = Vec::new();
        if event.kind() == EventKind::PreToolUse {
            self.recheck_rewrites(event, ctx, &mut verdict, author, &mut rewrites).await;
        } else if *event.event_name() == EventName::PermissionRequest {
            self.recheck_permission_request(event, ctx, &mut verdict, &mut rewrites).await;
        }
        // Snapshots and restores read and fsync up to the rollback cap (16 MiB by default).
        let rollback_records = match &self.rollback {
            Some(rb) => crate::offload::blocking(|| {
                let tool_event = matches!(event.kind(), EventKind::PreToolUse | EventKind::PostToolUse);
                let armed = if tool_event { self.rollback_armed(event, ctx) } else { None };
                rb.stage(event, armed.as_ref(), ctx.project_dir.as_deref(), judged, &mut verdict)
            }),
            None => Vec::new(),
        };
        let mut outcome = Outcome {
            rule_hit,
            runs,
            skipped,
            verdict,
            rewrites,
            detached,
            revision: self.settings.revision.clone(),
            duration: start.elapsed(),
        };
        // The audit append takes the log's flock and may fsync: off the async workers.
        let recorded = crate::offload::blocking(|| {
            self.recorder().and_then(|log| {
                let Some(log) = log else { return Ok(()) };
                let durable = event.kind() == EventKind::ConfigChange || outcome.verdict.rejects();
                let record = audit_record(event, &outcome, &self.settings);
                let appended = log.append(record, durable && rollback_records.is_empty());
                // Rollback and revert records follow their event's record.
                let appended =
                    rollback_records.into_iter().fold(appended, |r, rec| r.and_then(|_| log.append(rec, true)));
                appended.map(|_| ()).map_err(|e| format!("the audit log could not record this event: {e}"))
            })
        });
        if let Err(e) = recorded {
            self.cannot_record(event, &mut outcome.verdict, e);
        }
        // Observability (issue 24): the daemon's metrics, one call per event (a no-op unless
        // `hookhost serve --metrics`).
        crate::metrics::dispatched(
            event,
            outcome.verdict.label(),
            outcome.runs.iter().chain(outcome.rewrites.iter().flat_map(|r| r.runs.iter())).map(|run| {
                crate::metrics::RunSample {
                    hook: run.hook.metric_label(),
                    kind: run.hook.kind(),
                    duration: run.report.duration,
                    failure: match &run.report.result {
                        HookResult::Failed(f) => Some(&f.kind),
                        _ => None,
                    },
                }
            }),
        );
        if self.async_hooks == AsyncHooks::Background {
            self.spawn_background(event, ctx, &outcome.detached);
        }
        outcome
    }

    /// One evaluation of `event`: the permission rules, the hooks the route selects (run
    /// concurrently), the fold. `pass` 1 is the agent's input; later passes are inputs a hook
    /// rewrote, on which `async` hooks do not run again, and where `author` (the hook whose
    /// rewrite produced this input) decides but does not rewrite its own rewrite again.
    async fn evaluate(&self, event: &HookEvent, ctx: &DispatchContext, pass: u32, author: Option<&HookRef>) -> Pass {
        let rule_hit = self.check_rules(event, ctx);
        let mut route = self.route(event, ctx);
        // `async: true` hooks never hold up the decision (except in `Await` mode, where they
        // run alongside and are reported); they run once, on the agent's input.
        let mut detached = Vec::new();
        if pass > 1 || self.async_hooks != AsyncHooks::Await {
            let (later, now): (Vec<Selected>, Vec<Selected>) = route.selected.drain(..).partition(|s| s.hook.is_async);
            route.selected = now;
            if pass == 1 {
                detached = later.into_iter().map(|s| s.hook).collect();
            }
        }
        let run_ctx = RunContext { project_dir: ctx.project_dir.clone(), sole: route.selected.len() == 1 };
        let reports = join_all(route.selected.iter().map(|s| self.runner.run(&s.hook, event, &run_ctx))).await;
        let runs: Vec<HookRun> = route
            .selected
            .into_iter()
            .zip(reports)
            .map(|(s, report)| HookRun { hook: s.hook, policy: s.policy, report })
            .collect();
        crate::fault::test_point("bus");
        let labels: Vec<String> = runs.iter().map(|r| r.hook.label()).collect();
        // Hooks in `warn` or `audit` mode: their answers are recorded as they were, but applied
        // as a warning or not at all.
        let mut not_reapplied = None;
        let applied_results: Vec<HookResult> = runs
            .iter()
            .zip(&labels)
            .filter(|(r, _)| !r.hook.is_async)
            .map(|(r, label)| {
                let mut result = applied(r.report.result.clone(), r.hook.enforcement, label);
                // Each hook rewrites once, as in Claude Code: on the input it produced, its
                // decision counts and its rewrite stands as it was (so "last in configured order
                // wins" still holds), but a rewrite of its own rewrite (`--flag` appended again)
                // is not applied.
                if let HookResult::Decided(d) = &mut result
                    && d.updated_input.is_some()
                    && author.is_some_and(|a| *a == HookRef::of(&r.hook))
                {
                    let current = event.tool_input().cloned().unwrap_or(Value::Null);
                    if d.updated_input.as_ref() != Some(&current) {
                        not_reapplied = Some(label.clone());
                    }
                    d.updated_input = Some(current);
                }
                result
            })
            .collect();
        // The hook whose rewrite the fold takes: the last in configured order.
        let author = runs
            .iter()
            .filter(|r| !r.hook.is_async)
            .zip(&applied_results)
            .filter(|(_, res)| matches!(res, HookResult::Decided(d) if d.updated_input.is_some()))
            .last()
            .map(|(r, _)| HookRef::of(&r.hook));
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
        if let Some(label) = not_reapplied {
            verdict.why.push(format!(
                "{label} rewrote the input it had produced; not applied again (each hook rewrites once)"
            ));
        }
        Pass { rule_hit, runs, skipped: route.skipped, verdict, detached, author }
    }
}

/// What one evaluation produced.
struct Pass {
    rule_hit: Option<RuleHit>,
    runs: Vec<HookRun>,
    skipped: Vec<(Arc<Hook>, String)>,
    verdict: Verdict,
    detached: Vec<Arc<Hook>>,
    /// The hook whose `updatedInput` the verdict carries.
    author: Option<HookRef>,
}

/// How many times a rewritten input is checked again before hookhost gives up on a rewrite
/// that keeps changing (and denies the call).
pub const MAX_REWRITE_PASSES: u32 = 4;

/// One check of an input a hook rewrote (`updatedInput`): the permission rules and the
/// PreToolUse hooks on that input.
#[derive(Debug, Clone)]
pub struct RewriteCheck {
    /// 2 for the first rewrite, 3 for a rewrite of that, …
    pub pass: u32,
    /// The rewritten `tool_input` that was checked.
    pub input: Value,
    pub rule_hit: Option<RuleHit>,
    pub runs: Vec<HookRun>,
    /// The verdict of this pass alone.
    pub verdict: Verdict,
}

/// `async: true` hooks: run off the decision path, still sandboxed, still audited.
impl EventBus {
    /// Starts `hooks` on the current tokio runtime without waiting for them; each appends an
    /// `async_hook` audit record when it finishes. Without a runtime they are recorded as not
    /// run.
    fn spawn_background(&self, event: &HookEvent, ctx: &DispatchContext, hooks: &[Arc<Hook>]) {
        if hooks.is_empty() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            for hook in hooks {
                tracing::warn!(hook = %hook.label(), "async hook not run: no runtime to run it on");
            }
            return;
        };
        let run_ctx = RunContext { project_dir: ctx.project_dir.clone(), sole: false };
        for hook in hooks {
            let (runner, hook, event, run_ctx) = (self.runner.clone(), hook.clone(), event.clone(), run_ctx.clone());
            let (audit, settings) = (self.audit_log(), self.settings.clone());
            rt.spawn(async move {
                let report = runner.run(&hook, &event, &run_ctx).await;
                let run = HookRun { hook, policy: FailurePolicy::Open, report };
                if let Some(log) = audit
                    && let Err(e) = log.append(async_record(&event, &run, &settings, "background"), false)
                {
                    tracing::warn!(error = %e, "audit: cannot record an async hook");
                }
            });
        }
    }

    /// Runs, and waits for, the `async: true` hooks for `event` whose origins are in `only`
    /// (what a one-shot `dispatch` detached: `Outcome::detached`), and appends an
    /// `async_hook` audit record for each. Hooks are looked up in this bus's settings by origin,
    /// so a detached process runs exactly the hooks its settings revision routes.
    pub async fn run_detached(&self, event: &HookEvent, ctx: &DispatchContext, only: &[HookRef]) -> Vec<HookRun> {
        let route = self.route(event, ctx);
        let hooks: Vec<Arc<Hook>> = route
            .selected
            .into_iter()
            .filter(|s| s.hook.is_async && only.contains(&HookRef::of(&s.hook)))
            .map(|s| s.hook)
            .collect();
        let run_ctx = RunContext { project_dir: ctx.project_dir.clone(), sole: hooks.len() == 1 };
        let reports = join_all(hooks.iter().map(|h| self.runner.run(h, event, &run_ctx))).await;
        let runs: Vec<HookRun> = hooks
            .into_iter()
            .zip(reports)
            .map(|(hook, report)| HookRun { hook, policy: FailurePolicy::Open, report })
            .collect();
        if let Some(log) = self.audit_log() {
            for run in &runs {
                if let Err(e) = log.append(async_record(event, run, &self.settings, "detached"), false) {
                    tracing::warn!(error = %e, "audit: cannot record an async hook");
                }
            }
        }
        runs
    }
}

/// Names a configured hook by where it is written (file, line, column), for a process that
/// re-reads the same settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HookRef {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl HookRef {
    pub fn of(hook: &Hook) -> Self {
        HookRef { path: hook.origin.path.clone(), line: hook.origin.line, column: hook.origin.column }
    }
}

/// The audit record of one `async: true` hook run, written when it finishes (after its
/// event's own record).
pub fn async_record(event: &HookEvent, run: &HookRun, settings: &Settings, mode: &str) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("time".into(), now_rfc3339().into());
    r.insert("kind".into(), "async_hook".into());
    r.insert("host".into(), format!("hookhost {}", env!("CARGO_PKG_VERSION")).into());
    r.insert("event".into(), event.name().into());
    r.insert("agent".into(), crate::agents::audit_agent(event));
    if let Some(t) = event.tool_name() {
        r.insert("tool".into(), t.into());
    }
    for k in ["session_id", "tool_use_id"] {
        if let Some(v) = event.str_field(k) {
            r.insert(k.into(), v.into());
        }
    }
    r.insert("input_sha256".into(), crate::digest::sha256_hex(event.raw()).into());
    r.insert("settings_revision".into(), settings.revision.clone().into());
    r.insert("mode".into(), mode.into());
    r.insert("pid".into(), std::process::id().into());
    r.insert("hook".into(), hook_record(run));
    r
}

/// Validating rewritten input (issue 17.4): a hook's `updatedInput`, from any scope, is what
/// the tool will run, so it passes the same checks as the agent's own input.
impl EventBus {
    /// PreToolUse: while the verdict carries an `updatedInput` that differs from the input it
    /// was decided on, evaluate that input again (rules and PreToolUse hooks) and fold the
    /// answers in: the most restrictive decision of all passes wins, and the input answered is
    /// the last one, which a pass has left unchanged. A rewrite that still changes after
    /// [`MAX_REWRITE_PASSES`] checks is denied.
    async fn recheck_rewrites(
        &self,
        event: &HookEvent,
        ctx: &DispatchContext,
        verdict: &mut Verdict,
        mut author: Option<HookRef>,
        checks: &mut Vec<RewriteCheck>,
    ) {
        let mut current = event.tool_input().cloned().unwrap_or(Value::Null);
        let mut pass = 1;
        loop {
            let Some(next) = verdict.updated_input.clone() else { return };
            if next == current || verdict.rejects() {
                return;
            }
            if pass > MAX_REWRITE_PASSES {
                deny_rewrite(
                    verdict,
                    format!(
                        "hooks kept rewriting the input: it still changed after {MAX_REWRITE_PASSES} checks of the \
                         rewritten input (hooks rewrite each other's rewrites), so hookhost cannot know what would \
                         run; denied (fail closed)"
                    ),
                );
                return;
            }
            pass += 1;
            let rewritten = match with_tool_input(event, &next) {
                Ok(e) => e,
                Err(e) => {
                    deny_rewrite(verdict, format!("the input a hook rewrote cannot be checked ({e}); denied"));
                    return;
                }
            };
            let p = self.evaluate(&rewritten, ctx, pass, author.as_ref()).await;
            merge_rewrite_pass(verdict, &p.verdict, &next, pass);
            author = p.author;
            checks.push(RewriteCheck {
                pass,
                input: next.clone(),
                rule_hit: p.rule_hit,
                runs: p.runs,
                verdict: p.verdict,
            });
            current = next;
        }
    }

    /// PermissionRequest: a hook's `decision: {"behavior": "allow", "updatedInput": …}` runs the
    /// tool with that input, so it is checked as a PreToolUse of that input (rules, PreToolUse
    /// hooks, rewrites of it): a deny there turns the allow into a deny; an ask or defer drops
    /// the allow (Claude Code shows its permission prompt for the original call).
    async fn recheck_permission_request(
        &self,
        event: &HookEvent,
        ctx: &DispatchContext,
        verdict: &mut Verdict,
        checks: &mut Vec<RewriteCheck>,
    ) {
        let Some(decision) = verdict.extra_specific.get("decision").and_then(Value::as_object) else { return };
        if decision.get("behavior").and_then(Value::as_str) != Some("allow") {
            return;
        }
        let Some(input) = decision.get("updatedInput").cloned() else { return };
        let mut fields = event.fields().clone();
        fields.insert("hook_event_name".into(), EventName::PreToolUse.as_str().into());
        fields.insert("tool_input".into(), input.clone());
        let as_pre = serde_json::to_vec(&fields).map_err(|e| e.to_string()).and_then(|b| {
            HookEvent::parse_with_limit(&b, crate::event::DEFAULT_MAX_EVENT_BYTES).map_err(|e| e.to_string())
        });
        let replace = |verdict: &mut Verdict, d: Value, why: String| {
            verdict.extra_specific.insert("decision".into(), d);
            verdict.why.push(why);
        };
        let pre = match as_pre {
            Ok(e) => e,
            Err(e) => {
                let msg = format!("the updatedInput of a PermissionRequest allow cannot be checked ({e}); denied");
                replace(verdict, json!({"behavior": "deny", "message": msg.clone()}), msg);
                return;
            }
        };
        let mut p = self.evaluate(&pre, ctx, 2, None).await;
        let mut more = Vec::new();
        let author = p.author.take();
        self.recheck_rewrites(&pre, ctx, &mut p.verdict, author, &mut more).await;
        let label = p.verdict.label();
        match p.verdict.permission {
            Some(Permission::Deny | Permission::Defer) => {
                let reason = p.verdict.reason.clone().unwrap_or_else(|| "denied".into());
                let msg = format!("the input a PermissionRequest hook rewrote is denied: {reason}");
                replace(verdict, json!({"behavior": "deny", "message": msg.clone()}), msg);
            }
            Some(Permission::Ask) => {
                verdict.extra_specific.remove("decision");
                verdict.why.push(format!(
                    "the allow of a PermissionRequest hook was dropped: its updatedInput needs approval ({})",
                    p.verdict.reason.as_deref().unwrap_or("ask")
                ));
            }
            _ => {
                // Allowed (or no opinion): the input that runs is the last rewrite of it.
                let last = p.verdict.updated_input.clone().unwrap_or(input.clone());
                if let Some(Value::Object(d)) = verdict.extra_specific.get_mut("decision") {
                    d.insert("updatedInput".into(), last);
                }
                verdict.why.push(format!("the updatedInput of a PermissionRequest allow was checked: {label}"));
            }
        }
        checks.push(RewriteCheck { pass: 2, input, rule_hit: p.rule_hit, runs: p.runs, verdict: p.verdict });
        checks.extend(more);
    }
}

/// `event` with `tool_input` replaced (key order kept).
fn with_tool_input(event: &HookEvent, input: &Value) -> Result<HookEvent, String> {
    let mut fields = event.fields().clone();
    fields.insert("tool_input".into(), input.clone());
    let bytes = serde_json::to_vec(&fields).map_err(|e| e.to_string())?;
    HookEvent::parse_with_limit(&bytes, crate::event::DEFAULT_MAX_EVENT_BYTES).map_err(|e| e.to_string())
}

fn deny_rewrite(verdict: &mut Verdict, reason: String) {
    verdict.permission = Some(Permission::Deny);
    verdict.why.push(reason.clone());
    verdict.reason = Some(reason);
    verdict.updated_input = None;
}

/// Folds the verdict of a re-check pass into the verdict so far: the most restrictive
/// permission wins (its reason, marked as about the rewritten input, becomes the reason);
/// stops, contexts and messages add up; the input answered becomes the pass's own rewrite, or
/// the input it checked.
fn merge_rewrite_pass(v: &mut Verdict, p: &Verdict, input: &Value, pass: u32) {
    let note = |r: &str| format!("{r} (on the input a hook rewrote: {})", input_summary(input));
    if let Some(q) = p.permission {
        match v.permission {
            Some(b) if b > q => {}
            Some(b) if b == q => {
                if let Some(r) = &p.reason
                    && q >= Permission::Ask
                    && v.reason.as_deref().is_none_or(|old| !old.contains(r.as_str()))
                {
                    let r = note(r);
                    {
                        v.reason = Some(match v.reason.take() {
                            Some(old) if !old.is_empty() => crate::decision::cap(&format!("{old}\n{r}")),
                            _ => r,
                        });
                    }
                }
            }
            _ => {
                v.permission = Some(q);
                v.reason = p.reason.as_deref().map(note);
            }
        }
    }
    if p.stop && !v.stop {
        v.stop = true;
        v.stop_reason = p.stop_reason.clone();
    }
    for c in &p.additional_context {
        if !v.additional_context.contains(c) {
            v.additional_context.push(c.clone());
        }
    }
    for m in &p.system_messages {
        if !v.system_messages.contains(m) {
            v.system_messages.push(m.clone());
        }
    }
    for (k, val) in &p.extra_specific {
        v.extra_specific.entry(k.clone()).or_insert_with(|| val.clone());
    }
    for (k, val) in &p.extra {
        v.extra.entry(k.clone()).or_insert_with(|| val.clone());
    }
    v.why.push(format!("pass {pass}: a hook rewrote the input; the rewritten input was checked again: {}", p.label()));
    v.why.extend(p.why.iter().map(|w| format!("  pass {pass}: {w}")));
    v.updated_input = p.updated_input.clone().or_else(|| Some(input.clone()));
    if matches!(v.permission, Some(Permission::Deny | Permission::Defer)) {
        v.updated_input = None;
    }
}

/// A short description of a tool input for reasons: the Bash command or file path, else JSON.
fn input_summary(input: &Value) -> String {
    let s = ["command", "file_path", "notebook_path", "url", "pattern"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str).map(|v| format!("{k} `{v}`")))
        .unwrap_or_else(|| input.to_string());
    crate::decision::truncate_chars(&s, 200)
}

/// Rollback (`crate::rollback`): undoing rejected edits and blocked settings changes.
impl EventBus {
    /// Undoes what hooks reject, with snapshots in `state_dir/rollback/` (opening it cleans
    /// stale snapshots): edits rejected at PostToolUse when a `rollback: true` hook or managed
    /// `hookhost.rollbackRejectedEdits` arms them, and ConfigChange blocks under managed
    /// `hookhost.revertBlockedConfigChanges`.
    pub fn with_rollback(mut self, state_dir: &std::path::Path) -> Self {
        let options = self.settings.rollback_options();
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
                fields.insert("hook_event_name".into(), EventName::PostToolUse.as_str().into());
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

pub use crate::clock::{format_rfc3339, now_rfc3339};

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
    r.insert("agent".into(), crate::agents::audit_agent(event));
    if let Some(id) = event.str_field("session_id") {
        r.insert("session_id".into(), id.into());
    }
    r.insert("input_sha256".into(), crate::digest::sha256_hex(event.raw()).into());
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
    let hooks: Vec<Value> = outcome.runs.iter().map(hook_record).collect();
    r.insert("hooks".into(), Value::Array(hooks));
    if !outcome.rewrites.is_empty() {
        let passes: Vec<Value> = outcome
            .rewrites
            .iter()
            .map(|c| {
                // The rewritten input, redacted as the event is (its pointers name `tool_input`).
                let mut as_event = json!({"tool_input": c.input.clone()});
                crate::audit::redact(&mut as_event, &a.redact);
                let mut p = json!({
                    "pass": c.pass,
                    "input_sha256": crate::digest::sha256_hex(c.input.to_string().as_bytes()),
                    "decision": c.verdict.label(),
                    "hooks": c.runs.iter().map(hook_record).collect::<Vec<_>>(),
                });
                if a.include_input {
                    p["input"] = as_event["tool_input"].take();
                }
                if let Some(h) = &c.rule_hit {
                    p["rule"] = json!({
                        "decision": h.permission.as_str(),
                        "rule": h.rule.as_ref().map(|l| l.rule.text.clone()),
                        "reason": h.reason,
                    });
                }
                p
            })
            .collect();
        r.insert("rewrites".into(), Value::Array(passes));
    }
    if !outcome.detached.is_empty() {
        let detached: Vec<Value> = outcome
            .detached
            .iter()
            .map(|h| json!({"hook": h.label(), "origin": h.origin.to_string(), "run": "async, not awaited"}))
            .collect();
        r.insert("async".into(), Value::Array(detached));
    }
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

/// One hook run in an audit record.
fn hook_record(run: &HookRun) -> Value {
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
