//! The daemon's Prometheus metrics (`hookhost serve --metrics ADDR`): the registry, what feeds
//! it (one call per dispatched event from the bus, per settings change from the live gate, per
//! remote fetch from the poller, per shipper state change), and the HTTP endpoint that serves it
//! in the OpenMetrics text format (`prometheus-client`).
//!
//! Promises:
//! - **Off by default.** Until [`enable`] (the daemon with `--metrics`), every feeding call is
//!   one atomic load and returns: one-shot `dispatch` pays nothing.
//! - **Nothing sensitive, bounded cardinality.** Labels are event names (known ones; `other`
//!   else), tool names (`[A-Za-z0-9_.:-]`, at most 64 characters, at most
//!   [`MAX_TOOLS`] distinct values, `other` beyond), decisions, failure kinds (`exit` and
//!   `signal` without their number), hook labels (`<scope>:<name>` from the hook's `name`,
//!   else `<scope>:<first 8 hex of its definition's sha256>`; at most [`MAX_HOOKS`]), hook
//!   kinds, sandbox layers, settings revisions (hashes), sink names (managed). Never a command
//!   line, a path, an input or a reason.
//! - **The endpoint serves metrics only**: `GET /metrics` (and `/`); anything else is 404, a
//!   request head over 8 KiB or slower than 5 s is dropped, at most 16 connections at once.
//!   It is unauthenticated: bind it to loopback or a management network only (the address is
//!   exactly what the admin names).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::event::HookEvent;

/// The most distinct `tool` label values (an agent chooses tool names).
pub const MAX_TOOLS: usize = 256;
/// The most distinct `hook` label values (project settings choose hook names).
pub const MAX_HOOKS: usize = 1024;
/// The agent of every event until multi-agent support lands.
pub const AGENT: &str = "claude";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    event: String,
    tool: String,
    decision: String,
    agent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    hook: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    hook: String,
    kind: String,
    failure: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LayerLabels {
    layer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevisionLabels {
    revision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn hook_histogram() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 16))
}

/// Supplies the live settings revisions at each scrape (the daemon's projects).
type RevisionSource = Box<dyn Fn() -> Vec<String> + Send + Sync>;

struct Metrics {
    registry: Mutex<Registry>,
    decisions: Family<DecisionLabels, Counter>,
    hook_duration: Family<HookLabels, Histogram, fn() -> Histogram>,
    hook_failures: Family<FailureLabels, Counter>,
    sandbox_layer: Family<LayerLabels, Gauge>,
    revisions: Family<RevisionLabels, Gauge>,
    config_changes: Family<ResultLabels, Counter>,
    config_change_last: Family<ResultLabels, Gauge>,
    config_change_time: FloatGauge,
    remote_fetches: Family<ResultLabels, Counter>,
    remote_last: Family<ResultLabels, Gauge>,
    remote_age: FloatGauge,
    ship_lag_records: Family<SinkLabels, Gauge>,
    ship_lag_seconds: Family<SinkLabels, FloatGauge>,
    ship_delivered: Family<SinkLabels, Counter>,
    ship_failures: Family<SinkLabels, Counter>,
    ship_notices: Family<SinkLabels, Counter>,
    ship_rejected: Counter,
    /// Label values seen, for the caps.
    tools: Mutex<HashSet<String>>,
    hooks: Mutex<HashSet<String>>,
    /// Unix time of the last successful remote fetch.
    remote_success: Mutex<Option<f64>>,
    revision_source: Mutex<Option<RevisionSource>>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

fn now_unix() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Turns metrics on for this process (idempotent) and records what is known at start: the
/// version and the sandbox layers this machine offers.
pub fn enable() {
    METRICS.get_or_init(|| {
        let mut r = Registry::default();
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            decisions: Family::default(),
            hook_duration: Family::new_with_constructor(hook_histogram),
            hook_failures: Family::default(),
            sandbox_layer: Family::default(),
            revisions: Family::default(),
            config_changes: Family::default(),
            config_change_last: Family::default(),
            config_change_time: FloatGauge::default(),
            remote_fetches: Family::default(),
            remote_last: Family::default(),
            remote_age: FloatGauge::default(),
            ship_lag_records: Family::default(),
            ship_lag_seconds: Family::default(),
            ship_delivered: Family::default(),
            ship_failures: Family::default(),
            ship_notices: Family::default(),
            ship_rejected: Counter::default(),
            tools: Mutex::new(HashSet::new()),
            hooks: Mutex::new(HashSet::new()),
            remote_success: Mutex::new(None),
            revision_source: Mutex::new(None),
        };
        let info: Family<VersionLabels, Gauge> = Family::default();
        info.get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION").into() }).set(1);
        r.register("hookhost_build_info", "hookhost version (1)", info);
        r.register(
            "hookhost_decisions",
            "Events dispatched, by event name, tool, final decision and agent",
            m.decisions.clone(),
        );
        r.register(
            "hookhost_hook_duration_seconds",
            "Hook run time, by hook label (<scope>:<name or definition hash>) and kind",
            m.hook_duration.clone(),
        );
        r.register(
            "hookhost_hook_failures",
            "Hook failures, by hook label, kind and failure kind",
            m.hook_failures.clone(),
        );
        r.register(
            "hookhost_sandbox_layer_available",
            "Sandbox layers this machine offers (1) or lacks (0)",
            m.sandbox_layer.clone(),
        );
        r.register(
            "hookhost_settings_revision_info",
            "Settings revisions live in the daemon (1 per revision in force)",
            m.revisions.clone(),
        );
        r.register(
            "hookhost_config_changes",
            "Settings changes through the ConfigChange gate, by result",
            m.config_changes.clone(),
        );
        r.register(
            "hookhost_config_change_last_result",
            "The result of the last settings change (1 for that result)",
            m.config_change_last.clone(),
        );
        r.register(
            "hookhost_config_change_last_timestamp_seconds",
            "When the last settings change went through the gate (Unix time)",
            m.config_change_time.clone(),
        );
        r.register(
            "hookhost_remote_settings_fetches",
            "Server-managed settings fetches, by result",
            m.remote_fetches.clone(),
        );
        r.register(
            "hookhost_remote_settings_last_fetch_result",
            "The result of the last server-managed settings fetch (1 for that result)",
            m.remote_last.clone(),
        );
        r.register(
            "hookhost_remote_settings_fetch_age_seconds",
            "Seconds since the last successful server-managed settings fetch (-1: none yet)",
            m.remote_age.clone(),
        );
        r.register(
            "hookhost_ship_lag_records",
            "Audit records not yet delivered to the sink",
            m.ship_lag_records.clone(),
        );
        r.register(
            "hookhost_ship_lag_seconds",
            "Age of the oldest audit record not yet delivered to the sink",
            m.ship_lag_seconds.clone(),
        );
        r.register("hookhost_ship_delivered", "Audit records delivered to the sink", m.ship_delivered.clone());
        r.register("hookhost_ship_failures", "Failed deliveries to the sink (each retried)", m.ship_failures.clone());
        r.register(
            "hookhost_ship_notices",
            "Records the sink could not get: deleted before shipping, or a replaced log",
            m.ship_notices.clone(),
        );
        r.register(
            "hookhost_ship_rejected",
            "Records an OTLP receiver rejected in a partial success",
            m.ship_rejected.clone(),
        );
        let caps = crate::exec::sandbox::capabilities();
        for layer in crate::exec::sandbox::Layer::ALL {
            let available = i64::from(!caps.reasons.contains_key(&layer));
            m.sandbox_layer.get_or_create(&LayerLabels { layer: layer.as_str().into() }).set(available);
        }
        m.remote_age.set(-1.0);
        *m.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = r;
        m
    });
}

fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// The label of a value an outsider chooses: itself when it is short and plain and one of the
/// first `cap` seen, else `other`.
fn capped(seen: &Mutex<HashSet<String>>, value: &str, cap: usize) -> String {
    let plain = (1..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-' | b' '));
    if !plain {
        return "other".into();
    }
    let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.contains(value) || (seen.len() < cap && seen.insert(value.to_string())) {
        value.to_string()
    } else {
        "other".into()
    }
}

/// A failure kind without its number (`exit 3` → `exit`).
fn failure_label(kind: &crate::decision::FailureKind) -> String {
    use crate::decision::FailureKind;
    match kind {
        FailureKind::ExitCode(_) => "exit".into(),
        FailureKind::Signal(_) => "signal".into(),
        other => other.as_str(),
    }
}

/// One hook run as the metrics count it: the hook's metric label, its kind, how long it took
/// and how it failed, if it did.
pub struct RunSample<'a> {
    pub hook: String,
    pub kind: &'a str,
    pub duration: std::time::Duration,
    pub failure: Option<&'a crate::decision::FailureKind>,
}

/// One dispatched event: the decision (`verdict`, its label), and every hook run (time and
/// failure). Called once per event by the bus, where its audit record is built.
pub fn dispatched<'a>(event: &HookEvent, verdict: &str, runs: impl IntoIterator<Item = RunSample<'a>>) {
    let Some(m) = get() else { return };
    let name = event.name();
    let event_label = if event.event_name().is_known() { name.to_string() } else { "other".into() };
    let tool = event.tool_name().map_or_else(|| "none".to_string(), |t| capped(&m.tools, t, MAX_TOOLS));
    m.decisions
        .get_or_create(&DecisionLabels { event: event_label, tool, decision: verdict.into(), agent: AGENT.into() })
        .inc();
    for run in runs {
        let hook = capped(&m.hooks, &run.hook, MAX_HOOKS);
        let kind = run.kind.to_string();
        m.hook_duration
            .get_or_create(&HookLabels { hook: hook.clone(), kind: kind.clone() })
            .observe(run.duration.as_secs_f64());
        if let Some(f) = run.failure {
            m.hook_failures.get_or_create(&FailureLabels { hook, kind, failure: failure_label(f) }).inc();
        }
    }
}

/// One settings change through the ConfigChange gate (`result`: applied, policy, blocked,
/// invalid, adopted).
pub fn config_change(result: &str) {
    let Some(m) = get() else { return };
    m.config_changes.get_or_create(&ResultLabels { result: result.into() }).inc();
    m.config_change_last.clear();
    m.config_change_last.get_or_create(&ResultLabels { result: result.into() }).set(1);
    m.config_change_time.set(now_unix());
}

/// One server-managed settings fetch (`result`: changed, not_modified, error).
pub fn remote_fetch(result: &str) {
    let Some(m) = get() else { return };
    m.remote_fetches.get_or_create(&ResultLabels { result: result.into() }).inc();
    m.remote_last.clear();
    m.remote_last.get_or_create(&ResultLabels { result: result.into() }).set(1);
    if result != "error" {
        *m.remote_success.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(now_unix());
    }
}

/// Where the live settings revisions come from at each scrape.
pub fn revisions_from(source: impl Fn() -> Vec<String> + Send + Sync + 'static) {
    let Some(m) = get() else { return };
    *m.revision_source.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Box::new(source));
}

/// The shipper's sinks, as they stand.
pub fn ship_status<'a>(lags: impl IntoIterator<Item = (&'a str, u64, f64)>) {
    let Some(m) = get() else { return };
    for (sink, records, seconds) in lags {
        let l = SinkLabels { sink: sink.into() };
        m.ship_lag_records.get_or_create(&l).set(i64::try_from(records).unwrap_or(i64::MAX));
        m.ship_lag_seconds.get_or_create(&l).set(seconds);
    }
}

pub fn ship_delivered(sink: &str, n: u64) {
    let Some(m) = get() else { return };
    m.ship_delivered.get_or_create(&SinkLabels { sink: sink.into() }).inc_by(n);
}

pub fn ship_failure(sink: &str) {
    let Some(m) = get() else { return };
    m.ship_failures.get_or_create(&SinkLabels { sink: sink.into() }).inc();
}

pub fn ship_notice(sink: &str) {
    let Some(m) = get() else { return };
    m.ship_notices.get_or_create(&SinkLabels { sink: sink.into() }).inc();
}

pub fn ship_rejected(n: u64) {
    let Some(m) = get() else { return };
    m.ship_rejected.inc_by(n);
}

/// The exposition (OpenMetrics text), with the values computed at scrape time refreshed.
pub fn render() -> Option<String> {
    let m = get()?;
    if let Some(t) = *m.remote_success.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
        m.remote_age.set((now_unix() - t).max(0.0));
    }
    if let Some(source) = m.revision_source.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
        let live: HashSet<String> = source().into_iter().collect();
        m.revisions.clear();
        for r in live {
            m.revisions.get_or_create(&RevisionLabels { revision: r }).set(1);
        }
    }
    let mut out = String::new();
    let registry = m.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    prometheus_client::encoding::text::encode(&mut out, &registry).ok()?;
    Some(out)
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const MAX_HEAD: usize = 8 << 10;
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: usize = 16;

/// Binds the metrics endpoint at exactly `addr`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves `GET /metrics` on `listener` until `stop` turns true.
pub async fn serve(listener: tokio::net::TcpListener, mut stop: tokio::sync::watch::Receiver<bool>) {
    enable();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue; // Over the cap: dropped (closed).
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(HEAD_TIMEOUT, answer(stream)).await;
            drop(permit);
        });
    }
}

/// Reads one request head and answers it.
async fn answer(mut stream: tokio::net::TcpStream) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (method, path) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                break (req.method.unwrap_or("").to_string(), req.path.unwrap_or("").to_string());
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => {
                stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
                return Ok(());
            }
        }
    };
    let path = path.split('?').next().unwrap_or("");
    let response = match (method.as_str(), path) {
        ("GET", "/metrics" | "/") => match render() {
            Some(body) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
            None => "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        },
        ("GET", _) => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        _ => "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outsider_values_are_capped_and_plain() {
        let seen = Mutex::new(HashSet::new());
        assert_eq!(capped(&seen, "Bash", 2), "Bash");
        assert_eq!(capped(&seen, "mcp__gh__create_issue", 2), "mcp__gh__create_issue");
        assert_eq!(capped(&seen, "Edit", 2), "other");
        assert_eq!(capped(&seen, "Bash", 2), "Bash");
        for bad in ["", "rm -rf /; x\"", "a/b", "x\ny", &"a".repeat(65), "é"] {
            assert_eq!(capped(&seen, bad, 100), "other", "{bad:?}");
        }
        assert_eq!(failure_label(&crate::decision::FailureKind::ExitCode(3)), "exit");
        assert_eq!(failure_label(&crate::decision::FailureKind::Timeout), "timeout");
    }
}
