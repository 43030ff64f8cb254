//! The demo's bundled policy, compiled into the binary: the shell examples' settings and hook
//! scripts, the sample events and the multi-agent example of `hooks-examples/`, so `hookhost
//! demo` works from an installed binary (`cargo install`) with no source tree (no path fixed at
//! build time).
//!
//! Promise: [`FILES`] is exactly what `hooks-examples/shell/*/{settings.json,hook.sh}`,
//! `hooks-examples/events/*.json` and the JSON files of `hooks-examples/multi-agent/` hold (a
//! unit test compares them with the tree); [`write_to`] writes them under a directory laid out
//! like `hooks-examples/`, scripts executable.

use std::path::Path;

/// (path below `hooks-examples/`, content).
pub const FILES: &[(&str, &str)] = &[
    ("events/01-bash-ls.json", include_str!("../hooks-examples/events/01-bash-ls.json")),
    ("events/02-bash-rm-rf.json", include_str!("../hooks-examples/events/02-bash-rm-rf.json")),
    ("events/03-bash-compound-rm.json", include_str!("../hooks-examples/events/03-bash-compound-rm.json")),
    ("events/04-read-env.json", include_str!("../hooks-examples/events/04-read-env.json")),
    ("events/05-read-env-example.json", include_str!("../hooks-examples/events/05-read-env-example.json")),
    ("events/06-write-secrets.json", include_str!("../hooks-examples/events/06-write-secrets.json")),
    ("events/07-edit-src-post.json", include_str!("../hooks-examples/events/07-edit-src-post.json")),
    ("events/08-write-post.json", include_str!("../hooks-examples/events/08-write-post.json")),
    ("events/09-config-user.json", include_str!("../hooks-examples/events/09-config-user.json")),
    ("events/10-config-project.json", include_str!("../hooks-examples/events/10-config-project.json")),
    ("events/11-config-policy.json", include_str!("../hooks-examples/events/11-config-policy.json")),
    ("events/12-session-start.json", include_str!("../hooks-examples/events/12-session-start.json")),
    ("multi-agent/events/claude.json", include_str!("../hooks-examples/multi-agent/events/claude.json")),
    ("multi-agent/events/codex.json", include_str!("../hooks-examples/multi-agent/events/codex.json")),
    (
        "multi-agent/events/copilot-vscode.json",
        include_str!("../hooks-examples/multi-agent/events/copilot-vscode.json"),
    ),
    ("multi-agent/events/copilot.json", include_str!("../hooks-examples/multi-agent/events/copilot.json")),
    (
        "multi-agent/events/cursor-pretooluse.json",
        include_str!("../hooks-examples/multi-agent/events/cursor-pretooluse.json"),
    ),
    ("multi-agent/events/cursor-shell.json", include_str!("../hooks-examples/multi-agent/events/cursor-shell.json")),
    ("multi-agent/events/gemini.json", include_str!("../hooks-examples/multi-agent/events/gemini.json")),
    ("multi-agent/events/qwen.json", include_str!("../hooks-examples/multi-agent/events/qwen.json")),
    ("multi-agent/settings.json", include_str!("../hooks-examples/multi-agent/settings.json")),
    ("multi-agent/tests.json", include_str!("../hooks-examples/multi-agent/tests.json")),
    ("shell/audit-edits/hook.sh", include_str!("../hooks-examples/shell/audit-edits/hook.sh")),
    ("shell/audit-edits/settings.json", include_str!("../hooks-examples/shell/audit-edits/settings.json")),
    ("shell/block-rm-rf/hook.sh", include_str!("../hooks-examples/shell/block-rm-rf/hook.sh")),
    ("shell/block-rm-rf/settings.json", include_str!("../hooks-examples/shell/block-rm-rf/settings.json")),
    ("shell/guard-config-change/hook.sh", include_str!("../hooks-examples/shell/guard-config-change/hook.sh")),
    (
        "shell/guard-config-change/settings.json",
        include_str!("../hooks-examples/shell/guard-config-change/settings.json"),
    ),
    ("shell/protect-secrets/hook.sh", include_str!("../hooks-examples/shell/protect-secrets/hook.sh")),
    ("shell/protect-secrets/settings.json", include_str!("../hooks-examples/shell/protect-secrets/settings.json")),
    ("shell/scan-secrets-rollback/hook.sh", include_str!("../hooks-examples/shell/scan-secrets-rollback/hook.sh")),
    (
        "shell/scan-secrets-rollback/settings.json",
        include_str!("../hooks-examples/shell/scan-secrets-rollback/settings.json"),
    ),
];

/// Writes the bundle below `dir` (as `dir/shell/…`, `dir/events/…`).
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (rel, text) in FILES {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, text)?;
        if rel.ends_with(".sh") {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundle_is_the_tree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks-examples");
        let mut on_disk = Vec::new();
        for sub in ["shell", "events", "multi-agent"] {
            for e in walk(&root.join(sub)) {
                let rel = e.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
                let name = e.file_name().unwrap().to_string_lossy().into_owned();
                if sub == "events"
                    || name.ends_with(".json") && sub == "multi-agent"
                    || name == "settings.json"
                    || name == "hook.sh"
                {
                    on_disk.push(rel);
                }
            }
        }
        on_disk.sort();
        let bundled: Vec<String> = super::FILES.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(bundled, on_disk, "src/demo_bundle.rs is out of date with hooks-examples/");
        for (rel, text) in super::FILES {
            assert_eq!(std::fs::read_to_string(root.join(rel)).unwrap(), *text, "{rel}");
        }
    }

    fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
