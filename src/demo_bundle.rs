//! The demo's bundled policy, compiled into the binary: the shell examples' settings and hook
//! scripts and the sample events of `hooks-examples/`, so `hookhost demo` works from an installed
//! binary (`cargo install`) with no source tree (no path fixed at build time).
//!
//! Promise: [`FILES`] is exactly what `hooks-examples/shell/*/{settings.json,hook.sh}` and
//! `hooks-examples/events/*.json` hold (a unit test compares them with the tree);
//! [`write_to`] writes them under a directory laid out like `hooks-examples/`, scripts executable.

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
        for sub in ["shell", "events"] {
            for e in walk(&root.join(sub)) {
                let rel = e.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
                let name = e.file_name().unwrap().to_string_lossy().into_owned();
                if sub == "events" || name == "settings.json" || name == "hook.sh" {
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
