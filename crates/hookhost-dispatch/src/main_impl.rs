//! The `hookhost-dispatch` command: reads one event on stdin, asks the daemon (the one named by
//! `HOOKHOST_SOCKET`, else this user's automatic daemon), prints its answer byte for byte and
//! exits with its code. Otherwise it `exec`s the full `hookhost dispatch` (same arguments, the
//! same stdin bytes from a memfd) with the cause in [`crate::ENV_FALLBACK`] and friends, so the
//! full binary applies today's failure semantics and `hookhost.daemon`.
//!
//! Accepts `dispatch`'s arguments: `--settings FILE`, `--project-dir DIR`, `--socket PATH`,
//! `--socket-timeout SECONDS`, `--max-event-bytes BYTES`; anything else (`--help` included), an
//! event that is not JSON, or an oversized one goes to the full binary as is, which answers as
//! it always has. A failure to start the full binary fails closed (exit 2, naming the cause).

use std::io::{Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Answer, Ask, Failure, Identity};

/// Parsed command line.
#[derive(Debug, Default)]
struct Args {
    settings: Option<PathBuf>,
    project_dir: Option<PathBuf>,
    socket: Option<PathBuf>,
    socket_timeout: Option<String>,
    max_event_bytes: Option<String>,
}

/// `None`: an argument this client does not handle (the full binary does).
fn parse_args(raw: &[std::ffi::OsString]) -> Option<Args> {
    let mut a = Args::default();
    let mut it = raw.iter();
    let mut first = true;
    while let Some(arg) = it.next() {
        let s = arg.to_str()?;
        if first && s == "dispatch" {
            first = false;
            continue;
        }
        first = false;
        let (name, inline) = match s.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(std::ffi::OsString::from(v))),
            _ => (s, None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match name {
            "--settings" => a.settings = Some(PathBuf::from(value()?)),
            "--project-dir" => a.project_dir = Some(PathBuf::from(value()?)),
            "--socket" => a.socket = Some(PathBuf::from(value()?)),
            "--socket-timeout" => a.socket_timeout = Some(value()?.into_string().ok()?),
            "--max-event-bytes" => a.max_event_bytes = Some(value()?.into_string().ok()?),
            _ => return None,
        }
    }
    Some(a)
}

fn seconds(s: &str) -> Option<Duration> {
    let v = s.trim().parse::<f64>().ok().filter(|v| (0.001..=86_400.0).contains(v))?;
    Duration::try_from_secs_f64(v).ok()
}

#[derive(serde::Deserialize)]
struct EventName {
    #[serde(default)]
    hook_event_name: Option<String>,
}

/// Runs the command; returns the exit code.
pub fn run() -> u8 {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let bin = crate::full_binary();
    let Some(args) = parse_args(&raw) else {
        return exec_full(bin.as_deref(), &raw, None, None);
    };
    // Another agent's payload (`HOOKHOST_AGENT`, as `--agent` on the command line above) is
    // mapped to the canonical event by the full binary: this client forwards Claude Code's only.
    let other_agent = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "claude");
    if other_agent("HOOKHOST_AGENT") || other_agent("HOOKHOST_AGENT_EVENT") {
        return exec_full(bin.as_deref(), &raw, None, None);
    }
    let max = match &args.max_event_bytes {
        None => crate::DEFAULT_MAX_EVENT_BYTES,
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if (1..=1 << 30).contains(&n) => n,
            _ => return exec_full(bin.as_deref(), &raw, None, None),
        },
    };
    let mut input = Vec::new();
    if std::io::stdin().lock().take(max as u64 + 1).read_to_end(&mut input).is_err() || input.len() > max {
        return exec_full(bin.as_deref(), &raw, Some(&input), None);
    }
    let env_timeout = std::env::var("HOOKHOST_SOCKET_TIMEOUT").ok().filter(|v| !v.is_empty());
    let timeout = match args.socket_timeout.as_deref().or(env_timeout.as_deref()) {
        None => None,
        Some(s) => match seconds(s) {
            Some(d) => Some(d),
            None => return exec_full(bin.as_deref(), &raw, Some(&input), None),
        },
    };
    let (Ok(text), Some(bin)) = (std::str::from_utf8(&input), bin.as_deref()) else {
        return exec_full(bin.as_deref(), &raw, Some(&input), None);
    };
    let Ok(name) = serde_json::from_str::<EventName>(text) else {
        return exec_full(Some(bin), &raw, Some(&input), None);
    };
    let explicit = args.socket.clone().or_else(|| std::env::var_os("HOOKHOST_SOCKET").map(PathBuf::from));
    let explicit = explicit.filter(|s| !s.as_os_str().is_empty());
    let socket = match &explicit {
        Some(s) => s.clone(),
        None => match crate::auto_socket(bin) {
            Some(s) => s,
            None => return exec_full(Some(bin), &raw, Some(&input), None),
        },
    };
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let project_dir = args
        .project_dir
        .clone()
        .or_else(|| std::env::var_os("CLAUDE_PROJECT_DIR").filter(|v| !v.is_empty()).map(PathBuf::from))
        .map(|p| absolute(&p));
    let settings = args.settings.as_deref().map(absolute);
    let expect = Identity::from_env();
    let ask = Ask {
        socket: &socket,
        event: text,
        project_dir: project_dir.as_deref(),
        settings: settings.as_deref(),
        expect: &expect,
        bin: Some(bin),
        deadline: timeout
            .unwrap_or_else(|| crate::default_timeout(name.hook_event_name.as_deref().unwrap_or_default())),
    };
    match crate::ask(&ask) {
        Ok(answer) => print(&answer),
        Err(f) => {
            let kind = match (&explicit, &f) {
                (Some(_), _) => "explicit",
                (None, Failure::Unavailable(_)) => "unavailable",
                (None, Failure::Failed(_)) => "failed",
            };
            exec_full(Some(bin), &raw, Some(&input), Some((kind, f.message(), &socket)))
        }
    }
}

fn print(a: &Answer) -> u8 {
    // A closed pipe on our output is not something we can report anywhere.
    let _ = std::io::stdout().lock().write_all(a.stdout.as_bytes());
    let _ = std::io::stderr().lock().write_all(a.stderr.as_bytes());
    a.exit_code
}

/// Replaces this process with `BIN dispatch ARGS`, stdin the same `input` bytes (a memfd),
/// and with `cause` (kind, message, socket) in the fallback variables. Returns only when that
/// fails: then the event fails closed (exit 2, naming the cause).
/// Execs the full `hookhost dispatch` with the same arguments. `input`: the event bytes this
/// client already read (handed over in a memfd); `None`: nothing was read, and the full binary
/// reads this process's own stdin.
fn exec_full(
    bin: Option<&Path>,
    raw: &[std::ffi::OsString],
    input: Option<&[u8]>,
    cause: Option<(&str, &str, &Path)>,
) -> u8 {
    let fail = |why: String| {
        let _ = writeln!(std::io::stderr(), "hookhost-dispatch: {why}; failing closed");
        2
    };
    let Some(bin) = bin else {
        return fail("cannot find the hookhost binary (set HOOKHOST_BIN)".into());
    };
    let mut c = std::process::Command::new(bin);
    c.arg("dispatch");
    c.args(raw.iter().skip(usize::from(raw.first().is_some_and(|a| a == "dispatch"))));
    if let Some(input) = input {
        match memfd(input) {
            Ok(f) => {
                c.stdin(f);
            }
            Err(e) => return fail(format!("cannot hand the event to {}: {e}", bin.display())),
        }
    }
    for k in [crate::ENV_FALLBACK, crate::ENV_FALLBACK_CAUSE, crate::ENV_FALLBACK_SOCKET] {
        c.env_remove(k);
    }
    if let Some((kind, message, socket)) = cause {
        c.env(crate::ENV_FALLBACK, kind)
            .env(crate::ENV_FALLBACK_CAUSE, message)
            .env(crate::ENV_FALLBACK_SOCKET, socket);
        // The full binary must not ask the same daemon again.
        c.env_remove("HOOKHOST_SOCKET");
    }
    let e = c.exec();
    fail(format!("cannot run {}: {e}", bin.display()))
}

fn memfd(input: &[u8]) -> std::io::Result<std::fs::File> {
    let fd = nix::sys::memfd::memfd_create(c"hookhost-event", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
    let mut f = std::fs::File::from(fd);
    f.write_all(input)?;
    f.rewind()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<std::ffi::OsString> {
        v.iter().map(std::ffi::OsString::from).collect()
    }

    #[test]
    fn arguments_of_dispatch_are_understood_and_others_go_to_the_full_binary() {
        let a = parse_args(&os(&["--project-dir", "/p", "--settings=/s.json", "--socket-timeout", "2"])).unwrap();
        assert_eq!(a.project_dir.as_deref(), Some(Path::new("/p")));
        assert_eq!(a.settings.as_deref(), Some(Path::new("/s.json")));
        assert_eq!(a.socket_timeout.as_deref(), Some("2"));
        assert!(parse_args(&os(&["dispatch", "--socket", "/x.sock"])).unwrap().socket.is_some());
        for bad in [&["--help"][..], &["explain"], &["--settings"], &["dispatch", "dispatch"], &["-x"]] {
            assert!(parse_args(&os(bad)).is_none(), "{bad:?}");
        }
        for (s, ok) in [("0.001", true), ("86400", true), ("0", false), ("NaN", false), ("1e300", false), ("x", false)]
        {
            assert_eq!(seconds(s).is_some(), ok, "{s}");
        }
    }
}
