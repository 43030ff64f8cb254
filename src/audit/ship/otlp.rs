//! The OpenTelemetry sink: OTLP/HTTP with protobuf (`POST <endpoint>`, `Content-Type:
//! application/x-protobuf`), one `ExportLogsServiceRequest` per batch, encoded with the official
//! `opentelemetry-proto` types (prost) and sent with `ureq`.
//!
//! # The mapping
//!
//! - Resource: `service.name` = `hookhost`, `service.version`, `host.name`, `user.name` and
//!   `user.id` (who runs the shipper), `hookhost.agent` (`claude`), then the sink's `resource`
//!   attributes.
//! - Scope: `hookhost.audit`, the hookhost version.
//! - One LogRecord per audit record: `time_unix_nano` from its `time`, `observed_time_unix_nano`
//!   now, severity from its decision (INFO; INFO2 for ask; WARN for deny, block, defer, stop;
//!   ERROR for a host error; FATAL for an anchor break), `event_name` `hookhost.<kind>`, the body
//!   the record's line exactly as the log holds it (a string; its `hash` can be checked), and
//!   every top-level field of the record as an attribute `hookhost.<field>` (objects and arrays
//!   as kvlist and array values), `hookhost.agent` defaulting to `claude`.
//!
//! # Delivery
//!
//! A batch is delivered when the receiver answers 2xx. 429, 502, 503 and 504 (and network
//! errors) are retried after the backoff or the receiver's `Retry-After`; a 413 splits the batch
//! in halves, down to one record, which is then sent as the summary the syslog sink uses. Any
//! other status is an error that stays (retried at the longest backoff, shown in the status): a
//! record is never dropped because a receiver refused it. A partial success (`rejected_log_records`
//! > 0) is not retried, as the OTLP specification says, and is logged.

use std::path::PathBuf;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Value};

use super::{Record, Sink, SinkError};

/// An OTLP sink's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// The full URL logs are posted to (`http(s)://host:4318/v1/logs`).
    pub endpoint: String,
    /// Extra request headers (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// PEM roots to check an `https` receiver against (default: Mozilla's).
    pub ca_file: Option<PathBuf>,
    /// Extra resource attributes.
    pub resource: Vec<(String, String)>,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The agent records are attributed to when they do not say.
pub const DEFAULT_AGENT: &str = "claude";

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn string(s: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(s.into())
}

/// A JSON value as an OTLP `AnyValue`.
pub fn any(v: &Value) -> AnyValue {
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(string(s.clone())),
        Value::Array(a) => Some(any_value::Value::ArrayValue(ArrayValue { values: a.iter().map(any).collect() })),
        Value::Object(m) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: m
                .iter()
                .map(|(k, v)| KeyValue { key: k.clone(), value: Some(any(v)), ..Default::default() })
                .collect(),
        })),
    };
    AnyValue { value }
}

/// The resource every batch names.
pub fn resource(cfg: &OtlpConfig) -> Resource {
    let uid = nix::unistd::getuid();
    let user = nix::unistd::User::from_uid(uid).ok().flatten().map(|u| u.name).unwrap_or_default();
    let mut attributes = vec![
        kv("service.name", string("hookhost")),
        kv("service.version", string(env!("CARGO_PKG_VERSION"))),
        kv("host.name", string(super::syslog::hostname())),
        kv("user.name", string(user)),
        kv("user.id", string(uid.as_raw().to_string())),
        kv("hookhost.agent", string(DEFAULT_AGENT)),
    ];
    attributes.extend(cfg.resource.iter().map(|(k, v)| kv(k, string(v.clone()))));
    Resource { attributes, ..Default::default() }
}

fn severity(fields: &Map<String, Value>) -> (i32, &'static str) {
    match super::syslog::severity(fields) {
        0..=2 => (21, "FATAL"),
        3 => (17, "ERROR"),
        4 => (13, "WARN"),
        5 => (10, "INFO2"),
        _ => (9, "INFO"),
    }
}

/// The LogRecord of one audit record (`summary`: send the summary instead of the whole line).
pub fn log_record(r: &Record, observed_nanos: u64, summary: bool) -> LogRecord {
    let fields: Map<String, Value> = serde_json::from_slice(&r.line).unwrap_or_default();
    let line = if summary { super::syslog::summary(r, &fields) } else { r.line.clone() };
    let shown: Map<String, Value> =
        if summary { serde_json::from_slice(&line).unwrap_or_default() } else { fields.clone() };
    let (severity_number, severity_text) = severity(&fields);
    let time = r.time.as_deref().and_then(super::parse_time).map_or(0, |t| (t * 1e9) as u64);
    let mut attributes: Vec<KeyValue> = shown
        .iter()
        .filter(|(k, _)| *k != "agent")
        .map(|(k, v)| KeyValue { key: format!("hookhost.{k}"), value: Some(any(v)), ..Default::default() })
        .collect();
    // The agent is recorded as an object (`{"name": …, "version": …, …}`): `hookhost.agent` is
    // its name, the rest `hookhost.agent.<key>`.
    match shown.get("agent") {
        Some(Value::Object(a)) => {
            let name = a.get("name").and_then(Value::as_str).unwrap_or(DEFAULT_AGENT).to_string();
            attributes.push(kv("hookhost.agent", string(name)));
            for (k, v) in a.iter().filter(|(k, _)| *k != "name") {
                attributes.push(KeyValue {
                    key: format!("hookhost.agent.{k}"),
                    value: Some(any(v)),
                    ..Default::default()
                });
            }
        }
        Some(v) => {
            attributes.push(KeyValue { key: "hookhost.agent".into(), value: Some(any(v)), ..Default::default() })
        }
        None => attributes.push(kv("hookhost.agent", string(DEFAULT_AGENT))),
    }
    let kind = fields.get("kind").and_then(Value::as_str).unwrap_or("record");
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed_nanos,
        severity_number,
        severity_text: severity_text.into(),
        body: Some(AnyValue { value: Some(string(String::from_utf8_lossy(&line).into_owned())) }),
        attributes,
        event_name: format!("hookhost.{kind}"),
        ..Default::default()
    }
}

/// The export request for `records`.
pub fn request(resource: &Resource, records: &[(&Record, bool)]) -> ExportLogsServiceRequest {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "hookhost.audit".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records: records.iter().map(|(r, s)| log_record(r, now, *s)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The OTLP sink.
pub struct OtlpSink {
    cfg: OtlpConfig,
    agent: ureq::Agent,
    resource: Resource,
    /// Records delivered and not yet counted by `confirmed`.
    delivered: usize,
}

impl OtlpSink {
    pub fn new(cfg: OtlpConfig) -> Result<OtlpSink, String> {
        let mut builder = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("hookhost/{}", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(format!("{}: no CA certificate in it", ca.display()));
            }
            builder = builder.tls_config(
                ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&certs)).build(),
            );
        }
        let resource = resource(&cfg);
        Ok(OtlpSink { agent: builder.build().into(), cfg, resource, delivered: 0 })
    }

    /// Posts `records`; splits on 413.
    fn post(&mut self, records: &[(&Record, bool)]) -> Result<(), SinkError> {
        let body = request(&self.resource, records).encode_to_vec();
        let mut req = ureq::http::Request::post(&self.cfg.endpoint).header("Content-Type", "application/x-protobuf");
        for (k, v) in &self.cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(body).map_err(|e| SinkError::new(format!("{}: {e}", self.cfg.endpoint)))?;
        let mut resp = self.agent.run(req).map_err(|e| SinkError::new(format!("POST {}: {e}", self.cfg.endpoint)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match status {
            200..=299 => {
                let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
                if let Ok(r) = ExportLogsServiceResponse::decode(body.as_slice())
                    && let Some(p) = r.partial_success
                    && p.rejected_log_records > 0
                {
                    tracing::warn!(
                        endpoint = %self.cfg.endpoint,
                        rejected = p.rejected_log_records,
                        message = %p.error_message,
                        "audit shipping: the OTLP receiver rejected records (partial success; not retried)"
                    );
                    crate::metrics::ship_rejected(p.rejected_log_records.max(0) as u64);
                }
                Ok(())
            }
            413 if records.len() > 1 => {
                let (a, b) = records.split_at(records.len() / 2);
                self.post(a)?;
                self.post(b)
            }
            413 if !records[0].1 => self.post(&[(records[0].0, true)]),
            429 | 502 | 503 | 504 => {
                Err(SinkError { message: format!("POST {}: HTTP {status} (retrying)", self.cfg.endpoint), retry_after })
            }
            s => Err(SinkError {
                message: format!(
                    "POST {}: HTTP {s}: the receiver refuses the records (not dropped; retrying)",
                    self.cfg.endpoint
                ),
                retry_after: Some(Duration::from_secs(3600)),
            }),
        }
    }
}

impl Sink for OtlpSink {
    fn send(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let records: Vec<(&Record, bool)> = batch.iter().map(|r| (r, false)).collect();
        self.post(&records)?;
        self.delivered += batch.len();
        Ok(())
    }

    fn confirmed(&mut self) -> Result<usize, SinkError> {
        Ok(std::mem::take(&mut self.delivered))
    }

    fn reset(&mut self) {
        self.delivered = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::ship::Position;

    #[test]
    fn a_record_maps_to_one_log_record_with_its_fields() {
        let h = "b".repeat(64);
        let line = format!(
            r#"{{"v":1,"seq":3,"prev":"{h}","time":"2026-01-02T03:04:05.500000Z","kind":"event","event":"PreToolUse","tool":"Bash","decision":"deny","input":{{"tool_input":{{"command":"ls"}}}},"hooks":[{{"hook":"[x]","duration_ms":1.5}}],"hash":"{h}"}}"#
        );
        let r = Record {
            seq: 3,
            hash: h.clone(),
            prev: h.clone(),
            time: Some("2026-01-02T03:04:05.500000Z".into()),
            line: line.clone().into_bytes(),
            end: Position { dev: 0, ino: 0, offset: 0, seq: 3, hash: h.clone() },
        };
        let cfg = OtlpConfig {
            endpoint: "http://127.0.0.1:1/v1/logs".into(),
            headers: vec![],
            timeout: DEFAULT_TIMEOUT,
            ca_file: None,
            resource: vec![("deployment.environment".into(), "test".into())],
        };
        let req = request(&resource(&cfg), &[(&r, false)]);
        let bytes = req.encode_to_vec();
        let back = ExportLogsServiceRequest::decode(bytes.as_slice()).unwrap();
        let rl = &back.resource_logs[0];
        let res: Vec<&str> = rl.resource.as_ref().unwrap().attributes.iter().map(|a| a.key.as_str()).collect();
        for k in
            ["service.name", "service.version", "host.name", "user.name", "hookhost.agent", "deployment.environment"]
        {
            assert!(res.contains(&k), "{k} in {res:?}");
        }
        let lr = &rl.scope_logs[0].log_records[0];
        assert_eq!(lr.time_unix_nano, 1_767_323_045_500_000_000);
        assert_eq!((lr.severity_number, lr.severity_text.as_str()), (13, "WARN"));
        assert_eq!(lr.event_name, "hookhost.event");
        assert_eq!(lr.body.as_ref().unwrap().value, Some(string(line)));
        let attr =
            |k: &str| lr.attributes.iter().find(|a| a.key == k).and_then(|a| a.value.clone()).unwrap().value.unwrap();
        assert_eq!(attr("hookhost.seq"), any_value::Value::IntValue(3));
        assert_eq!(attr("hookhost.tool"), string("Bash"));
        assert_eq!(attr("hookhost.agent"), string("claude"));
        assert!(matches!(attr("hookhost.input"), any_value::Value::KvlistValue(_)));
        assert!(matches!(attr("hookhost.hooks"), any_value::Value::ArrayValue(a) if a.values.len() == 1));
    }
}
