//! File locks through `file_lock` (std's `File::lock`, flock(2)), seen from outside with strace:
//! every lock hookhost takes is a `flock(2)` call (so binaries of the previous version, which
//! called `flock(2)` through nix, still exclude this one and the other way round); a blocking
//! lock interrupted by a signal (`EINTR`, injected by strace) is retried and the event decides as
//! it would have; a lock that fails for real (`ENOLCK`, injected) on the ConfigChange gate fails
//! the event closed, never running the gate unlocked.

use std::process::Command;

use super::support::{Env, Output, bash_event, run};

/// `hookhost dispatch` of `event` for `env`, under `strace -f -e trace=flock` with `inject`
/// (strace's `-e inject=` spec, or none), and strace's log.
fn dispatch_traced(env: &Env, event: &[u8], inject: Option<&str>) -> (Output, String) {
    let log = env.path().join(format!("strace-{}.log", inject.map_or(0, str::len)));
    let inner = env.bare_command(&["dispatch"]);
    let mut c = Command::new("strace");
    c.args(["-f", "-qq", "-e", "trace=flock", "-o"]).arg(&log);
    if let Some(spec) = inject {
        c.args(["-e", &format!("inject={spec}")]);
    }
    c.arg(inner.get_program()).args(inner.get_args()).env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let out = run(c, event);
    (out, std::fs::read_to_string(&log).unwrap_or_default())
}

/// strace shows a `flock(fd, how)` call that returned 0.
fn taken(log: &str, how: &str) -> bool {
    log.lines().any(|l| l.contains("flock(") && l.contains(&format!(", {how})")) && l.trim_end().ends_with("= 0"))
}

fn policy_env() -> Env {
    let env = Env::new();
    env.write("user", &serde_json::json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    env
}

#[test]
fn every_lock_is_flock_2_and_an_interrupted_wait_is_retried() {
    let env = policy_env();
    let event = bash_event("rm -rf /tmp/x");
    let (plain, log) = dispatch_traced(&env, &event, None);
    assert_eq!(plain.code, 0, "{plain:?}");
    assert!(plain.stdout.contains("\"deny\""), "{plain:?}");
    // The gate's lock (blocking, exclusive) is a flock(2) call.
    assert!(taken(&log, "LOCK_EX"), "{log}");

    // Every first flock(2) call interrupted: retried, and the same answer.
    let (out, log) = dispatch_traced(&env, &event, Some("flock:error=EINTR:when=1"));
    assert!(log.contains("EINTR (Interrupted system call) (INJECTED)"), "{log}");
    assert!(taken(&log, "LOCK_EX"), "the interrupted lock was taken on retry: {log}");
    assert_eq!((out.code, &out.stdout, &out.stderr), (plain.code, &plain.stdout, &plain.stderr), "{out:?}");
}

#[test]
fn a_gate_lock_that_fails_in_flock_fails_closed() {
    let env = policy_env();
    // An allowed command: without the gate's lock it must still not be let through silently.
    let (out, log) = dispatch_traced(&env, &bash_event("ls"), Some("flock:error=ENOLCK"));
    assert!(log.contains("ENOLCK"), "{log}");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("cannot lock the last known good settings records"), "{out:?}");
    assert!(out.stderr.contains("failing closed"), "{out:?}");
}
