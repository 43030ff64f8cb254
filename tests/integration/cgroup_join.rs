//! A sandboxed hook joins its cgroups without a migration on the decision path (issue 23,
//! item 3): it is started inside its v2 leaf (`clone3(CLONE_INTO_CGROUP)`, the forked child
//! staying as its proxy) and moves only its own thread into its v1 leaves (`tasks`), so no
//! `cgroup.procs` write (the global lock that waits for an RCU grace period) is left. Checked by
//! effect (where the hook process really is, what the agent gets) and by strace (which calls
//! were made).

use std::path::Path;

use serde_json::json;

use super::support::{Env, Output, bash_event, hook_settings, run};

/// The hierarchies this machine gives hooks: (v1 pids, v1 memory, v2).
fn hierarchies() -> (bool, bool, bool) {
    let v1 = |c: &str| Path::new(&format!("/sys/fs/cgroup/{c}/cgroup.procs")).exists();
    let v2 = std::fs::read_to_string("/proc/mounts").unwrap_or_default().lines().any(|l| l.contains(" cgroup2 "));
    (v1("pids"), v1("memory"), v2)
}

fn sandboxed(env: &Env, command: &str) {
    env.write("user", &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": command}])));
}

fn traced_dispatch(env: &Env, event: &[u8]) -> (Output, String) {
    let trace = env.path().join("trace");
    let c = env.command(&["dispatch"]);
    let mut s = std::process::Command::new("strace");
    s.args(["-f", "-qq", "-s", "256", "-e", "trace=clone3,openat,write", "-o"])
        .arg(&trace)
        .arg(c.get_program())
        .args(c.get_args());
    s.env_clear();
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    let out = run(s, event);
    (out, std::fs::read_to_string(&trace).unwrap_or_default())
}

#[test]
fn a_one_shot_hook_starts_inside_its_leaves_and_nothing_is_migrated() {
    let (v1_pids, v1_mem, v2) = hierarchies();
    let env = Env::new();
    let cg = env.path().join("cgroup");
    sandboxed(&env, &format!("cat /proc/self/cgroup > {}", cg.display()));
    let (out, trace) = traced_dispatch(&env, &bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    let inside = std::fs::read_to_string(&cg).expect("the hook ran");
    let leaf = |prefix: &str| inside.lines().any(|l| l.starts_with(prefix) && l.contains("hookhost-"));
    if v1_pids {
        assert!(inside.lines().any(|l| l.contains(":pids:") && l.contains("hookhost-")), "{inside}");
    }
    if v1_mem {
        assert!(inside.lines().any(|l| l.contains(":memory:") && l.contains("hookhost-")), "{inside}");
    }
    if v2 {
        assert!(leaf("0::"), "the hook is in its v2 leaf: {inside}");
        assert!(trace.contains("CLONE_INTO_CGROUP"), "started in the leaf by clone3:\n{trace}");
        // Without a copy of the proxy's address space (a forked copy of hookhost): the hook
        // process shares it until it execs, as after vfork.
        if cfg!(all(target_arch = "x86_64", target_pointer_width = "64")) {
            assert!(
                trace
                    .lines()
                    .any(|l| l.contains("CLONE_INTO_CGROUP") && l.contains("CLONE_VM") && l.contains("CLONE_VFORK")),
                "the clone into the leaf shares memory until exec:\n{trace}"
            );
        }
    }
    let migrations: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("hookhost-") && l.contains("cgroup.procs\"") && l.contains("O_WRONLY"))
        .collect();
    assert!(migrations.is_empty(), "no process was migrated through cgroup.procs: {migrations:?}");
    if v1_pids || v1_mem {
        assert!(
            trace.lines().any(|l| l.contains("hookhost-") && l.contains("/tasks\"") && l.contains("O_WRONLY")),
            "v1 leaves joined by moving the thread:\n{trace}"
        );
    }
}

#[test]
fn through_the_proxy_the_agent_gets_what_an_unproxied_hook_would_give() {
    // Exit codes, a blocking reason on stderr, JSON on stdout, death by a signal, a hook that
    // ignores SIGTERM past its timeout, and a hook whose children outlive it: the same answers
    // with the full sandbox (proxied) as with the sandbox off.
    let cases = [
        "exit 0",
        "exit 3",
        "echo 'blocked by policy' >&2; exit 2",
        r#"echo '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no"}}'"#,
        "kill -TERM $$",
        "kill -KILL $$",
        "kill -SEGV $$",
        "cat >/dev/null; exit 1",
        "(sleep 30 &) ; exit 0",
    ];
    for case in cases {
        let mut answers = Vec::new();
        for sandbox in [json!({}), json!({"mode": "off"})] {
            let env = Env::new();
            env.write(
                "managed.d/50-sandbox.json",
                &json!({"sandbox": {"allowWrite": [env.path()], "allowRead": [super::support::repo().join("tests/fixtures")]}})
                    .to_string(),
            );
            // Managed: only a managed hook may turn its sandbox off (others run inside the floor).
            env.write(
                "managed.d/60-hook.json",
                &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": case, "sandbox": sandbox}])),
            );
            let out = env.dispatch(&bash_event("ls"));
            let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
            answers.push((
                out.code,
                v["hookSpecificOutput"]["permissionDecision"].clone(),
                v["hookSpecificOutput"]["permissionDecisionReason"].clone(),
                out.stderr.clone(),
            ));
        }
        assert_eq!(answers[0], answers[1], "{case}: full sandbox (first) vs off");
    }
    // At its timeout the hook itself gets SIGTERM (passed on by the proxy) and may clean up.
    let env = Env::new();
    let got = env.path().join("got-term");
    let trap = format!("trap 'echo term > {}; exit 0' TERM; sleep 30 & wait", got.display());
    env.write(
        "user",
        &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": trap, "timeout": 1}])),
    );
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(std::fs::read_to_string(&got).unwrap_or_default(), "term\n", "{out:?}");
    // A hook that ignores SIGTERM is still ended at its timeout (SIGKILL after the grace).
    let env = Env::new();
    env.write(
        "user",
        &hook_settings(
            "PreToolUse",
            "Bash",
            json!([{"type": "command", "command": "trap '' TERM; sleep 30", "timeout": 1}]),
        ),
    );
    let out = env.dispatch(&bash_event("ls"));
    assert!(out.stdout.contains("timed out") || out.stderr.contains("timed out"), "{out:?}");
}
