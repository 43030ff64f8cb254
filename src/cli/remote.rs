//! The command line of server-managed settings: the arguments and output of `status`, `remote
//! refresh`, `remote watch`, `sign`, `keygen`, `approvals`, `approve` and `reject`. What a
//! load, a refresh and a changed payload do is the host's (`crate::host::remote`).
//!
//! Promises: approvals and rejections are recorded in the state directory and audited; `remote
//! refresh` never sends validators read from the cache; `sign` writes version-2 envelopes bound
//! to a URL or fleet, with a version it never lowers below the file it replaces and an expiry in
//! the future.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use crate::settings::remote::{self, ManagedSource, Refresh};
use crate::settings::{Locations, load};

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Fetch the server-managed settings once (unconditionally: the cache's ETag /
    /// Last-Modified are not sent, they could vouch for a payload put back in the cache),
    /// verify and cache them, and when the server revision changed, report it as a
    /// `policy_settings` ConfigChange to the ConfigChange hooks (applied whatever they answer)
    /// and audit it. Exits 0 when fetched ("changed" or "not modified": the same payload), 1 on
    /// failure (the cache is kept).
    Refresh(RefreshArgs),
    /// Poll the server at `remoteSettings.pollSeconds` (jittered) and handle every change like
    /// `remote refresh`, until killed. One line per change on stdout. Polls after the first
    /// are conditional on the validators of the payload this process fetched itself (never under
    /// forceRemoteSettingsRefresh).
    Watch,
}

#[derive(Debug, Clone, Args)]
pub struct RefreshArgs {
    /// Print nothing (used by `dispatch` for its background refresh).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also ask the `hookhost serve` daemon on this socket for its live revision of the project,
    /// its audit sinks and its WebAssembly instances made ahead of events.
    #[arg(long, env = "HOOKHOST_SOCKET", value_name = "PATH")]
    pub socket: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SignArgs {
    /// The private key file (written by `hookhost keygen`).
    #[arg(long, value_name = "KEYFILE")]
    pub key: PathBuf,
    /// The settings file to sign (its exact bytes are signed; an empty file or `{}` is the
    /// signed "no server settings" policy).
    pub file: PathBuf,
    /// The URL clients fetch the envelope from (their `remoteSettings.url`, compared in its
    /// WHATWG serialisation): anywhere else it is refused.
    #[arg(long, value_name = "URL", conflicts_with = "fleet", required_unless_present_any = ["fleet", "legacy"])]
    pub url: Option<String>,
    /// The fleet id clients are configured with (`remoteSettings.fleet`), instead of `--url`.
    #[arg(long, value_name = "ID")]
    pub fleet: Option<String>,
    /// The envelope's version (at least 1): clients refuse a version lower than the highest they
    /// verified, and the same version with other content. Default: now, in milliseconds since
    /// 1970, and above the version of the `--output` file it replaces.
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,
    /// When the envelope stops being the current policy: a duration from now (`30d`, `12h`) or an
    /// RFC 3339 time (`2026-03-01T00:00:00Z`). Sign again before then.
    #[arg(long, value_name = "WHEN", default_value = "30d")]
    pub expires: String,
    /// Write the signed envelope here (default: stdout).
    #[arg(long, short, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Legacy: a version-1 envelope, a signature over the bytes alone, bound to no URL, version
    /// or expiry. Clients accept it only with `remoteSettings.allowLegacySignatures` (migration).
    #[arg(long, conflicts_with_all = ["url", "fleet", "version"])]
    pub legacy: bool,
    /// With `--legacy`: print only the base64 signature (for a server that sends it in the
    /// X-Hookhost-Signature header with the unchanged file as the body).
    #[arg(long, requires = "legacy")]
    pub signature_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (created mode 0600; never overwritten).
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ApproveArgs {
    /// The server revision (sha256 shown by `hookhost approvals` and `hookhost status`).
    pub revision: String,
}

// ---------------------------------------------------------------------------------------------
// refresh and watch (the logic is the host's: crate::host::remote)

/// A refresh from synchronous code: the policy ConfigChange it may raise runs hooks.
fn refresh(loc: &Locations) -> Result<Option<Refresh>, String> {
    crate::host::block_on_fresh(crate::host::remote::refresh(loc))?
}

pub fn remote_cmd(g: &crate::cli::Global, c: &RemoteCommand) -> u8 {
    let loc = g.locations();
    match c {
        RemoteCommand::Refresh(a) => match refresh(&loc) {
            Ok(None) => {
                if !a.quiet {
                    eprintln!("hookhost remote refresh: no remoteSettings in endpoint-managed settings");
                }
                1
            }
            Ok(Some(r)) => {
                if !a.quiet {
                    println!("{}", describe(&r));
                }
                0
            }
            Err(e) => {
                if !a.quiet {
                    eprintln!("hookhost remote refresh: {e}");
                }
                1
            }
        },
        RemoteCommand::Watch => watch(&loc),
    }
}

fn describe(r: &Refresh) -> String {
    match r {
        Refresh::Changed { old, new, .. } => {
            format!("changed {} -> {new}", old.as_deref().unwrap_or("(none)"))
        }
        Refresh::NotModified { revision } => format!("not modified {revision}"),
    }
}

/// Refreshes now, then polls with [`remote::RemoteSource::poll`] until killed; every change is
/// reported (`policy_change`) and printed.
fn watch(loc: &Locations) -> u8 {
    use std::io::Write;
    let mut before = load(loc);
    let Some(r) = &before.remote else {
        eprintln!("hookhost remote watch: no remoteSettings in endpoint-managed settings");
        return 1;
    };
    let source =
        remote::RemoteSource::new(r.config.clone(), loc.state_dir.as_deref()).with_endpoint_force(r.endpoint_force);
    let mut handle = |res: Result<Refresh, remote::RemoteError>| match res {
        Ok(r) => {
            if let Refresh::Changed { old, new, payload_path } = &r {
                let change = crate::host::remote::policy_change(
                    loc,
                    Some(&before.settings.revision),
                    old.as_deref(),
                    new,
                    payload_path,
                );
                if let Err(e) = crate::host::block_on_fresh(change) {
                    eprintln!("hookhost remote watch: {e}");
                }
                before = load(loc);
                println!("{}", describe(&r));
                let _ = std::io::stdout().flush();
            }
        }
        Err(e) => {
            crate::host::remote::audit_refresh_failure(&before, &source.config.url, &e);
            eprintln!("hookhost remote watch: {e} (keeping the cache)");
        }
    };
    handle(source.refresh_once());
    let stop = std::sync::atomic::AtomicBool::new(false);
    source.poll(&stop, handle);
    0
}

// ---------------------------------------------------------------------------------------------
// status

/// The lines `hookhost check` prints about server-managed settings.
pub fn check_summary(r: &crate::settings::RemoteStatus) -> String {
    let mut o = format!(
        "\nserver-managed settings: {} (managed source: {})\n",
        r.config.url,
        match r.source {
            ManagedSource::Server => "server; endpoint-managed files are ignored",
            ManagedSource::Endpoint => "endpoint; the server delivered nothing or is not cached",
            ManagedSource::None => "none",
        }
    );
    if let Some(p) = &r.report.payload {
        o.push_str(&format!("  revision {}{}\n", p.revision, if p.is_empty() { " (empty)" } else { "" }));
    }
    for p in &r.report.problems {
        o.push_str(&format!("  PROBLEM: {p}\n"));
    }
    o
}

pub fn status_cmd(g: &crate::cli::Global, a: &StatusArgs) -> u8 {
    let loc = g.locations();
    let loaded = load(&loc);
    let endpoint_present = loc.managed_file().exists()
        || crate::settings::scope::list_dropins(&loc.managed_dropin_dir()).is_ok_and(|v| !v.is_empty());
    let mut v = Map::new();
    let source = match &loaded.remote {
        Some(r) => r.source,
        None if endpoint_present => ManagedSource::Endpoint,
        None => ManagedSource::None,
    };
    v.insert("managed_source".into(), source.as_str().into());
    v.insert("settings_revision".into(), loaded.settings.revision.clone().into());
    if let Some(r) = &loaded.remote {
        let cache = remote::Cache::new(loc.state_dir.as_deref(), &r.config.url);
        let meta = cache.load(&r.config).ok().flatten().map(|c| c.meta);
        let attempt = cache.last_attempt().ok().flatten();
        let p = r.report.payload.as_ref();
        let shown = p.or(r.report.expired.as_ref().map(|(p, _)| p));
        v.insert(
            "remote".into(),
            json!({
                "url": r.config.url,
                "fleet": r.config.fleet,
                "revision": p.map(|p| p.revision.clone()),
                "empty": p.map(|p| p.is_empty()),
                "signed": !r.config.keys.is_empty(),
                "authenticated_by": shown.map(|p| p.kind()),
                "version": shown.map(|p| p.version()),
                "expires": shown.and_then(|p| p.expires()),
                "expired": r.report.expired.as_ref().map(|(p, _)| p.revision.clone()),
                "highest_version": cache.highest(&r.config).map(|h| h.version),
                "allow_legacy_signatures": r.config.allow_legacy,
                "cache_dir": cache.dir,
                "cache_verified": r.report.cache_verified,
                "cache_problem": r.report.problems.first(),
                "problems": r.report.problems,
                "last_fetch": meta.as_ref().map(|m| m.fetched_at).filter(|t| remote::checked_time(*t, "").is_ok()),
                "last_attempt": attempt.as_ref().map(|a| a.at),
                "last_result": attempt.as_ref().map(|a| a.result.clone()),
                "poll_seconds": r.config.poll.as_secs(),
                "force_refresh": p.is_some_and(|p| p.force_refresh()),
                "require_approval": r.config.require_approval,
                "approval": p.and_then(|p| remote::approval(loc.state_dir.as_deref(), &p.revision)).map(|a| a.decision),
            }),
        );
    }
    // The revision in force (what the ConfigChange gate last accepted), which differs from the
    // files on disk while a change is blocked or not yet seen.
    let live = crate::live::in_force(&loc).map(|s| s.revision);
    v.insert("live_revision".into(), live.clone().map_or(Value::Null, Value::from));
    v.insert("auto_daemon".into(), crate::daemon::auto::status(loaded.settings.daemon_mode));
    // Observability (issue 24): the audit shipper's sinks, as the daemon reports them.
    let mut daemon_ship: Option<Vec<crate::audit::ship::SinkStatus>> = None;
    if let Some(socket) = a.socket.as_ref().filter(|s| !s.as_os_str().is_empty()) {
        use crate::daemon::{Reply, Request, client};
        // A daemon of another uid serves the managed policy only and refuses our files.
        let req = |server: &client::Server| Request::Status {
            v: crate::daemon::PROTOCOL,
            project_dir: loc.project_dir.clone().filter(|_| server.same_user),
            settings: loc.cli_file.clone().filter(|_| server.same_user),
        };
        let d = match client::request_with(socket, std::time::Duration::from_secs(5), req) {
            Ok(Reply::Status {
                revision, sources, errors, age_seconds, pid, projects, ship, wasm_prepared, ..
            }) => {
                daemon_ship = Some(ship);
                json!({
                    "socket": socket, "revision": revision, "files": sources.len(), "errors": errors,
                    "revision_age_seconds": age_seconds, "pid": pid, "projects": projects,
                    "wasm_prepared": wasm_prepared,
                })
            }
            Ok(other) => json!({"socket": socket, "error": format!("unexpected reply: {other:?}")}),
            Err(e) => json!({"socket": socket, "error": e.to_string()}),
        };
        v.insert("daemon".into(), d);
    }
    if let Some(ship) = crate::cli::ship::status(&loaded.settings.audit, daemon_ship.as_deref()) {
        v.insert("audit_ship".into(), ship);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&Value::Object(v)).unwrap_or_default());
        return 0;
    }
    let mut o = format!(
        "managed source     {}\nsettings revision  {} (files on disk)\n",
        source.as_str(),
        loaded.settings.revision
    );
    o.push_str(&format!(
        "live revision      {}\n",
        match &live {
            Some(r) if *r == loaded.settings.revision => format!("{r} (the same)"),
            Some(r) => format!(
                "{r} (last accepted by the ConfigChange gate; a change on disk is blocked, invalid or not seen yet)"
            ),
            None => "- (no gated revision recorded yet)".into(),
        }
    ));
    if let Some(d) = v.get("auto_daemon") {
        o.push_str(&crate::daemon::auto::status_line(d));
    }
    if let Some(Value::Object(d)) = v.get("daemon") {
        let g = |k: &str| {
            d.get(k).map(|x| x.as_str().map(String::from).unwrap_or_else(|| x.to_string())).unwrap_or_default()
        };
        match d.get("error") {
            Some(e) => o.push_str(&format!("daemon             {}: {}\n", g("socket"), e.as_str().unwrap_or_default())),
            None => o.push_str(&format!(
                "daemon             {} (pid {}, {} project(s)): revision {}, {} file(s), errors {}\n",
                g("socket"),
                g("pid"),
                g("projects"),
                g("revision"),
                g("files"),
                g("errors")
            )),
        }
        if let Some(Value::Object(w)) = d.get("wasm_prepared") {
            let n = |k: &str| w.get(k).and_then(Value::as_u64).unwrap_or(0);
            o.push_str(&format!(
                "wasm instances     {} made ahead and ready, {} event(s) served from one\n",
                n("ready"),
                n("used")
            ));
        }
    }
    if let Some(Value::Object(r)) = v.get("remote") {
        let s = |k: &str| match r.get(k) {
            None | Some(Value::Null) => "-".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(x) => x.to_string(),
        };
        let time = |k: &str| match r.get(k).and_then(Value::as_f64) {
            Some(t) => format!("{} ({}s ago)", unix_rfc3339(t), (now() - t).max(0.0) as u64),
            None => "never".into(),
        };
        let expires = match r.get("expires").and_then(Value::as_u64) {
            Some(t) => remote::rfc3339(t),
            None => "-".into(),
        };
        o.push_str(&format!(
            "server url         {}\nserver revision    {}{}\nsigned envelope    {} (version {}, expires {}; highest version verified {})\ncache verified     {}\nlast fetch         {}\nlast attempt       {}: {}\npoll               every {}s\nsigned payloads    {}\nforce refresh      {}\nrequire approval   {} (this revision: {})\n",
            s("url"),
            s("revision"),
            if r.get("empty") == Some(&Value::Bool(true)) {
                " (empty: endpoint-managed applies)"
            } else if !matches!(r.get("expired"), None | Some(Value::Null)) {
                " (EXPIRED: not applied)"
            } else {
                ""
            },
            s("authenticated_by"),
            s("version"),
            expires,
            s("highest_version"),
            match r.get("cache_verified") {
                Some(Value::Bool(true)) => "yes".to_string(),
                Some(Value::Bool(false)) => format!("NO: {}", s("cache_problem")),
                _ => "no cache".to_string(),
            },
            time("last_fetch"),
            time("last_attempt"),
            s("last_result"),
            s("poll_seconds"),
            s("signed"),
            s("force_refresh"),
            s("require_approval"),
            s("approval"),
        ));
        for p in r.get("problems").and_then(Value::as_array).into_iter().flatten() {
            o.push_str(&format!("PROBLEM            {}\n", p.as_str().unwrap_or_default()));
        }
    }
    if let Some(ship) = v.get("audit_ship") {
        o.push_str(&crate::cli::ship::status_text(ship));
    }
    print!("{o}");
    0
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

fn unix_rfc3339(t: f64) -> String {
    crate::clock::format_rfc3339(t as i64, None)
}

// ---------------------------------------------------------------------------------------------
// sign, keygen

pub fn keygen_cmd(a: &KeygenArgs) -> u8 {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (private, public) = match remote::generate_key() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("hookhost keygen: {e}");
            return 1;
        }
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&a.out)
        .and_then(|mut f| f.write_all(private.as_bytes()).and_then(|_| f.sync_all()));
    if let Err(e) = written {
        eprintln!("hookhost keygen: {}: {e}", a.out.display());
        return 1;
    }
    eprintln!("private key written to {}; put this public key in remoteSettings.publicKey:", a.out.display());
    println!("{public}");
    0
}

pub fn sign_cmd(a: &SignArgs) -> u8 {
    match sign(a) {
        Ok(()) => 0,
        Err(m) => {
            eprintln!("hookhost sign: {m}");
            1
        }
    }
}

fn sign(a: &SignArgs) -> Result<(), String> {
    use crate::settings::envelope;
    let text = std::fs::read_to_string(&a.key).map_err(|e| format!("{}: {e}", a.key.display()))?;
    let key = remote::read_signing_key(&text).map_err(|e| format!("{}: {e}", a.key.display()))?;
    let payload = std::fs::read(&a.file).map_err(|e| format!("{}: {e}", a.file.display()))?;
    // Refuse to sign what clients would reject anyway.
    let probe = remote::Payload { bytes: payload.clone(), signature: None, revision: String::new(), signed: None };
    if !probe.is_empty() {
        crate::settings::file::parse_bytes(&payload, &a.file, crate::vocab::Scope::Managed)
            .map_err(|e| format!("not valid managed settings: {e}"))?;
    }
    let revision = remote::sha256_hex(&payload);
    let (out, summary) = if a.legacy {
        let (env, sig) = envelope::sign_legacy(&key, &payload);
        eprintln!(
            "hookhost sign: WARNING: a legacy signature binds no URL, version or expiry; clients accept it only \
             with remoteSettings.allowLegacySignatures"
        );
        let out = if a.signature_only { format!("{sig}\n") } else { env };
        (out, format!("signed {} (revision {revision}, legacy)", a.file.display()))
    } else {
        let target = match (&a.url, &a.fleet) {
            (Some(u), _) => remote::Target::Url(remote::normalize_url(u).map_err(|m| format!("--url: {m}"))?),
            (None, Some(f)) => remote::Target::Fleet(
                crate::settings::remote_config::check_fleet(f)
                    .map_err(|m| format!("--fleet: {}", m.replace("`remoteSettings.fleet`", "the fleet id")))?,
            ),
            (None, None) => return Err("name the target: --url URL or --fleet ID (or --legacy)".into()),
        };
        let now = now() as u64;
        let expires = parse_expires(&a.expires, now)?;
        // Milliseconds: two policies signed within a second still get two versions.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let previous = a.output.as_ref().and_then(|p| previous_envelope(p));
        let version = match (a.version, &previous) {
            (Some(v), Some((pv, pp))) if v < *pv || (v == *pv && *pp != payload) => {
                return Err(format!(
                    "--version {v} is not above version {pv} of {} (clients that verified it refuse a lower version, \
                     and a version never names two payloads)",
                    a.output.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
                ));
            }
            (Some(0), _) => return Err("--version must be at least 1 (0 means \"unversioned\")".into()),
            (Some(v), _) => v,
            (None, Some((pv, _))) => now_ms.max(pv.saturating_add(1)),
            (None, None) => now_ms,
        };
        let meta = remote::Signed { target, version, expires };
        let summary = format!(
            "signed {} (revision {revision}) for {}, version {version}, expires {}",
            a.file.display(),
            meta.target,
            remote::rfc3339(expires)
        );
        (envelope::sign(&key, &meta, &payload), summary)
    };
    match &a.output {
        Some(p) => std::fs::write(p, out).map_err(|e| format!("{}: {e}", p.display()))?,
        None => print!("{out}"),
    }
    eprintln!("{summary} with key {}", remote::public_key_of(&key));
    Ok(())
}

/// `--expires`: a duration from `now` (`30d`, `12h`) or an RFC 3339 time; in the future.
fn parse_expires(s: &str, now: u64) -> Result<u64, String> {
    let at = match humantime::parse_duration(s) {
        Ok(d) => now.checked_add(d.as_secs()).ok_or_else(|| format!("--expires {s:?} is too far away"))?,
        Err(_) => humantime::parse_rfc3339_weak(s)
            .map_err(|e| format!("--expires {s:?} is neither a duration (30d, 12h) nor an RFC 3339 time: {e}"))?
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| format!("--expires {s:?} is before 1970"))?
            .as_secs(),
    };
    if at <= now {
        return Err(format!("--expires {s:?} is not in the future"));
    }
    Ok(at)
}

/// The version and payload of the version-2 envelope at `path`, if that is what it holds.
fn previous_envelope(path: &Path) -> Option<(u64, Vec<u8>)> {
    match crate::settings::envelope::read_body(&std::fs::read(path).ok()?, None).ok()? {
        crate::settings::envelope::Body::Signed { meta, payload, .. } => Some((meta.version, payload)),
        crate::settings::envelope::Body::Bare { .. } => None,
    }
}

// ---------------------------------------------------------------------------------------------
// approvals

/// The hooks and env vars of the current server revision, for review.
pub fn approvals_cmd(g: &crate::cli::Global) -> u8 {
    let loc = g.locations();
    let loaded = load(&loc);
    let Some(r) = &loaded.remote else {
        println!("no server-managed settings (no remoteSettings in endpoint-managed settings)");
        return 0;
    };
    let (Some(p), Some(path), ManagedSource::Server) = (&r.report.payload, &r.report.payload_path, r.source) else {
        println!("no server-managed settings in force (source: {})", r.source.as_str());
        return 0;
    };
    let decision = remote::approval(loc.state_dir.as_deref(), &p.revision).map(|a| a.decision);
    println!("server revision {}\n  from {}\n  cached in {}", p.revision, r.config.url, path.display());
    println!(
        "  requireApproval: {}; this revision: {}",
        r.config.require_approval,
        decision.as_deref().unwrap_or("pending")
    );
    let s = &loaded.settings;
    let hooks: Vec<_> =
        s.hooks.iter().chain(s.inactive.iter().map(|(h, _)| h)).filter(|h| h.origin.path == *path).collect();
    println!("\nhooks that run commands ({}):", hooks.len());
    for h in hooks {
        println!(
            "  {:<18} {:<16} {} {}",
            h.event,
            format!("matcher {:?}", h.matcher_source.as_deref().unwrap_or("*")),
            h.kind(),
            h.label()
        );
    }
    let env: Vec<String> = match p.object().get("env") {
        Some(Value::Object(m)) => {
            m.iter().map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_string))).collect()
        }
        _ => Vec::new(),
    };
    println!("\nenvironment variables ({}):", env.len());
    for e in env {
        println!("  {e}");
    }
    if decision.is_none() {
        println!("\napprove: hookhost approve {}\nreject:  hookhost reject {}", p.revision, p.revision);
    }
    0
}

/// `approve` / `reject`: records the decision for a revision (the current one must match, so a
/// decision is never recorded for settings nobody reviewed) and audits it.
pub fn decide_cmd(g: &crate::cli::Global, a: &ApproveArgs, approve: bool) -> u8 {
    let name = if approve { "approve" } else { "reject" };
    let loc = g.locations();
    let loaded = load(&loc);
    let current = loaded.remote.as_ref().and_then(|r| r.report.payload.as_ref()).map(|p| p.revision.clone());
    let url = loaded.remote.as_ref().map(|r| r.config.url.clone()).unwrap_or_default();
    let Some(current) = current else {
        eprintln!("hookhost {name}: no server-managed settings are cached");
        return 1;
    };
    let want = a.revision.trim().to_ascii_lowercase();
    if want.len() < 8 || !current.starts_with(&want) {
        eprintln!("hookhost {name}: {} is not the current server revision ({current})", a.revision);
        return 1;
    }
    let rec = remote::ApprovalRecord {
        revision: current.clone(),
        decision: if approve { "approved" } else { "rejected" }.into(),
        time: crate::clock::now_rfc3339(),
        user: std::env::var("USER").ok(),
        url: url.clone(),
    };
    match remote::record_approval(loc.state_dir.as_deref(), &rec) {
        Ok(p) => {
            let mut a = Map::new();
            a.insert("time".into(), rec.time.clone().into());
            a.insert("kind".into(), "remote_settings_approval".into());
            a.insert("decision".into(), rec.decision.clone().into());
            a.insert("revision".into(), current.clone().into());
            a.insert("url".into(), url.into());
            a.insert("user".into(), rec.user.clone().into());
            crate::host::remote::append(&loaded.settings, a);
            println!("{} server revision {current} (recorded in {})", rec.decision, p.display());
            0
        }
        Err(e) => {
            eprintln!("hookhost {name}: {e}");
            1
        }
    }
}
