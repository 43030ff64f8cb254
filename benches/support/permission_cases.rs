//! Worst-case permission-stage inputs (≤ 1 MiB each), shared by `benches/permissions.rs`, the
//! integration test `permissions::worst_cases_are_decided` and `scripts/permissions-worst.sh`.

use serde_json::json;

/// The issue's admin policy.
pub const POLICY: &str = r#"{"permissions": {
  "deny": ["Bash(curl *)", "Bash(rm -rf *)", "Read(./.env)", "Read(./secrets/**)", "Edit(./.hookhost/**)"],
  "allow": ["Bash(echo *)", "Bash(ls *)"]
}}"#;

/// The worst cases: (name, tool, input).
pub fn cases() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    let kib = 1024;
    let fill = |unit: &str, bytes: usize| unit.repeat(bytes / unit.len());
    let distinct = |f: &dyn Fn(usize) -> String, bytes: usize| {
        let mut s = String::new();
        let mut i = 0;
        while s.len() < bytes {
            s.push_str(&f(i));
            i += 1;
        }
        s
    };
    vec![
        ("bash_1mib_over_the_limit", "Bash", json!({"command": fill("echo hi; ", 1024 * kib)})),
        ("bash_250k_commands", "Bash", json!({"command": fill("a;", 250 * kib)})),
        ("bash_250k_echo_words", "Bash", json!({"command": format!("echo {}", fill("word ", 250 * kib))})),
        ("bash_250k_same_glob", "Bash", json!({"command": format!("cat {}", fill("/usr/bin/* ", 250 * kib))})),
        (
            "bash_250k_distinct_globs",
            "Bash",
            json!({"command": format!("cat {}", distinct(&|i| format!("/usr/bin/*{i} "), 250 * kib))}),
        ),
        (
            "bash_250k_distinct_files",
            "Bash",
            json!({"command": format!("cat {}", distinct(&|i| format!("d{i}/../f{i} "), 250 * kib))}),
        ),
        ("bash_250k_substitutions", "Bash", json!({"command": format!("echo {}", fill("$(a)", 250 * kib))})),
        ("bash_nesting_at_the_limit", "Bash", json!({"command": format!("{}x{}", "$(".repeat(47), ")".repeat(47))})),
        ("bash_250k_heredoc", "Bash", json!({"command": format!("cat <<EOF\n{}\nEOF", fill("line $x\n", 250 * kib))})),
        ("bash_250k_echo_quotes", "Bash", json!({"command": format!("echo {}", fill("'a'\"b\"$'c'", 250 * kib))})),
        ("bash_grep_r_usr", "Bash", json!({"command": "grep -r SECRET /usr"})),
        (
            "bash_strict_250k_python",
            "Bash",
            json!({"command": format!("python3 -c '{}'", fill("open(\"x\"); ", 250 * kib))}),
        ),
        ("grep_tool_root", "Grep", json!({"pattern": "x", "path": "/"})),
        ("glob_tool_usr", "Glob", json!({"pattern": "**/*.h", "path": "/usr"})),
        ("read_4096_components", "Read", json!({"file_path": format!("/{}", fill("a/../", 4090))})),
        ("read_1mib_path", "Read", json!({"file_path": fill("a/", 1024 * kib)})),
        ("webfetch_1mib_url", "WebFetch", json!({"url": format!("https://{}.example/", fill("a.", 512 * kib))})),
    ]
}
