//! Every command block of the README and the example READMEs runs as written (issue 25 item 2).
//!
//! The harness: every fenced block whose info string starts with `sh` is run by `bash -o
//! pipefail`, as pasted into a shell (a line may show a failing command's exit code), in a
//! scratch root: a copy of the README and `hooks-examples/` (without build
//! output), the README's own directory as the working directory, `hookhost` on `PATH` (this
//! build's binary), and the environment variables the README names pointing into the root
//! (`HOOKHOST_MANAGED_DIR`, `XDG_CONFIG_HOME`, `XDG_STATE_HOME`, `XDG_RUNTIME_DIR`, `HOME`). A
//! block must exit 0 within two minutes, and no line of it may fail for want of a command or a
//! file (`command not found`, `No such file or directory`, `Permission denied` on stderr); what it started in the background is killed after it.
//! A block that cannot run in CI says so in its info string, `sh no-run: <reason>`, and that
//! list is kept small (asserted).
//!
//! Every relative link of those READMEs, `docs/*.md`, `sdk/README.md` and `wit/README.md` names a
//! file that exists, and an anchor into a Markdown file names one of its headings.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{bin, repo};

struct Block {
    file: PathBuf,
    line: usize,
    info: String,
    code: String,
}

/// The READMEs whose blocks are run: README.md, hooks-examples/README.md and every
/// hooks-examples/*/README.md and hooks-examples/*/*/README.md.
fn readmes() -> Vec<PathBuf> {
    let root = repo();
    let mut out = vec![root.join("README.md"), root.join("hooks-examples/README.md")];
    let mut sub = Vec::new();
    for d in std::fs::read_dir(root.join("hooks-examples")).unwrap().flatten() {
        if d.path().is_dir() {
            sub.push(d.path().join("README.md"));
            for e in std::fs::read_dir(d.path()).unwrap().flatten() {
                if e.path().is_dir() && e.file_name() != "target" {
                    sub.push(e.path().join("README.md"));
                }
            }
        }
    }
    sub.retain(|p| p.is_file());
    sub.sort();
    out.extend(sub);
    out
}

fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, l)) = lines.next() {
        let Some(info) = l.strip_prefix("```") else { continue };
        let mut code = String::new();
        for (_, l) in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            code.push_str(l);
            code.push('\n');
        }
        if info.split_whitespace().next() == Some("sh") {
            out.push(Block { file: file.to_path_buf(), line: n + 1, info: info.to_string(), code });
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name == "node_modules" || name == ".venv" {
            continue;
        }
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_tree(&p, &to.join(&name));
        } else if ft.is_file() {
            std::fs::copy(&p, to.join(&name)).unwrap();
        }
    }
}

fn run_block(b: &Block) -> Result<(), String> {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let tree = r.join("repo");
    copy_tree(&repo().join("hooks-examples"), &tree.join("hooks-examples"));
    std::fs::copy(repo().join("README.md"), tree.join("README.md")).unwrap();
    let bindir = r.join("bin");
    std::fs::create_dir_all(&bindir).unwrap();
    std::os::unix::fs::symlink(bin(), bindir.join("hookhost")).unwrap();
    let runtime = r.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    for d in ["home", "etc/hookhost", "xdg", "state"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    let rel = b.file.parent().unwrap().strip_prefix(repo()).unwrap();
    let cwd = tree.join(rel);
    let path = format!("{}:{}", bindir.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("bash");
    c.arg("-o")
        .arg("pipefail")
        .arg("-c")
        .arg(&b.code)
        .current_dir(&cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", r.join("home"))
        .env("HOOKHOST_MANAGED_DIR", r.join("etc/hookhost"))
        .env("XDG_CONFIG_HOME", r.join("xdg"))
        .env("XDG_STATE_HOME", r.join("state"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("TMPDIR", r)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(r.join("stdout")).unwrap())
        .stderr(std::fs::File::create(r.join("stderr")).unwrap())
        .process_group(0);
    for k in ["HOOKHOST_SANDBOX_REQUIRE", "RUSTUP_HOME", "CARGO_HOME", "LANG"] {
        if let Some(v) = std::env::var_os(k) {
            c.env(k, v);
        }
    }
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let started = Instant::now();
    // The block's shell, not what it left in the background, decides when it is done.
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // What the block left running in the background (a web server, a daemon).
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let stdout = std::fs::read_to_string(r.join("stdout")).unwrap_or_default();
    let stderr = std::fs::read_to_string(r.join("stderr")).unwrap_or_default();
    struct Out {
        status: std::process::ExitStatus,
        stdout: String,
        stderr: String,
    }
    let out = Out { status, stdout, stderr };
    let stderr = &out.stderr;
    let broken =
        ["command not found", "No such file or directory", "Permission denied"].iter().find(|m| stderr.contains(*m));
    if out.status.success() && broken.is_none() {
        Ok(())
    } else {
        Err(format!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}", out.status.code(), out.stdout, out.stderr))
    }
}

#[test]
fn readme_every_command_block_runs_as_written() {
    let all: Vec<Block> = readmes().iter().flat_map(|f| blocks(f)).collect();
    let (skipped, runnable): (Vec<&Block>, Vec<&Block>) = all.iter().partition(|b| b.info.contains("no-run"));
    for b in &skipped {
        let reason = b.info.split_once("no-run:").map(|(_, r)| r.trim()).unwrap_or("");
        assert!(!reason.is_empty(), "{}:{}: `sh no-run` needs a reason (`sh no-run: why`)", b.file.display(), b.line);
    }
    // 16 blocks install into system directories, build guests or start long-running servers;
    // the fleet example adds 3 (packages, a system daemon, Prometheus), each covered by an
    // `observe::` test instead.
    assert!(skipped.len() <= 19, "too many blocks marked no-run ({}): make them runnable", skipped.len());
    assert!(runnable.len() >= 15, "only {} runnable blocks found", runnable.len());
    let mut failures = Vec::new();
    for b in &runnable {
        let t = Instant::now();
        let r = run_block(b);
        eprintln!("{}:{}: {:.1} s", b.file.strip_prefix(repo()).unwrap().display(), b.line, t.elapsed().as_secs_f64());
        if let Err(e) = r {
            failures.push(format!("{}:{}:\n{}\n{e}", b.file.strip_prefix(repo()).unwrap().display(), b.line, b.code));
        }
    }
    eprintln!("{} README blocks run, {} marked no-run", runnable.len(), skipped.len());
    assert!(
        failures.is_empty(),
        "{} README block(s) do not run as written:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Every Markdown file people read: the READMEs above, `docs/*.md`, and the READMEs of `sdk/`
/// and `wit/`.
fn documents() -> Vec<PathBuf> {
    let root = repo();
    let mut out = readmes();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    out.extend(docs);
    out.extend(["sdk/README.md", "wit/README.md"].iter().map(|p| root.join(p)).filter(|p| p.is_file()));
    out
}

/// The text outside fenced blocks, line by line (headings and links inside code are not ones).
/// Each with its 1-based line number.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (n, l) in text.lines().enumerate() {
        if l.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push((n + 1, l));
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, inline code marks and punctuation dropped (letters,
/// digits, `-`, `_` and spaces kept), spaces to `-`; repeats get `-1`, `-2`, ….
fn anchors(text: &str) -> Vec<String> {
    let mut bases: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (_, l) in prose(text) {
        let Some(h) = l.strip_prefix('#') else { continue };
        let h = h.trim_start_matches('#');
        if !h.starts_with(' ') {
            continue;
        }
        let slug: String = h
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = bases.iter().filter(|s| **s == slug).count();
        seen.push(if n == 0 { slug.clone() } else { format!("{slug}-{n}") });
        bases.push(slug);
    }
    seen
}

/// The targets of inline links `[text](target)` outside code spans and blocks.
fn links(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'`' => in_code = !in_code,
            b']' if !in_code && b.get(i + 1) == Some(&b'(') => {
                if let Some(end) = line[i + 2..].find(')') {
                    out.push(line[i + 2..i + 2 + end].to_string());
                    i += 2 + end;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn readme_every_relative_link_and_anchor_resolves() {
    let root = repo();
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for (n, line) in prose(&text) {
            for target in links(line) {
                let target = target.split_whitespace().next().unwrap_or("").to_string();
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let file = if path.is_empty() { doc.clone() } else { doc.parent().unwrap().join(path) };
                let shown = doc.strip_prefix(&root).unwrap().display().to_string();
                if !file.exists() {
                    broken.push(format!("{shown}:{n}: `{target}`: no such file"));
                    continue;
                }
                if !anchor.is_empty() && file.extension().is_some_and(|x| x == "md") {
                    let heads = anchors(&std::fs::read_to_string(&file).unwrap());
                    if !heads.iter().any(|h| h == anchor) {
                        broken.push(format!("{shown}:{n}: `{target}`: no heading with that anchor"));
                    }
                }
            }
        }
    }
    eprintln!("{checked} relative links checked");
    assert!(checked >= 40, "only {checked} links found: the link scanner is broken");
    assert!(broken.is_empty(), "{} broken link(s):\n{}", broken.len(), broken.join("\n"));
}
