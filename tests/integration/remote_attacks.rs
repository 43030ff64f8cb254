//! Attacks on server-managed settings, each against a real loopback HTTP server (the README's
//! `python3 -m http.server` where the bug involved it): rollback through a put-back cache and a
//! 304, replay across URLs and fleets, a replayed empty policy, an expired envelope, a version
//! regression, future-dated state timestamps, the daemon's conditional refresh under force and
//! its handling of `hookhost reject`, and header values that could never be sent.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::remote::{
    Reply, Server, audit_records, blocking_hook, cache_dir, endpoint, keygen, ok, server_payload, sign, status, text,
};
use super::support::{Env, bash_event, free_port};
use hookhost::settings::remote::{self, RemoteConfig, Signed, Target};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn stop_event() -> Vec<u8> {
    serde_json::to_vec(&json!({"session_id": "s", "cwd": "/tmp", "hook_event_name": "Stop"})).unwrap()
}

/// `python3 -m http.server` serving `dir` on 127.0.0.1, its request log in `log`.
struct Python {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Python {
    fn start(dir: &Path, log: &Path) -> Python {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-u", "-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("python3 (the README's static server) is installed");
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "python3 -m http.server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Python { child, port, log: log.to_path_buf() }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/settings.json", self.port)
    }

    /// The status codes python answered, in order.
    fn statuses(&self) -> Vec<u16> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"GET "))
            .filter_map(|l| l.split("\" ").nth(1)?.split(' ').next()?.parse().ok())
            .collect()
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of every file in the cache directory (what a user can save and put back).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Puts a snapshot back the way an attacker would: the old payload and record, the record's
/// validators and fetch time edited (`edit`), `highest.json` deleted unless `keep_highest`.
fn put_back(dir: &Path, snap: &[(PathBuf, Vec<u8>)], keep_highest: bool, edit: impl Fn(&mut Value)) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("payload-") || (n == "highest.json" && !keep_highest) {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    for (p, b) in snap {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if n == "meta.json" {
            let mut m: Value = serde_json::from_slice(b).unwrap();
            edit(&mut m);
            std::fs::write(p, serde_json::to_vec(&m).unwrap()).unwrap();
        } else if n.starts_with("payload-") {
            std::fs::write(p, b).unwrap();
        }
    }
}

fn denied_by(out: &super::support::Output, who: &str) -> bool {
    text(out).contains(&format!("{who}-policy"))
}

/// Attack: save a validly signed older payload, let the admin publish a newer one (which also
/// turns on forceRemoteSettingsRefresh), put the old one back with `Last-Modified` in the year
/// 9999, and let python's http.server answer 304 forever. Now: refreshes are unconditional (the
/// server answers 200 with the new policy), a future fetch time does not postpone the refresh,
/// and a put-back below `highest.json` is detected at load and repaired or failed closed.
#[test]
fn rollback_via_put_back_cache_and_304_is_undone_by_the_next_fetch() {
    let env = Env::new();
    let (key, public) = keygen(&env, "k");
    let www = env.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let py = Python::start(&www, &env.path().join("python.log"));
    let url = py.url();
    let served = www.join("settings.json");
    let publish = |payload: &str, version: &str| {
        let out = sign(&env, &key, payload, &["--url", &url, "--version", version]);
        std::fs::write(&served, out).unwrap();
    };
    // The old, permissive policy: no hooks at all.
    let old = json!({"permissions": {"allow": ["Bash(ls *)"]}, "sandbox": {"allowWrite": [env.path()]}}).to_string();
    publish(&old, "100");
    endpoint(&env, json!({"url": url, "timeoutSeconds": 2, "retries": 0, "publicKey": public, "pollSeconds": 3600}));
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!denied_by(&out, "endpoint") && !denied_by(&out, "new"), "the old server policy applies: {out:?}");
    let old_rev = status(&env)["remote"]["revision"].as_str().unwrap().to_string();
    let dir = cache_dir(&env);
    let saved = snapshot(&dir);
    // The admin publishes the new policy (and forceRemoteSettingsRefresh).
    std::thread::sleep(Duration::from_millis(1100)); // a newer mtime for python's Last-Modified
    publish(&server_payload(&env, "new", json!({"forceRemoteSettingsRefresh": true})), "200");
    let r = env.run(&["remote", "refresh"], b"");
    assert!(r.stdout.starts_with(&format!("changed {old_rev} -> ")), "{r:?}");
    let new_rev = status(&env)["remote"]["revision"].as_str().unwrap().to_string();
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "new"));

    // The attack: the old payload put back, Last-Modified in the year 9999, fetched "now".
    let forge = |m: &mut Value| {
        m["last_modified"] = "Fri, 31 Dec 9999 23:59:59 GMT".into();
        m["etag"] = Value::Null;
        m["fetched_at"] = (now() as f64).into();
    };
    put_back(&dir, &saved, false, forge);
    assert_eq!(status(&env)["remote"]["revision"], old_rev.as_str(), "the put-back is what the cache holds");
    let before = py.statuses().len();
    let r = env.run(&["remote", "refresh"], b"");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.trim(), format!("changed {old_rev} -> {new_rev}"), "not `not modified {old_rev}`");
    assert_eq!(py.statuses()[before..], [200], "python answered the full payload, never 304");
    let out = env.dispatch(&bash_event("ls"));
    assert!(denied_by(&out, "new"), "the new policy is back: {out:?}");

    // Again, with the fetch time in the future so that no refresh would ever look due: the time
    // is ignored (and reported), the refresh runs in the background and lands.
    put_back(&dir, &saved, false, |m| {
        forge(m);
        m["fetched_at"] = 32_503_680_000.0.into(); // year 3000
    });
    let attempt = json!({"at": 32_503_680_000.0, "result": "changed", "took": 0.1, "revision": old_rev});
    std::fs::write(dir.join("last-attempt.json"), attempt.to_string()).unwrap();
    let out = env.dispatch(&bash_event("ls"));
    assert!(text(&out).contains("dated in the future"), "reported: {out:?}");
    let t = Instant::now();
    while !denied_by(&env.dispatch(&bash_event("ls")), "new") {
        assert!(t.elapsed() < Duration::from_secs(10), "the background refresh never replaced the put-back");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A put-back below highest.json (kept) is detected at load: with the server up the next
    // dispatch fetches synchronously and the new policy decides this very event…
    put_back(&dir, &saved, true, forge);
    let out = env.dispatch(&bash_event("ls"));
    assert!(denied_by(&out, "new"), "{out:?}");
    assert!(text(&out).contains("rolled back"), "reported: {out:?}");
    // …and with the server gone it fails closed, even for an event no hook blocks.
    put_back(&dir, &saved, true, forge);
    drop(py);
    let out = env.dispatch(&stop_event());
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("rolled back"), "{out:?}");
    assert!(audit_records(&env).iter().any(|r| r["what"] == "fail_closed"));
}

/// A server (or anyone on the path) answering 304 to a request that asked nothing to be
/// confirmed: an error, never "not modified" for whatever the cache holds.
#[test]
fn a_304_to_an_unconditional_request_is_an_error() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(ok(&server_payload(&env, "server", json!({}))));
    endpoint(&env, json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0}));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "server"));
    server.set(Reply { status: 304, ..Default::default() });
    let r = env.run(&["remote", "refresh"], b"");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("304 Not Modified to an unconditional request"), "{r:?}");
    assert!(status(&env)["remote"]["last_result"].as_str().unwrap().contains("unconditional"));
}

/// Attack: tenant A's validly signed permissive envelope served at tenant B's URL (same key),
/// and a fleet-bound envelope for fleet A at a client of fleet B.
#[test]
fn replay_across_urls_and_fleets_is_refused() {
    let env = Env::new();
    let (key, public) = keygen(&env, "k");
    let a = Server::start(Reply::default());
    let b = Server::start(Reply::default());
    let permissive = json!({"permissions": {"allow": ["Bash(*)"]}}).to_string();
    let for_a = sign(&env, &key, &permissive, &["--url", &a.url()]);
    let for_b = sign(&env, &key, &server_payload(&env, "tenant-b", json!({})), &["--url", &b.url()]);
    endpoint(&env, json!({"url": b.url(), "timeoutSeconds": 1, "retries": 0, "publicKey": public}));
    b.set(ok(&for_a));
    let out = env.dispatch(&bash_event("ls"));
    assert!(denied_by(&out, "endpoint"), "A's payload is not B's policy: {out:?}");
    assert!(
        audit_records(&env)
            .iter()
            .any(|r| r["error"].as_str().is_some_and(|e| e.contains(&format!("signed for url {}", a.url())))),
        "{:?}",
        audit_records(&env)
    );
    assert!(!cache_dir(&env).join("meta.json").exists(), "never cached");
    b.set(ok(&for_b));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "tenant-b"));
    // Replaying A's envelope later does not replace B's policy either.
    b.set(ok(&for_a));
    let r = env.run(&["remote", "refresh"], b"");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "tenant-b"));

    // Fleets: the client is configured with fleet "tenant-b"; the URL no longer matters.
    let env = Env::new();
    let (key, public) = keygen(&env, "k");
    let s = Server::start(Reply::default());
    endpoint(
        &env,
        json!({"url": s.url(), "fleet": "tenant-b", "timeoutSeconds": 1, "retries": 0, "publicKey": public}),
    );
    s.set(ok(&sign(&env, &key, &permissive, &["--fleet", "tenant-a"])));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "endpoint"));
    s.set(ok(&sign(&env, &key, &permissive, &["--url", &s.url()])));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "endpoint"), "a URL-bound envelope is not the fleet's");
    s.set(ok(&sign(&env, &key, &server_payload(&env, "fleet-b", json!({})), &["--fleet", "tenant-b"])));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "fleet-b"));
    assert_eq!(status(&env)["remote"]["fleet"], "tenant-b");
}

/// Attack: a signed "no server settings" is replayed to switch server policy off: the old
/// signed empty envelope (a lower version), a bare 204, and the legacy signature over zero bytes
/// (one constant per key).
#[test]
fn a_replayed_empty_policy_is_refused() {
    let env = Env::new();
    let (key, public) = keygen(&env, "k");
    let server = Server::start(Reply::default());
    let url = server.url();
    endpoint(&env, json!({"url": url, "timeoutSeconds": 1, "retries": 0, "publicKey": public}));
    // The admin starts with no server settings: an empty policy is a signed envelope too.
    let empty_v100 = sign(&env, &key, "{}", &["--url", &url, "--version", "100"]);
    server.set(ok(&empty_v100));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "endpoint"));
    assert_eq!(status(&env)["remote"]["empty"], true);
    assert_eq!(status(&env)["remote"]["version"], 100);
    // Then publishes a policy.
    server.set(ok(&sign(&env, &key, &server_payload(&env, "server", json!({})), &["--url", &url, "--version", "200"])));
    assert!(env.run(&["remote", "refresh"], b"").stdout.starts_with("changed"));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "server"));
    // Replays that would switch it off.
    let legacy_empty = sign(&env, &key, "", &["--legacy", "--signature-only"]);
    for (what, reply, why) in [
        ("the old signed empty envelope", ok(&empty_v100), "older than"),
        ("a bare 204", Reply { status: 204, ..Default::default() }, "unsigned"),
        (
            "a legacy-signed 204",
            Reply { status: 204, signature: Some(legacy_empty.clone()), ..Default::default() },
            "allowLegacySignatures",
        ),
    ] {
        server.set(reply);
        let r = env.run(&["remote", "refresh"], b"");
        assert_eq!(r.code, 1, "{what}: {r:?}");
        assert!(r.stderr.contains(why), "{what}: {r:?}");
        assert!(denied_by(&env.dispatch(&bash_event("ls")), "server"), "{what} switched server policy off");
    }
    // The admin withdraws the policy for real: a newer signed empty envelope.
    server.set(ok(&sign(&env, &key, "{}", &["--url", &url, "--version", "300"])));
    assert!(env.run(&["remote", "refresh"], b"").stdout.starts_with("changed"));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "endpoint"));
}

/// An envelope signed with `expires` in the past, as the admin's key would have signed it.
fn envelope_with(key_file: &Path, url: &str, payload: &str, version: u64, expires: u64) -> String {
    let key = remote::read_signing_key(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    let meta = Signed { target: Target::Url(url.to_string()), version, expires };
    hookhost::settings::envelope::sign(&key, &meta, payload.as_bytes())
}

/// Attack: an expired envelope served (a frozen or replaying server), and a cached envelope
/// that expired while the server was unreachable. Neither applies; the expired payload's
/// `failClosed` events fail closed; other events follow their failure policy (open, loudly).
#[test]
fn an_expired_envelope_is_refused_with_the_events_failure_policy() {
    let env = Env::new();
    let (key, public) = keygen(&env, "k");
    let server = Server::start(Reply::default());
    let url = server.url();
    let bootstrap = json!({"url": url, "timeoutSeconds": 1, "retries": 0, "publicKey": public});
    endpoint(&env, bootstrap.clone());
    let payload = server_payload(&env, "server", json!({"failClosed": ["PreToolUse"]}));
    // Served already expired: refused, never cached.
    server.set(ok(&envelope_with(&key, &url, &payload, 10, now() - 3600)));
    let out = env.dispatch(&bash_event("ls"));
    assert!(denied_by(&out, "endpoint"), "{out:?}");
    assert!(audit_records(&env).iter().any(|r| r["error"].as_str().is_some_and(|e| e.contains("expired at"))));
    assert!(!cache_dir(&env).join("meta.json").exists());

    // Cached while it was valid (written as hookhost writes it), expired since; server down.
    let cfg = RemoteConfig::from_value(&bootstrap).unwrap();
    let env_text = envelope_with(&key, &url, &payload, 10, now() - 3600);
    let body: Value = serde_json::from_str(&env_text).unwrap();
    let bytes = payload.as_bytes().to_vec();
    let p = remote::Payload {
        revision: remote::sha256_hex(&bytes),
        bytes,
        signature: Some(body["signature"].as_str().unwrap().to_string()),
        signed: Some(Signed { target: cfg.target(), version: 10, expires: body["expires"].as_u64().unwrap() }),
    };
    let cache = remote::Cache::new(Some(&env.state_home().join("hookhost")), &cfg.url);
    cache.store(&cfg, &p, Default::default()).unwrap();
    server.set(Reply { status: 503, ..Default::default() });
    // PreToolUse is in the expired payload's failClosed: closed.
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("expired"), "{out:?}");
    assert!(!denied_by(&out, "server"), "the expired policy's hooks do not run");
    // Stop is not: open, endpoint-managed settings apply, and the user is told.
    let out = env.dispatch(&stop_event());
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("expired"), "{out:?}");
    assert!(audit_records(&env).iter().any(|r| r["kind"] == "remote_settings" && r["what"] == "expired"));
    let st = status(&env);
    assert_eq!(st["remote"]["expired"], p.revision.as_str(), "{st}");
    // The server is back with a fresh envelope: applied.
    server.set(ok(&sign(&env, &key, &payload, &["--url", &url, "--version", "11"])));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "server"));
}

/// Attack: the server (or the path) serves a validly signed older version, or reuses a version
/// for other content. Refused; the cache stays; under forceRemoteSettingsRefresh it fails
/// closed.
#[test]
fn a_version_regression_is_refused() {
    let env = Env::new();
    let (key, public) = keygen(&env, "k");
    let server = Server::start(Reply::default());
    let url = server.url();
    endpoint(&env, json!({"url": url, "timeoutSeconds": 1, "retries": 0, "publicKey": public}));
    let v200 = server_payload(&env, "v200", json!({}));
    server.set(ok(&sign(&env, &key, &v200, &["--url", &url, "--version", "200"])));
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "v200"));
    let permissive = json!({"permissions": {"allow": ["Bash(*)"]}}).to_string();
    for (version, what) in [("100", "older"), ("199", "older"), ("200", "the same version, other content")] {
        server.set(ok(&sign(&env, &key, &permissive, &["--url", &url, "--version", version])));
        let r = env.run(&["remote", "refresh"], b"");
        assert_eq!(r.code, 1, "{what}: {r:?}");
        assert!(r.stderr.contains("older than"), "{what}: {r:?}");
        assert!(denied_by(&env.dispatch(&bash_event("ls")), "v200"), "{what}");
    }
    // The same envelope again is fine; so is the same content with a new expiry and version.
    server.set(ok(&sign(&env, &key, &v200, &["--url", &url, "--version", "200", "--expires", "2d"])));
    assert!(env.run(&["remote", "refresh"], b"").stdout.starts_with("not modified"));
    // Under forceRemoteSettingsRefresh a regression at startup fails closed.
    let forced = server_payload(&env, "forced", json!({"forceRemoteSettingsRefresh": true}));
    server.set(ok(&sign(&env, &key, &forced, &["--url", &url, "--version", "300"])));
    assert_eq!(env.run(&["remote", "refresh"], b"").code, 0);
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "forced"));
    server.set(ok(&sign(&env, &key, &permissive, &["--url", &url, "--version", "250"])));
    let out = env.dispatch(&stop_event());
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("forceRemoteSettingsRefresh") && out.stderr.contains("older than"), "{out:?}");
    // `hookhost sign` itself refuses to write a lower version over the file it replaces.
    let f = env.path().join("www.json");
    let p = env.path().join("p.json");
    std::fs::write(&p, &v200).unwrap();
    let k = key.to_str().unwrap();
    let signed = |v: &str| {
        env.run(
            &["sign", "--key", k, p.to_str().unwrap(), "--url", &url, "--version", v, "-o", f.to_str().unwrap()],
            b"",
        )
    };
    assert_eq!(signed("500").code, 0);
    std::fs::write(&p, &permissive).unwrap();
    let r = signed("400");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not above version 500"), "{r:?}");
    let r = env.run(&["sign", "--key", k, p.to_str().unwrap(), "--url", &url, "-o", f.to_str().unwrap()], b"");
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert!(v["version"].as_u64().unwrap() > 500, "the default version goes up: {v}");
}

/// Attack: `last-attempt.json` and the cache's `fetched_at` dated in the future. Before, a
/// future failed attempt made every dispatch skip the server forever (fail open) and a future
/// fetch time meant no refresh was ever due. Now both are ignored and reported.
#[test]
fn future_dated_state_timestamps_are_ignored_and_reported() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(ok(&server_payload(&env, "server", json!({}))));
    endpoint(&env, json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0, "pollSeconds": 3600}));
    // No cache; a "slow failure" recorded in the year 3000.
    let state = env.state_home().join("hookhost/remote");
    let dir = state.join(&remote::sha256_hex(server.url().as_bytes())[..16]);
    std::fs::create_dir_all(&dir).unwrap();
    let future = 32_503_680_000.0; // year 3000
    for (at, took) in [(future, 5.0), (f64::from(u32::MAX) * 100.0, 5.0), (now() as f64, -5.0), (now() as f64, 1e9)] {
        std::fs::remove_file(dir.join("meta.json")).ok();
        std::fs::write(
            dir.join("last-attempt.json"),
            json!({"at": at, "result": "error: cannot reach the server", "took": took}).to_string(),
        )
        .unwrap();
        let out = env.dispatch(&bash_event("ls"));
        assert!(denied_by(&out, "server"), "the server was asked and its policy applies: {out:?}");
        assert!(out.stdout.contains("ignored"), "reported: {out:?}");
    }
    assert!(
        audit_records(&env)
            .iter()
            .any(|r| r["what"] == "problem" && r["error"].as_str().is_some_and(|e| e.contains("in the future")))
    );
    // A cache whose fetch time and last attempt are in the future: a refresh is due anyway.
    server.set(ok(&server_payload(&env, "server2", json!({}))));
    let mut m: Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    m["fetched_at"] = future.into();
    std::fs::write(dir.join("meta.json"), m.to_string()).unwrap();
    std::fs::write(dir.join("last-attempt.json"), json!({"at": future, "result": "changed", "took": 0.1}).to_string())
        .unwrap();
    let t = Instant::now();
    while !denied_by(&env.dispatch(&bash_event("ls")), "server2") {
        assert!(t.elapsed() < Duration::from_secs(10), "no refresh ever ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = status(&env);
    assert!(st["remote"]["last_fetch"].as_f64().unwrap() < future, "{st}");
}

/// A daemon with settings loaded, the thin client's `dispatch` as the agent's hook.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(env: &Env) -> Daemon {
        let socket = env.path().join("d.sock");
        let _ = std::fs::remove_file(&socket);
        let mut c = env.bare_command(&["serve", "--socket", socket.to_str().unwrap()]);
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let child = c.spawn().unwrap();
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "the daemon did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, socket }
    }

    fn dispatch(&self, env: &Env, event: &[u8]) -> super::support::Output {
        let mut c = env.bare_command(&["dispatch"]);
        c.env("HOOKHOST_SOCKET", &self.socket);
        let out = super::support::run(c, event);
        assert!(!text(&out).contains("in-process"), "answered by the daemon: {out:?}");
        out
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Before, the daemon ignored `hookhost reject` of an approved revision until its settings were
/// reassembled for another reason, and let unapproved hooks' failClosed events through. Now
/// the next event after `approve` / `reject` is decided as one-shot dispatch decides it.
#[test]
fn the_daemon_honours_approve_and_reject_at_the_next_event() {
    let env = Env::new();
    let server = Server::start(Reply::default());
    server.set(ok(&server_payload(&env, "server", json!({"failClosed": ["Stop"]}))));
    endpoint(&env, json!({"url": server.url(), "timeoutSeconds": 1, "retries": 0, "requireApproval": true}));
    let daemon = Daemon::start(&env);
    let rev = status(&env)["remote"]["revision"].as_str().unwrap().to_string();
    let one_shot_and_daemon = |event: &[u8]| (env.dispatch(event), daemon.dispatch(&env, event));
    // Pending: the server hook does not run; Stop fails closed (unapproved hooks count as failed).
    let (a, b) = one_shot_and_daemon(&bash_event("ls"));
    assert!(!denied_by(&a, "server") && !denied_by(&b, "server"), "{a:?} {b:?}");
    assert!(b.stdout.contains("approval"), "{b:?}");
    let (a, b) = one_shot_and_daemon(&stop_event());
    assert_eq!((a.code, b.code), (2, 2), "{a:?} {b:?}");
    for round in 0..3 {
        assert_eq!(env.run(&["approve", &rev], b"").code, 0);
        let (a, b) = one_shot_and_daemon(&bash_event("ls"));
        assert!(denied_by(&a, "server") && denied_by(&b, "server"), "round {round}: approved: {a:?} {b:?}");
        assert_eq!(env.run(&["reject", &rev], b"").code, 0);
        let (a, b) = one_shot_and_daemon(&bash_event("ls"));
        assert!(!denied_by(&a, "server") && !denied_by(&b, "server"), "round {round}: rejected: {a:?} {b:?}");
        let (a, b) = one_shot_and_daemon(&stop_event());
        assert_eq!((a.code, b.code), (2, 2), "round {round}: {a:?} {b:?}");
    }
}

/// Before, the daemon's poller sent the cache's validators even under
/// forceRemoteSettingsRefresh, and reread whatever the cache held: a put-back payload stayed.
/// Now: unconditional under force, otherwise only its own validators; a cache rolled back on
/// disk does not change what the daemon applies.
#[test]
fn the_daemon_refreshes_unconditionally_under_force_and_keeps_what_it_verified() {
    let env = Env::new();
    let (key, public) = keygen(&env, "k");
    let server = Server::start(Reply::default());
    let url = server.url();
    let old = server_payload(&env, "old", json!({}));
    server.set(Reply {
        etag: Some("\"e100\"".into()),
        ..ok(&sign(&env, &key, &old, &["--url", &url, "--version", "100"]))
    });
    let cfg = json!({"url": url, "timeoutSeconds": 1, "retries": 0, "publicKey": public, "pollSeconds": 1});
    endpoint(&env, cfg.clone());
    assert!(denied_by(&env.dispatch(&bash_event("ls")), "old"));
    let dir = cache_dir(&env);
    let saved = snapshot(&dir);
    let new = server_payload(&env, "new", json!({}));
    server.set(Reply {
        etag: Some("\"e200\"".into()),
        ..ok(&sign(&env, &key, &new, &["--url", &url, "--version", "200"]))
    });
    let daemon = Daemon::start(&env);
    let n = server.requests();
    let t = Instant::now();
    while server.requests() < n + 3 {
        assert!(t.elapsed() < Duration::from_secs(10), "the daemon did not poll");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(denied_by(&daemon.dispatch(&env, &bash_event("ls")), "new"));
    let inm: Vec<Option<String>> = server.shared.lock().unwrap().if_none_match[n..].to_vec();
    assert!(inm.iter().all(|v| v.is_none() || v.as_deref() == Some("\"e200\"")), "only its own: {inm:?}");
    assert!(inm.iter().any(|v| v.as_deref() == Some("\"e200\"")), "conditional on what it fetched: {inm:?}");
    drop(daemon);

    // A daemon that polls rarely: the cache rolled back on disk (highest.json gone too), then a
    // settings change makes it reassemble from the cache: it keeps the payload it verified.
    let mut rare = cfg.clone();
    rare["pollSeconds"] = 3600.into();
    endpoint(&env, rare);
    let daemon = Daemon::start(&env);
    assert!(denied_by(&daemon.dispatch(&env, &bash_event("ls")), "new"));
    let socket = daemon.socket.to_str().unwrap().to_string();
    let live_revision = || {
        let st = env.run(&["status", "--json", "--socket", &socket], b"").json();
        st["daemon"]["revision"].as_str().unwrap_or_default().to_string()
    };
    let before = live_revision();
    put_back(&dir, &saved, false, |_| {});
    assert_eq!(status(&env)["remote"]["revision"], remote::sha256_hex(old.as_bytes()), "the disk holds the put-back");
    env.write("user", &json!({"env": {"X": "1"}}).to_string());
    let t = Instant::now();
    while live_revision() == before {
        assert!(t.elapsed() < Duration::from_secs(5), "the daemon did not reassemble");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(denied_by(&daemon.dispatch(&env, &bash_event("ls")), "new"));
    drop(daemon);

    // Under endpoint-managed forceRemoteSettingsRefresh: never a validator.
    let mut forced = cfg.clone();
    forced["pollSeconds"] = 1.into();
    env.write(
        "managed",
        &json!({"remoteSettings": forced, "forceRemoteSettingsRefresh": true,
        "hooks": blocking_hook("endpoint")})
        .to_string(),
    );
    let n = server.requests();
    let _daemon = Daemon::start(&env);
    let t = Instant::now();
    while server.requests() < n + 4 {
        assert!(t.elapsed() < Duration::from_secs(10), "the daemon did not poll");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sh = server.shared.lock().unwrap();
    assert!(sh.if_none_match[n..].iter().all(Option::is_none), "{:?}", &sh.if_none_match[n..]);
    assert!(sh.if_modified_since[n..].iter().all(Option::is_none));
}

/// Before, a header value with U+000B or U+0000 passed validation, then every request failed to
/// build and server policy silently never loaded. Now it is a load error at the value's
/// file:line:column, and a managed load error fails closed.
#[test]
fn header_values_that_cannot_be_sent_fail_at_load_with_their_location() {
    for (bad, shown) in [("a\\u000bb", "U+000B"), ("a\\u0000b", "U+0000"), ("tab\\tok\\u007f", "U+007F")] {
        let env = Env::new();
        let text_of = format!(
            "{{\n  \"remoteSettings\": {{\n    \"url\": \"https://policy.example/s.json\",\n    \"headers\": {{\n      \
             \"X-Token\": \"{bad}\"\n    }}\n  }}\n}}\n"
        );
        env.write("managed", &text_of);
        let out = env.dispatch(&bash_event("ls"));
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("managed-settings.json:5:18"), "the value's location: {out:?}");
        assert!(out.stderr.contains("remoteSettings.headers.X-Token") && out.stderr.contains(shown), "{out:?}");
        let check = env.run(&["check"], b"");
        assert_ne!(check.code, 0, "{check:?}");
        assert!(format!("{}{}", check.stdout, check.stderr).contains("managed-settings.json:5:18"), "{check:?}");
    }
}
