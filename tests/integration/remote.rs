//! Server-managed settings against a real loopback HTTP server started by each test: fetch,
//! cache, ETag/304, failures (down, 500, slow, invalid), signatures (header and envelope, bad,
//! missing), a tampered or deleted cache, `forceRemoteSettingsRefresh`, precedence over
//! endpoint-managed settings, polling, the policy ConfigChange, and approvals.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::support::{Env, bash_event, free_port};

/// What the test server answers, changeable while it runs.
#[derive(Clone, Default)]
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
    pub(super) signature: Option<String>,
    pub(super) delay: Duration,
}

#[derive(Default)]
pub(super) struct Shared {
    pub(super) reply: Reply,
    pub(super) requests: usize,
    pub(super) if_none_match: Vec<Option<String>>,
    pub(super) if_modified_since: Vec<Option<String>>,
    /// The request target of each request.
    pub(super) paths: Vec<String>,
}

/// A real HTTP/1.1 server on 127.0.0.1 (one thread per connection, `Connection: close`).
pub(super) struct Server {
    pub(super) port: u16,
    pub(super) shared: Arc<Mutex<Shared>>,
}

impl Server {
    pub(super) fn start(reply: Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared { reply, ..Default::default() }));
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || handle(conn, &s));
            }
        });
        Server { port, shared }
    }

    pub(super) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/settings.json", self.port)
    }

    pub(super) fn set(&self, reply: Reply) {
        self.shared.lock().unwrap().reply = reply;
    }

    pub(super) fn requests(&self) -> usize {
        self.shared.lock().unwrap().requests
    }
}

fn handle(mut conn: TcpStream, shared: &Mutex<Shared>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut inm = None;
    let mut ims = None;
    let mut path = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if path.is_empty() {
            path = l.split(' ').nth(1).unwrap_or_default().to_string();
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("if-none-match")
        {
            inm = Some(v.trim().to_string());
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("if-modified-since")
        {
            ims = Some(v.trim().to_string());
        }
    }
    let reply = {
        let mut s = shared.lock().unwrap();
        s.requests += 1;
        s.if_none_match.push(inm.clone());
        s.if_modified_since.push(ims.clone());
        s.paths.push(path);
        s.reply.clone()
    };
    std::thread::sleep(reply.delay);
    let fresh =
        (reply.etag.is_some() && inm == reply.etag) || (reply.last_modified.is_some() && ims == reply.last_modified);
    let status = if fresh { 304 } else { reply.status };
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    if let Some(e) = &reply.etag {
        head.push_str(&format!("ETag: {e}\r\n"));
    }
    if let Some(m) = &reply.last_modified {
        head.push_str(&format!("Last-Modified: {m}\r\n"));
    }
    if let Some(sig) = &reply.signature {
        head.push_str(&format!("X-Hookhost-Signature: {sig}\r\n"));
    }
    let body: &[u8] = if status == 200 || status >= 400 { &reply.body } else { b"" };
    if status != 204 && status != 304 {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
}

/// Everything the dispatch said (a PreToolUse deny is JSON on stdout).
pub(super) fn text(out: &super::support::Output) -> String {
    format!("{}\n{}", out.stdout, out.stderr)
}

pub(super) fn ok(body: &str) -> Reply {
    Reply { status: 200, body: body.as_bytes().to_vec(), ..Default::default() }
}

/// A managed PreToolUse hook that blocks with `who` as the reason.
pub(super) fn blocking_hook(who: &str) -> Value {
    json!({"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": format!("echo {who}-policy >&2; exit 2")}]}]})
}

/// A server payload: a blocking hook plus the test sandbox grants (the payload replaces the
/// endpoint files, test drop-in included).
pub(super) fn server_payload(env: &Env, who: &str, extra: Value) -> String {
    let mut v = json!({"hooks": blocking_hook(who), "sandbox": {"allowWrite": [env.path()]}});
    if let (Value::Object(m), Value::Object(x)) = (&mut v, extra) {
        m.extend(x);
    }
    serde_json::to_string_pretty(&v).unwrap()
}

/// Endpoint-managed settings: the bootstrap, plus a blocking hook of its own.
pub(super) fn endpoint(env: &Env, remote: Value) {
    env.write("managed", &json!({"remoteSettings": remote, "hooks": blocking_hook("endpoint")}).to_string());
}

pub(super) fn remote_cfg(server: &Server) -> Value {
    json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0})
}

pub(super) fn status(env: &Env) -> Value {
    let out = env.run(&["status", "--json"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    out.json()
}

pub(super) fn audit_records(env: &Env) -> Vec<Value> {
    let p = env.state_home().join("hookhost/audit.jsonl");
    std::fs::read_to_string(p).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

pub(super) fn keygen(env: &Env, name: &str) -> (std::path::PathBuf, String) {
    let key = env.path().join(name);
    let out = env.run(&["keygen", key.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    (key, out.stdout.trim().to_string())
}

/// `hookhost sign --key KEY <payload> ARGS…`: what it prints (the envelope, or with
/// `--legacy --signature-only` the bare signature, trimmed).
pub(super) fn sign(env: &Env, key: &std::path::Path, payload: &str, args: &[&str]) -> String {
    let f = env.path().join("to-sign.json");
    std::fs::write(&f, payload).unwrap();
    let mut all = vec!["sign", "--key", key.to_str().unwrap(), f.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = env.run(&all, b"");
    assert_eq!(out.code, 0, "{out:?}");
    if args.contains(&"--signature-only") { out.stdout.trim().to_string() } else { out.stdout }
}

pub(super) fn cache_dir(env: &Env) -> std::path::PathBuf {
    let base = env.state_home().join("hookhost/remote");
    std::fs::read_dir(&base).unwrap().flatten().next().unwrap().path()
}

#[test]
fn server_up_applies_payload_caches_and_status_reports_it() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(ok(&server_payload(&env, "server", json!({}))));
    endpoint(&env, remote_cfg(&server));
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{out:?}");
    assert!(text(&out).contains("server-policy"), "server hook ran: {out:?}");
    assert!(!text(&out).contains("endpoint-policy"), "endpoint hooks are ignored, not merged: {out:?}");
    let st = status(&env);
    assert_eq!(st["managed_source"], "server");
    assert_eq!(st["remote"]["cache_verified"], true);
    assert_eq!(st["remote"]["last_result"], "changed");
    let table = env.run(&["status"], b"");
    assert!(table.stdout.contains("managed source     server"), "{table:?}");
    // A second dispatch uses the cache without asking the server (poll interval not reached).
    let n = server.requests();
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("server-policy"), "{out:?}");
    assert_eq!(server.requests(), n);
}

#[test]
fn server_down_at_first_launch_fails_open_loudly_and_audits() {
    let env = Env::new();
    // A port with nothing listening.
    let port = free_port();
    endpoint(&env, json!({"url": format!("http://127.0.0.1:{port}/s.json"), "timeoutSeconds": 1, "retries": 1}));
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("endpoint-policy"), "{out:?}");
    assert!(audit_records(&env).iter().any(|r| r["kind"] == "remote_settings"
        && r["what"] == "problem"
        && r["error"].as_str().unwrap().contains("fail open")));
    assert_eq!(status(&env)["managed_source"], "endpoint");
}

#[test]
fn server_500_at_first_launch_fails_open_and_later_keeps_the_cache() {
    let env = Env::new();
    let server = Server::start(Reply { status: 500, body: b"oops".to_vec(), ..Default::default() });
    endpoint(&env, remote_cfg(&server));
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("endpoint-policy"), "{out:?}");
    // Up: cached. Then 500 again: the refresh fails, the cache stays in force.
    server.set(ok(&server_payload(&env, "server", json!({}))));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server-policy"));
    server.set(Reply { status: 500, body: b"oops".to_vec(), ..Default::default() });
    let r = env.run(&["remote", "refresh"], b"");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("HTTP 500"), "{r:?}");
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server-policy"));
    assert!(status(&env)["remote"]["last_result"].as_str().unwrap().contains("HTTP 500"));
}

#[test]
fn slow_server_times_out() {
    let env = Env::new();
    let server = Server::start(Reply { delay: Duration::from_secs(4), ..ok("{}") });
    endpoint(&env, remote_cfg(&server));
    let t = Instant::now();
    let out = env.dispatch(&bash_event("ls"));
    assert!(t.elapsed() < Duration::from_secs(3), "bounded by timeoutSeconds: {:?}", t.elapsed());
    assert!(text(&out).contains("endpoint-policy"), "{out:?}");
    assert!(out.stdout.contains("could not be fetched"), "shown to the user as a system message: {out:?}");
    assert!(
        audit_records(&env)
            .iter()
            .any(|r| r["kind"] == "remote_settings" && r["error"].as_str().is_some_and(|e| e.contains("timeout")))
    );
    // The next events do not wait for the slow server again (for a minute): fail open at once.
    let t = Instant::now();
    let out = env.dispatch(&bash_event("ls"));
    assert!(t.elapsed() < Duration::from_millis(900), "{:?}", t.elapsed());
    assert!(text(&out).contains("endpoint-policy"), "{out:?}");
    assert!(out.stdout.contains("unavailable"), "{out:?}");
}

#[test]
fn invalid_json_is_rejected_and_never_cached() {
    let env = Env::new();
    let server = Server::start(ok("{\"hooks\": "));
    endpoint(&env, remote_cfg(&server));
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("endpoint-policy"), "{out:?}");
    assert!(!env.state_home().join("hookhost/remote").exists() || !cache_dir(&env).join("meta.json").exists());
    assert!(audit_records(&env).iter().any(|r| r["error"].as_str().is_some_and(|e| e.contains("invalid payload"))));
}

#[test]
fn empty_payload_or_204_lets_endpoint_managed_apply() {
    let env = Env::new();
    let server = Server::start(ok("{}"));
    endpoint(&env, remote_cfg(&server));
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("endpoint-policy"), "{out:?}");
    let st = status(&env);
    assert_eq!(st["managed_source"], "endpoint");
    assert_eq!(st["remote"]["empty"], true);
    // 204 after a real payload: the server withdraws its settings.
    server.set(ok(&server_payload(&env, "server", json!({}))));
    assert_eq!(env.run(&["remote", "refresh"], b"").code, 0);
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server-policy"));
    server.set(Reply { status: 204, ..Default::default() });
    let r = env.run(&["remote", "refresh"], b"");
    assert!(r.stdout.starts_with("changed"), "{r:?}");
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("endpoint-policy"));
}

#[test]
fn one_shot_refreshes_are_unconditional_and_watch_sends_only_its_own_validators() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(Reply { etag: Some("\"v1\"".into()), ..ok(&server_payload(&env, "server1", json!({}))) });
    endpoint(&env, remote_cfg(&server));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server1-policy"));
    // A one-shot refresh sends no validator read from the cache (the user can edit it): the
    // server sends the payload again, and the same bytes are "not modified".
    let r = env.run(&["remote", "refresh"], b"");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("not modified"), "{r:?}");
    {
        let sh = server.shared.lock().unwrap();
        assert!(sh.if_none_match.iter().all(Option::is_none), "{:?}", sh.if_none_match);
        assert!(sh.if_modified_since.iter().all(Option::is_none), "{:?}", sh.if_modified_since);
    }
    assert_eq!(status(&env)["remote"]["last_result"], "not modified");
    server.set(Reply { etag: Some("\"v2\"".into()), ..ok(&server_payload(&env, "server2", json!({}))) });
    let r = env.run(&["remote", "refresh"], b"");
    assert!(r.stdout.starts_with("changed"), "{r:?}");
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server2-policy"));
    // `remote watch` polls: its first fetch is unconditional, later ones send the validators
    // of the payload it fetched itself (a static server's Last-Modified included), and a 304
    // keeps that payload.
    let lm = "Wed, 25 Nov 2026 10:00:00 GMT".to_string();
    server.set(Reply {
        etag: Some("\"v3\"".into()),
        last_modified: Some(lm.clone()),
        ..ok(&server_payload(&env, "server3", json!({})))
    });
    endpoint(&env, json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0, "pollSeconds": 1}));
    let n = server.requests();
    let mut watch = env.command(&["remote", "watch"]);
    let mut child = watch.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    while server.requests() < n + 3 {
        assert!(t.elapsed() < Duration::from_secs(10), "watch did not poll");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let sh = server.shared.lock().unwrap();
    assert_eq!(sh.if_none_match[n], None, "the first fetch of a process is unconditional");
    assert_eq!(sh.if_none_match[n + 1].as_deref(), Some("\"v3\""));
    assert_eq!(sh.if_modified_since[n + 1].as_deref(), Some(lm.as_str()));
    drop(sh);
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server3-policy"));
}

#[test]
fn signatures_envelope_legacy_bad_and_missing() {
    let env = Env::new();
    let (key, public) = keygen(&env, "k1");
    let (other_key, _) = keygen(&env, "k2");
    let server = Server::start(Reply::default());
    let url = server.url();
    let payload = server_payload(&env, "signed", json!({}));
    endpoint(&env, json!({"url": url, "timeoutSeconds": 1, "retries": 0, "publicKey": public}));
    let errors = |env: &Env| -> Vec<String> {
        audit_records(env).iter().filter_map(|r| r["error"].as_str().map(str::to_string)).collect()
    };

    // Missing signature: rejected, never cached, endpoint applies.
    server.set(ok(&payload));
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("endpoint-policy"), "{out:?}");
    assert!(errors(&env).iter().any(|e| e.contains("unsigned")));
    // Wrong key.
    server.set(ok(&sign(&env, &other_key, &payload, &["--url", &url])));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("endpoint-policy"));
    assert!(errors(&env).iter().any(|e| e.contains("does not verify")));
    // A bare (legacy) signature, valid, without allowLegacySignatures: refused.
    let bare = sign(&env, &key, &payload, &["--legacy", "--signature-only"]);
    server.set(Reply { signature: Some(bare.clone()), ..ok(&payload) });
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("endpoint-policy"));
    assert!(errors(&env).iter().any(|e| e.contains("allowLegacySignatures")), "{:?}", errors(&env));
    server.set(ok(&sign(&env, &key, &payload, &["--legacy"])));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("endpoint-policy"));
    assert!(!cache_dir(&env).join("meta.json").exists(), "rejected payloads are never cached");
    // The signed envelope (a static server serves it as it is): accepted.
    server.set(ok(&sign(&env, &key, &payload, &["--url", &url])));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("signed-policy"));
    let st = status(&env);
    assert_eq!(st["remote"]["authenticated_by"], "envelope", "{st}");
    // A newer envelope replaces it (the default version is now, above the previous one).
    let payload2 = server_payload(&env, "enveloped", json!({}));
    server.set(ok(&sign(&env, &key, &payload2, &["--url", &url])));
    assert_eq!(env.run(&["remote", "refresh"], b"").code, 0);
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("enveloped-policy"));
    // Key rotation: a list of accepted keys.
    let (_, public2) = keygen(&env, "k3");
    endpoint(&env, json!({"url": url, "timeoutSeconds": 1, "retries": 0, "publicKey": [public2, public]}));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("enveloped-policy"));
}

/// Migration: with `allowLegacySignatures`, bare signatures (header, version-1 envelope, a
/// signed 204) keep working until the first version-2 envelope; after that none is accepted.
#[test]
fn legacy_signatures_work_only_behind_allow_legacy_signatures_until_an_envelope_is_seen() {
    let env = Env::new();
    let (key, public) = keygen(&env, "k");
    let server = Server::start(Reply::default());
    let url = server.url();
    endpoint(
        &env,
        json!({"url": url, "timeoutSeconds": 1, "retries": 0, "publicKey": public, "allowLegacySignatures": true}),
    );
    let p1 = server_payload(&env, "legacy1", json!({}));
    server.set(Reply { signature: Some(sign(&env, &key, &p1, &["--legacy", "--signature-only"])), ..ok(&p1) });
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("legacy1-policy"));
    assert_eq!(status(&env)["remote"]["authenticated_by"], "legacy");
    let p2 = server_payload(&env, "legacy2", json!({}));
    server.set(ok(&sign(&env, &key, &p2, &["--legacy"])));
    assert!(env.run(&["remote", "refresh"], b"").stdout.starts_with("changed"));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("legacy2-policy"));
    // The legacy signed 204 (one constant per key) withdraws the server settings.
    let empty = sign(&env, &key, "", &["--legacy", "--signature-only"]);
    server.set(Reply { status: 204, signature: Some(empty.clone()), ..Default::default() });
    assert!(env.run(&["remote", "refresh"], b"").stdout.starts_with("changed"));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("endpoint-policy"));
    // The server moves to envelopes.
    let p3 = server_payload(&env, "v2", json!({}));
    server.set(ok(&sign(&env, &key, &p3, &["--url", &url])));
    assert!(env.run(&["remote", "refresh"], b"").stdout.starts_with("changed"));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("v2-policy"));
    // From now on a legacy payload is older than any envelope: the replayed signed 204 too.
    server.set(Reply { status: 204, signature: Some(empty), ..Default::default() });
    let r = env.run(&["remote", "refresh"], b"");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("older than"), "{r:?}");
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("v2-policy"));
}

#[test]
fn tampered_cache_is_rejected_and_deleted_cache_is_refetched() {
    let env = Env::new();
    let (key, public) = keygen(&env, "k");
    let server = Server::start(Reply::default());
    let payload = server_payload(&env, "server", json!({}));
    server.set(ok(&sign(&env, &key, &payload, &["--url", &server.url()])));
    endpoint(&env, json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0, "publicKey": public}));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server-policy"));
    // Tamper: a local user rewrites the cached payload and fixes up its hash in the record.
    let dir = cache_dir(&env);
    let evil = server_payload(&env, "evil", json!({}));
    let mut meta: Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    let sha = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(evil.as_bytes()));
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("payload-") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    std::fs::write(dir.join(format!("payload-{}.json", &sha[..32])), &evil).unwrap();
    meta["payload_sha256"] = sha.into();
    std::fs::write(dir.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    let st = status(&env);
    assert_eq!(st["remote"]["cache_verified"], false, "{st}");
    // Server down: the tampered cache is not applied; endpoint applies, loudly.
    server.set(Reply { status: 503, ..Default::default() });
    let out = env.dispatch(&bash_event("ls"));
    assert!(!text(&out).contains("evil-policy"), "{out:?}");
    assert!(text(&out).contains("endpoint-policy"), "{out:?}");
    assert!(audit_records(&env).iter().any(|r| r["error"].as_str().is_some_and(|e| e.contains("cache rejected"))));
    // Server up: the next fetch replaces it.
    server.set(ok(&sign(&env, &key, &payload, &["--url", &server.url()])));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server-policy"));
    assert_eq!(status(&env)["remote"]["cache_verified"], true);
    // Deleted cache: fetched again at the next start.
    std::fs::remove_dir_all(&dir).unwrap();
    let n = server.requests();
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server-policy"));
    assert_eq!(server.requests(), n + 1);
}

#[test]
fn force_remote_settings_refresh_fails_closed_when_the_server_is_down() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(Reply {
        etag: Some("\"f1\"".into()),
        ..ok(&server_payload(&env, "server", json!({"forceRemoteSettingsRefresh": true})))
    });
    endpoint(&env, remote_cfg(&server));
    // Up: fetched, applied, and the flag is now in the cache.
    let n = server.requests();
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server-policy"));
    // Every start needs a fresh fetch (self-perpetuating through the cache).
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("server-policy"), "{out:?}");
    assert_eq!(server.requests(), n + 2);
    // Unconditional: a 304 would vouch for whatever the local cache holds.
    assert_eq!(server.shared.lock().unwrap().if_none_match.last(), Some(&None));
    // A change seen by that startup fetch is applied to this very event and reported.
    let rev1 = status(&env)["remote"]["revision"].as_str().unwrap().to_string();
    server.set(ok(&server_payload(&env, "server2", json!({"forceRemoteSettingsRefresh": true}))));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server2-policy"));
    let change = audit_records(&env).into_iter().find(|r| r["kind"] == "settings_change").expect("audited");
    assert_eq!(change["previous"], rev1.as_str());
    assert_eq!(change["source"], "policy_settings");
    // Down: fail closed, exit 2 with the reason, even for an event no hook would block.
    server.set(Reply { status: 503, ..Default::default() });
    let out = env
        .dispatch(&serde_json::to_vec(&json!({"session_id": "s", "cwd": "/tmp", "hook_event_name": "Stop"})).unwrap());
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("forceRemoteSettingsRefresh"), "{out:?}");
    assert!(out.stderr.contains("HTTP 503"), "{out:?}");
    assert!(audit_records(&env).iter().any(|r| r["kind"] == "remote_settings" && r["what"] == "fail_closed"));
    // Endpoint-managed may set it too: a first launch with the server down fails closed.
    let env2 = Env::new();
    let port = free_port();
    env2.write(
        "managed",
        &json!({"forceRemoteSettingsRefresh": true,
                "remoteSettings": {"url": format!("http://127.0.0.1:{port}/s"), "timeoutSeconds": 1, "retries": 0}})
        .to_string(),
    );
    let out = env2.dispatch(&bash_event("ls"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("forceRemoteSettingsRefresh"), "{out:?}");
}

#[test]
fn poll_picks_up_a_change_within_one_interval_as_an_unblockable_policy_config_change() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(ok(&server_payload(&env, "v1", json!({}))));
    endpoint(&env, json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0, "pollSeconds": 1}));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("v1-policy"));
    let rev1 = status(&env)["remote"]["revision"].as_str().unwrap().to_string();
    let marker = env.path().join("configchange.json");
    // v2 has a ConfigChange hook that records its input and tries to block.
    let v2 = server_payload(
        &env,
        "v2",
        json!({"hooks": {
            "PreToolUse": blocking_hook("v2")["PreToolUse"],
            "ConfigChange": [{"hooks": [{"type": "command",
                "command": format!("cat > {}; echo no >&2; exit 2", marker.display())}]}]}}),
    );
    let mut watch = env.command(&["remote", "watch"]);
    let mut child = watch.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    server.set(ok(&v2));
    let changed_at = Instant::now();
    // `watch` prints the line once the change is cached, reported and audited.
    let line = rx.recv_timeout(Duration::from_secs(5));
    let took = changed_at.elapsed();
    child.kill().unwrap();
    child.wait().unwrap();
    let line = line.expect("watch reported the change");
    let rev2 = status(&env)["remote"]["revision"].as_str().unwrap().to_string();
    assert_ne!(rev2, rev1, "the change was picked up");
    assert_eq!(line, format!("changed {rev1} -> {rev2}"));
    // One interval is 1 s (+ up to 10 % jitter); the ConfigChange hook runs before the line.
    assert!(took < Duration::from_millis(2500), "within one interval: {took:?}");
    // The ConfigChange hook saw a policy_settings change with both revisions.
    let ev: Value = serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
    assert_eq!(ev["hook_event_name"], "ConfigChange");
    assert_eq!(ev["source"], "policy_settings");
    assert_eq!(ev["hookhost"]["previous_revision"], rev1.as_str());
    assert_eq!(ev["hookhost"]["new_revision"], rev2.as_str());
    assert!(ev["file_path"].as_str().unwrap().contains("payload-"));
    // Applied although the hook blocked, and audited as such.
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("v2-policy"));
    let rec =
        audit_records(&env).into_iter().find(|r| r["kind"] == "settings_change").expect("settings_change audited");
    assert_eq!(rec["source"], "policy_settings");
    assert_eq!(rec["previous"], rev1.as_str());
    assert_eq!(rec["new"], rev2.as_str());
    assert_eq!(rec["blocked_by_hook"], true);
    assert_eq!(rec["applied"], true);
}

#[test]
fn stale_cache_is_refreshed_in_the_background_by_dispatch() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(ok(&server_payload(&env, "v1", json!({}))));
    endpoint(&env, json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0, "pollSeconds": 1}));
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("v1-policy"));
    server.set(ok(&server_payload(&env, "v2", json!({}))));
    std::thread::sleep(Duration::from_millis(1300));
    // The cache is applied at once (v1); the refresh runs after, detached.
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("v1-policy"), "{out:?}");
    let t = Instant::now();
    loop {
        let out = env.dispatch(&bash_event("ls"));
        if text(&out).contains("v2-policy") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "background refresh never landed: {out:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn require_approval_holds_server_hooks_until_approved() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(ok(&server_payload(&env, "server", json!({"env": {"HTTPS_PROXY": "http://proxy:3128"}}))));
    endpoint(&env, json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0, "requireApproval": true}));
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.code, 0, "unapproved server hooks do not run: {out:?}");
    assert!(out.stdout.contains("approval"), "{out:?}");
    // Said once per agent session (as skipped project hooks are): not again in session `s1`,
    // again in a new one; the hooks stay held back either way.
    let again = env.dispatch(&bash_event("ls"));
    assert_eq!(again.code, 0, "{again:?}");
    assert!(!again.stdout.contains("approval") && !text(&again).contains("server-policy"), "{again:?}");
    let mut other: serde_json::Value = serde_json::from_slice(&bash_event("ls")).unwrap();
    other["session_id"] = "s2".into();
    let other = env.dispatch(&serde_json::to_vec(&other).unwrap());
    assert!(other.stdout.contains("approval") && !text(&other).contains("server-policy"), "{other:?}");
    let rev = status(&env)["remote"]["revision"].as_str().unwrap().to_string();
    let list = env.run(&["approvals"], b"");
    assert!(list.stdout.contains(&rev), "{list:?}");
    assert!(list.stdout.contains("server-policy"), "{list:?}");
    assert!(list.stdout.contains("HTTPS_PROXY"), "{list:?}");
    assert!(list.stdout.contains("pending"), "{list:?}");
    assert_eq!(env.run(&["approve", "0000000000"], b"").code, 1, "only the current revision");
    let a = env.run(&["approve", &rev], b"");
    assert_eq!(a.code, 0, "{a:?}");
    assert!(text(&env.dispatch(&bash_event("ls"))).contains("server-policy"));
    let r = env.run(&["reject", &rev], b"");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!text(&env.dispatch(&bash_event("ls"))).contains("server-policy"));
    let decisions: Vec<_> = audit_records(&env)
        .into_iter()
        .filter(|r| r["kind"] == "remote_settings_approval")
        .map(|r| r["decision"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(decisions, ["approved", "rejected"]);
}

#[test]
fn bad_remote_settings_bootstrap_is_a_located_managed_error() {
    let env = Env::new();
    env.write("managed", "{\n  \"remoteSettings\": {\"url\": \"http://example.com/s\"}\n}");
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.code, 2, "invalid managed settings fail closed: {out:?}");
    assert!(out.stderr.contains("managed-settings.json:2:29"), "the url value: {out:?}");
    assert!(out.stderr.contains("https://"), "{out:?}");
}

#[test]
fn precedence_server_replaces_every_endpoint_file_and_keeps_the_bootstrap() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    // The server tries to repoint itself; only the endpoint's bootstrap counts.
    server.set(ok(&json!({
        "permissions": {"deny": ["Bash(curl *)"]},
        "remoteSettings": {"url": "https://elsewhere.example/s.json"}
    })
    .to_string()));
    endpoint(&env, remote_cfg(&server));
    env.write("managed.d/50-more.json", &json!({"hooks": blocking_hook("dropin")}).to_string());
    let out = env.dispatch(&bash_event("ls"));
    assert!(!text(&out).contains("endpoint-policy") && !text(&out).contains("dropin-policy"), "{out:?}");
    let out = env.dispatch(&bash_event("curl http://x"));
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "server rule applies: {out:?}");
    let check = env.run(&["check"], b"");
    assert!(check.stdout.contains("managed source: server"), "{check:?}");
    assert!(!check.stdout.contains("managed-settings.d"), "endpoint files are not sources: {check:?}");
    assert_eq!(status(&env)["remote"]["url"], server.url().as_str());
    // The server withdraws its settings ({}): every endpoint file applies again.
    server.set(ok("{}"));
    assert_eq!(env.run(&["remote", "refresh"], b"").code, 0);
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("endpoint-policy") && text(&out).contains("dropin-policy"), "{out:?}");
}

/// The daemon: refuses to start when forceRemoteSettingsRefresh cannot fetch; polls the server
/// and applies a change to its live settings as an unblockable policy ConfigChange.
#[test]
fn the_daemon_polls_the_server_and_refuses_to_start_without_a_forced_fetch() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(ok(&server_payload(&env, "v1", json!({}))));
    endpoint(&env, json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0, "pollSeconds": 1}));
    env.write(
        "user",
        &json!({"hooks": {"ConfigChange": [{"hooks": [{"type": "command", "command": "echo frozen >&2; exit 2"}]}]}})
            .to_string(),
    );
    let socket = env.path().join("d.sock");
    let start = |env: &Env| {
        let mut c = env.bare_command(&["serve", "--socket", socket.to_str().unwrap()]);
        c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let mut daemon = start(&env);
    let t = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "the daemon did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let thin = |env: &Env| {
        let mut c = env.bare_command(&["dispatch"]);
        c.env("HOOKHOST_SOCKET", &socket);
        let out = super::support::run(c, &bash_event("ls"));
        assert!(!out.stdout.contains("in-process") && !out.stderr.contains("in-process"), "{out:?}");
        text(&out)
    };
    assert!(thin(&env).contains("v1-policy"));
    server.set(ok(&server_payload(&env, "v2", json!({}))));
    let changed = Instant::now();
    while !thin(&env).contains("v2-policy") {
        assert!(changed.elapsed() < Duration::from_secs(5), "the daemon never applied the server's change");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rec = audit_records(&env)
        .into_iter()
        .find(|r| r["kind"] == "settings_change" && r["change"] == "server")
        .expect("the daemon audited the policy change");
    assert_eq!(rec["result"], "policy");
    assert!(rec["blocked_by_hook_ignored"].as_str().unwrap_or_default().contains("frozen"), "{rec}");
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    // forceRemoteSettingsRefresh with the server down: serve refuses to start.
    let _ = std::fs::remove_file(&socket);
    env.write(
        "managed",
        &json!({"forceRemoteSettingsRefresh": true,
                "remoteSettings": {"url": server.url(), "timeoutSeconds": 1, "retries": 0}})
        .to_string(),
    );
    server.set(Reply { status: 503, ..Default::default() });
    let out = start(&env).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to start") && err.contains("forceRemoteSettingsRefresh"), "{err}");
    assert!(!socket.exists());
}
