//! The permission stage of `PreToolUse`: the merged `permissions` rules evaluated deny → ask →
//! allow, before hooks' answers are folded in.
//!
//! - deny: the first deny rule (configured order) that matches wins. For Bash, a rule matches
//!   when **any** command of the line matches it (see [`super::bash`]: substitutions, groups,
//!   wrappers, `bash -c` strings, `find -exec` and `xargs` programs included); `Read(…)` rules
//!   also bind the files Bash commands read, and `Edit(…)`/`Write(…)` rules the files they
//!   write. Paths are resolved like the kernel ([`super::path::resolve`]); a glob is judged by
//!   every name it could expand to; reading a directory recursively reads what is below it
//!   (bounded walk); a file name known only at run time matches every deny and ask rule of its
//!   kind.
//! - A line that cannot be decided statically is denied when any deny rule binds Bash (fail
//!   closed), and is never allowed.
//! - ask: the same, with the ask list.
//! - allow: a Bash call is allowed only when it can be decided, **every** command matches an
//!   allow rule (the program as written: `./ls` is not `ls`), none runs under a privilege
//!   wrapper or with a variable that changes what runs (`PATH=…`, `LD_PRELOAD=…`), and the line
//!   has no command or process substitution and no file name known only at run time; other
//!   calls when a rule matches every reading of their target.
//! - `permissions.disableBypassPermissionsMode: "disable"` denies calls made in
//!   `bypassPermissions` mode.
//!
//! The result is one `RuleHit` naming the rule and where it was written; the bus folds it with
//! the hooks' answers (a rule deny is a deny, ask an ask; hooks can still deny an allowed call).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;

use super::bash::{self, Access, FileArg, Parsed, SimpleCommand};
use super::path::fs::{Fs, Kind};
use super::path::intersect::{self, Pattern};
use super::path::resolve::{FileId, Resolution};
use super::path::{self as paths, anchors, lexical};
use super::{
    EDIT_TOOLS, LocatedRule, PathMatch, PermissionLists, READ_TOOLS, RuleContext, bash_allows, bash_denies,
    target_paths, web, wildcard,
};
use crate::decision::Permission;
use crate::event::HookEvent;

/// What the rules decided, and why.
#[derive(Debug, Clone)]
pub struct RuleHit {
    pub permission: Permission,
    /// The deciding rule (none for a mode or "cannot decide" decision).
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
    let judge = Judge::new(tool, input, ctx, policy.strict_bash);
    let lists = policy.lists;
    judge.set_scan_patterns(lists, ctx);

    for l in &lists.deny {
        if let Some(what) = judge.hits(l, PathMatch::Any) {
            return Some(RuleHit {
                permission: Permission::Deny,
                rule: Some(l.clone()),
                reason: format!("denied by permission rule {}{what}", describe(l)),
            });
        }
    }
    if let Some(parsed) = &judge.bash
        && let Some(why) = parsed.undecidable.first()
    {
        // Fail closed: with deny rules that could bind a Bash call, a line we cannot decide is
        // denied; with only ask/allow rules it needs approval.
        let deny_binds = lists.deny.iter().any(binds_bash);
        if deny_binds {
            return Some(RuleHit {
                permission: Permission::Deny,
                rule: None,
                reason: format!(
                    "the command cannot be decided statically ({why}); denied because deny rules apply to Bash (fail closed)"
                ),
            });
        }
    }
    for l in &lists.ask {
        if let Some(what) = judge.hits(l, PathMatch::Any) {
            return Some(RuleHit {
                permission: Permission::Ask,
                rule: Some(l.clone()),
                reason: format!("needs approval under permission rule {}{what}", describe(l)),
            });
        }
    }

    let Some(parsed) = &judge.bash else {
        return lists.allow.iter().find(|l| judge.hits(l, PathMatch::All).is_some()).map(|l| RuleHit {
            permission: Permission::Allow,
            rule: Some(l.clone()),
            reason: format!("allowed by permission rule {}", describe(l)),
        });
    };
    let bash_rules = lists.allow.iter().chain(&lists.deny).chain(&lists.ask).any(binds_bash);
    if let Some(why) = parsed.undecidable.first() {
        return bash_rules.then(|| RuleHit {
            permission: Permission::Ask,
            rule: None,
            reason: format!("the command cannot be decided statically ({why}), so permission rules cannot allow it"),
        });
    }
    let runnable: Vec<&SimpleCommand> =
        parsed.commands.iter().filter(|c| c.program.is_some() || !c.text.is_empty()).collect();
    let allowed: Vec<&LocatedRule> = runnable
        .iter()
        .map(|c| {
            let form = c.allow.as_ref().filter(|_| !parsed.env_tampered)?;
            lists
                .allow
                .iter()
                .find(|l| l.rule.tool == "Bash" && l.rule.specifier.as_deref().is_none_or(|s| bash_allows(s, form)))
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
    if let Some(f) = parsed.commands.iter().flat_map(|c| &c.files).find(|f| f.is_unknown() && !f.guess) {
        return Some(RuleHit {
            permission: Permission::Ask,
            rule: Some(first.clone()),
            reason: format!("{} is known only at run time, so permission rules cannot allow the command", f.display),
        });
    }
    Some(RuleHit {
        permission: Permission::Allow,
        rule: Some(first.clone()),
        reason: format!("allowed by permission rule {}", describe(first)),
    })
}

/// Whether a rule can bind a Bash call (its commands or its files).
fn binds_bash(l: &LocatedRule) -> bool {
    l.rule.tool == "Bash" || (matches!(l.rule.tool.as_str(), "Read" | "Edit" | "Write") && l.rule.specifier.is_some())
}

/// Whether a path rule binds this tool's target, for `if` conditions (deny semantics).
pub fn path_rule_matches(spec: &str, rule_tool: &str, tool: &str, input: &Value, ctx: &RuleContext) -> bool {
    let judge = Judge::new(tool, input, ctx, false);
    let root = ctx.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let reads = rule_tool == "Read";
    judge.path_hit(spec, &root, reads, PathMatch::Any).is_some()
}

// ---------------------------------------------------------------------------------------------
// One call
// ---------------------------------------------------------------------------------------------

/// What a call touches, with its file-system work cached for all rules.
struct Judge<'a> {
    tool: &'a str,
    input: &'a Value,
    ctx: &'a RuleContext,
    cwd: PathBuf,
    bash: Option<Parsed>,
    targets: Vec<Target>,
    fs: RefCell<Fs>,
    rule_patterns: RefCell<HashMap<String, Pattern>>,
    ids: RefCell<HashMap<(Vec<String>, bool), ProtectedIds>>,
    /// Every deny/ask path pattern for reads and for writes (one tree walk answers them all).
    scan_patterns: RefCell<Option<(Vec<String>, Vec<String>)>>,
    scans: RefCell<HashMap<String, Scan>>,
    /// Glob arguments judged so far (bounded: each costs an automaton product per rule).
    globs: RefCell<usize>,
    /// Path checks done so far, and their answers (the same target against the same rule
    /// patterns is judged once).
    checks: RefCell<usize>,
    memo: RefCell<HashMap<(String, Vec<String>), Hit>>,
}

/// Most distinct path checks (target × rule) in one call; beyond, deny and ask rules bind.
pub const MAX_CHECKS: usize = 100_000;

/// Most glob checks (argument × rule) in one call; beyond, deny and ask rules bind.
pub const MAX_GLOBS: usize = 5_000;

/// One file or directory the call uses.
#[derive(Debug, Clone)]
struct Target {
    /// Absolute, as spelled (not normalised).
    abs: PathBuf,
    /// The directory `/proc/self/cwd` stands for.
    proc_cwd: PathBuf,
    /// Absolute shell glob (the directory part as spelled), when the name is a glob.
    glob: Option<String>,
    access: Access,
    shape: Shape,
    guess: bool,
    unknown: Option<String>,
    display: String,
    /// The command it belongs to (for reasons; shortened).
    command: Rc<str>,
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// The path itself (a directory: what it names).
    Exact,
    /// Everything below (`grep -r`, the Grep tool); `filter`: only names matching this glob.
    Tree { follow: bool, filter: Option<String> },
    /// The names a listing returns (Glob/LS tools): `pattern` relative to the root, or depth 1.
    List { pattern: Option<String> },
}

const ANY_CHILD: &str = "__hookhost_any__";

/// A path check's answer: the hit, for the reason.
type Hit = Option<String>;

/// Device and inode of protected files, and whether the list is complete.
type ProtectedIds = (HashSet<(u64, u64)>, bool);

impl<'a> Judge<'a> {
    fn new(tool: &'a str, input: &'a Value, ctx: &'a RuleContext, strict: bool) -> Judge<'a> {
        let cwd = ctx.cwd.clone().or_else(|| ctx.root.clone()).unwrap_or_else(|| PathBuf::from("/"));
        let mut j = Judge {
            tool,
            input,
            ctx,
            cwd: cwd.clone(),
            bash: None,
            targets: Vec::new(),
            fs: RefCell::new(Fs::new()),
            rule_patterns: RefCell::new(HashMap::new()),
            ids: RefCell::new(HashMap::new()),
            scan_patterns: RefCell::new(None),
            scans: RefCell::new(HashMap::new()),
            globs: RefCell::new(0),
            checks: RefCell::new(0),
            memo: RefCell::new(HashMap::new()),
        };
        if tool == "Bash" {
            let cmd = input.get("command").and_then(Value::as_str).unwrap_or("");
            let opts = bash::Options { strict, home: ctx.home.as_ref().map(|h| h.to_string_lossy().into_owned()) };
            let parsed = bash::analyze(cmd, &opts);
            j.bash_targets(&parsed);
            j.patch_targets();
            j.bash = Some(parsed);
        } else if READ_TOOLS.contains(&tool) || EDIT_TOOLS.contains(&tool) {
            j.tool_targets();
        }
        j
    }

    fn bash_targets(&mut self, parsed: &Parsed) {
        // Symbolic links the line creates: paths through them cannot be resolved beforehand.
        let mut pending = Vec::new();
        for l in &parsed.links {
            if let (Some(p), Some(d)) = (&l.path, &l.dir) {
                let abs = self.cwd.join(d).join(p);
                if let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) {
                    let base = match self.fs.get_mut().resolve(parent, &self.cwd) {
                        Resolution::Path(r) => r.path,
                        _ => lexical(parent),
                    };
                    pending.push(base.join(name));
                    pending.push(lexical(&abs));
                }
            }
        }
        self.fs.get_mut().pending = pending;
        let mut seen = HashSet::new();
        for c in &parsed.commands {
            let command: Rc<str> =
                if c.text.is_empty() { Rc::from("(redirection)") } else { Rc::from(shorten(&c.text).as_ref()) };
            for f in &c.files {
                // The same file used the same way is judged once.
                if seen.insert((f.path.clone(), f.glob.clone(), f.dir.clone(), format!("{:?}", f.access), f.guess)) {
                    self.targets.push(self.bash_target(f, command.clone()));
                }
            }
        }
    }

    fn bash_target(&self, f: &FileArg, command: Rc<str>) -> Target {
        let shape = match f.access {
            Access::ReadTree { follow } | Access::WriteTree { follow } => Shape::Tree { follow, filter: None },
            _ => Shape::Exact,
        };
        let mut t = Target {
            abs: PathBuf::new(),
            proc_cwd: self.cwd.clone(),
            glob: None,
            access: f.access,
            shape,
            guess: f.guess,
            unknown: None,
            display: shorten(&f.display).into_owned(),
            command,
        };
        match (&f.path, &f.dir) {
            (Some(p), Some(d)) => {
                let dir = join_str(&self.cwd, d);
                t.abs = join_str(&dir, p);
                t.proc_cwd = dir.clone();
                if let Some(g) = &f.glob {
                    t.glob = Some(if g.starts_with('/') {
                        g.clone()
                    } else {
                        format!("{}/{g}", escape_glob(&dir.to_string_lossy()))
                    });
                }
            }
            (Some(p), None) if p.starts_with('/') => t.abs = PathBuf::from(p),
            _ => t.unknown = Some(format!("{} is known only at run time", f.display)),
        }
        t
    }

    fn tool_targets(&mut self) {
        // Every path the call names (a patch names several, `crate::agents::patch`: one denied
        // path denies it, an allow must cover them all); none: the cwd.
        let mut given = target_paths(self.input);
        if given.is_empty() {
            given.push(self.cwd.to_string_lossy().into_owned());
        }
        let access = if EDIT_TOOLS.contains(&self.tool) { Access::Write } else { Access::Read };
        let shape = match self.tool {
            "Grep" => {
                Shape::Tree { follow: true, filter: self.input.get("glob").and_then(Value::as_str).map(str::to_string) }
            }
            "Glob" => Shape::List { pattern: self.input.get("pattern").and_then(Value::as_str).map(str::to_string) },
            "LS" => Shape::List { pattern: None },
            _ => Shape::Exact,
        };
        for path in given {
            let t = Target {
                abs: join_str(&self.cwd, &expand_home(&path, self.ctx)),
                proc_cwd: self.cwd.clone(),
                glob: None,
                access,
                shape: shape.clone(),
                guess: false,
                unknown: None,
                display: shorten(&path).into_owned(),
                command: Rc::from(""),
            };
            // The agent's own process resolves `/proc/self/cwd` against its directory, which
            // may be the project directory rather than the event's cwd: check both.
            let other =
                self.ctx.root.as_ref().filter(|root| **root != self.cwd && path.starts_with("/proc/")).map(|root| {
                    let mut o = t.clone();
                    o.proc_cwd = root.clone();
                    o
                });
            self.targets.push(t);
            self.targets.extend(other);
        }
    }

    /// A Bash command that carries a patch (`apply_patch <<'EOF'`, mapped by the agent
    /// adapters into `files`): every file the patch adds, updates, deletes or moves is written.
    fn patch_targets(&mut self) {
        for path in crate::agents::patch::input_paths(self.input) {
            self.targets.push(Target {
                abs: join_str(&self.cwd, &expand_home(&path, self.ctx)),
                proc_cwd: self.cwd.clone(),
                glob: None,
                access: Access::Write,
                shape: Shape::Exact,
                guess: false,
                unknown: None,
                display: shorten(&path).into_owned(),
                command: Rc::from("(patch)"),
            });
        }
    }

    /// Whether rule `l` matches the call (`how`: deny/ask any part, allow every part); returns
    /// a detail suffix for the reason.
    fn hits(&self, l: &LocatedRule, how: PathMatch) -> Option<String> {
        let rule = &l.rule;
        let root = self.ctx.root_for(l.origin.scope);
        if let Some(parsed) = &self.bash {
            let spec = rule.specifier.as_deref();
            if rule.tool == "Bash" {
                let Some(spec) = spec else { return Some(String::new()) };
                if let Some(c) = parsed.commands.iter().find(|c| bash_denies(spec, c)) {
                    return Some(format!(
                        ": `{}`",
                        if c.text.is_empty() { "(interpreter code)".into() } else { shorten(&c.text) }
                    ));
                }
                if !parsed.decidable() {
                    let raw = self.input.get("command").and_then(Value::as_str).unwrap_or("");
                    // A line we cannot read: a rule whose text appears anywhere still applies.
                    return wildcard(&format!("*{spec}*"), raw)
                        .then(|| ": (in a command that cannot be decided)".to_string());
                }
                return None;
            }
            let reads = match (rule.tool.as_str(), spec) {
                ("Read", Some(_)) => true,
                ("Edit" | "Write", Some(_)) => false,
                _ => return None,
            };
            return self.path_hit(spec?, &root, reads, how);
        }
        let Some(spec) = &rule.specifier else {
            return rule.names_tool(self.tool).then(String::new);
        };
        if self.tool == "WebFetch" && rule.tool == "WebFetch" {
            let url = self.input.get("url").and_then(Value::as_str).unwrap_or("");
            let mode = if how == PathMatch::Any { web::Mode::Any } else { web::Mode::All };
            return web::matches(spec, url, mode).then(String::new);
        }
        if rule.binds_path_tool(self.tool) && matches!(rule.tool.as_str(), "Read" | "Edit" | "Write") {
            return self.path_hit(spec, &root, rule.tool == "Read", how);
        }
        if rule.binds_path_tool(self.tool)
            && matches!(rule.tool.as_str(), "MultiEdit" | "NotebookEdit" | "Glob" | "Grep" | "LS")
        {
            return self.path_hit(spec, &root, READ_TOOLS.contains(&self.tool), how);
        }
        if rule.names_tool(self.tool) {
            // Other tools: the specifier against the input's first string field (MCP arguments).
            let s = self.input.as_object()?.values().find_map(Value::as_str)?;
            return wildcard(spec, s).then(String::new);
        }
        None
    }

    /// A path rule against the call's targets of the right kind.
    fn path_hit(&self, spec: &str, root: &Path, reads: bool, how: PathMatch) -> Option<String> {
        let pats = anchors(spec, self.ctx, root, how);
        let relevant: Vec<&Target> = self.targets.iter().filter(|t| t.access.reads() == reads).collect();
        match how {
            PathMatch::Any => {
                for t in relevant {
                    if let Some(why) = self.checked_hit(t, &pats) {
                        let verb = if reads { "reads" } else { "writes" };
                        return Some(if t.command.is_empty() {
                            format!(": {why}")
                        } else {
                            format!(": `{}` {verb} {why}", t.command)
                        });
                    }
                }
                None
            }
            PathMatch::All => {
                if relevant.is_empty() || self.bash.is_some() {
                    return None;
                }
                relevant.iter().all(|t| self.target_inside(t, &pats)).then(|| format!(": {}", relevant[0].display))
            }
        }
    }

    fn pattern(&self, p: &str) -> Pattern {
        self.rule_patterns.borrow_mut().entry(p.to_string()).or_insert_with(|| Pattern::rule(p)).clone()
    }

    /// [`Self::target_hit`], once per target and patterns, within the call's budget.
    fn checked_hit(&self, t: &Target, pats: &[String]) -> Option<String> {
        let key = (
            format!("{:?}|{:?}|{:?}|{:?}|{:?}|{}", t.abs, t.proc_cwd, t.glob, t.access, t.shape, t.guess),
            pats.to_vec(),
        );
        if let Some(r) = self.memo.borrow().get(&key) {
            return r.clone();
        }
        {
            let mut n = self.checks.borrow_mut();
            *n += 1;
            if *n > MAX_CHECKS {
                return (!t.guess)
                    .then(|| format!("{} (more than {MAX_CHECKS} path checks in one call; fail closed)", t.display));
            }
        }
        let r = self.target_hit(t, pats);
        self.memo.borrow_mut().insert(key, r.clone());
        r
    }

    /// Deny/ask: whether any reading of `t` matches one of `pats`; the hit, for the reason.
    fn target_hit(&self, t: &Target, pats: &[String]) -> Option<String> {
        if let Some(u) = &t.unknown {
            return (!t.guess).then(|| format!("{u} (fail closed)"));
        }
        if t.abs.as_os_str().len() > super::MAX_PATH_BYTES {
            return Some(format!("a path longer than {} bytes", super::MAX_PATH_BYTES));
        }
        if let Some(g) = &t.glob {
            return self.glob_hit(t, g, pats);
        }
        let res = self.fs.borrow_mut().resolve(&t.abs, &t.proc_cwd);
        let resolved = match &res {
            Resolution::Fd => return None,
            Resolution::Unknown(why) if !t.guess => return Some(format!("{} ({why}; fail closed)", t.display)),
            Resolution::Unknown(_) => return None,
            Resolution::Path(r) => r.clone(),
        };
        if t.guess && !resolved.exists {
            // A guess counts where it names an existing file, or (written) a new file in an
            // existing directory.
            let parent_exists = resolved.path.parent().is_some_and(Path::is_dir);
            if !(t.access == Access::Write && parent_exists) {
                return None;
            }
        }
        let forms = [lexical(&t.abs), resolved.path.clone()];
        if let Some(f) = self.exact_hit(&forms, resolved.id, pats) {
            return Some(f);
        }
        match &t.shape {
            Shape::Exact => None,
            Shape::Tree { follow, filter } => {
                if matches!(t.access, Access::WriteTree { follow: true }) {
                    // May create anything below: any rule that could match below binds.
                    let d = resolved.path.to_string_lossy();
                    return pats
                        .iter()
                        .find(|p| could_match_below(p, &d))
                        .map(|_| format!("files below {}", resolved.path.display()));
                }
                if !resolved.exists {
                    return None;
                }
                let mode = ScanMode::Tree { follow: *follow, filter: filter.clone() };
                self.tree_hit(&resolved.path, &mode, t.access.reads(), pats)
            }
            Shape::List { pattern } => {
                if !resolved.exists {
                    return None;
                }
                self.list_hit(&resolved.path, pattern.as_deref(), t.access.reads(), pats)
            }
        }
    }

    /// A path and its resolved form against the patterns (ancestors included: a rule naming a
    /// directory covers what is below), and its inode against those of literal rules.
    fn exact_hit(&self, forms: &[PathBuf], id: Option<FileId>, pats: &[String]) -> Option<String> {
        for f in forms {
            for p in pats {
                if paths::matches(p, f) || paths::matches(p, &f.join(ANY_CHILD)) {
                    return Some(f.display().to_string());
                }
            }
        }
        if let Some(id) = id {
            let (ids, complete) = self.protected_ids(pats, id.nlink > 1 && !id.is_dir);
            if ids.contains(&(id.dev, id.ino)) {
                return Some(format!("{} (the same file as a protected path)", forms[forms.len() - 1].display()));
            }
            if id.nlink > 1 && !id.is_dir && !complete {
                return Some(format!(
                    "{} (a hard link, and the protected files could not all be listed; fail closed)",
                    forms[forms.len() - 1].display()
                ));
            }
        }
        None
    }

    /// Device and inode of the existing files the patterns name: literal paths, and (`deep`)
    /// the files below `DIR/**`- or `DIR/*`-style patterns (a bounded walk of DIR). `false`:
    /// the list may be incomplete.
    fn protected_ids(&self, pats: &[String], deep: bool) -> (HashSet<(u64, u64)>, bool) {
        let key = (pats.to_vec(), deep);
        if let Some(v) = self.ids.borrow().get(&key) {
            return v.clone();
        }
        let mut ids = HashSet::new();
        let mut complete = true;
        for p in pats {
            if !p.contains(['*', '?']) {
                if let Some(id) = FileId::of(Path::new(p)) {
                    ids.insert((id.dev, id.ino));
                }
                continue;
            }
            if !deep {
                continue;
            }
            // Only `DIR/**` and `DIR/*` with a real DIR two levels below `/` or deeper; names at
            // any depth (`**/x`) are protected by name.
            let lit = literal_prefix(p);
            let rest = &p[lit.len()..];
            let Some(dir) = lit.strip_suffix('/') else { continue };
            if !matches!(rest, "**" | "*" | "**/*") || dir.matches('/').count() < 2 {
                continue;
            }
            let dirp = Path::new(dir);
            if !dirp.is_dir() {
                continue;
            }
            let mut found = Vec::new();
            let res = self.fs.borrow_mut().visit(dirp, &|_: &Path| rest != "*", &mut |e: &Path, kind: Kind| {
                if kind == Kind::File {
                    found.push(e.to_path_buf());
                }
                false
            });
            if res.is_err() {
                complete = false;
            }
            for e in found {
                if let Some(id) = FileId::of(&e) {
                    ids.insert((id.dev, id.ino));
                }
            }
        }
        let v = (ids, complete);
        self.ids.borrow_mut().insert(key, v.clone());
        v
    }

    /// A glob argument: every name it could expand to (statically, whatever exists), and the
    /// names it expands to now (through their symlinks).
    fn glob_hit(&self, t: &Target, glob: &str, pats: &[String]) -> Option<String> {
        {
            let mut n = self.globs.borrow_mut();
            *n += 1;
            if *n > MAX_GLOBS {
                return Some(format!("{} (more than {MAX_GLOBS} glob checks in one call; fail closed)", t.display));
            }
        }
        // Resolve the literal directory part like the kernel; the glob segments stay.
        let (dir, rest) = split_glob(glob);
        if rest.split('/').any(|s| s == "..") {
            return Some(format!("{} (`..` after a glob; fail closed)", t.display));
        }
        let dir_res = self.fs.borrow_mut().resolve(Path::new(&unescape_glob(&dir)), &t.proc_cwd);
        let resolved_dir = match dir_res {
            Resolution::Path(r) => r.path,
            Resolution::Fd => return None,
            Resolution::Unknown(why) => return Some(format!("{} ({why}; fail closed)", t.display)),
        };
        let tree = matches!(t.shape, Shape::Tree { .. });
        let lexical_dir = lexical(Path::new(&unescape_glob(&dir)));
        for d in [&lexical_dir, &resolved_dir] {
            let g = format!("{}/{rest}", escape_glob(d.to_string_lossy().trim_end_matches('/')));
            let shell = Pattern::shell(&g);
            for p in pats {
                let rule = self.pattern(p);
                if intersect::intersects(&shell, &rule)
                    || intersect::intersects(&shell, &rule.clone().below())
                    || (tree && intersect::intersects(&shell.clone().below(), &rule))
                {
                    return Some(format!("{} (the glob `{g}` can name a protected path)", t.display));
                }
            }
        }
        if t.guess {
            return None;
        }
        let g = format!("{}/{rest}", escape_glob(resolved_dir.to_string_lossy().trim_end_matches('/')));
        let expanded = self.fs.borrow_mut().expand(&g);
        match expanded {
            Err(e) => Some(format!("{} ({}; fail closed)", t.display, e.0)),
            Ok(list) => {
                for p in list.iter() {
                    let mut sub = t.clone();
                    sub.abs = p.clone();
                    sub.glob = None;
                    sub.display = p.display().to_string();
                    if let Some(h) = self.checked_hit(&sub, pats) {
                        return Some(h);
                    }
                }
                None
            }
        }
    }

    fn set_scan_patterns(&self, lists: &PermissionLists, ctx: &RuleContext) {
        let (mut reads, mut writes) = (Vec::new(), Vec::new());
        for l in lists.deny.iter().chain(&lists.ask) {
            let Some(spec) = &l.rule.specifier else { continue };
            let out = match l.rule.tool.as_str() {
                "Read" => &mut reads,
                "Edit" | "Write" => &mut writes,
                _ => continue,
            };
            for p in anchors(spec, ctx, &ctx.root_for(l.origin.scope), PathMatch::Any) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        *self.scan_patterns.borrow_mut() = Some((reads, writes));
    }

    /// All deny and ask patterns of the kind `reads` (set by [`evaluate`]), so that one walk of
    /// a tree answers every rule; `pats` when not set.
    fn scan_set(&self, reads: bool, pats: &[String]) -> Vec<String> {
        let mut v = match &*self.scan_patterns.borrow() {
            Some((r, w)) => {
                if reads {
                    r.clone()
                } else {
                    w.clone()
                }
            }
            None => Vec::new(),
        };
        for p in pats {
            if !v.contains(p) {
                v.push(p.clone());
            }
        }
        v
    }

    /// Reading everything below `root` (a resolved directory) against `pats`.
    fn tree_hit(&self, root: &Path, mode: &ScanMode, reads: bool, pats: &[String]) -> Option<String> {
        let set = self.scan_set(reads, pats);
        let key = format!("{root:?}|{mode:?}|{set:?}");
        let cached = self.scans.borrow().get(&key).cloned();
        let scan = match cached {
            Some(s) => s,
            None => {
                let mut visited = HashSet::new();
                let s = self.scan(root, mode, &set, &mut visited, 0);
                self.scans.borrow_mut().insert(key, s.clone());
                s
            }
        };
        if let Some(h) = pats.iter().find_map(|p| scan.hits.get(p)) {
            return Some(h.clone());
        }
        let stopped = scan.stopped?;
        let rd = root.to_string_lossy();
        let follows = matches!(mode, ScanMode::Tree { follow: true, .. });
        (follows || pats.iter().any(|p| could_match_below(p, &rd) || paths::matches(p, root)))
            .then(|| format!("files below {} ({stopped}; fail closed)", root.display()))
    }

    /// One walk below `root` recording, for each pattern, the first path it hits.
    fn scan(&self, root: &Path, mode: &ScanMode, set: &[String], visited: &mut HashSet<PathBuf>, links: usize) -> Scan {
        let mut out = Scan::default();
        if !visited.insert(root.to_path_buf()) || !root.is_dir() {
            return out;
        }
        let (follow, filter, select) = match mode {
            ScanMode::Tree { follow, filter } => {
                (*follow, filter.as_deref().filter(|f| !f.contains(['{', '[', '!'])), None)
            }
            ScanMode::List { select } => (true, None, Some(select.clone())),
        };
        let depth1 = matches!(mode, ScanMode::List { select } if select.is_none());
        let descend = |d: &Path| {
            !depth1
                && (follow || set.iter().any(|p| could_match_below(p, &d.to_string_lossy()) || paths::matches(p, d)))
        };
        let mut nested: Vec<(PathBuf, PathBuf)> = Vec::new();
        let res = self.fs.borrow_mut().visit(root, &descend, &mut |e: &Path, kind: Kind| {
            if let Some(f) = filter
                && (kind == Kind::Dir || !name_filter(f, root, e))
            {
                return false; // with a filter only the files it names are read
            }
            if let Some(Some(sel)) = &select
                && !paths::glob(sel.as_bytes(), e.to_string_lossy().as_bytes())
            {
                return false; // a listing returns only the names its pattern matches
            }
            for p in set {
                if !out.hits.contains_key(p) && paths::matches(p, e) {
                    out.hits.insert(p.clone(), e.display().to_string());
                }
            }
            if kind == Kind::Symlink && follow {
                nested.push((e.to_path_buf(), PathBuf::new()));
            } else if kind == Kind::File && FileId::of(e).is_some_and(|id| id.nlink > 1) {
                // A second name of some file: compared with the protected files after the walk.
                nested.push((PathBuf::new(), e.to_path_buf()));
            }
            out.hits.len() == set.len()
        });
        if let Err(e) = res {
            out.stopped = Some(e.0);
        }
        // Symbolic links (followed) and hard links, after the walk (no borrow of the walker).
        for (link, file) in nested {
            if out.hits.len() == set.len() {
                break;
            }
            if !file.as_os_str().is_empty() {
                for p in set {
                    if !out.hits.contains_key(p)
                        && let Some(h) = self.inode_only(&file, std::slice::from_ref(p))
                    {
                        out.hits.insert(p.clone(), h);
                    }
                }
                continue;
            }
            if links > 8 {
                out.stopped.get_or_insert_with(|| "symbolic links nest too deep".into());
                break;
            }
            let res = self.fs.borrow_mut().resolve(&link, root);
            match res {
                Resolution::Path(r) if r.exists => {
                    for p in set {
                        if !out.hits.contains_key(p)
                            && let Some(h) =
                                self.exact_hit(std::slice::from_ref(&r.path), r.id, std::slice::from_ref(p))
                        {
                            out.hits.insert(p.clone(), format!("{h} (through {})", link.display()));
                        }
                    }
                    if r.id.is_some_and(|i| i.is_dir) && !depth1 {
                        let inner = self.scan(&r.path, mode, set, visited, links + 1);
                        for (p, h) in inner.hits {
                            out.hits.entry(p).or_insert_with(|| format!("{h} (through {})", link.display()));
                        }
                        if out.stopped.is_none() {
                            out.stopped = inner.stopped;
                        }
                    }
                }
                Resolution::Unknown(why) => {
                    out.stopped.get_or_insert_with(|| format!("{}: {why}", link.display()));
                }
                _ => {}
            }
        }
        out
    }

    /// A file that is a hard link (more than one name) of a protected file.
    fn inode_only(&self, e: &Path, pats: &[String]) -> Option<String> {
        let id = FileId::of(e)?;
        if id.nlink < 2 || id.is_dir {
            return None;
        }
        let (ids, complete) = self.protected_ids(pats, true);
        (ids.contains(&(id.dev, id.ino)) || !complete)
            .then(|| format!("{} (a hard link of a protected file)", e.display()))
    }

    /// The names a listing returns (Glob and LS tools).
    fn list_hit(&self, root: &Path, pattern: Option<&str>, reads: bool, pats: &[String]) -> Option<String> {
        let select = pattern.map(|pat| {
            let full = if pat.starts_with('/') { pat.to_string() } else { format!("{}/{pat}", root.display()) };
            // Globs we do not model (`{a,b}`, `[…]`): judged as listing everything below.
            if full.contains(['{', '[']) { format!("{}/**", root.display()) } else { full }
        });
        self.tree_hit(root, &ScanMode::List { select }, reads, pats)
    }

    /// Allow: every reading of `t` is inside the patterns.
    fn target_inside(&self, t: &Target, pats: &[String]) -> bool {
        if t.unknown.is_some() || t.glob.is_some() || t.abs.as_os_str().len() > super::MAX_PATH_BYTES {
            return false;
        }
        let res = self.fs.borrow_mut().resolve(&t.abs, &t.proc_cwd);
        let Resolution::Path(r) = res else { return false };
        let forms = [lexical(&t.abs), r.path.clone()];
        if !forms.iter().all(|f| pats.iter().any(|p| paths::matches(p, f))) {
            return false;
        }
        match &t.shape {
            Shape::Exact => true,
            // A walk below must not leave the allowed tree through a symlink.
            Shape::Tree { .. } | Shape::List { .. } => {
                if !r.exists || !r.path.is_dir() {
                    return true;
                }
                let mut links = Vec::new();
                let res = self.fs.borrow_mut().visit(&r.path, &|_: &Path| true, &mut |e: &Path, k: Kind| {
                    if k == Kind::Symlink {
                        links.push(e.to_path_buf());
                    }
                    links.len() > 10_000
                });
                if !matches!(res, Ok(false)) {
                    return false;
                }
                links.iter().all(|e| {
                    let res = self.fs.borrow_mut().resolve(e, &r.path);
                    matches!(res, Resolution::Path(x) if pats.iter().any(|p| paths::matches(p, &x.path)))
                })
            }
        }
    }
}

/// How a tree is read.
#[derive(Debug, Clone, PartialEq)]
enum ScanMode {
    /// Every file below (`filter`: only names matching this glob; `follow`: through symlinks).
    Tree { follow: bool, filter: Option<String> },
    /// The names a listing returns: matching `select` (absolute glob), or depth 1 when `None`.
    List { select: Option<String> },
}

/// One walk's answer: the first path each pattern hit, and why the walk stopped early.
#[derive(Debug, Clone, Default)]
struct Scan {
    hits: HashMap<String, String>,
    stopped: Option<String>,
}

/// Text for a reason: at most 200 characters.
fn shorten(s: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]).into(),
        None => s.into(),
    }
}

/// Could a path strictly below `dir` match `pattern`? Over-approximates: compares the
/// pattern's literal prefix (before its first wildcard) with `dir/`.
pub fn could_match_below(pattern: &str, dir: &str) -> bool {
    let lit = literal_prefix(pattern);
    let d = format!("{}/", dir.trim_end_matches('/'));
    lit.starts_with(&d) || d.starts_with(lit)
}

fn literal_prefix(p: &str) -> &str {
    match p.find(['*', '?']) {
        Some(i) => &p[..i],
        None => p,
    }
}

/// Whether a file found below `root` passes a Grep `glob` filter (ripgrep semantics: a glob
/// without `/` matches the name, with `/` the path relative to the root).
fn name_filter(filter: &str, root: &Path, e: &Path) -> bool {
    if filter.contains('/') {
        let rel = e.strip_prefix(root).unwrap_or(e).to_string_lossy().into_owned();
        paths::glob(filter.as_bytes(), rel.as_bytes()) || paths::glob(format!("**/{filter}").as_bytes(), rel.as_bytes())
    } else {
        let name = e.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        paths::glob(filter.as_bytes(), name.as_bytes())
    }
}

fn join_str(base: &Path, p: &str) -> PathBuf {
    if p.starts_with('/') {
        PathBuf::from(p)
    } else if p.is_empty() {
        base.to_path_buf()
    } else {
        base.join(p)
    }
}

fn expand_home(p: &str, ctx: &RuleContext) -> String {
    match (p.strip_prefix("~/"), &ctx.home) {
        (Some(rest), Some(h)) => h.join(rest).to_string_lossy().into_owned(),
        _ if p == "~" => ctx.home.as_ref().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|| p.to_string()),
        _ => p.to_string(),
    }
}

fn escape_glob(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

fn unescape_glob(s: &str) -> String {
    let mut o = String::new();
    let mut esc = false;
    for c in s.chars() {
        if c == '\\' && !esc {
            esc = true;
            continue;
        }
        esc = false;
        o.push(c);
    }
    o
}

/// Splits an absolute shell glob into its literal directory part and the rest (from the first
/// segment with an unescaped glob character).
fn split_glob(g: &str) -> (String, String) {
    let segs: Vec<&str> = g.split('/').collect();
    let first = segs.iter().position(|s| {
        let mut esc = false;
        s.chars().any(|c| {
            let special = !esc && matches!(c, '*' | '?' | '[');
            esc = !esc && c == '\\';
            special
        })
    });
    match first {
        Some(i) => {
            let dir = segs[..i].join("/");
            (if dir.is_empty() { "/".to_string() } else { dir }, segs[i..].join("/"))
        }
        None => (g.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_split() {
        assert_eq!(split_glob("/p/a/*.rs"), ("/p/a".into(), "*.rs".into()));
        assert_eq!(split_glob("/p/s*/k"), ("/p".into(), "s*/k".into()));
        assert_eq!(split_glob("/*"), ("/".into(), "*".into()));
        assert_eq!(split_glob("/p/\\*/x*"), ("/p/\\*".into(), "x*".into()));
    }

    #[test]
    fn below() {
        assert!(could_match_below("/p/secrets/**", "/p"));
        assert!(could_match_below("/p/secrets/**", "/p/secrets/x"));
        assert!(!could_match_below("/p/secrets/**", "/p/target"));
        assert!(could_match_below("/**/.env", "/anything"));
        assert!(!could_match_below("/p/.env", "/p/sub"));
        assert!(could_match_below("/p/.env", "/p"));
    }
}
