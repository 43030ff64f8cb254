//! Fleet observability (issue 24) against the real engines: the audit log shipped to a real
//! rsyslog (started by the test on a loopback port and a private Unix socket, writing to files)
//! and to an OTLP/HTTP receiver on loopback that decodes with the official
//! `opentelemetry-proto` definitions (no OpenTelemetry Collector installs from the package
//! registries); the daemon's metrics scraped by a real Prometheus and read back through its
//! HTTP API. Every check is of an effect: the records the receivers wrote, byte for byte; the
//! series Prometheus stored; what never appears in any of them.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookhost::daemon::Reply;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;
use serde_json::{Value, json};

use super::daemon::Daemon;
use super::support::{Env, bash_event, free_port, run};

/// A loopback port free right now.
/// The program `bin`, installing Debian package `package` when it is missing (CI installs it
/// too: `.ci/run`).
fn ensure_package(bin: &str, package: &str) -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _held = INSTALL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let find =
        || ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].iter().map(|d| Path::new(d).join(bin)).find(|p| p.is_file());
    if let Some(p) = find() {
        return p;
    }
    let ok = Command::new("apt-get").args(["update", "-qq"]).status().is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    assert!(ok, "cannot install the Debian package {package}");
    find().unwrap_or_else(|| panic!("{package} installed but {bin} not found"))
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// rsyslog

/// A real rsyslogd: TCP on a loopback port (octet-counted RFC 5424) into `tcp.log`, a private
/// Unix datagram socket into `unix.log`, each line `MSGID STRUCTURED-DATA MSG`.
struct Rsyslog {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Rsyslog {
    fn start(dir: &Path) -> Rsyslog {
        let bin = ensure_package("rsyslogd", "rsyslog");
        std::fs::create_dir_all(dir.join("work")).unwrap();
        let port = free_port();
        let d = dir.display();
        // Direct queues and synchronous writes: a message is in the file before the next one is
        // read, so what a kill loses is only what was not yet read from the socket.
        let conf = format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="1m")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
main_queue(queue.type="Direct")
template(name="rec" type="string" string="%msgid% %structured-data% %msg%\n")
template(name="pri" type="string" string="%syslogfacility-text% %syslogseverity-text% %app-name% %hostname%\n")
ruleset(name="tcp" queue.type="Direct") {{
  action(type="omfile" file="{d}/tcp.log" template="rec" flushOnTXEnd="on" asyncWriting="off")
  action(type="omfile" file="{d}/tcp-pri.log" template="pri" flushOnTXEnd="on" asyncWriting="off")
}}
ruleset(name="unix" queue.type="Direct") {{
  action(type="omfile" file="{d}/unix.log" template="rec" flushOnTXEnd="on" asyncWriting="off")
}}
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="tcp")
input(type="imuxsock" socket="{d}/log.sock" ruleset="unix" useSpecialParser="off" parseHostname="on")
"#
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        assert!(
            Command::new(bin)
                .args(["-N1", "-f"])
                .arg(dir.join("rsyslog.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success()
        );
        let mut r = Rsyslog { dir: dir.to_path_buf(), port, child: None };
        r.restart();
        r
    }

    fn restart(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("log.sock"));
        let child = Command::new(ensure_package("rsyslogd", "rsyslog"))
            .arg("-n")
            .arg("-f")
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("stderr")).unwrap())
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
        let (port, sock) = (self.port, self.dir.join("log.sock"));
        wait_until("rsyslogd to listen", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok() && sock.exists()
        });
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The records in `file` (`tcp.log`, `unix.log`): (MSGID, STRUCTURED-DATA, MSG).
    fn lines(&self, file: &str) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (msgid, rest) = l.split_once(' ')?;
                let at = rest.find("] {")?;
                Some((msgid.to_string(), rest[..=at].to_string(), rest[at + 2..].to_string()))
            })
            .collect()
    }

    fn seqs(&self, file: &str) -> Vec<u64> {
        self.lines(file).iter().filter_map(|(_, _, m)| serde_json::from_str::<Value>(m).ok()?["seq"].as_u64()).collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// OTLP/HTTP receiver

/// One export request as received.
struct Export {
    raw: Vec<u8>,
    request: ExportLogsServiceRequest,
}

/// A loopback OTLP/HTTP receiver (`POST /v1/logs`, protobuf), decoding every request with the
/// official `opentelemetry-proto` types; answers 200 with an empty `ExportLogsServiceResponse`.
/// Killing it closes its port and every connection; what it received stays in `store`.
struct OtlpReceiver {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OtlpReceiver {
    fn start(port: u16, store: Arc<Mutex<Vec<Export>>>) -> OtlpReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (stop.clone(), store);
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => {
                        let (s, st) = (s.clone(), st.clone());
                        conns.push(std::thread::spawn(move || serve_otlp(c, &s, &st)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        OtlpReceiver { port, stop, thread: Some(thread) }
    }

    fn kill(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1/logs", self.port)
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve_otlp(mut c: TcpStream, stop: &AtomicBool, store: &Mutex<Vec<Export>>) {
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        // One request: the head, then Content-Length bytes.
        let (head_len, body_len) = loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                assert_eq!(req.method, Some("POST"));
                assert_eq!(req.path, Some("/v1/logs"));
                let h = |k: &str| req.headers.iter().find(|h| h.name.eq_ignore_ascii_case(k)).map(|h| h.value.to_vec());
                assert_eq!(h("content-type").as_deref(), Some(&b"application/x-protobuf"[..]));
                let len: usize = String::from_utf8(h("content-length").unwrap()).unwrap().parse().unwrap();
                break (n, len);
            }
            match c.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        };
        while buf.len() < head_len + body_len {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match c.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
        let raw = buf[head_len..head_len + body_len].to_vec();
        buf.drain(..head_len + body_len);
        let request = ExportLogsServiceRequest::decode(raw.as_slice()).expect("an OTLP logs export request");
        store.lock().unwrap().push(Export { raw, request });
        if c.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n").is_err()
        {
            return;
        }
    }
}

/// (seq, body, attributes) of every log record received, in arrival order.
fn otlp_records(store: &Mutex<Vec<Export>>) -> Vec<(u64, String, BTreeMap<String, any_value::Value>)> {
    let mut out = Vec::new();
    for e in store.lock().unwrap().iter() {
        for rl in &e.request.resource_logs {
            for sl in &rl.scope_logs {
                for lr in &sl.log_records {
                    let attrs: BTreeMap<String, any_value::Value> =
                        lr.attributes.iter().filter_map(|a| Some((a.key.clone(), a.value.clone()?.value?))).collect();
                    let Some(any_value::Value::IntValue(seq)) = attrs.get("hookhost.seq").cloned() else {
                        panic!("a log record without hookhost.seq")
                    };
                    let body = match lr.body.clone().and_then(|b| b.value) {
                        Some(any_value::Value::StringValue(s)) => s,
                        other => panic!("body {other:?}"),
                    };
                    out.push((seq as u64, body, attrs));
                }
            }
        }
    }
    out
}

/// Lost, out of order (first seen after a later seq) and duplicated records of a stream that
/// should hold seq 1..=n.
fn tally(seqs: &[u64], n: u64) -> (u64, u64, u64) {
    let mut seen = HashSet::new();
    let (mut max_first, mut out_of_order, mut duplicates) = (0, 0, 0);
    for &s in seqs {
        if !seen.insert(s) {
            duplicates += 1;
            continue;
        }
        if s < max_first {
            out_of_order += 1;
        }
        max_first = max_first.max(s);
    }
    let lost = (1..=n).filter(|s| !seen.contains(s)).count() as u64;
    (lost, out_of_order, duplicates)
}

/// The local log's lines by seq (the set, oldest first).
fn log_lines(log: &Path) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    for f in hookhost::audit::log_files(log).unwrap() {
        for l in std::fs::read_to_string(f).unwrap().lines() {
            if let Ok(v) = serde_json::from_str::<Value>(l)
                && let Some(s) = v["seq"].as_u64()
            {
                out.insert(s, l.to_string());
            }
        }
    }
    out
}

const SECRET: &str = "SECRET-TOKEN-4242";

/// 10,000 decisions through the daemon while rsyslog is killed and restarted and the OTLP
/// receiver is killed and restarted: both get every record, in order, byte for byte as the
/// local log holds it; the redacted secret never leaves; no decision waited for a sink.
#[test]
fn ten_thousand_decisions_with_rsyslog_and_the_otlp_receiver_killed_and_restarted_lose_nothing() {
    let env = Env::new();
    let rs_dir = env.path().join("rsyslog");
    let mut rsyslog = Rsyslog::start(&rs_dir);
    let store = Arc::new(Mutex::new(Vec::new()));
    let otlp_port = free_port();
    let mut otlp = OtlpReceiver::start(otlp_port, store.clone());
    let log = env.path().join("audit/audit.jsonl");
    let metrics_port = free_port();
    env.write(
        "managed",
        &json!({
            "permissions": {"deny": ["Bash(rm:*)"]},
            "audit": {
                "path": log, "maxBytes": 1_000_000,
                "redact": ["/tool_input/command"],
                "ship": [
                    {"name": "rsyslog", "type": "syslog", "transport": "tcp", "address": format!("127.0.0.1:{}", rsyslog.port),
                     "facility": "local3", "appName": "hookhost-test", "confirmSeconds": 1, "maxBackoffSeconds": 0.5, "batch": 200},
                    {"name": "otel", "type": "otlp", "endpoint": otlp.endpoint(), "maxBackoffSeconds": 0.5, "batch": 200,
                     "resource": {"deployment.environment": "test"}}
                ]
            }
        })
        .to_string(),
    );
    let socket = env.path().join("d.sock");
    let metrics = format!("127.0.0.1:{metrics_port}");
    let daemon = Daemon::start_with(&env, &socket, &["--metrics", &metrics], &[("RUST_LOG", "warn")]);
    let total = 10_000;
    let start = Instant::now();
    let mut denied = 0;
    for i in 0..total {
        match i {
            3000 => rsyslog.kill(),
            5000 => otlp.kill(),
            6000 => rsyslog.restart(),
            8000 => otlp = OtlpReceiver::start(otlp_port, store.clone()),
            _ => {}
        }
        let cmd = if i % 3 == 0 { format!("rm -rf /tmp/x{i}") } else { format!("echo {SECRET} {i}") };
        match daemon.event(&bash_event(&cmd)) {
            Reply::Outcome { exit_code, stdout, .. } => {
                if i % 3 == 0 {
                    assert!(stdout.contains("\"deny\""), "{i}: {stdout}");
                    denied += 1;
                } else {
                    assert_eq!(exit_code, 0, "{i}");
                }
            }
            other => panic!("{i}: {other:?}"),
        }
    }
    let decisions = start.elapsed();
    let lines = log_lines(&log);
    let n = *lines.keys().last().unwrap();
    assert!(n >= total, "{n} records in the log");
    assert!(hookhost::audit::log_files(&log).unwrap().len() > 3, "the log rotated");
    wait_until("every record at both sinks", Duration::from_secs(120), || {
        let r: HashSet<u64> = rsyslog.seqs("tcp.log").into_iter().collect();
        let o: HashSet<u64> = otlp_records(&store).iter().map(|r| r.0).collect();
        (1..=n).all(|s| r.contains(&s) && o.contains(&s))
    });
    let r_seqs = rsyslog.seqs("tcp.log");
    let o_recs = otlp_records(&store);
    let (r_lost, r_ooo, r_dup) = tally(&r_seqs, n);
    let (o_lost, o_ooo, o_dup) = tally(&o_recs.iter().map(|r| r.0).collect::<Vec<_>>(), n);
    println!(
        "{total} decisions ({denied} denied) in {:.1} s; {n} records; rsyslog: {r_lost} lost, {r_ooo} out of order, {r_dup} duplicates; \
         otlp: {o_lost} lost, {o_ooo} out of order, {o_dup} duplicates",
        decisions.as_secs_f64()
    );
    assert_eq!((r_lost, r_ooo, o_lost, o_ooo), (0, 0, 0, 0));
    // Byte for byte what the log holds (after redaction), with the chain fields in SD.
    for (msgid, sd, msg) in rsyslog.lines("tcp.log") {
        let v: Value = serde_json::from_str(&msg).unwrap();
        let seq = v["seq"].as_u64().unwrap();
        assert_eq!(msg, lines[&seq], "seq {seq}");
        assert_eq!(msgid, v["kind"].as_str().unwrap());
        assert!(
            sd.starts_with(&format!("[hookhost@32473 seq=\"{seq}\" hash=\"{}\"", v["hash"].as_str().unwrap())),
            "{sd}"
        );
    }
    let pri = std::fs::read_to_string(rs_dir.join("tcp-pri.log")).unwrap();
    assert!(pri.lines().all(|l| l.starts_with("local3 ") && l.contains(" hookhost-test ")), "{}", &pri[..200]);
    assert!(
        pri.lines().any(|l| l.starts_with("local3 warning ")) && pri.lines().any(|l| l.starts_with("local3 info "))
    );
    for (seq, body, attrs) in &o_recs {
        assert_eq!(body, &lines[seq]);
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            attrs.get("hookhost.hash"),
            Some(&any_value::Value::StringValue(v["hash"].as_str().unwrap().into()))
        );
        assert_eq!(attrs.get("hookhost.agent"), Some(&any_value::Value::StringValue("claude".into())));
        if v["kind"] == "event" {
            assert_eq!(attrs.get("hookhost.tool"), Some(&any_value::Value::StringValue("Bash".into())));
        }
    }
    let resource = store.lock().unwrap()[0].request.resource_logs[0].resource.clone().unwrap();
    let res: BTreeMap<String, any_value::Value> =
        resource.attributes.iter().map(|a| (a.key.clone(), a.value.clone().unwrap().value.unwrap())).collect();
    assert_eq!(res["service.name"], any_value::Value::StringValue("hookhost".into()));
    assert_eq!(res["service.version"], any_value::Value::StringValue(env!("CARGO_PKG_VERSION").into()));
    assert_eq!(res["deployment.environment"], any_value::Value::StringValue("test".into()));
    for k in ["host.name", "user.name", "hookhost.agent"] {
        assert!(res.contains_key(k), "{k}");
    }
    // Redaction applies to every sink: the secret is in no record, no export, no metric.
    assert!(!std::fs::read_to_string(rs_dir.join("tcp.log")).unwrap().contains(SECRET));
    assert!(store.lock().unwrap().iter().all(|e| !e.raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes())));
    assert!(lines.values().any(|l| l.contains("[redacted sha256:")));
    let scrape = ureq::get(&format!("http://{metrics}/metrics")).call().unwrap().into_body().read_to_string().unwrap();
    assert!(!scrape.contains(SECRET) && !scrape.contains("rm -rf") && !scrape.contains(env.path().to_str().unwrap()));
    assert!(scrape.contains("hookhost_ship_lag_records{sink=\"rsyslog\"} 0"), "{scrape}");
    // `hookhost status` shows each sink's lag (the daemon's view).
    let out = run(env.bare_command(&["status", "--json", "--socket", socket.to_str().unwrap()]), b"");
    let status = out.json();
    let sinks = status["audit_ship"].as_array().unwrap();
    assert_eq!(sinks.len(), 2, "{status}");
    for s in sinks {
        assert_eq!(s["from"], "daemon");
        assert_eq!(s["status"]["lag_records"], 0, "{s}");
        assert_eq!(s["status"]["delivered_seq"], n, "{s}");
    }
    drop(daemon);
}

/// `hookhost audit ship` on a machine without a daemon: ships everything once, resumes from its
/// cursor (nothing twice), across rotation, to the local syslog socket and OTLP; refuses while
/// another shipper holds the sink; and a cursor advanced by someone who can write it shows as a
/// `seq` gap at the receiver.
#[test]
fn audit_ship_resumes_from_its_cursor_and_an_advanced_cursor_is_a_visible_gap() {
    let env = Env::new();
    let rs_dir = env.path().join("rsyslog");
    let rsyslog = Rsyslog::start(&rs_dir);
    let store = Arc::new(Mutex::new(Vec::new()));
    let otlp = OtlpReceiver::start(free_port(), store.clone());
    let log = env.path().join("audit/audit.jsonl");
    env.write(
        "managed",
        &json!({
            "audit": {
                "path": log, "maxBytes": 4000,
                "ship": [
                    {"name": "local", "type": "syslog", "transport": "unix", "socket": rs_dir.join("log.sock"), "confirmSeconds": 0.2},
                    {"name": "otel", "type": "otlp", "endpoint": otlp.endpoint()}
                ]
            }
        })
        .to_string(),
    );
    for i in 0..12 {
        assert_eq!(env.dispatch(&bash_event(&format!("echo {i}"))).code, 0);
    }
    let status = env.run(&["status", "--json"], b"").json();
    for s in status["audit_ship"].as_array().unwrap() {
        assert_eq!(s["from"], "cursor");
        assert_eq!(s["status"]["lag_records"], 12, "{s}");
        assert!(s["status"]["lag_seconds"].as_f64().unwrap() > 0.0, "{s}");
    }
    let ship = env.run(&["audit", "ship", "--timeout", "60"], b"");
    assert_eq!(ship.code, 0, "{ship:?}");
    assert!(ship.stdout.contains("otel (otlp): delivered up to seq 12 of 12; lag 0 record(s)"), "{}", ship.stdout);
    let seqs = |s: &Arc<Mutex<Vec<Export>>>| otlp_records(s).iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(seqs(&store), (1..=12).collect::<Vec<_>>());
    assert_eq!(rsyslog.seqs("unix.log"), (1..=12).collect::<Vec<_>>());
    let lines = log_lines(&log);
    for (_, _, msg) in rsyslog.lines("unix.log") {
        let seq = serde_json::from_str::<Value>(&msg).unwrap()["seq"].as_u64().unwrap();
        assert_eq!(msg, lines[&seq]);
    }
    assert!(hookhost::audit::log_files(&log).unwrap().len() > 1, "rotated");
    let status = env.run(&["status"], b"");
    assert!(
        status.stdout.contains("otel (otlp): delivered up to seq 12 of 12; lag 0 record(s), 0.0 s [cursor]"),
        "{}",
        status.stdout
    );
    // Again: nothing new, nothing sent.
    assert_eq!(env.run(&["audit", "ship"], b"").code, 0);
    assert_eq!(seqs(&store).len(), 12);
    // A second shipper is refused while one follows.
    let mut follow = env
        .command(&["audit", "ship", "--follow", "--sink", "otel"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(follow.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("following"), "{first}");
    let refused = env.run(&["audit", "ship", "--sink", "otel"], b"");
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("another shipper holds sink \"otel\""), "{}", refused.stderr);
    for i in 12..15 {
        env.dispatch(&bash_event(&format!("echo {i}")));
    }
    wait_until("the follower to ship 13..=15", Duration::from_secs(20), || seqs(&store).len() == 15);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(follow.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(follow.wait().unwrap().success());
    // Whoever can write the cursor can make the shipper skip records: here five. The receiver
    // sees the gap in `seq`.
    for i in 15..25 {
        env.dispatch(&bash_event(&format!("echo {i}")));
    }
    let (mut f, _) = hookhost::audit::ship::Follower::open(&log, None, hookhost::audit::ship::StartAt::Oldest).unwrap();
    let all = f.next_batch(100, 1 << 20).unwrap();
    let cursor_file = log.parent().unwrap().join("audit.jsonl.otel.cursor");
    let mut cursor: Value = serde_json::from_str(&std::fs::read_to_string(&cursor_file).unwrap()).unwrap();
    assert_eq!(cursor["position"]["seq"], 15);
    cursor["position"] = serde_json::to_value(&all[19].end).unwrap();
    std::fs::write(&cursor_file, cursor.to_string()).unwrap();
    assert_eq!(env.run(&["audit", "ship", "--sink", "otel"], b"").code, 0);
    let got = seqs(&store);
    assert_eq!(got[15..], (21..=25).collect::<Vec<_>>(), "{got:?}");
    let (lost, ooo, _) = tally(&got, 25);
    assert_eq!((lost, ooo), (5, 0), "the receiver sees records 16..=20 missing");
}

// ---------------------------------------------------------------------------------------------
// Prometheus

struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Prometheus {
        Prometheus::start_with_config(
            dir,
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: hookhost\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
    }

    /// A Prometheus running `config` (the text of its prometheus.yml).
    fn start_with_config(dir: &Path, config_text: &str) -> Prometheus {
        let bin = ensure_package("prometheus", "prometheus");
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_text).unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .expect("start prometheus");
        Prometheus { child, port }
    }

    /// The instant vector of `query`: (labels, value) per series.
    fn query(&self, query: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let Ok(resp) = ureq::get(&url).query("query", query).call() else { return Vec::new() };
        let v: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                (labels, r["value"][1].as_str().unwrap().parse().unwrap())
            })
            .collect()
    }

    fn value(&self, query: &str) -> Option<f64> {
        self.query(query).first().map(|(_, v)| *v)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Prometheus scrapes `hookhost serve --metrics` and its HTTP API returns the series:
/// decisions by event, tool, decision and agent; hook time and failures by hook label; sandbox
/// layers; the live settings revision and the last ConfigChange result; the remote fetch age;
/// shipper lag per sink. No label or value carries a command line, a path or a reason.
#[test]
fn prometheus_scrapes_the_daemons_metrics_and_no_label_carries_a_command_or_a_path() {
    let env = Env::new();
    let metrics = format!("127.0.0.1:{}", free_port());
    let down = free_port(); // An OTLP sink nothing listens on: its lag grows.
    env.write(
        "managed",
        &json!({
            "permissions": {"deny": ["Bash(rm:*)"]},
            "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
                {"type": "command", "name": "slow-ok", "command": "sleep 0.02; cat >/dev/null; echo {}"},
                {"type": "command", "command": "cat >/dev/null; exit 3"}
            ]}]},
            "audit": {"path": env.path().join("audit/audit.jsonl"), "ship": [
                {"name": "otel-down", "type": "otlp", "endpoint": format!("http://127.0.0.1:{down}/v1/logs"), "maxBackoffSeconds": 1}
            ]}
        })
        .to_string(),
    );
    let socket = env.path().join("d.sock");
    let daemon = Daemon::start_with(&env, &socket, &["--metrics", &metrics], &[("RUST_LOG", "warn")]);
    for i in 0..5 {
        assert!(matches!(
            daemon.event(&bash_event(&format!("ls /secret/path/{i}"))),
            Reply::Outcome { exit_code: 0, .. }
        ));
    }
    for i in 0..3 {
        assert!(matches!(daemon.event(&bash_event(&format!("rm -rf /secret/path/{i}"))), Reply::Outcome { .. }));
    }
    // A settings change through the gate.
    env.write("project", &json!({"permissions": {"ask": ["Bash(git push:*)"]}}).to_string());
    let revision = {
        let start = Instant::now();
        loop {
            let (rev, files, _) = daemon.status();
            if files.keys().any(|p| p.ends_with(".hookhost/settings.json")) {
                break rev;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "the project change never applied");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let prom = Prometheus::start(&env.path().join("prometheus"), &metrics);
    wait_until("Prometheus to store the decisions", Duration::from_secs(60), || {
        prom.value(r#"hookhost_decisions_total{event="PreToolUse",tool="Bash",decision="deny",agent="claude"}"#)
            == Some(3.0)
    });
    assert_eq!(prom.value(r#"up{job="hookhost"}"#), Some(1.0));
    let decisions = prom.query("hookhost_decisions_total");
    let total: f64 = decisions.iter().map(|(_, v)| v).sum();
    assert!(total >= 8.0, "{decisions:?}");
    for (labels, _) in &decisions {
        for k in ["event", "tool", "decision", "agent"] {
            assert!(labels.contains_key(k), "{labels:?}");
        }
    }
    let runs = prom.value(r#"hookhost_hook_duration_seconds_count{hook="managed:slow-ok",kind="command"}"#).unwrap();
    assert!(runs >= 5.0, "{runs}");
    let slow = prom.value(r#"hookhost_hook_duration_seconds_sum{hook="managed:slow-ok"}"#).unwrap();
    assert!(slow >= runs * 0.02, "{slow}");
    let failures = prom.query(r#"hookhost_hook_failures_total{failure="exit"}"#);
    assert_eq!(failures.len(), 1, "{failures:?}");
    let hook = &failures[0].0["hook"];
    assert!(hook.starts_with("managed:") && hook.len() == "managed:".len() + 8, "{hook}");
    assert!(failures[0].1 >= 5.0);
    assert!(!prom.query("hookhost_sandbox_layer_available").is_empty());
    assert_eq!(prom.value(r#"hookhost_sandbox_layer_available{layer="seccomp"}"#), Some(1.0));
    let revisions = prom.query("hookhost_settings_revision_info");
    assert!(revisions.iter().any(|(l, v)| l["revision"] == revision && *v == 1.0), "{revisions:?} {revision}");
    assert_eq!(prom.value(r#"hookhost_config_change_last_result{result="applied"}"#), Some(1.0));
    assert!(prom.value(r#"hookhost_config_changes_total{result="applied"}"#).unwrap() >= 1.0);
    assert_eq!(prom.value("hookhost_remote_settings_fetch_age_seconds"), Some(-1.0));
    wait_until("the dead sink's lag in Prometheus", Duration::from_secs(30), || {
        prom.value(r#"hookhost_ship_lag_records{sink="otel-down"}"#).is_some_and(|v| v >= 8.0)
    });
    assert!(prom.value(r#"hookhost_ship_failures_total{sink="otel-down"}"#).unwrap() >= 1.0);
    // Nothing in any label or value names a command, a path or a reason.
    let raw = ureq::get(&format!("http://{metrics}/metrics")).call().unwrap().into_body().read_to_string().unwrap();
    for needle in ["/secret/path", "sleep 0.02", "exit 3", "rm -rf", "Bash(rm", env.path().to_str().unwrap()] {
        assert!(!raw.contains(needle), "{needle} in\n{raw}");
    }
    // Only GET /metrics is served.
    let other =
        ureq::get(&format!("http://{metrics}/debug")).config().http_status_as_error(false).build().call().unwrap();
    assert_eq!(other.status().as_u16(), 404);
    drop(daemon);
}

/// Bad `audit.ship` settings name the file, line and column, and keep the last good policy's
/// audit settings out of the merge (the file is invalid as a whole, like any bad managed key).
#[test]
fn bad_ship_settings_are_located() {
    let env = Env::new();
    let text = "{\n  \"audit\": {\n    \"ship\": [\n      {\"name\": \"a b\", \"type\": \"syslog\"}\n    ]\n  }\n}\n";
    let path = env.write("managed", text);
    let out = env.run(&["check"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    let want = format!("{}:4:16: `name` must be 1 to 64 letters", path.display());
    assert!(out.stderr.contains(&want) || out.stdout.contains(&want), "{out:?}");
    for (sink, msg) in [
        (json!({"name": "x", "type": "kafka"}), "unknown sink type"),
        (json!({"name": "x", "type": "syslog", "transport": "tcp"}), "needs `address`"),
        (json!({"name": "x", "type": "syslog", "facility": "local9"}), "unknown facility"),
        (json!({"name": "x", "type": "otlp", "endpoint": "file:///etc/passwd"}), "http:// or https://"),
        (
            json!({"name": "x", "type": "otlp", "endpoint": "http://h/v1/logs", "headers": {"A\nB": "x"}}),
            "cannot be sent",
        ),
        (json!({"name": "x", "type": "otlp", "endpoint": "http://h/v1/logs", "extra": 1}), "unknown field `extra`"),
    ] {
        env.write("managed", &json!({"audit": {"ship": [sink]}}).to_string());
        let out = env.run(&["check"], b"");
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stderr.contains(msg) || out.stdout.contains(msg), "{msg}: {out:?}");
    }
    env.write("managed", &json!({"audit": {"ship": [{"name": "x", "type": "otlp", "endpoint": "http://h:1/v1/logs"}, {"name": "x", "type": "syslog"}]}}).to_string());
    let out = env.run(&["check"], b"");
    assert!(out.stderr.contains("two sinks are named") || out.stdout.contains("two sinks are named"), "{out:?}");
}

/// The STRUCTURED-DATA element of a line as rsyslog wrote it: (SD-ID, params unescaped); `None`
/// unless it is exactly one well-formed element (RFC 5424 §6.3).
fn parse_sd(sd: &str) -> Option<(String, Vec<(String, String)>)> {
    let inner = sd.strip_prefix('[')?;
    let (id, mut rest) = inner.split_once(' ')?;
    let mut params = Vec::new();
    loop {
        if rest == "]" {
            return Some((id.to_string(), params));
        }
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => {
                    let (_, e) = chars.next()?;
                    if !matches!(e, '"' | '\\' | ']') {
                        value.push('\\');
                    }
                    value.push(e);
                }
                '"' => break i,
                ']' => return None, // An unescaped `]` inside a value.
                c => value.push(c),
            }
        };
        params.push((name.to_string(), value));
        rest = after[end + 1..].strip_prefix(' ').unwrap_or(&after[end + 1..]);
    }
}

/// Agent-chosen values (tool names, session ids) built to break out of STRUCTURED-DATA or to
/// forge a second message: 324 variants through the daemon to a real rsyslog, the oracle of
/// where SD ends and MSG begins. Every record arrives as exactly one line, its SD one element
/// with the values as the log holds them (control characters as `?`), its MSG the log's line.
#[test]
fn hostile_tool_names_and_session_ids_never_break_the_syslog_framing() {
    let env = Env::new();
    let rs_dir = env.path().join("rsyslog");
    let rsyslog = Rsyslog::start(&rs_dir);
    let log = env.path().join("audit/audit.jsonl");
    env.write(
        "managed",
        &json!({"audit": {"path": log, "ship": [
            {"name": "rs", "type": "syslog", "transport": "tcp", "address": format!("127.0.0.1:{}", rsyslog.port), "confirmSeconds": 0.2}
        ]}})
        .to_string(),
    );
    let fragments = [
        "\"",
        "]",
        "\\",
        "] [evil@1 seq=\"1\"]",
        "\n<13>1 - forged - - - - {\"v\":1}",
        "\r\n",
        "=",
        " ",
        "é😀",
        "\u{202e}",
        "\u{0}",
        "\t",
        "[",
        "\\]",
        "\"]\\\"",
        "-",
        "x".repeat(300).leak(),
        "#012",
    ];
    let socket = env.path().join("d.sock");
    let daemon = Daemon::start_with(&env, &socket, &[], &[("RUST_LOG", "warn")]);
    let mut sent = 0;
    for a in &fragments {
        for b in &fragments {
            let tool = format!("T{a}{b}");
            let session = format!("{b}{a}S");
            let event = json!({"session_id": session, "cwd": "/tmp", "hook_event_name": "PreToolUse",
                "tool_name": tool, "tool_input": {"x": 1}, "tool_use_id": "t"});
            assert!(matches!(daemon.event(event.to_string().as_bytes()), Reply::Outcome { .. }));
            sent += 1;
        }
    }
    assert_eq!(sent, 324);
    let lines = log_lines(&log);
    let n = *lines.keys().last().unwrap();
    wait_until("every record in rsyslog", Duration::from_secs(60), || {
        rsyslog.seqs("tcp.log").into_iter().collect::<HashSet<_>>().len() as u64 == n
    });
    let text = std::fs::read_to_string(rs_dir.join("tcp.log")).unwrap();
    let got = rsyslog.lines("tcp.log");
    assert_eq!(got.len(), text.lines().count(), "a line rsyslog wrote is not one record");
    let mut checked = 0;
    for (msgid, sd, msg) in got {
        let v: Value = serde_json::from_str(&msg).unwrap_or_else(|e| panic!("{e}: {msg}"));
        let seq = v["seq"].as_u64().unwrap();
        assert_eq!(msg, lines[&seq]);
        assert_eq!(msgid, v["kind"].as_str().unwrap());
        let (id, params) = parse_sd(&sd).unwrap_or_else(|| panic!("not one SD element: {sd}"));
        assert_eq!(id, "hookhost@32473");
        let p: BTreeMap<&str, &str> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(params.len(), p.len(), "a parameter twice: {sd}");
        assert_eq!(p["seq"], seq.to_string());
        let clean = |s: &str| s.chars().take(256).map(|c| if c.is_control() { '?' } else { c }).collect::<String>();
        if let Some(tool) = v["tool"].as_str() {
            assert_eq!(p["tool"], clean(tool), "{sd}");
            assert_eq!(p["session"], clean(v["session_id"].as_str().unwrap()), "{sd}");
            checked += 1;
        }
    }
    assert_eq!(checked, 324);
}

// ---------------------------------------------------------------------------------------------
// hooks-examples/fleet: the example files work as written

fn fleet_file(name: &str) -> String {
    std::fs::read_to_string(super::support::repo().join("hooks-examples/fleet").join(name)).unwrap()
}

/// `text` with every `from` replaced; the example must still contain `from` (so an edit of the
/// example that this test no longer follows fails here, not silently).
fn rewrite(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (from, to) in pairs {
        assert!(out.contains(from), "the example no longer contains {from:?}");
        out = out.replace(from, to);
    }
    out
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The fleet example's managed settings pass `hookhost check` and configure both sinks; its
/// rsyslog snippet passes `rsyslogd -N1` as a drop-in; and together, pointed at a real rsyslog
/// running the snippet and at an OTLP receiver, they deliver every record of the local log,
/// byte for byte, to the file the snippet writes and to the receiver.
#[test]
fn fleet_example_settings_and_rsyslog_snippet_deliver_every_record() {
    let env = Env::new();
    let settings = fleet_file("managed-settings.json");
    env.write("managed", &settings);
    let check = env.run(&["check"], b"");
    assert_eq!(check.code, 0, "{check:?}");
    assert!(check.stdout.contains("managed-settings.json") && check.stdout.trim_end().ends_with("ok"), "{check:?}");
    assert!(!check.stdout.to_lowercase().contains("warning") && check.stderr.is_empty(), "{check:?}");
    let status = env.run(&["status", "--json"], b"").json();
    let sinks: Vec<(String, String)> = status["audit_ship"]
        .as_array()
        .unwrap_or_else(|| panic!("no audit_ship in {status}"))
        .iter()
        .map(|s| (s["status"]["name"].as_str().unwrap().into(), s["status"]["kind"].as_str().unwrap().into()))
        .collect();
    assert_eq!(sinks, [("local-rsyslog".into(), "syslog".into()), ("otel-collector".into(), "otlp".into())]);

    // The snippet as a drop-in: a minimal main config (as Debian's loads imuxsock) including it.
    let rsyslogd = ensure_package("rsyslogd", "rsyslog");
    let rs = env.path().join("rsyslog");
    std::fs::create_dir_all(rs.join("work")).unwrap();
    let snippet = fleet_file("rsyslog-hookhost.conf");
    let main_conf = |include: &Path| {
        format!(
            "global(workDirectory=\"{}\")\nmodule(load=\"imuxsock\" SysSock.Use=\"off\")\ninclude(file=\"{}\")\n",
            rs.join("work").display(),
            include.display()
        )
    };
    let validate = |conf: &Path| Command::new(&rsyslogd).arg("-N1").arg("-f").arg(conf).output().unwrap();
    std::fs::write(
        rs.join("main.conf"),
        main_conf(&super::support::repo().join("hooks-examples/fleet/rsyslog-hookhost.conf")),
    )
    .unwrap();
    let out = validate(&rs.join("main.conf"));
    assert!(out.status.success(), "rsyslogd -N1: {}", String::from_utf8_lossy(&out.stderr));
    // rsyslogd -N1 does reject a broken snippet (the check above can fail).
    std::fs::write(
        rs.join("broken.conf"),
        snippet.replace("ruleset=\"hookhost\")", "ruleset=\"hookhost\" nosuch=\"1\")"),
    )
    .unwrap();
    std::fs::write(rs.join("main-broken.conf"), main_conf(&rs.join("broken.conf"))).unwrap();
    assert!(!validate(&rs.join("main-broken.conf")).status.success());

    // The snippet running for real (its port, files and SIEM moved into the test's directory).
    let port = free_port();
    let siem = free_port(); // Nothing listens: the forward queues, the file still gets every record.
    let shipped_dir = rs.join("var-log-hookhost");
    let live = rewrite(
        &snippet,
        &[
            ("port=\"10514\"", &format!("port=\"{port}\"")),
            ("/var/log/hookhost/", &format!("{}/", shipped_dir.display())),
            ("target=\"siem.example.com\" port=\"6514\"", &format!("target=\"127.0.0.1\" port=\"{siem}\"")),
        ],
    );
    std::fs::write(rs.join("live.conf"), &live).unwrap();
    std::fs::write(rs.join("main-live.conf"), main_conf(&rs.join("live.conf"))).unwrap();
    let _rsyslog = KillOnDrop(
        Command::new(&rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(rs.join("main-live.conf"))
            .arg("-i")
            .arg(rs.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(rs.join("stderr")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until("rsyslogd to listen", Duration::from_secs(20), || TcpStream::connect(("127.0.0.1", port)).is_ok());
    let store = Arc::new(Mutex::new(Vec::new()));
    let otlp = OtlpReceiver::start(free_port(), store.clone());
    let state = env.path().join("var-lib-hookhost");
    std::fs::create_dir_all(&state).unwrap();
    env.write(
        "managed",
        &rewrite(
            &settings,
            &[
                ("127.0.0.1:10514", &format!("127.0.0.1:{port}")),
                ("/var/lib/hookhost", state.to_str().unwrap()),
                ("http://127.0.0.1:4318/v1/logs", &otlp.endpoint()),
            ],
        ),
    );
    for cmd in ["ls", "rm -rf /tmp/fleet-x", "git status", "rm -rf ~"] {
        env.dispatch(&bash_event(cmd));
    }
    let log = state.join("audit.jsonl");
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines.values().filter(|l| l.contains("\"decision\":\"deny\"")).count(), 2, "{lines:?}");
    let ship = env.run(&["audit", "ship", "--timeout", "60"], b"");
    assert_eq!(ship.code, 0, "{ship:?}");
    assert!(ship.stdout.contains("local-rsyslog (syslog): delivered up to seq 4 of 4; lag 0 record(s)"), "{ship:?}");
    let want: Vec<String> = lines.values().cloned().collect();
    let shipped = shipped_dir.join("audit-shipped.jsonl");
    wait_until("rsyslog to write the records", Duration::from_secs(20), || {
        std::fs::read_to_string(&shipped).is_ok_and(|t| t.lines().count() >= 4)
    });
    let got: Vec<String> = std::fs::read_to_string(&shipped).unwrap().lines().map(str::to_string).collect();
    assert_eq!(got, want, "the snippet's file holds the local log's records, byte for byte");
    let bodies: Vec<String> = otlp_records(&store).into_iter().map(|r| r.1).collect();
    assert_eq!(bodies, want);
    let resource = store.lock().unwrap()[0].request.resource_logs[0].resource.clone().unwrap();
    assert!(resource.attributes.iter().any(|a| a.key == "deployment.environment"
        && a.value.clone().and_then(|v| v.value) == Some(any_value::Value::StringValue("production".into()))));
    assert!(
        state.join("audit.jsonl.local-rsyslog.cursor").is_file()
            && state.join("audit.jsonl.otel-collector.cursor").is_file()
    );
}

/// The fleet example's prometheus.yml passes `promtool check config`; every metric name the
/// Grafana dashboard uses is one a real `hookhost serve --metrics` exposes; and a real Prometheus
/// running the example config (pointed at that daemon) evaluates every dashboard query, each
/// returning series (the one listing missing sandbox layers may be empty).
#[test]
fn fleet_example_prometheus_config_and_grafana_dashboard_match_the_daemons_metrics() {
    let promtool = ensure_package("promtool", "prometheus");
    let prom_yml = super::support::repo().join("hooks-examples/fleet/prometheus.yml");
    let out = Command::new(&promtool).args(["check", "config"]).arg(&prom_yml).output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));

    let dashboard: Value = serde_json::from_str(&fleet_file("grafana-dashboard.json")).unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let text = dashboard.to_string();
    let mut used: Vec<String> = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("hookhost_") {
        let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        if !used.contains(&name) {
            used.push(name);
        }
    }
    assert!(used.len() >= 10, "{used:?}");

    // A daemon whose scrape has every family the dashboard shows: decisions (some denied), a
    // named hook that fails, a sink that delivers and one that cannot, a settings change.
    let env = Env::new();
    let metrics = format!("127.0.0.1:{}", free_port());
    let store = Arc::new(Mutex::new(Vec::new()));
    let otlp = OtlpReceiver::start(free_port(), store.clone());
    env.write(
        "managed",
        &json!({
            "permissions": {"deny": ["Bash(rm:*)"]},
            "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
                {"type": "command", "name": "fleet-check", "command": "cat >/dev/null; exit 3"}
            ]}]},
            "audit": {"path": env.path().join("audit/audit.jsonl"), "ship": [
                {"name": "otel", "type": "otlp", "endpoint": otlp.endpoint()},
                {"name": "otel-down", "type": "otlp", "endpoint": format!("http://127.0.0.1:{}/v1/logs", free_port()), "maxBackoffSeconds": 1}
            ]}
        })
        .to_string(),
    );
    let socket = env.path().join("d.sock");
    let daemon = Daemon::start_with(&env, &socket, &["--metrics", &metrics], &[("RUST_LOG", "warn")]);
    for cmd in ["ls", "rm -rf /x", "git status", "rm -rf /y"] {
        assert!(matches!(daemon.event(&bash_event(cmd)), Reply::Outcome { .. }));
    }
    env.write("project", &json!({"permissions": {"ask": ["Bash(git push:*)"]}}).to_string());
    wait_until("the settings change", Duration::from_secs(20), || {
        daemon.status().1.keys().any(|p| p.ends_with(".hookhost/settings.json"))
    });
    wait_until("a delivery to the live sink", Duration::from_secs(20), || !otlp_records(&store).is_empty());
    let scrape =
        || ureq::get(&format!("http://{metrics}/metrics")).call().unwrap().into_body().read_to_string().unwrap();
    wait_until("a failed delivery to the dead sink", Duration::from_secs(20), || {
        scrape().contains("hookhost_ship_failures_total{sink=\"otel-down\"}")
    });
    let exposed: HashSet<String> = scrape()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_string))
        .collect();
    for name in &used {
        assert!(exposed.contains(name), "the dashboard uses {name}, which the daemon does not expose: {exposed:?}");
    }

    // The example prometheus.yml, aimed at this daemon and scraping every second.
    let config = rewrite(
        &fleet_file("prometheus.yml"),
        &[("\"127.0.0.1:9464\"", &format!("\"{metrics}\"")), ("scrape_interval: 15s", "scrape_interval: 1s")],
    );
    let prom = Prometheus::start_with_config(&env.path().join("prometheus"), &config);
    let evaluate = |expr: &str| -> (Value, usize) {
        let q = expr.replace("$__rate_interval", "30s").replace("$__range", "1h").replace("$instance", ".*");
        let url = format!("http://127.0.0.1:{}/api/v1/query", prom.port);
        let resp = ureq::get(&url).query("query", &q).config().http_status_as_error(false).build().call();
        let Ok(resp) = resp else { return (Value::Null, 0) };
        let v: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap_or(Value::Null);
        let n = v["data"]["result"].as_array().map_or(0, Vec::len);
        (v, n)
    };
    for expr in &exprs {
        let may_be_empty = expr.contains("== 0");
        let start = Instant::now();
        loop {
            let (v, n) = evaluate(expr);
            if v["status"] == "error" {
                panic!("Prometheus rejects the dashboard query {expr}: {v}");
            }
            if v["status"] == "success" && (n > 0 || may_be_empty) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no series for the dashboard query {expr}: {v}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    assert_eq!(prom.value(r#"up{job="hookhost",fleet="dev-laptops"}"#), Some(1.0));
    drop(daemon);
}
