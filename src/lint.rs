//! Linting settings files for `hookhost check`: every problem of every file, in one run, each
//! located at file:line:column, with a "did you mean …" where an edit distance finds the name the
//! author meant. A front end (`check`, `init`, `hookhost test`'s hints): it asks the gate
//! (`crate::live`) what dispatch keeps for a broken file, which settings itself never does.
//!
//! Owns: the analysis behind `check` (the loader, `file`, stops at a file's first error and
//! only warns about names it does not know; that is right for dispatch, which must decide, and
//! wrong for an admin who wants to know everything that will not take effect as written).
//!
//! Promises:
//! - every error of a file is found: after the loader's first error, the element holding it (a
//!   rule, a hook handler, a matcher group, a top-level key) is blanked out (its characters
//!   replaced by spaces, so every other location is unchanged) and the file parsed again, until
//!   it parses (a JSON syntax error ends the file's list: nothing after it can be read);
//! - a misspelled name is an **error**, never a warning: top-level keys, `permissions` keys,
//!   `hookhost.*` keys, event names (in `hooks` and `failClosed`), tool names in permission
//!   rules, in `if` and in exact matchers (wrong case included: `bash(curl *)` never matches);
//! - anything that would not take effect as written is an error (a managed-only key below
//!   managed scope, a hook type hookhost does not run, an `if` on an event without tools, a
//!   matcher that looks like a rule, a hook script that does not exist, a component that does
//!   not load); what takes effect but differently from how it reads (a key Claude Code uses
//!   and hookhost ignores, a non-boolean treated as `true`) is a warning, an error under
//!   `check --strict` or managed `hookhost.strictCheck: true`.
//!
//! The linter never changes what dispatch does: it reads the same files the same way
//! (`file::read_bytes`) and reports.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Location, SettingsError};
use crate::event::KNOWN_EVENTS;
use crate::hook::{Handler, Hook};
use crate::settings::file;
use crate::settings::locate::{Seg, element_span, line_col, locate, offset_of};
use crate::settings::{Locations, Scope};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Something will not take effect as written: `check` exits 1.
    Error,
    /// It takes effect, but not as it reads: an error under `--strict`.
    Warning,
}

/// One located problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub location: Location,
    pub message: String,
    /// The file is managed (an error there makes one-shot `dispatch` fail closed).
    pub managed: bool,
    /// One of the loader's warnings (a name finding at the same place replaces it).
    from_warning: bool,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {sev}: {}", self.location, self.message)
    }
}

/// Top-level keys hookhost reads (see `file::parse`).
pub const HOOKHOST_KEYS: &[&str] = &[
    "$schema",
    "$comment",
    "hooks",
    "permissions",
    "audit",
    "hookhost",
    "disableAllHooks",
    "allowManagedHooksOnly",
    "allowManagedPermissionRulesOnly",
    "failClosed",
    "sandbox",
    "requirePinnedHooks",
    "remoteSettings",
    "forceRemoteSettingsRefresh",
    "strictPluginOnlyCustomization",
];

/// Claude Code settings keys hookhost does not use: copied files carry them, so they are only
/// warnings (they take effect in Claude Code, not in hookhost).
pub const CLAUDE_CODE_KEYS: &[&str] = &[
    "model",
    "env",
    "apiKeyHelper",
    "cleanupPeriodDays",
    "includeCoAuthoredBy",
    "statusLine",
    "outputStyle",
    "enableAllProjectMcpServers",
    "enabledMcpjsonServers",
    "disabledMcpjsonServers",
    "allowedMcpServers",
    "deniedMcpServers",
    "forceLoginMethod",
    "forceLoginOrgUUID",
    "awsAuthRefresh",
    "awsCredentialExport",
    "enabledPlugins",
    "extraKnownMarketplaces",
    "companyAnnouncements",
    "spinnerTipsEnabled",
    "alwaysThinkingEnabled",
    "otelHeadersHelper",
    "subagentStatusLine",
    "respectGitignore",
    "autoUpdates",
    "verbose",
    "theme",
    "language",
    "attribution",
    "plansDirectory",
    "fileSuggestion",
    "disableBypassPermissionsMode",
];

/// `permissions` keys (hookhost reads `allow`, `ask`, `deny`, `disableBypassPermissionsMode`).
pub const PERMISSION_KEYS: &[&str] =
    &["allow", "ask", "deny", "defaultMode", "additionalDirectories", "disableBypassPermissionsMode"];

/// Keys of the `hookhost` object.
pub const HOOKHOST_OBJECT_KEYS: &[&str] = &[
    "permissionsMode",
    "strictBashRules",
    "maxHooksPerEvent",
    "rollbackRejectedEdits",
    "revertBlockedConfigChanges",
    "rollbackSnapshotTtlSeconds",
    "rollbackMaxFileBytes",
    "strictCheck",
];

/// Tool names Claude Code ships (the one table, beside the matchers that name them).
pub use crate::matcher::KNOWN_TOOLS;

/// The closest of `known` to `name`, if it is close enough to be a misspelling: equal ignoring
/// case, or within an edit distance (insertions, deletions, substitutions, transpositions) of 1
/// for names up to 4 characters and 2 beyond.
pub fn did_you_mean<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    if known.contains(&name) {
        return None;
    }
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(k);
    }
    let lower = name.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= if k.chars().count() <= 4 || name.chars().count() <= 4 { 1 } else { 2 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn mean(s: Option<&str>) -> String {
    s.map(|k| format!("; did you mean `{k}`?")).unwrap_or_default()
}

/// Lints every settings file `loc` names (managed base and drop-ins, command line, local,
/// project, user), as `load` reads them.
pub fn lint_files(loc: &Locations) -> Vec<Finding> {
    let project = loc.project_dir.as_deref();
    let mut errors = Vec::new();
    let candidates = loc.candidates_or_fixed(&mut errors);
    let mut out: Vec<Finding> = errors.into_iter().map(from_error).collect();
    for (scope, path, _) in candidates {
        match file::read_bytes(&path, scope, &loc.links(scope)) {
            Ok(Some(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => out.extend(lint_text(text, &path, scope, project)),
                // The loader names the first invalid byte.
                Err(_) => out.extend(file::parse_bytes(&bytes, &path, scope).err().map(from_error)),
            },
            Ok(None) => {}
            Err(e) => out.push(from_error(e)),
        }
    }
    out
}

fn from_error(e: SettingsError) -> Finding {
    Finding {
        severity: Severity::Error,
        location: e.location,
        message: e.message,
        managed: e.managed,
        from_warning: false,
    }
}

/// Lints one file's text: every loader error (see the module documentation), the loader's
/// warnings classified, and the names it does not know, with suggestions.
pub fn lint_text(text: &str, path: &Path, scope: Scope, project_dir: Option<&Path>) -> Vec<Finding> {
    let managed = scope == Scope::Managed;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut names = Vec::new();
    if let Ok(Value::Object(top)) = serde_json::from_str::<Value>(text) {
        names = name_findings(text, path, scope, &top);
    }
    // The loader's errors, one element at a time.
    let mut current = text.to_string();
    let mut last: Option<(usize, usize, String)> = None;
    for _ in 0..1000 {
        match file::parse(&current, path, scope) {
            Ok(f) => {
                // The hooks of every valid element: a script that does not exist.
                out.extend(lint_hooks(f.hooks.iter(), project_dir));
                for w in f.warnings {
                    out.push(Finding {
                        severity: classify_warning(&w.message),
                        location: w.location,
                        message: w.message,
                        managed,
                        from_warning: true,
                    });
                }
                break;
            }
            Err(e) => {
                let key = (e.location.line, e.location.column, e.message.clone());
                let repeated = last.as_ref() == Some(&key);
                last = Some(key);
                let blank = if repeated { None } else { blank_element(&current, &e.location) };
                out.push(from_error(e));
                match blank {
                    Some(t) => current = t,
                    None => break,
                }
            }
        }
    }
    // A name finding replaces the loader's generic warning at the same place.
    out.retain(|f| !(f.from_warning && names.iter().any(|n: &Finding| same_place(&n.location, &f.location))));
    for n in names {
        if !out.iter().any(|f| same_place(&f.location, &n.location) && f.message == n.message) {
            out.push(n);
        }
    }
    out.sort_by_key(|f| (f.location.line, f.location.column));
    out
}

fn same_place(a: &Location, b: &Location) -> bool {
    a.path == b.path && a.line == b.line && a.column == b.column
}

/// Which loader warnings mean "this does not take effect as written" (errors).
fn classify_warning(message: &str) -> Severity {
    const NOT_AS_WRITTEN: &[&str] = &[
        "is a managed-only key and is ignored",
        "is managed-only and is ignored",
        "never matches",
        "matches no MCP tool",
        "looks like a permission rule",
        "fails when it fires",
        "not run by hookhost",
        "this hook never runs",
        "applies only to PostToolUse",
        "is not a Claude Code event known to hookhost",
        "is not a known Claude Code event",
    ];
    if NOT_AS_WRITTEN.iter().any(|p| message.contains(p)) { Severity::Error } else { Severity::Warning }
}

/// The text with the innermost element (a permission rule, a hook handler, a matcher group,
/// an event, a `permissions` key or a top-level key) holding `at` blanked out, with the comma
/// that separated it; `None` when no such element holds it.
fn blank_element(text: &str, at: &Location) -> Option<String> {
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(text) else { return None };
    let off = offset_of(text, at.line, at.column);
    let mut best: Option<(usize, usize)> = None;
    let mut consider = |path: Vec<Seg>| {
        if let Some((s, _, e)) = element_span(text, &path)
            && s <= off
            && off < e.max(s + 1)
            && best.is_none_or(|(bs, be)| e - s < be - bs)
        {
            best = Some((s, e));
        }
    };
    for (k, v) in &top {
        let kp = vec![Seg::Key(k.clone())];
        consider(kp.clone());
        let Some(obj) = v.as_object() else { continue };
        for (k2, v2) in obj {
            let p2 = [kp.clone(), vec![Seg::Key(k2.clone())]].concat();
            consider(p2.clone());
            let Some(list) = v2.as_array() else { continue };
            for (i, item) in list.iter().enumerate() {
                let p3 = [p2.clone(), vec![Seg::Index(i)]].concat();
                consider(p3.clone());
                if k == "hooks"
                    && let Some(handlers) = item.get("hooks").and_then(Value::as_array)
                {
                    for j in 0..handlers.len() {
                        consider([p3.clone(), vec![Seg::Key("hooks".into()), Seg::Index(j)]].concat());
                    }
                }
            }
        }
    }
    let (s, e) = best?;
    let b = text.as_bytes();
    let skip_ws_fwd = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let skip_ws_back = |mut i: usize| {
        while i > 0 && b[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        i
    };
    let after = skip_ws_fwd(e);
    let (from, to) = if b.get(after) == Some(&b',') {
        (s, after + 1)
    } else {
        let before = skip_ws_back(s);
        if before > 0 && b[before - 1] == b',' { (before - 1, e) } else { (s, e) }
    };
    let blanked: String = text[from..to].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
    Some(format!("{}{}{}", &text[..from], blanked, &text[to..]))
}

struct Names<'a> {
    text: &'a str,
    path: &'a Path,
    managed: bool,
    out: Vec<Finding>,
}

impl Names<'_> {
    fn at(&mut self, segs: &[Seg], key: bool, severity: Severity, message: String) {
        let (line, column) = locate(self.text, segs, key);
        self.out.push(Finding {
            severity,
            location: Location { path: self.path.to_path_buf(), line, column },
            message,
            managed: self.managed,
            from_warning: false,
        });
    }
}

fn seg(p: &[Seg], s: Seg) -> Vec<Seg> {
    let mut v = p.to_vec();
    v.push(s);
    v
}

/// Names hookhost does not know, with the name meant where one is close.
fn name_findings(text: &str, path: &Path, scope: Scope, top: &serde_json::Map<String, Value>) -> Vec<Finding> {
    let mut n = Names { text, path, managed: scope == Scope::Managed, out: Vec::new() };
    let all_keys: Vec<&str> = HOOKHOST_KEYS.iter().chain(CLAUDE_CODE_KEYS).copied().collect();
    for (k, v) in top {
        let at = vec![Seg::Key(k.clone())];
        if HOOKHOST_KEYS.contains(&k.as_str()) {
        } else if CLAUDE_CODE_KEYS.contains(&k.as_str()) {
            n.at(
                &at,
                true,
                Severity::Warning,
                format!("key `{k}` is Claude Code's and is not used by hookhost (ignored)"),
            );
        } else {
            match did_you_mean(k, &all_keys) {
                Some(m) => n.at(&at, true, Severity::Error, format!("unknown key `{k}` is ignored{}", mean(Some(m)))),
                None => n.at(
                    &at,
                    true,
                    Severity::Warning,
                    format!("key `{k}` is not a settings key hookhost or Claude Code knows (ignored)"),
                ),
            }
        }
        match k.as_str() {
            "hooks" => {
                if let Some(events) = v.as_object() {
                    hooks_names(&mut n, &at, events);
                }
            }
            "permissions" => {
                if let Some(p) = v.as_object() {
                    permission_names(&mut n, &at, p);
                }
            }
            "failClosed" => {
                for (i, e) in v.as_array().into_iter().flatten().enumerate() {
                    if let Some(e) = e.as_str().filter(|e| !KNOWN_EVENTS.contains(e)) {
                        n.at(
                            &seg(&at, Seg::Index(i)),
                            false,
                            Severity::Error,
                            format!(
                                "`{e}` in failClosed is not a Claude Code event: it never fails closed{}",
                                mean(did_you_mean(e, KNOWN_EVENTS))
                            ),
                        );
                    }
                }
            }
            "hookhost" => {
                for (k2, _) in v.as_object().into_iter().flatten() {
                    if !HOOKHOST_OBJECT_KEYS.contains(&k2.as_str()) {
                        n.at(
                            &seg(&at, Seg::Key(k2.clone())),
                            true,
                            Severity::Error,
                            format!(
                                "unknown key `hookhost.{k2}` is ignored{}",
                                mean(
                                    did_you_mean(k2, HOOKHOST_OBJECT_KEYS).map(|m| format!("hookhost.{m}")).as_deref()
                                )
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    n.out
}

fn hooks_names(n: &mut Names, at: &[Seg], events: &serde_json::Map<String, Value>) {
    for (event, groups) in events {
        let eat = seg(at, Seg::Key(event.clone()));
        if !KNOWN_EVENTS.contains(&event.as_str()) {
            let m = did_you_mean(event, KNOWN_EVENTS);
            n.at(
                &eat,
                true,
                Severity::Error,
                format!("`{event}` is not a Claude Code event: its hooks never run{}", mean(m)),
            );
        }
        let tool_event = crate::event::facts_of(event).is_tool_event();
        for (gi, g) in groups.as_array().into_iter().flatten().enumerate() {
            let gat = seg(&eat, Seg::Index(gi));
            if tool_event && let Some(m) = g.get("matcher").and_then(Value::as_str) {
                matcher_names(n, &seg(&gat, Seg::Key("matcher".into())), m);
            }
            for (hi, h) in g.get("hooks").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let hat = seg(&seg(&gat, Seg::Key("hooks".into())), Seg::Index(hi));
                if let Some(rule) = h.get("if").and_then(Value::as_str) {
                    rule_names(n, &seg(&hat, Seg::Key("if".into())), rule, "`if`");
                }
            }
        }
    }
}

/// Exact-name matchers (`Bash|Edit`): each name must be a tool (or an MCP tool).
fn matcher_names(n: &mut Names, at: &[Seg], m: &str) {
    let exact = m.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '|' | '-' | ' ' | ','));
    if !exact || m.is_empty() {
        return;
    }
    for name in m.split(['|', ',']).map(str::trim).filter(|s| !s.is_empty()) {
        if KNOWN_TOOLS.contains(&name) || name.starts_with("mcp__") {
            continue;
        }
        if let Some(k) = did_you_mean(name, KNOWN_TOOLS) {
            n.at(
                at,
                false,
                Severity::Error,
                format!(
                    "matcher name {name:?} is not a Claude Code tool (names are case-sensitive) and never matches; \
                     did you mean `{k}`?"
                ),
            );
        }
    }
}

fn permission_names(n: &mut Names, at: &[Seg], p: &serde_json::Map<String, Value>) {
    for (k, v) in p {
        let kat = seg(at, Seg::Key(k.clone()));
        if !PERMISSION_KEYS.contains(&k.as_str()) {
            let m = did_you_mean(k, PERMISSION_KEYS);
            n.at(
                &kat,
                true,
                if m.is_some() { Severity::Error } else { Severity::Warning },
                format!("unknown permissions key `{k}` is ignored{}", mean(m)),
            );
            continue;
        }
        if !matches!(k.as_str(), "allow" | "ask" | "deny") {
            continue;
        }
        for (i, r) in v.as_array().into_iter().flatten().enumerate() {
            if let Some(r) = r.as_str() {
                rule_names(n, &seg(&kat, Seg::Index(i)), r, &format!("`permissions.{k}` rule"));
            }
        }
    }
}

/// A rule's tool name: a near miss of a Claude Code tool (wrong case included) never matches.
fn rule_names(n: &mut Names, at: &[Seg], rule: &str, what: &str) {
    let t = rule.trim();
    let tool = t.split('(').next().unwrap_or(t);
    if tool.is_empty() || KNOWN_TOOLS.contains(&tool) || tool.starts_with("mcp__") || tool.contains('*') {
        return;
    }
    if let Some(k) = did_you_mean(tool, KNOWN_TOOLS) {
        let fixed = format!("{k}{}", &t[tool.len()..]);
        n.at(
            at,
            false,
            Severity::Error,
            format!(
                "{what} {t:?} names tool `{tool}`, which does not exist (tool names are case-sensitive): it never \
                 matches; did you mean `{fixed}`?"
            ),
        );
    }
}

/// Problems of the resolved hooks that no single file shows: a command hook whose program or
/// script does not exist (dispatch would report exit 127), a wasm hook whose component is
/// missing (with how to build it).
pub fn lint_hooks<'a>(hooks: impl Iterator<Item = &'a Hook>, project_dir: Option<&Path>) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in hooks {
        let location = Location { path: h.origin.path.clone(), line: h.origin.line, column: h.origin.column };
        let managed = h.origin.scope == Scope::Managed;
        let mut push = |message: String| {
            out.push(Finding {
                severity: Severity::Error,
                location: location.clone(),
                message,
                managed,
                from_warning: false,
            })
        };
        match &h.handler {
            Handler::Command(c) => {
                if let Some(why) = missing_program(c, project_dir) {
                    push(format!("hook {}: {why}: it fails every time it fires (exit 127)", h.label()));
                }
            }
            Handler::Wasm(w) => {
                let ctx = crate::exec::RunContext { project_dir: project_dir.map(Path::to_path_buf), sole: false };
                let p = crate::exec::wasm_component_path(h, w, &ctx);
                if !p.exists() && !p.to_string_lossy().contains("${") {
                    push(format!(
                        "wasm component {} does not exist{}",
                        p.display(),
                        build_hint(&p, h.origin.path.parent()).map(|b| format!(": {b}")).unwrap_or_default()
                    ));
                }
            }
            Handler::Unsupported { .. } => {}
        }
    }
    out
}

/// How to build a missing component: the `build.sh` next to the settings file, or the cargo
/// command for a `target/wasm32-wasip2/release/` path.
pub fn build_hint(component: &Path, settings_dir: Option<&Path>) -> Option<String> {
    if let Some(b) = settings_dir.map(|d| d.join("build.sh")).filter(|b| b.is_file()) {
        return Some(format!("build it with {} (it prints the component's path)", b.display()));
    }
    let s = component.to_string_lossy();
    if let Some(i) = s.find("/target/wasm32-wasip2/") {
        return Some(format!("build it with `cd {} && cargo build --release --target wasm32-wasip2`", &s[..i]));
    }
    if s.ends_with(".wasm") {
        return Some(
            "build the hook's crate with `cargo build --release --target wasm32-wasip2` (Rust), its build.sh \
             (Python, JavaScript: `hookhost new` writes one), and point `component` at the .wasm it writes"
                .into(),
        );
    }
    None
}

/// Why the program (or interpreter script) a command hook runs cannot be found, if it cannot.
fn missing_program(c: &crate::hook::CommandHook, project_dir: Option<&Path>) -> Option<String> {
    let words: Vec<String> = match &c.args {
        Some(args) => std::iter::once(c.command.clone()).chain(args.iter().cloned()).collect(),
        None => shlex::split(&c.command)?,
    };
    let expand = |w: &str| crate::hook::expand_project_dir(w, project_dir);
    let first = expand(words.first()?);
    // Shell syntax (variables, assignments, redirections, compound commands) is the shell's.
    let plain = |w: &str| {
        !w.is_empty() && !w.contains(['$', '=', '`', '(', ')', '{', '}', ';', '&', '|', '<', '>', '*', '?', '~'])
    };
    if !plain(&first) || (c.args.is_none() && c.command.contains(['\n', ';', '&', '|'])) {
        return None;
    }
    let cwd = project_dir.filter(|p| p.is_dir()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    if first.contains('/') {
        let p = cwd.join(&first);
        if !p.exists() {
            return Some(format!("the program {} does not exist", p.display()));
        }
        return None;
    }
    if is_shell_builtin(&first) {
        return None;
    }
    if which(&first).is_none() {
        return Some(format!("the program `{first}` is not on PATH"));
    }
    if crate::trust::is_interpreter(&first)
        && let Some(arg) = words.get(1).map(|w| expand(w))
        && plain(&arg)
        && !arg.starts_with('-')
        && (arg.contains('/') || looks_like_script(&arg))
    {
        let p = cwd.join(&arg);
        if !p.exists() {
            return Some(format!("the script {} does not exist", p.display()));
        }
    }
    None
}

fn looks_like_script(a: &str) -> bool {
    [".sh", ".bash", ".py", ".js", ".mjs", ".rb", ".pl", ".ts"].iter().any(|x| a.ends_with(x))
}

fn is_shell_builtin(w: &str) -> bool {
    const BUILTINS: &[&str] = &[
        "true", "false", "exit", "echo", "printf", "test", "[", "cd", "read", "set", "export", "exec", "eval",
        "command", "type", ":", ".", "source", "if", "for", "while", "case", "!", "trap", "wait", "sleep",
    ];
    BUILTINS.contains(&w)
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| crate::exec::DEFAULT_PATH.into());
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// What one-shot `dispatch` (and the daemon) really do about an invalid file, for `check`.
pub fn consequence(e_path: &Path, managed: bool, loc: &Locations, fail_closed: &[String]) -> String {
    if managed {
        return "dispatch fails closed (exit 2, every event) while this managed file is invalid; a running daemon \
                keeps the last version it read"
            .into();
    }
    let in_force = crate::live::in_force(loc).is_some_and(|s| s.sources.iter().any(|s| s.path == e_path));
    if in_force {
        "dispatch keeps this file's last known good version in force (a systemMessage names the error)".into()
    } else if fail_closed.is_empty() {
        "dispatch skips this file (no accepted version of it): the rest applies, a systemMessage names the error".into()
    } else {
        format!(
            "dispatch skips this file (no accepted version of it): the rest applies, except that {} fail closed \
             (exit 2)",
            fail_closed.join(", ")
        )
    }
}

/// Whether managed settings ask every `check` to be strict (`hookhost.strictCheck: true`).
pub fn strict_by_policy(loc: &Locations) -> bool {
    let mut errors = Vec::new();
    loc.candidates_or_fixed(&mut errors).into_iter().filter(|(s, _, _)| *s == Scope::Managed).any(|(s, p, _)| {
        matches!(file::read(&p, s, &loc.links(s)), Ok(Some(f))
            if f.extensions.get("hookhost").and_then(|h| h.get("strictCheck")) == Some(&Value::Bool(true)))
    })
}

/// `check`'s verdict: prints every finding (warnings on stdout, errors on stderr, each invalid
/// file followed by what dispatch does about it), then `ok` or the counts; returns the exit
/// code (0, or 1 when anything is an error, warnings included when `strict`).
pub fn report(
    loc: &Locations,
    loaded: &crate::settings::Loaded,
    components: &[(PathBuf, Result<String, crate::decision::HookFailure>)],
    strict_flag: bool,
) -> u8 {
    let s = &loaded.settings;
    let strict = strict_flag || strict_by_policy(loc);
    let mut findings = lint_files(loc);
    let hooks: Vec<&Hook> =
        s.hooks.iter().map(|h| h.as_ref()).chain(s.inactive.iter().map(|(h, _)| h.as_ref())).collect();
    let hook_findings = lint_hooks(hooks.iter().copied(), loc.project_dir.as_deref());
    for (path, r) in components {
        if let Err(f) = r {
            // A missing component is named above, with how to build it.
            if !path.exists() {
                continue;
            }
            let at = hooks.iter().find(|h| {
                matches!(&h.handler, Handler::Wasm(_)) && {
                    let ctx = crate::exec::RunContext { project_dir: loc.project_dir.clone(), sole: false };
                    matches!(&h.handler, Handler::Wasm(w) if crate::exec::wasm_component_path(h, w, &ctx) == *path)
                }
            });
            let location = at.map_or(Location { path: path.clone(), line: 1, column: 1 }, |h| Location {
                path: h.origin.path.clone(),
                line: h.origin.line,
                column: h.origin.column,
            });
            findings.push(Finding {
                severity: Severity::Error,
                location,
                message: format!(
                    "wasm component {} does not load ({}): {}",
                    path.display(),
                    f.kind.as_str(),
                    f.message
                ),
                managed: at.is_some_and(|h| h.origin.scope == Scope::Managed),
                from_warning: false,
            });
        }
    }
    findings.extend(hook_findings);
    // Errors the loader found elsewhere (server-managed settings, a file gone since).
    for e in &loaded.errors {
        if !findings.iter().any(|f| f.location.path == e.location.path && f.severity == Severity::Error) {
            findings.push(from_error(e.clone()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    findings.retain(|f| seen.insert(f.to_string()));
    let is_error = |f: &Finding| f.severity == Severity::Error || strict;
    let (errors, warnings): (Vec<&Finding>, Vec<&Finding>) = findings.iter().partition(|f| is_error(f));
    if !warnings.is_empty() {
        println!("\nwarnings ({}):", warnings.len());
        for w in &warnings {
            println!("  {}: {}", w.location, w.message);
        }
    }
    if errors.is_empty() {
        println!("\nok");
        return 0;
    }
    let fail_closed: Vec<String> = s.fail_closed.iter().cloned().collect();
    eprintln!(
        "\nerrors ({}){}:",
        errors.len(),
        if strict { ", warnings included (--strict or managed hookhost.strictCheck)" } else { "" }
    );
    let mut files: Vec<&Path> = Vec::new();
    for e in &errors {
        if !files.contains(&e.location.path.as_path()) {
            files.push(&e.location.path);
        }
    }
    for f in files {
        let mine: Vec<&&Finding> = errors.iter().filter(|e| e.location.path == f).collect();
        for e in &mine {
            let tag = if e.severity == Severity::Warning { " [warning, --strict]" } else { "" };
            eprintln!("  {}: {}{tag}", e.location, e.message);
        }
        // What dispatch does, for a file the loader could not use.
        if let Some(e) = loaded.errors.iter().find(|e| e.location.path == f) {
            eprintln!("    => {}", consequence(f, e.managed, loc, &fail_closed));
        } else if mine.iter().all(|e| e.severity == Severity::Error) {
            eprintln!("    => dispatch loads this file, but the lines above do not take effect as written");
        }
    }
    eprintln!(
        "\nFAILED: {} problem(s) would not take effect as written{}",
        errors.len(),
        if warnings.is_empty() { String::new() } else { format!(" ({} warning(s) above)", warnings.len()) }
    );
    1
}

/// Line and column of a byte offset (re-exported for tests).
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    line_col(text, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(text: &str) -> Vec<Finding> {
        lint_text(text, Path::new("/m.json"), Scope::Managed, None)
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("permisions", HOOKHOST_KEYS), Some("permissions"));
        assert_eq!(did_you_mean("allowManagedHookOnly", HOOKHOST_KEYS), Some("allowManagedHooksOnly"));
        assert_eq!(did_you_mean("PreToolUs", KNOWN_EVENTS), Some("PreToolUse"));
        assert_eq!(did_you_mean("bash", KNOWN_TOOLS), Some("Bash"));
        assert_eq!(did_you_mean("Bash", KNOWN_TOOLS), None);
        assert_eq!(did_you_mean("frobnicate", KNOWN_TOOLS), None);
    }

    #[test]
    fn every_error_of_a_file_is_reported() {
        let text = r#"{
  "permisions": {"deny": ["bash(curl *)"]},
  "permissions": {"deny": ["Bash(curl *", "bash(wget *)", "Read(./.env)"]},
  "hooks": {
    "PreToolUs": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}],
    "PostToolUse": [
      {"matcher": "Edit", "hooks": [{"type": "command", "command": "true", "onfailure": "block"}]},
      {"matcher": "Bash([", "hooks": []}
    ]
  }
}"#;
        let f = lint(text);
        let errors: Vec<String> = f.iter().filter(|f| f.severity == Severity::Error).map(|f| f.to_string()).collect();
        let has = |s: &str| errors.iter().any(|e| e.contains(s));
        assert!(
            has("/m.json:2:3: error: unknown key `permisions` is ignored; did you mean `permissions`?"),
            "{errors:#?}"
        );
        assert!(has("/m.json:3:28: error: rule \"Bash(curl *\" has `(`"), "{errors:#?}");
        assert!(has("did you mean `Bash(wget *)`?"), "{errors:#?}");
        assert!(has("/m.json:5:5: error: `PreToolUs` is not a Claude Code event"), "{errors:#?}");
        assert!(has("unknown field `onfailure`"), "{errors:#?}");
        assert!(has("invalid matcher regex"), "{errors:#?}");
    }

    #[test]
    fn blanking_keeps_locations() {
        let text = "{\"a\": [1, 2, 3],\n \"b\": 1}";
        let at = Location { path: "/x".into(), line: 1, column: 2 };
        let t = blank_element(text, &at).unwrap();
        assert_eq!(t.len(), text.len());
        assert!(serde_json::from_str::<Value>(&t).is_ok(), "{t}");
        assert_eq!(position(&t, t.find("\"b\"").unwrap()), (2, 2));
    }
}
