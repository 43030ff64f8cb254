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
    self, AnchorStatus, AuditLog, AuditOptions, Fsync, Integrity, ProblemKind, RedactAction, Redaction, VerifyReport,
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
/// (the test binary re-executed), keeping the anchor `<log>.anchor`: it appends `HOOKHOST_AUDIT_TEST_COUNT` records (0: until
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
    let path = PathBuf::from(path);
    let log = AuditLog::open(&path, options(max_bytes)).unwrap().with_anchor(audit::default_anchor(&path)).unwrap();
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

        // A writer killed anywhere (before, inside or after its record, between the record
        // and the anchor) leaves an anchored set: never a cut, a rewrite or a break.
        let r = audit::verify_anchored(&path, Some(audit::default_anchor(&path))).unwrap();
        assert!(r.is_trustworthy(), "round {round}: {r}");
        assert!(matches!(r.anchor.as_ref().unwrap().status, AnchorStatus::Matches { .. }), "round {round}: {r}");
        torn_seen = torn_seen.max(r.torn.len());
        // The chain runs 1..=last without a hole, so every acknowledged seq is in it.
        let last = r.last.as_ref().unwrap().0;
        assert_eq!(r.records, last);
        assert!(acked_max <= last, "round {round}: acknowledged seq {acked_max} is missing: {r}");
    }
    let r = audit::verify_anchored(&path, Some(audit::default_anchor(&path))).unwrap();
    assert!(r.breaks.is_empty(), "{r}");
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
    // Writer processes keep the anchor together: it ends where the set does, with no break.
    let anchor = audit::default_anchor(path);
    if anchor.exists() {
        let r = audit::verify_anchored(path, Some(&anchor)).unwrap();
        assert_eq!(r.integrity(), Integrity::Intact, "{r}");
        assert_eq!(r.anchor.unwrap().status, AnchorStatus::Matches { seq: writers * each });
    }
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

// ---------------------------------------------------------------------------------------------
// The anchor: cuts and re-hashed chains, and a log that cannot record.

/// A log of `n` records (every third a deny) anchored in a directory of its own; rotated when
/// `max_bytes` > 0.
fn anchored_log(dir: &Path, n: u64, max_bytes: u64) -> (PathBuf, PathBuf) {
    let path = dir.join("log/audit.jsonl");
    let anchor = dir.join("admin/audit.anchor");
    let log = AuditLog::open(&path, options(max_bytes)).unwrap().with_anchor(&anchor).unwrap();
    for i in 0..n {
        let mut f = fields(0, i);
        f.insert("decision".into(), json!(if i % 3 == 0 { "deny" } else { "allow" }));
        assert_eq!(log.append(f, false).unwrap().seq, i + 1);
    }
    (path, anchor)
}

/// The records of a set (every file, oldest first) as objects, with the file each came from.
fn records(path: &Path) -> Vec<(PathBuf, Map<String, Value>)> {
    lines_of(path)
        .into_iter()
        .map(|(f, _, l)| match serde_json::from_slice(&l).unwrap() {
            Value::Object(m) => (f, m),
            _ => unreachable!(),
        })
        .collect()
}

/// What an attacker who knows the format does: renumbers and re-hashes `records` into a valid
/// chain, and writes each back to its file (the files listed in `files` are truncated first).
fn rewrite(files: &[PathBuf], records: Vec<(PathBuf, Map<String, Value>)>) {
    for f in files {
        std::fs::write(f, b"").unwrap();
    }
    let mut prev = audit::GENESIS_PREV.to_string();
    for (i, (file, mut rec)) in records.into_iter().enumerate() {
        rec.shift_remove("hash");
        rec.insert("seq".into(), json!(i as u64 + 1));
        rec.insert("prev".into(), json!(prev));
        let canonical = serde_json::to_vec(&rec).unwrap();
        let hash = sha256_hex(&canonical);
        rec.insert("hash".into(), json!(hash));
        let mut line = serde_json::to_vec(&rec).unwrap();
        line.push(b'\n');
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(&line).unwrap();
        prev = hash;
    }
}

fn anchored(path: &Path, anchor: &Path) -> VerifyReport {
    audit::verify_anchored(path, Some(anchor)).unwrap()
}

#[test]
fn the_anchor_catches_every_rehashed_deletion_rewrite_cut_and_forged_tail() {
    let mut rng = Rng::new("anchor");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for round in 0..240u64 {
        let dir = tempfile::tempdir().unwrap();
        let n = 12 + rng.below(30);
        let max_bytes = if round % 2 == 0 { 0 } else { 2048 };
        let (path, anchor) = anchored_log(dir.path(), n, max_bytes);
        let r = anchored(&path, &anchor);
        assert_eq!(r.integrity(), Integrity::Intact, "{r}");
        assert_eq!(r.anchor.as_ref().unwrap().status, AnchorStatus::Matches { seq: n }, "{r}");
        let files = audit::log_files(&path).unwrap();
        let mut recs = records(&path);
        let kind = ["delete", "delete-and-pad", "flip-deny", "cut", "forge-tail"][round as usize % 5];
        *counts.entry(kind).or_default() += 1;
        let expected = match kind {
            // Drop a deny and re-hash the rest: the chain alone is fooled, the anchor is not.
            "delete" => {
                let denies: Vec<usize> = (0..recs.len()).filter(|i| recs[*i].1["decision"] == "deny").collect();
                recs.remove(denies[rng.below(denies.len() as u64) as usize]);
                rewrite(&files, recs);
                AnchorStatus::Cut { anchored: n, last: n - 1 }
            }
            // The same, padded with a forged record so the count matches.
            "delete-and-pad" => {
                let k = rng.below(n) as usize;
                recs.remove(k);
                let (file, mut last) = recs.last().cloned().unwrap();
                last.insert("decision".into(), json!("allow"));
                recs.push((file, last));
                rewrite(&files, recs);
                AnchorStatus::Rewritten { seq: n, anchored: String::new(), found: String::new() }
            }
            // A deny turned into an allow, re-hashed from there.
            "flip-deny" => {
                let k = (rng.below(n / 3) * 3) as usize;
                recs[k].1.insert("decision".into(), json!("allow"));
                rewrite(&files, recs);
                AnchorStatus::Rewritten { seq: n, anchored: String::new(), found: String::new() }
            }
            // The newest records cut off (whole lines, whole files).
            "cut" => {
                let keep = rng.below(n) as usize;
                let kept_files: Vec<PathBuf> = files.clone();
                recs.truncate(keep);
                rewrite(&kept_files, recs);
                // Whole files emptied by the cut are removed, as a careful attacker would.
                for f in &files {
                    if std::fs::metadata(f).unwrap().len() == 0 && f != &path {
                        std::fs::remove_file(f).unwrap();
                    }
                }
                AnchorStatus::Cut { anchored: n, last: keep as u64 }
            }
            // A forged record appended to a valid chain.
            "forge-tail" => {
                let (file, mut last) = recs.last().cloned().unwrap();
                last.insert("decision".into(), json!("allow"));
                recs.push((file, last));
                rewrite(&files, recs);
                AnchorStatus::Unanchored { anchored: n, last: n + 1 }
            }
            _ => unreachable!(),
        };
        // The chain alone verifies (that is the attack); against the anchor it is tampering.
        assert!(audit::verify(&path).unwrap().is_trustworthy(), "{kind}: the forged chain is valid");
        let r = anchored(&path, &anchor);
        assert_eq!(r.integrity(), Integrity::Tampered, "{kind}: {r}");
        let status = r.anchor.as_ref().unwrap().status.clone();
        match (&expected, &status) {
            (AnchorStatus::Rewritten { seq: a, .. }, AnchorStatus::Rewritten { seq: b, .. }) => assert_eq!(a, b, "{r}"),
            _ => assert_eq!(status, expected, "{kind}: {r}"),
        }
        assert!(r.to_string().starts_with("TAMPERED: anchor "), "{r}");

        // The next writer does not bless what it finds: it records a break first, and the set
        // stays tampered even though the anchor now matches its new tail.
        if round % 3 == 0 {
            let log = AuditLog::open(&path, options(max_bytes)).unwrap().with_anchor(&anchor).unwrap();
            log.append(fields(1, 0), false).unwrap();
            let r = anchored(&path, &anchor);
            assert_eq!(r.integrity(), Integrity::Tampered, "{kind} then an append: {r}");
            assert!(matches!(r.anchor.as_ref().unwrap().status, AnchorStatus::Matches { .. }), "{r}");
            assert_eq!(r.breaks.len(), 1, "{r}");
            assert!(r.breaks[0].message.contains("did not continue from its anchor"), "{r}");
            assert!(r.to_string().contains("anchor break"), "{r}");
            // Appends after it continue normally (no second break).
            log.append(fields(1, 1), false).unwrap();
            drop(log);
            let log = AuditLog::open(&path, options(max_bytes)).unwrap().with_anchor(&anchor).unwrap();
            log.append(fields(1, 2), false).unwrap();
            assert_eq!(anchored(&path, &anchor).breaks.len(), 1);
        }
    }
    eprintln!("anchor variants: {counts:?}");
}

#[test]
fn a_writer_interrupted_between_its_record_and_the_anchor_is_recognised_and_nothing_else_is() {
    let dir = tempfile::tempdir().unwrap();
    for what in ["after its record", "before its record"] {
        let (path, anchor) = anchored_log(&dir.path().join(what.replace(' ', "-")), 6, 0);
        let mut a: audit::Anchor = serde_json::from_slice(&std::fs::read(&anchor).unwrap()).unwrap();
        assert_eq!((a.seq, a.next.is_none()), (6, true));
        let recs = records(&path);
        let hash_of = |seq: usize| recs[seq - 1].1["hash"].as_str().unwrap().to_string();
        if what == "after its record" {
            // Died after writing record 6, before saying so: the anchor says 5, 6 pending.
            (a.seq, a.hash, a.next) = (5, hash_of(5), Some(audit::ChainHead { seq: 6, hash: hash_of(6) }));
        } else {
            // Died before writing record 7: the anchor says 6, 7 pending.
            a.next = Some(audit::ChainHead { seq: 7, hash: "ab".repeat(32) });
        }
        std::fs::write(&anchor, serde_json::to_vec(&a).unwrap()).unwrap();
        let r = anchored(&path, &anchor);
        assert_eq!(r.integrity(), Integrity::Intact, "{what}: {r}");
        let log = AuditLog::open(&path, options(0)).unwrap().with_anchor(&anchor).unwrap();
        log.append(fields(3, 0), false).unwrap();
        let r = anchored(&path, &anchor);
        assert_eq!((r.integrity(), r.breaks.len()), (Integrity::Intact, 0), "{what}: no break: {r}");
    }
    // The pending slot admits exactly the record named, not a forged one in its place.
    let (path, anchor) = anchored_log(&dir.path().join("b"), 6, 0);
    let mut a: audit::Anchor = serde_json::from_slice(&std::fs::read(&anchor).unwrap()).unwrap();
    let recs = records(&path);
    let real6 = recs[5].1["hash"].as_str().unwrap().to_string();
    (a.seq, a.hash, a.next) =
        (5, recs[4].1["hash"].as_str().unwrap().to_string(), Some(audit::ChainHead { seq: 6, hash: real6 }));
    std::fs::write(&anchor, serde_json::to_vec(&a).unwrap()).unwrap();
    let mut forged = recs;
    forged[5].1.insert("decision".into(), json!("allow"));
    forged[5].1.insert("i".into(), json!(999));
    rewrite(std::slice::from_ref(&path), forged);
    let r = anchored(&path, &anchor);
    assert_eq!(r.integrity(), Integrity::Tampered, "{r}");
    AuditLog::open(&path, options(0)).unwrap().with_anchor(&anchor).unwrap().append(fields(3, 1), false).unwrap();
    assert_eq!(anchored(&path, &anchor).breaks.len(), 1);
}

#[test]
fn a_break_record_cannot_be_spoofed_or_silently_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, anchor) = anchored_log(dir.path(), 10, 0);
    // A caller cannot write the reserved field, and the same bytes nested in a caller's value
    // are not a break.
    let log = AuditLog::open(&path, options(0)).unwrap().with_anchor(&anchor).unwrap();
    let mut f = Map::new();
    f.insert("anchor_break".into(), json!(1));
    assert!(matches!(log.append(f, false), Err(audit::AuditError::ReservedField(_))));
    let mut f = Map::new();
    f.insert("x".into(), json!({"anchor_break": {"anchor": 1}}));
    f.insert("y".into(), json!(",\"anchor_break\":"));
    log.append(f, false).unwrap();
    let r = anchored(&path, &anchor);
    assert_eq!((r.integrity(), r.breaks.len()), (Integrity::Intact, 0), "{r}");
    // A cut, then an append: a break. Removing the break needs a re-hash, which the anchor
    // (written after the break) catches.
    let text = std::fs::read_to_string(&path).unwrap();
    let cut: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, cut).unwrap();
    drop(log);
    let log = AuditLog::open(&path, options(0)).unwrap().with_anchor(&anchor).unwrap();
    log.append(fields(2, 0), false).unwrap();
    assert_eq!(anchored(&path, &anchor).breaks.len(), 1);
    let recs: Vec<_> = records(&path).into_iter().filter(|(_, r)| !r.contains_key("anchor_break")).collect();
    rewrite(std::slice::from_ref(&path), recs);
    let r = anchored(&path, &anchor);
    assert_eq!(r.integrity(), Integrity::Tampered, "{r}");
    assert!(r.breaks.is_empty());
    assert!(matches!(r.anchor.as_ref().unwrap().status, AnchorStatus::Cut { .. }), "{r}");
}

#[test]
fn an_unusable_anchor_fails_the_append_or_is_recorded_as_a_break() {
    let dir = tempfile::tempdir().unwrap();
    let (path, anchor) = anchored_log(dir.path(), 3, 0);
    let reopen = || AuditLog::open(&path, options(0)).unwrap().with_anchor(&anchor).unwrap();
    // Garbage in the anchor: recorded as a break, then re-anchored.
    std::fs::write(&anchor, "garbage").unwrap();
    reopen().append(fields(0, 9), false).unwrap();
    let r = anchored(&path, &anchor);
    assert_eq!(r.breaks.len(), 1, "{r}");
    assert!(r.breaks[0].message.contains("unreadable"), "{r}");
    // A directory, a FIFO or a symlink at the anchor path: never followed nor waited on, the
    // append fails (cannot record).
    type Make<'a> = &'a dyn Fn(&Path);
    let makers: [(&str, Make); 3] = [
        ("directory", &|a: &Path| std::fs::create_dir(a).unwrap()),
        ("fifo", &|a: &Path| nix::unistd::mkfifo(a, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()),
        ("symlink", &|a: &Path| std::os::unix::fs::symlink("/etc/passwd", a).unwrap()),
    ];
    for (what, make) in makers {
        std::fs::remove_file(&anchor).unwrap();
        make(&anchor);
        let err = reopen().append(fields(0, 10), false).unwrap_err().to_string();
        assert!(err.contains("audit anchor"), "{what}: {err}");
        if what == "directory" {
            std::fs::remove_dir(&anchor).unwrap();
        } else {
            std::fs::remove_file(&anchor).unwrap();
        }
        std::fs::write(&anchor, "").unwrap();
    }
    assert!(std::fs::read_to_string("/etc/passwd").unwrap().starts_with("root:"), "never written through");
    std::fs::remove_file(&anchor).unwrap();
    // Another log's anchor is not taken over.
    let other = dir.path().join("other.jsonl");
    AuditLog::open(&other, options(0)).unwrap().with_anchor(&anchor).unwrap().append(fields(0, 0), false).unwrap();
    let err = reopen().append(fields(0, 13), false).unwrap_err().to_string();
    assert!(err.contains("anchors another log"), "{err}");
    // A FIFO at the log path: an error, not a hang.
    let fifo = dir.path().join("fifo.jsonl");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let err = AuditLog::open(&fifo, options(0)).unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
}

// Through `hookhost dispatch` and `hookhost audit verify`.

use super::support::{Env, bash_event, run};

fn post_tool_use() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "session_id": "s1", "cwd": "/tmp", "hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_input": {"command": "ls"}, "tool_response": {"stdout": ""}, "tool_use_id": "t1"
    }))
    .unwrap()
}

/// Managed settings: the audit log at `log` (and the anchor at `anchor`), PreToolUse fails
/// closed, `ls` is allowed by a rule.
fn audited_env(log: &Path, anchor: Option<&Path>) -> Env {
    let env = Env::new();
    let mut audit = json!({"path": log});
    if let Some(a) = anchor {
        audit["anchor"] = json!(a);
    }
    env.write(
        "managed.d/10-audit.json",
        &json!({"audit": audit, "failClosed": ["PreToolUse"], "permissions": {"allow": ["Bash(ls:*)"]}}).to_string(),
    );
    env
}

fn assert_cannot_record(env: &Env, cause: &str) {
    // PreToolUse fails closed: exit 2 with the cause, although the rules allow it.
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("audit") && out.stderr.contains(cause) && out.stderr.contains("failing closed"),
        "{out:?}"
    );
    assert!(!out.stdout.contains("allow"), "{out:?}");
    // PostToolUse does not: allowed, with the cause in a systemMessage.
    let out = env.dispatch(&post_tool_use());
    assert_eq!(out.code, 0, "{out:?}");
    let msg = out.json()["systemMessage"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("audit") && msg.contains(cause), "{out:?}");
}

#[test]
fn a_log_that_cannot_record_fails_closed_events_closed_and_tells_the_others() {
    // A directory at the log path, at the lock path, at the anchor path; a FIFO at the log path.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/audit.jsonl");
    let env = audited_env(&log, None);
    assert_eq!(env.dispatch(&bash_event("ls")).code, 0, "a working log first");
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    assert_cannot_record(&env, "Is a directory");
    std::fs::remove_dir(&log).unwrap();

    let lock = dir.path().join("logs/audit.jsonl.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    assert_cannot_record(&env, "audit.jsonl.lock");
    std::fs::remove_dir(&lock).unwrap();

    let anchor = dir.path().join("logs/audit.jsonl.anchor");
    std::fs::remove_file(&anchor).unwrap();
    std::fs::create_dir(&anchor).unwrap();
    assert_cannot_record(&env, "audit anchor");
    std::fs::remove_dir(&anchor).unwrap();

    std::fs::remove_file(&log).unwrap();
    nix::unistd::mkfifo(&log, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    assert_cannot_record(&env, "not a regular file");
    std::fs::remove_file(&log).unwrap();

    // Repaired (the anchor was removed with the directory in its place, so a new one starts):
    // recorded again.
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    let r = audit::verify_anchored(&log, Some(&anchor)).unwrap();
    assert_eq!(r.integrity(), Integrity::Intact, "{r}");
    assert_eq!(r.anchor.unwrap().status, AnchorStatus::Matches { seq: 1 });
}

#[test]
fn a_full_disk_fails_closed_events_closed_and_tells_the_others() {
    if !nix::unistd::getuid().is_root() || Command::new("unshare").arg("--version").output().is_err() {
        eprintln!("SKIP: needs root and unshare");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small-disk");
    std::fs::create_dir(&mount).unwrap();
    let log = mount.join("audit.jsonl");
    let env = audited_env(&log, None);
    // In a mount namespace of its own: a 256 KiB tmpfs at `mount`, filled, then dispatch.
    let dispatch_on_full_disk = |event: &[u8]| {
        let bare = env.bare_command(&["dispatch"]);
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "mount -t tmpfs -o size=256k,mode=0700 hookhost-full \"$1\" || exit 97; \
                 dd if=/dev/zero of=\"$1/fill\" bs=4k >/dev/null 2>&1; shift; exec \"$@\"",
            )
            .arg("sh")
            .arg(&mount)
            .arg(super::support::bin())
            .args(bare.get_args())
            .env_clear()
            .envs(bare.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))));
        run(c, event)
    };
    let out = dispatch_on_full_disk(&bash_event("ls"));
    assert_ne!(out.code, 97, "tmpfs: {out:?}");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("No space left on device") && out.stderr.contains("failing closed"), "{out:?}");
    assert!(!out.stdout.contains("allow"), "{out:?}");
    let out = dispatch_on_full_disk(&post_tool_use());
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.json()["systemMessage"].as_str().unwrap_or_default().contains("No space left on device"), "{out:?}");
    assert!(!log.exists(), "the tmpfs lived in its own mount namespace only");
}

#[test]
fn audit_verify_reports_a_cut_or_rehashed_log_against_an_anchor_kept_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/audit.jsonl");
    let anchor = dir.path().join("admin-only/audit.anchor");
    let env = audited_env(&log, Some(&anchor));
    for cmd in ["ls", "rm -rf x", "ls -la", "ls /"] {
        env.dispatch(&bash_event(cmd));
    }
    let verify = || env.run(&["audit", "verify"], b"");
    let out = verify();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("intact: ") && out.stdout.contains("the set ends at the anchored record"), "{out:?}");
    assert!(out.stdout.contains(&format!("anchor: {}", anchor.display())), "{out:?}");
    // The last record cut off.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&log, lines[..lines.len() - 1].iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let out = verify();
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.starts_with("TAMPERED: anchor ") && out.stdout.contains("cut short"), "{out:?}");
    // Explicit files.
    let out = env.run(&["audit", "verify", log.to_str().unwrap(), "--anchor", anchor.to_str().unwrap()], b"");
    assert_eq!(out.code, 2, "{out:?}");
    // Without the anchor it kept, the same log looks intact: the default `<log>.anchor` does not
    // exist, and verify says what that means.
    let out = env
        .run(&["audit", "verify", log.to_str().unwrap(), "--anchor", dir.path().join("none").to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("no anchor file"), "{out:?}");
}
