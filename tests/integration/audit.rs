//! The audit log on real files and real processes: a 10,000-record chain across rotation and
//! every kind of tampering found at the right seq; torn lines; SIGKILLed writers; concurrent
//! writer processes and threads (with a verifier running alongside).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hookhost::audit::{
    self, AuditLog, AuditOptions, Fsync, Integrity, ProblemKind, RedactAction, Redaction, VerifyReport,
};
use serde_json::{Map, Value, json};

const CHILD_ENV: &str = "HOOKHOST_AUDIT_TEST_CHILD";
const CHILD_TEST: &str = "audit::child_process_entry";

/// A small deterministic generator (xorshift64*), seeded from the clock unless
/// `HOOKHOST_AUDIT_TEST_SEED` is set; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("HOOKHOST_AUDIT_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        eprintln!("{test}: HOOKHOST_AUDIT_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fields(writer: u64, i: u64) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "time": format!("2026-05-01T12:00:{:02}.{:06}Z", i % 60, i),
        "kind": "decision",
        "event": "PreToolUse",
        "decision": if i.is_multiple_of(7) { "deny" } else { "allow" },
        "writer": writer,
        "i": i,
        "note": "é\"\\\u{1}".repeat((i % 5) as usize),
    }) else {
        unreachable!()
    };
    m
}

fn options(max_bytes: u64) -> AuditOptions {
    AuditOptions { fsync: Fsync::Batched { every: 256 }, max_bytes, max_record_bytes: 4096 }
}

/// Every line of the set, oldest first: (file, 1-based line number, bytes without `\n`).
fn lines_of(path: &Path) -> Vec<(PathBuf, usize, Vec<u8>)> {
    let mut out = Vec::new();
    for f in audit::log_files(path).unwrap() {
        let bytes = std::fs::read(&f).unwrap();
        for (i, l) in bytes.split(|b| *b == b'\n').enumerate() {
            if !l.is_empty() {
                out.push((f.clone(), i + 1, l.to_vec()));
            }
        }
    }
    out
}

fn seq_of(line: &[u8]) -> u64 {
    serde_json::from_slice::<Value>(line).unwrap()["seq"].as_u64().unwrap()
}

fn write_log(path: &Path, n: u64, max_bytes: u64) {
    let log = AuditLog::open(path, options(max_bytes)).unwrap();
    for i in 0..n {
        let r = log.append(fields(0, i), i % 1000 == 0).unwrap();
        assert_eq!(r.seq, i + 1);
    }
}

fn assert_intact(path: &Path, records: u64) -> VerifyReport {
    let r = audit::verify(path).unwrap();
    assert_eq!(r.integrity(), Integrity::Intact, "{r}");
    assert_eq!(r.records, records, "{r}");
    assert_eq!(r.last.as_ref().map(|l| l.0), Some(records).filter(|n| *n > 0), "{r}");
    r
}

fn assert_tampered_at(path: &Path, seq: u64, what: &str) -> VerifyReport {
    let r = audit::verify(path).unwrap();
    assert_eq!(r.integrity(), Integrity::Tampered, "{what}: {r}");
    let p = r.problem.as_ref().unwrap();
    assert_eq!(p.seq, seq, "{what}: {r}");
    assert_eq!(r.records, seq - 1, "{what}: {r}");
    r
}

/// A 10,000-record log in several files (about 150 records a file).
fn ten_thousand(dir: &Path) -> PathBuf {
    let path = dir.join("audit.jsonl");
    write_log(&path, 10_000, 32 * 1024);
    let files = audit::log_files(&path).unwrap();
    assert!(files.len() >= 20, "{} files", files.len());
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 32 * 1024, "{}", f.display());
    }
    path
}

#[test]
fn ten_thousand_records_across_rotation_verify_and_every_byte_flip_is_found() {
    let t = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = ten_thousand(dir.path());
    let r = assert_intact(&path, 10_000);
    assert!(r.to_string().starts_with("intact: 10000 records (seq 1..=10000) in "), "{r}");
    let lines = lines_of(&path);
    assert_eq!(lines.iter().map(|l| seq_of(&l.2)).collect::<Vec<_>>(), (1..=10_000).collect::<Vec<_>>());

    let files = audit::log_files(&path).unwrap();
    let newest = files.last().unwrap().clone();
    let mut rng = Rng::new("byte flips");
    let mut kinds: HashMap<&'static str, usize> = HashMap::new();
    for round in 0..40 {
        // Spread over the files: every round picks a file, then a byte in it.
        let file = &files[if round < files.len() { round } else { rng.below(files.len() as u64) as usize }];
        let original = std::fs::read(file).unwrap();
        let mut at = rng.below(original.len() as u64) as usize;
        if *file == newest && at == original.len() - 1 {
            // The final `\n` of the log: removing it leaves a complete record without its
            // terminator, which is not tampering (see `torn_lines_are_truncation_not_tampering`).
            at -= 1;
        }
        let line_start = original[..at].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let line_no = original[..line_start].iter().filter(|b| **b == b'\n').count() + 1;
        let line_end = line_start + original[line_start..].iter().position(|b| *b == b'\n').unwrap();
        let seq = seq_of(&original[line_start..line_end]);

        let mut damaged = original.clone();
        damaged[at] ^= 1 + rng.below(255) as u8;
        std::fs::write(file, &damaged).unwrap();
        let what = format!("flip byte {at} of {} (line {line_no}, seq {seq})", file.display());
        let r = assert_tampered_at(&path, seq, &what);
        let p = r.problem.as_ref().unwrap();
        assert_eq!((&p.file, p.line), (file, line_no as u64), "{what}: {r}");
        *kinds
            .entry(match p.kind {
                ProblemKind::HashMismatch { .. } => "hash mismatch",
                ProblemKind::Unparsable { .. } => "unparsable",
                _ => "other",
            })
            .or_default() += 1;
        std::fs::write(file, &original).unwrap();
    }
    assert_intact(&path, 10_000);
    eprintln!("byte flips: {kinds:?} in {:?}", t.elapsed());
}

#[test]
fn a_deleted_record_or_file_is_a_seq_gap_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = ten_thousand(dir.path());
    let files = audit::log_files(&path).unwrap();
    let mut rng = Rng::new("deletions");
    let in_file = |f: &Path| std::fs::read_to_string(f).unwrap().lines().map(|l| seq_of(l.as_bytes())).collect();
    let second: Vec<u64> = in_file(&files[1]);
    let mut targets = vec![1, second[0], *second.last().unwrap(), 9_999];
    targets.extend((0..8).map(|_| 1 + rng.below(9_998)));
    for seq in targets {
        let (file, line, _) = lines_of(&path).into_iter().find(|l| seq_of(&l.2) == seq).unwrap();
        let original = std::fs::read_to_string(&file).unwrap();
        let kept: String =
            original.lines().enumerate().filter(|(i, _)| i + 1 != line).map(|(_, l)| format!("{l}\n")).collect();
        std::fs::write(&file, kept).unwrap();
        let r = assert_tampered_at(&path, seq, &format!("delete seq {seq}"));
        assert_eq!(r.problem.unwrap().kind, ProblemKind::SeqGap { expected: seq, found: seq + 1 });
        std::fs::write(&file, original).unwrap();
    }
    // A whole rotated file: the oldest (the head goes missing) and one in the middle.
    for (i, f) in [(0, &files[0]), (5, &files[5])] {
        let original = std::fs::read(f).unwrap();
        let first = if i == 0 { 1 } else { in_file(f)[0] };
        std::fs::remove_file(f).unwrap();
        let r = assert_tampered_at(&path, first, &format!("delete {}", f.display()));
        assert!(matches!(r.problem.as_ref().unwrap().kind, ProblemKind::SeqGap { .. }), "{r}");
        assert!(r.to_string().contains("seq gap"), "{r}");
        std::fs::write(f, original).unwrap();
    }
    assert_intact(&path, 10_000);
}

#[test]
fn swapped_or_replayed_records_are_reordered_at_the_first_moved_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = ten_thousand(dir.path());
    let originals: Vec<(PathBuf, Vec<u8>)> =
        audit::log_files(&path).unwrap().into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect();
    let restore = || {
        for (f, bytes) in &originals {
            std::fs::write(f, bytes).unwrap();
        }
    };
    let put = |lines: &[(PathBuf, usize, Vec<u8>)]| {
        let mut by_file: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        for (f, _, l) in lines {
            if by_file.last().is_none_or(|(g, _)| g != f) {
                by_file.push((f.clone(), Vec::new()));
            }
            let buf = &mut by_file.last_mut().unwrap().1;
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        for (f, bytes) in by_file {
            std::fs::write(f, bytes).unwrap();
        }
    };
    let mut rng = Rng::new("swaps");
    let mut pairs = vec![(1, 2), (500, 501), (9_999, 10_000), (3, 9_000)];
    pairs.extend((0..6).map(|_| {
        let a = 1 + rng.below(9_999);
        (a, a + 1 + rng.below(10_000 - a))
    }));
    for (a, b) in pairs {
        let mut lines = lines_of(&path);
        let (ia, ib) = ((a - 1) as usize, (b - 1) as usize);
        let (la, lb) = (lines[ia].2.clone(), lines[ib].2.clone());
        lines[ia].2 = lb;
        lines[ib].2 = la;
        put(&lines);
        let r = assert_tampered_at(&path, a, &format!("swap {a} and {b}"));
        assert_eq!(r.problem.unwrap().kind, ProblemKind::Reordered { expected: a, found: b });
        restore();
    }
    // A replayed record: a copy of seq 4,000 right after it.
    let mut lines = lines_of(&path);
    let copy = lines[3_999].clone();
    lines.insert(4_000, copy);
    put(&lines);
    let r = assert_tampered_at(&path, 4_001, "replay 4000");
    assert_eq!(r.problem.unwrap().kind, ProblemKind::Reordered { expected: 4_001, found: 4_000 });
    restore();
    assert_intact(&path, 10_000);
}

#[test]
fn an_edited_record_stays_detectable_after_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 20, 0);
    let text = std::fs::read_to_string(&path).unwrap();
    // Edit the last record (keeping it well-formed): the next writer chains to its stored hash.
    let edited =
        text.replacen("\"decision\":\"allow\",\"writer\":0,\"i\":19", "\"decision\":\"deny\",\"writer\":0,\"i\":19", 1);
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let log = AuditLog::open(&path, options(0)).unwrap();
    assert_eq!(log.append(fields(0, 20), true).unwrap().seq, 21);
    let r = assert_tampered_at(&path, 20, "edited tail");
    assert!(matches!(r.problem.unwrap().kind, ProblemKind::HashMismatch { .. }));
    // A record rewritten with another `prev` and a recomputed hash: prev mismatch.
    let mut lines: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(String::from).collect();
    let prev = serde_json::from_str::<Value>(&lines[4]).unwrap()["prev"].as_str().unwrap().to_string();
    let forged = lines[4].replace(&prev, &sha256_hex(b"forged"));
    let (body, _) = forged.rsplit_once(",\"hash\":").unwrap();
    lines[4] = format!("{body},\"hash\":\"{}\"}}", sha256_hex(format!("{body}}}").as_bytes()));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let r = assert_tampered_at(&path, 5, "forged prev");
    assert!(matches!(r.problem.as_ref().unwrap().kind, ProblemKind::PrevMismatch { .. }), "{r}");
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn torn_lines_are_truncation_not_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 50, 0);
    let full = std::fs::read(&path).unwrap();

    // A complete last record without its `\n`: nothing is lost.
    std::fs::write(&path, &full[..full.len() - 1]).unwrap();
    assert_intact(&path, 50);
    let log = AuditLog::open(&path, options(0)).unwrap();
    assert_eq!(log.append(fields(0, 50), true).unwrap().seq, 51);
    drop(log);
    assert_intact(&path, 51);

    // Half of the last line: torn at seq 51's position.
    let full = std::fs::read(&path).unwrap();
    let last_start = full[..full.len() - 1].iter().rposition(|b| *b == b'\n').unwrap() + 1;
    let cut = last_start + (full.len() - last_start) / 2;
    std::fs::write(&path, &full[..cut]).unwrap();
    let r = audit::verify(&path).unwrap();
    assert_eq!((r.integrity(), r.records, r.torn.len()), (Integrity::Truncated, 50, 1), "{r}");
    let t = &r.torn[0];
    assert_eq!((t.line, t.seq, t.bytes, t.recovered), (51, 51, cut - last_start, false), "{r}");
    assert!(r.is_trustworthy());
    assert!(r.to_string().starts_with("truncated: 50 records (seq 1..=50) in 1 file, chain intact"), "{r}");
    assert!(r.to_string().contains("torn line: audit.jsonl:51 at seq 51"), "{r}");

    // The next writer terminates the fragment and continues from seq 50.
    let log = AuditLog::open(&path, options(0)).unwrap();
    let receipt = log.append(fields(0, 51), true).unwrap();
    assert_eq!(receipt.seq, 51);
    let r = audit::verify(&path).unwrap();
    assert_eq!((r.integrity(), r.records, r.last.as_ref().unwrap()), (Integrity::Truncated, 51, &(51, receipt.hash)));
    assert_eq!((r.torn[0].line, r.torn[0].seq, r.torn[0].recovered), (51, 51, true), "{r}");
    assert!(r.to_string().contains("the chain continues past it"), "{r}");
    for i in 52..60 {
        assert_eq!(log.append(fields(0, i), false).unwrap().seq, i);
    }
    drop(log);

    // Power loss can leave zeros at the end instead.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 300]);
    std::fs::write(&path, &bytes).unwrap();
    let r = audit::verify(&path).unwrap();
    assert_eq!((r.integrity(), r.records, r.torn.len()), (Integrity::Truncated, 59, 2), "{r}");
    let log = AuditLog::open(&path, options(0)).unwrap();
    assert_eq!(log.append(fields(0, 60), true).unwrap().seq, 60);
    drop(log);
    let r = audit::verify(&path).unwrap();
    assert_eq!((r.integrity(), r.records, r.torn.len()), (Integrity::Truncated, 60, 2), "{r}");
    assert!(r.torn.iter().all(|t| t.recovered));
}

#[test]
fn a_torn_tail_survives_rotation_on_either_side() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 10, 0);
    // Tear the last record, then rotate on the next append (max_bytes smaller than the file).
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 40]).unwrap();
    let small = options(full.len() as u64);
    let log = AuditLog::open(&path, small).unwrap();
    assert_eq!(log.append(fields(0, 10), true).unwrap().seq, 10);
    assert!(audit::rotated_path(&path, 1).exists());
    let r = audit::verify(&path).unwrap();
    assert_eq!((r.integrity(), r.records, r.files.len()), (Integrity::Truncated, 10, 2), "{r}");
    assert_eq!((r.torn[0].line, r.torn[0].seq, r.torn[0].recovered), (10, 10, true), "{r}");
    assert_eq!(r.torn[0].file, audit::rotated_path(&path, 1));

    // A crash right after a rotation: the new file holds only a fragment. The next writer finds
    // the chain's tail in `.1`.
    drop(log);
    std::fs::rename(audit::rotated_path(&path, 1), audit::rotated_path(&path, 2)).unwrap();
    std::fs::rename(&path, audit::rotated_path(&path, 1)).unwrap();
    std::fs::write(&path, &full[..30]).unwrap();
    let r = audit::verify(&path).unwrap();
    assert_eq!((r.integrity(), r.records, r.torn.len()), (Integrity::Truncated, 10, 2), "{r}");
    assert_eq!((r.torn[1].line, r.torn[1].seq, r.torn[1].recovered), (1, 11, false), "{r}");
    let log = AuditLog::open(&path, options(0)).unwrap();
    assert_eq!(log.append(fields(0, 11), true).unwrap().seq, 11);
    drop(log);
    let r = audit::verify(&path).unwrap();
    assert_eq!((r.integrity(), r.records, r.files.len()), (Integrity::Truncated, 11, 3), "{r}");
    assert!(r.torn.iter().all(|t| t.recovered), "{r}");
}

#[test]
fn an_unreadable_last_line_that_is_terminated_is_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 5, 0);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.truncate(text.len() - 20);
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    let r = assert_tampered_at(&path, 5, "terminated junk");
    assert!(matches!(r.problem.unwrap().kind, ProblemKind::Unparsable { .. }));
}

#[test]
fn receipts_say_when_a_record_reached_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let batched = AuditOptions { fsync: Fsync::Batched { every: 3 }, max_bytes: 0, max_record_bytes: 4096 };
    let log = AuditLog::open(&path, batched).unwrap();
    let synced: Vec<bool> = (0..7).map(|i| log.append(fields(0, i), i == 4).unwrap().synced).collect();
    assert_eq!(synced, [false, false, true, false, true, false, false]);
    let always = AuditLog::open(&path, AuditOptions { fsync: Fsync::Always, ..batched }).unwrap();
    let r = always.append(fields(1, 0), false).unwrap();
    assert!(r.synced);
    assert_eq!(r.seq, 8);
    assert!(!r.truncated);
    assert_intact(&path, 8);
}

#[test]
fn redacted_and_oversized_records_are_logged_within_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let cap = 1024;
    let log = AuditLog::open(&path, AuditOptions { max_record_bytes: cap, ..options(0) }).unwrap();
    let mut event = json!({
        "hook_event_name": "PreToolUse",
        "tool_name": "Write",
        "tool_input": {"file_path": "/home/u/.env", "content": "API_KEY=secret\n".repeat(400)},
        "transcript_path": "/home/u/t.jsonl",
    });
    audit::redact(
        &mut event,
        &[
            Redaction::new("/tool_input/content", RedactAction::Mask),
            Redaction::new("/transcript_path", RedactAction::Drop),
        ],
    );
    let mut f = Map::new();
    f.insert("kind".into(), json!("decision"));
    f.insert("event".into(), event);
    let r = log.append(f, true).unwrap();
    assert!(!r.truncated);
    let mut f = Map::new();
    f.insert("kind".into(), json!("decision"));
    f.insert("reason".into(), json!("x".repeat(10_000)));
    f.insert("stderr".into(), json!("é".repeat(5_000)));
    let r = log.append(f, true).unwrap();
    assert!(r.truncated);
    drop(log);
    let lines = lines_of(&path);
    let first: Value = serde_json::from_slice(&lines[0].2).unwrap();
    assert!(first["event"]["tool_input"]["content"].as_str().unwrap().starts_with("[redacted sha256:"));
    assert!(first["event"].get("transcript_path").is_none());
    assert!(!String::from_utf8_lossy(&lines[0].2).contains("secret"));
    let second: Value = serde_json::from_slice(&lines[1].2).unwrap();
    assert_eq!(second["truncated"], json!(true));
    for (_, _, l) in &lines {
        assert!(l.len() < cap, "{} bytes", l.len());
    }
    assert_intact(&path, 2);
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Not a test on its own: when `HOOKHOST_AUDIT_TEST_CHILD` names a log, this is a writer process
/// (the test binary re-executed): it appends `HOOKHOST_AUDIT_TEST_COUNT` records (0: until
/// killed) and, with `HOOKHOST_AUDIT_TEST_ACK=1`, prints `ack <seq>` after each durable append.
#[test]
fn child_process_entry() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let (count, writer, max_bytes, ack) = (
        var("HOOKHOST_AUDIT_TEST_COUNT"),
        var("HOOKHOST_AUDIT_TEST_WRITER"),
        var("HOOKHOST_AUDIT_TEST_MAX_BYTES"),
        var("HOOKHOST_AUDIT_TEST_ACK") == 1,
    );
    let log = AuditLog::open(PathBuf::from(path), options(max_bytes)).unwrap();
    let mut out = std::io::stdout();
    use std::io::Write;
    out.write_all(b"\n").unwrap();
    let mut i = 0;
    while count == 0 || i < count {
        let r = log.append(fields(writer, i), ack).unwrap();
        if ack {
            assert!(r.synced);
            writeln!(out, "ack {}", r.seq).unwrap();
            out.flush().unwrap();
        }
        i += 1;
    }
}

fn spawn_writer(path: &Path, writer: u64, count: u64, max_bytes: u64, ack: bool) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads", "1", "-q"])
        .env(CHILD_ENV, path)
        .env("HOOKHOST_AUDIT_TEST_COUNT", count.to_string())
        .env("HOOKHOST_AUDIT_TEST_WRITER", writer.to_string())
        .env("HOOKHOST_AUDIT_TEST_MAX_BYTES", max_bytes.to_string())
        .env("HOOKHOST_AUDIT_TEST_ACK", if ack { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(if ack { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Complete `ack N` lines (a line cut by the kill is not an acknowledgement).
fn acks(out: &[u8]) -> Vec<u64> {
    let complete = match out.iter().rposition(|b| *b == b'\n') {
        Some(i) => &out[..i],
        None => return Vec::new(),
    };
    String::from_utf8_lossy(complete)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ack ").map(|n| n.parse::<u64>().unwrap()))
        .collect()
}

#[test]
fn sigkilled_writers_never_lose_an_acknowledged_record_or_break_the_chain() {
    let t = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut rng = Rng::new("sigkill");
    let mut acked_max = 0u64;
    let mut acked_total = 0usize;
    let mut torn_seen = 0usize;
    for round in 0..200 {
        let mut child = spawn_writer(&path, round, 0, 8 * 1024, true);
        let mut stdout = child.stdout.take().unwrap();
        // Wait until the child is appending, then give it a few ms more.
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while acks(&out).is_empty() {
            let n = stdout.read(&mut chunk).unwrap();
            if n == 0 {
                let mut err = String::new();
                child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                panic!("round {round}: the writer exited: {err}");
            }
            out.extend_from_slice(&chunk[..n]);
        }
        std::thread::sleep(Duration::from_micros(rng.below(5_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        stdout.read_to_end(&mut out).unwrap();
        let acked = acks(&out);
        acked_total += acked.len();
        acked_max = acked_max.max(*acked.iter().max().unwrap());

        let r = audit::verify(&path).unwrap();
        assert!(r.is_trustworthy(), "round {round}: {r}");
        torn_seen = torn_seen.max(r.torn.len());
        // The chain runs 1..=last without a hole, so every acknowledged seq is in it.
        let last = r.last.as_ref().unwrap().0;
        assert_eq!(r.records, last);
        assert!(acked_max <= last, "round {round}: acknowledged seq {acked_max} is missing: {r}");
    }
    let r = audit::verify(&path).unwrap();
    assert!(r.files.len() > 3, "{r}");
    eprintln!(
        "sigkill: 200 kills, {acked_total} acknowledged, {} records in {} files, {torn_seen} torn, {:?}",
        r.records,
        r.files.len(),
        t.elapsed()
    );
}

#[test]
fn eight_writer_processes_never_interleave_or_fork_the_chain() {
    let t = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let children: Vec<Child> = (0..8).map(|w| spawn_writer(&path, w, 1_000, 64 * 1024, false)).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let r = assert_intact(&path, 8_000);
    assert!(r.files.len() > 5, "{r}");
    check_writers(&path, 8, 1_000);
    eprintln!("8 processes x 1000: {} files, {:?}", r.files.len(), t.elapsed());
}

/// Every line is one record; seqs are 1..=n once each; each writer's records are all there,
/// in the order it wrote them.
fn check_writers(path: &Path, writers: u64, each: u64) {
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut seqs = Vec::new();
    for (f, line, bytes) in lines_of(path) {
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}:{line}: {e}", f.display()));
        seqs.push(v["seq"].as_u64().unwrap());
        let w = v["writer"].as_u64().unwrap();
        let i = v["i"].as_u64().unwrap();
        let n = next.entry(w).or_default();
        assert_eq!(i, *n, "writer {w} out of order at {}:{line}", f.display());
        *n += 1;
    }
    assert_eq!(seqs, (1..=writers * each).collect::<Vec<_>>());
    assert_eq!(next.len() as u64, writers);
    assert!(next.values().all(|n| *n == each), "{next:?}");
}

#[test]
fn threads_with_their_own_handles_take_turns_while_verify_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let done = Arc::new(AtomicBool::new(false));
    let verifier = {
        let (path, done) = (path.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut runs, mut seen) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                match audit::verify(&path) {
                    Ok(r) => {
                        assert_eq!(r.integrity(), Integrity::Intact, "live verify: {r}");
                        assert!(r.records >= seen, "{r}");
                        seen = r.records;
                        runs += 1;
                    }
                    Err(audit::AuditError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => panic!("{e}"),
                }
            }
            runs
        })
    };
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let log = AuditLog::open(&path, options(16 * 1024)).unwrap();
                for i in 0..500 {
                    log.append(fields(w, i), false).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let runs = verifier.join().unwrap();
    assert!(runs > 0);
    assert_intact(&path, 2_000);
    check_writers(&path, 4, 500);
    // One handle shared by threads works too.
    let shared = Arc::new(AuditLog::open(&path, options(16 * 1024)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = shared.clone();
            std::thread::spawn(move || {
                (0..100).map(|i| log.append(fields(10 + t, i), false).unwrap().seq).collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (2_001..=2_400).collect::<Vec<_>>());
    assert_intact(&path, 2_400);
}
