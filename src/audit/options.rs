//! The audit log's options as managed settings give them (`audit` in a managed file, parsed and
//! validated by `crate::settings::file`): where the log and its anchor live, how records are
//! made durable, redaction, and the sinks it is shipped to. Plain data: the settings produce it,
//! the audit log and its shippers consume it, so neither needs the settings' types.

use std::path::PathBuf;

/// Managed `audit` settings: where and how every decision is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSettings {
    pub enabled: bool,
    /// The log file (default: `$XDG_STATE_HOME/hookhost/audit.jsonl`).
    pub path: Option<PathBuf>,
    /// The anchor file keeping the chain's head (default: `<path>.anchor`), see
    /// `crate::audit` ("The anchor").
    pub anchor: Option<PathBuf>,
    /// fsync after every record (`"always"`), or in batches with denies and ConfigChange
    /// records made durable at once (`"batched"`, the default).
    pub fsync_always: bool,
    pub max_bytes: Option<u64>,
    pub max_record_bytes: Option<usize>,
    pub redact: Vec<super::Redaction>,
    /// Record the event itself (after redaction), not only its digest.
    pub include_input: bool,
    /// `ship`: the sinks the log is shipped to (`crate::audit::ship`).
    pub ship: Vec<super::ship::SinkConfig>,
    /// `shipCursorDir`: where the shippers' cursors live (default: the anchor's directory).
    pub ship_cursor_dir: Option<PathBuf>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            enabled: true,
            path: None,
            anchor: None,
            fsync_always: false,
            max_bytes: None,
            max_record_bytes: None,
            redact: Vec::new(),
            include_input: true,
            ship: Vec::new(),
            ship_cursor_dir: None,
        }
    }
}
