//! `hookhost new --lang rust|python|js NAME [--event E] [--matcher M]`: a new WebAssembly hook
//! project that builds with its language's stock tools (cargo, componentize-py, componentize-js)
//! and tests with `hookhost test`.
//!
//! Owns: the project templates, and the SDK and WIT world vendored into each project (the copies
//! compiled into this binary from `sdk/` and `wit/`, so a project builds against the world this
//! hookhost loads, with no registry of ours).
//!
//! Promises: the directory NAME is created and nothing outside it is written; an existing NAME
//! is an error and is left alone; every project has `build.sh` (executable; installs its
//! toolchain from the package registries when missing; prints the component's path as its last
//! line), `settings.json` (the installed path, event and matcher), `tests.json` (cases that pass
//! with the template policy), a README and the policy file. Does not build anything.

use std::path::PathBuf;

use crate::event::{EventName, KNOWN_EVENTS, matcher_field};
use crate::matcher::Matcher;

/// The languages a hook can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// What to scaffold.
#[derive(Debug, Clone)]
pub struct NewHook {
    pub lang: Lang,
    /// The project's name: a directory created in `parent`, the crate or package name.
    pub name: String,
    pub event: String,
    pub matcher: Option<String>,
    pub parent: PathBuf,
}

const WIT: &str = include_str!("../wit/world.wit");
const RUST_SDK: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../sdk/rust/hookhost-guest/Cargo.toml")),
    ("src/lib.rs", include_str!("../sdk/rust/hookhost-guest/src/lib.rs")),
    ("src/shell.rs", include_str!("../sdk/rust/hookhost-guest/src/shell.rs")),
    ("src/paths.rs", include_str!("../sdk/rust/hookhost-guest/src/paths.rs")),
    ("wit/world.wit", WIT),
];
const PYTHON_SDK: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../sdk/python/hookhost_guest/__init__.py")),
    ("shell.py", include_str!("../sdk/python/hookhost_guest/shell.py")),
    ("paths.py", include_str!("../sdk/python/hookhost_guest/paths.py")),
    ("log.py", include_str!("../sdk/python/hookhost_guest/log.py")),
];
const JS_SDK: &[(&str, &str)] = &[
    ("index.js", include_str!("../sdk/js/index.js")),
    ("index.d.ts", include_str!("../sdk/js/index.d.ts")),
    ("shell.js", include_str!("../sdk/js/shell.js")),
    ("paths.js", include_str!("../sdk/js/paths.js")),
    ("log.js", include_str!("../sdk/js/log.js")),
];

/// Where a scaffolded hook is installed; `tests.json` rewrites it to the build output.
const INSTALL_DIR: &str = "/usr/local/lib/hookhost/hooks";

impl NewHook {
    /// Checks the name, event and matcher; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        let ok = n.len() <= 64
            && n.starts_with(|c: char| c.is_ascii_lowercase())
            && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !n.ends_with('-');
        if !ok {
            return Err(format!(
                "invalid hook name {n:?}: use lowercase letters, digits and dashes, starting with a letter (e.g. no-force-push)"
            ));
        }
        if !KNOWN_EVENTS.contains(&self.event.as_str()) {
            return Err(format!("unknown event {:?}; one of: {}", self.event, KNOWN_EVENTS.join(", ")));
        }
        if let Some(m) = &self.matcher {
            if matcher_field(&self.event).is_none() {
                return Err(format!("{} hooks take no matcher", self.event));
            }
            Matcher::compile(Some(m), &self.event).map_err(|e| format!("invalid matcher {m:?}: {e}"))?;
        }
        Ok(())
    }

    fn snake(&self) -> String {
        self.name.replace('-', "_")
    }

    /// Whether the template's example rule (deny force pushes in Bash) can see a Bash call.
    fn sees_bash(&self) -> bool {
        self.event == EventName::PreToolUse.as_str()
            && Matcher::compile(self.matcher.as_deref(), &self.event).is_ok_and(|(m, _)| m.matches(Some("Bash")))
    }

    /// Writes the project into `parent/name` and returns that directory.
    pub fn write(&self) -> Result<PathBuf, String> {
        self.validate()?;
        let dir = self.parent.join(&self.name);
        if dir.exists() {
            return Err(format!("{} already exists; nothing was written", dir.display()));
        }
        let files = self.files();
        let result = (|| -> std::io::Result<()> {
            for (rel, text, exec) in &files {
                let p = dir.join(rel);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&p, text)?;
                if *exec {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
                }
            }
            Ok(())
        })();
        result.map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// Every file of the project: relative path, content, executable.
    pub fn files(&self) -> Vec<(String, String, bool)> {
        let mut out: Vec<(String, String, bool)> = Vec::new();
        let mut add = |p: &str, t: String, exec: bool| out.push((p.to_string(), t, exec));
        let (build_dir, policy_file) = match self.lang {
            Lang::Rust => ("target/wasm32-wasip2/release", "src/lib.rs"),
            Lang::Python => ("build", "app.py"),
            Lang::Js => ("build", "app.js"),
        };
        match self.lang {
            Lang::Rust => {
                add("Cargo.toml", self.fill(RUST_CARGO), false);
                add("src/lib.rs", self.fill(RUST_POLICY), false);
                add("build.sh", self.fill(RUST_BUILD), true);
                for (p, t) in RUST_SDK {
                    add(&format!("hookhost-guest/{p}"), t.to_string(), false);
                }
                add(".gitignore", "/target\n".into(), false);
            }
            Lang::Python => {
                add("app.py", self.fill(PYTHON_POLICY), false);
                add("build.sh", self.fill(PYTHON_BUILD), true);
                add("wit/world.wit", WIT.into(), false);
                for (p, t) in PYTHON_SDK {
                    add(&format!("hookhost_guest/{p}"), t.to_string(), false);
                }
                add(".gitignore", "/build\n__pycache__/\n".into(), false);
            }
            Lang::Js => {
                add("app.js", self.fill(JS_POLICY), false);
                add("build.sh", self.fill(JS_BUILD), true);
                add("package.json", self.fill(JS_PACKAGE), false);
                add("wit/world.wit", WIT.into(), false);
                for (p, t) in JS_SDK {
                    add(&format!("hookhost-guest/{p}"), t.to_string(), false);
                }
                add(".gitignore", "/build\nnode_modules/\n".into(), false);
            }
        }
        add("settings.json", self.settings(), false);
        add("tests.json", self.tests(build_dir), false);
        add("README.md", self.fill(README).replace("{policy_file}", policy_file), false);
        out
    }

    /// The template with `{name}`, `{snake}`, `{event}` and `{body}` (the language's policy for
    /// the event) filled in.
    fn fill(&self, template: &str) -> String {
        let body = match (self.lang, self.event == EventName::PreToolUse.as_str()) {
            (Lang::Rust, true) => RUST_PRE_TOOL_USE,
            (Lang::Rust, false) => RUST_OTHER,
            (Lang::Python, true) => PYTHON_PRE_TOOL_USE,
            (Lang::Python, false) => PYTHON_OTHER,
            (Lang::Js, true) => JS_PRE_TOOL_USE,
            (Lang::Js, false) => JS_OTHER,
        };
        let lang = match self.lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        };
        template
            .replace("{body}", body)
            .replace("{name}", &self.name)
            .replace("{snake}", &self.snake())
            .replace("{event}", &self.event)
            .replace("{lang}", lang)
            .replace("{matcher}", self.matcher.as_deref().unwrap_or("(every event)"))
    }

    fn settings(&self) -> String {
        let mut group = serde_json::Map::new();
        if let Some(m) = &self.matcher {
            group.insert("matcher".into(), m.clone().into());
        }
        group.insert(
            "hooks".into(),
            serde_json::json!([{
                "type": "wasm",
                "component": format!("{INSTALL_DIR}/{}.wasm", self.snake()),
                "timeout": 5,
                "memoryMb": if self.lang == Lang::Rust { 32 } else { 128 },
                "onFailure": "block"
            }]),
        );
        pretty(&serde_json::json!({"hooks": {self.event.clone(): [group]}}))
    }

    /// Cases that pass with the template policy.
    fn tests(&self, build_dir: &str) -> String {
        let event = |extra: serde_json::Value| {
            let mut e = serde_json::json!({
                "hook_event_name": self.event, "session_id": "test", "cwd": "/home/dev/project"
            });
            if let (Some(map), serde_json::Value::Object(x)) = (e.as_object_mut(), extra) {
                map.extend(x);
            }
            e
        };
        let bash = |command: &str| {
            event(serde_json::json!({"tool_name": "Bash", "tool_input": {"command": command, "description": "test"}}))
        };
        let cases = if self.sees_bash() {
            serde_json::json!([
                {"name": "force pushes are denied", "event": bash("git push --force origin main"),
                 "expect": {"decision": "deny", "reasonContains": "force push", "exitCode": 0}},
                {"name": "other commands say nothing", "event": bash("git status"),
                 "expect": {"decision": "none", "hooksRun": 1}}
            ])
        } else {
            let subject = self
                .matcher
                .as_deref()
                .and_then(|m| {
                    m.split('|').find(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                })
                .unwrap_or("Read");
            let fields = match matcher_field(&self.event) {
                Some("tool_name") => serde_json::json!({"tool_name": subject, "tool_input": {}}),
                Some(field) => serde_json::json!({field: subject}),
                None => serde_json::json!({}),
            };
            serde_json::json!([
                {"name": format!("the hook runs on {} and says nothing yet", self.event), "event": event(fields),
                 "expect": {"decision": "none", "hooksRun": 1}}
            ])
        };
        pretty(&serde_json::json!({
            "settings": "settings.json",
            "rewritePaths": {INSTALL_DIR: build_dir},
            "cases": cases
        }))
    }
}

fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// `hookhost new`: writes the project and prints what to do next.
pub fn run(hook: &NewHook, out: &mut dyn std::io::Write) -> Result<(), String> {
    let dir = hook.write()?;
    let shown = dir.strip_prefix(std::env::current_dir().unwrap_or_default()).unwrap_or(&dir).to_path_buf();
    let _ = writeln!(
        out,
        "created {} ({} hook for {}{})\n\nnext:\n  {}/build.sh          # builds the component, prints its path\n  hookhost test {}      # runs tests.json against it\n\nthen install it as settings.json says (see {}/README.md)",
        shown.display(),
        match hook.lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        },
        hook.event,
        hook.matcher.as_deref().map(|m| format!(", matcher {m}")).unwrap_or_default(),
        shown.display(),
        shown.display(),
        shown.display()
    );
    Ok(())
}

const RUST_CARGO: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
# hookhost's Rust guest SDK for world hookhost:hook@0.2.0, vendored by `hookhost new`
# (wit-bindgen 0.61.1 and serde_json underneath).
hookhost-guest = { path = "hookhost-guest" }

# This project is a workspace of its own.
[workspace]

# Small, fast components (about 130 KB): LTO and strip keep them small; opt-level 3 makes a
# call about 10% faster than opt-level "s", for 30 KB.
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#;

const RUST_POLICY: &str = r#"//! `{name}`: a hookhost {event} hook (WebAssembly, world hookhost:hook@0.2.0).

use hookhost_guest::{Answer, Event, hook};
{body}
hook!(policy);
"#;

const RUST_PRE_TOOL_USE: &str = r#"use hookhost_guest::deny;

/// The policy: replace the example rule with yours.
fn policy(event: &Event) -> Answer {
    match event.bash_command() {
        Some(command) if command.contains("push --force") || command.contains("push -f") => {
            deny("force pushes need a human: ask the user to run it")
        }
        _ => Answer::none(),
    }
}
"#;

const RUST_OTHER: &str = r#"
/// The policy: decide here (`hookhost_guest::block(reason)`, `context(text)`, …); `event.kind()`
/// is the typed event and `event.payload()` the whole JSON (`event.get(key)` parses one field).
fn policy(event: &Event) -> Answer {
    let _ = event.kind();
    Answer::none()
}
"#;

const RUST_BUILD: &str = r#"#!/usr/bin/env bash
# Builds the component with cargo for wasm32-wasip2 (the target is added with rustup when
# missing) and prints its path as the last line; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2 >&2
fi
cargo build --release --target wasm32-wasip2 >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/wasm32-wasip2/release/{snake}.wasm"
"#;

const PYTHON_POLICY: &str = r#""""{name}: a hookhost {event} hook (WebAssembly via componentize-py, world hookhost:hook@0.2.0)."""

from hookhost_guest import Answer, Event, deny, hook, none
{body}

WitWorld = hook(policy)
"#;

const PYTHON_PRE_TOOL_USE: &str = r#"

def policy(event: Event) -> Answer:
    """The policy: replace the example rule with yours."""
    command = event.bash_command or ""
    if "push --force" in command or "push -f" in command:
        return deny("force pushes need a human: ask the user to run it")
    return none()"#;

const PYTHON_OTHER: &str = r#"

def policy(event: Event) -> Answer:
    """The policy: decide here (block(reason), context(text), …); ``event`` is a typed
    dataclass and ``event.payload`` the whole JSON."""
    return none()"#;

const PYTHON_BUILD: &str = r#"#!/usr/bin/env bash
# Builds the component with componentize-py 0.25.1 and prints its path as the last line;
# everything else goes to stderr. componentize-py is installed on first use from PyPI into a venv
# under ${HOOKHOST_TOOLCHAINS:-~/.cache/hookhost/toolchains}.
set -euo pipefail
cd "$(dirname "$0")"
TOOLS=${HOOKHOST_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/hookhost/toolchains}/componentize-py-0.25.1
if ! "$TOOLS/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py 0.25.1"; then
  echo "installing componentize-py 0.25.1 into $TOOLS" >&2
  python3 -m venv "$TOOLS" >&2
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check componentize-py==0.25.1 >&2
fi
mkdir -p build
"$TOOLS/bin/componentize-py" -d wit -w hook componentize app -p . -o build/{snake}.wasm >&2
echo "$PWD/build/{snake}.wasm"
"#;

const JS_POLICY: &str = r#"// {name}: a hookhost {event} hook (WebAssembly via componentize-js, world hookhost:hook@0.2.0).
import { deny, hook, none } from "./hookhost-guest/index.js";
{body}

export const handle = hook(policy);
"#;

const JS_PRE_TOOL_USE: &str = r#"
/**
 * The policy: replace the example rule with yours.
 * @param {import("./hookhost-guest/index.d.ts").Event} event
 */
function policy(event) {
  const command = event.bashCommand ?? "";
  if (command.includes("push --force") || command.includes("push -f")) {
    return deny("force pushes need a human: ask the user to run it");
  }
  return none();
}"#;

const JS_OTHER: &str = r#"
/**
 * The policy: decide here (block(reason), context(text), …); `event.payload` is the whole JSON.
 * @param {import("./hookhost-guest/index.d.ts").Event} event
 */
function policy(event) {
  return none();
}"#;

const JS_BUILD: &str = r#"#!/usr/bin/env bash
# Builds the component with componentize-js 0.23.0 and prints its path as the last line;
# everything else goes to stderr. componentize-js (with jco 1.35.0) comes from ./node_modules
# after `npm install`, else it is installed on first use from npm into
# ${HOOKHOST_TOOLCHAINS:-~/.cache/hookhost/toolchains}.
set -euo pipefail
cd "$(dirname "$0")"
CJS=$PWD/node_modules/.bin/componentize-js
if ! [ -x "$CJS" ]; then
  TOOLS=${HOOKHOST_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/hookhost/toolchains}/componentize-js-0.23.0
  CJS=$TOOLS/node_modules/.bin/componentize-js
  if [ "$("$CJS" --version 2>/dev/null)" != "0.23.0" ]; then
    echo "installing componentize-js 0.23.0 and jco 1.35.0 into $TOOLS" >&2
    mkdir -p "$TOOLS"
    npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
      @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/jco@1.35.0 >&2
  fi
fi
mkdir -p build
# -d http -d fetch-event: no wasi:http imports (hookhost grants none and refuses them at load).
"$CJS" app.js --wit wit -n hook -d http -d fetch-event -o build/{snake}.wasm >&2
echo "$PWD/build/{snake}.wasm"
"#;

const JS_PACKAGE: &str = r#"{
  "name": "{name}",
  "private": true,
  "type": "module",
  "description": "A hookhost WebAssembly hook (world hookhost:hook@0.2.0)",
  "scripts": {
    "build": "./build.sh"
  },
  "devDependencies": {
    "@bytecodealliance/componentize-js": "0.23.0",
    "@bytecodealliance/jco": "1.35.0"
  }
}
"#;

const README: &str = r#"# {name}

A hookhost WebAssembly hook in {lang} for `{event}` (matcher: {matcher}), built against world
`hookhost:hook@0.2.0` (`hookhost new` vendored the world and the SDK into this project).

- `{policy_file}`: the policy. It gets a typed event (the whole payload is always there) and
  answers with `none()`, `allow()`, `deny(reason)`, `ask(reason)`, `defer()`, `block(reason)`,
  `rewrite(input)`, `context(text)` or `system_message(text)`; an exception or error is a hook
  failure, handled by `onFailure`.
- `build.sh`: builds the component (installing the toolchain from the package registries when
  missing) and prints its path as the last line.
- `tests.json`: cases for `hookhost test` (settings.json with the installed path rewritten to the
  build output).
- `settings.json`: hookhost settings that install the hook.

```sh
./build.sh             # build
hookhost test .        # test what build.sh built (hookhost test builds nothing)
```

Install (as root):

```sh
install -D -m 0644 "$(./build.sh | tail -n 1)" /usr/local/lib/hookhost/hooks/{snake}.wasm
install -D -m 0644 settings.json /etc/hookhost/managed-settings.d/{name}.json
hookhost pin           # prints the component's sha256: add it as "sha256" to pin it
hookhost check         # lists the hook
```

The hook gets nothing it is not given: no files, no environment, no network; its stdout,
stderr and `log` lines go to hookhost's log (`RUST_LOG=hookhost=info`).
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(lang: Lang, name: &str, event: &str, matcher: Option<&str>) -> NewHook {
        NewHook {
            lang,
            name: name.into(),
            event: event.into(),
            matcher: matcher.map(str::to_string),
            parent: PathBuf::new(),
        }
    }

    #[test]
    fn names_events_and_matchers_are_checked() {
        assert!(hook(Lang::Rust, "no-force-push", "PreToolUse", Some("Bash")).validate().is_ok());
        for bad in ["", "Upper", "1x", "a_b", "a-", "../x", "a/b", "x y", &"a".repeat(65)] {
            assert!(hook(Lang::Rust, bad, "PreToolUse", None).validate().unwrap_err().contains("invalid hook name"));
        }
        assert!(hook(Lang::Js, "x", "PreToolUsee", None).validate().unwrap_err().contains("unknown event"));
        assert!(hook(Lang::Js, "x", "Stop", Some("Bash")).validate().unwrap_err().contains("take no matcher"));
        assert!(hook(Lang::Js, "x", "PreToolUse", Some("(")).validate().unwrap_err().contains("invalid matcher"));
    }

    #[test]
    fn every_project_has_build_sh_settings_tests_and_readme() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            for (event, matcher) in [("PreToolUse", Some("Bash")), ("PreToolUse", Some("Read|Write")), ("Stop", None)] {
                let h = hook(lang, "my-hook", event, matcher);
                let files = h.files();
                let get = |p: &str| files.iter().find(|f| f.0 == p).unwrap_or_else(|| panic!("{lang:?}: no {p}"));
                assert!(get("build.sh").2, "build.sh is executable");
                assert!(get("build.sh").1.contains("my_hook.wasm"));
                let settings: serde_json::Value = serde_json::from_str(&get("settings.json").1).unwrap();
                assert_eq!(
                    settings["hooks"][event][0]["hooks"][0]["component"],
                    "/usr/local/lib/hookhost/hooks/my_hook.wasm"
                );
                assert_eq!(settings["hooks"][event][0].get("matcher").and_then(|m| m.as_str()), matcher);
                let tests: serde_json::Value = serde_json::from_str(&get("tests.json").1).unwrap();
                for case in tests["cases"].as_array().unwrap() {
                    crate::event::HookEvent::parse(case["event"].to_string().as_bytes()).unwrap();
                }
                assert!(get("README.md").1.contains("./build.sh"));
                assert!(files.iter().all(|f| !f.1.contains("{snake}") && !f.1.contains("{body}")), "{lang:?}");
            }
        }
    }

    #[test]
    fn an_existing_directory_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let mut h = hook(Lang::Python, "x", "PreToolUse", None);
        h.parent = tmp.path().to_path_buf();
        std::fs::create_dir(tmp.path().join("x")).unwrap();
        std::fs::write(tmp.path().join("x/app.py"), "mine").unwrap();
        assert!(h.write().unwrap_err().contains("already exists"));
        assert_eq!(std::fs::read_to_string(tmp.path().join("x/app.py")).unwrap(), "mine");
    }
}
