//! `hookhost serve`: the daemon's arguments, its start-up (settings through the gate, remote
//! polling, the agent config guard) and its shutdown; the socket itself is `crate::daemon`.

use super::*;

pub(super) fn serve_cmd(g: &Global, a: &ServeArgs) -> u8 {
    use crate::daemon::server;
    let mut options = server::ServeOptions::new(a.socket.clone().unwrap_or_else(crate::daemon::default_socket));
    options.mode = a.socket_mode;
    options.max_connections_per_uid = a.max_connections_per_uid.max(1);
    options.idle_timeout = Duration::from_secs_f64(a.idle_timeout);
    options.frame_timeout = Duration::from_secs_f64(a.frame_timeout);
    options.max_buffered_bytes = a.max_buffered_bytes;
    // Observability (issue 24): bind the metrics endpoint now, so a bad address stops the start.
    if let Some(addr) = a.metrics {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => options.metrics = Some(std::sync::Arc::new(l)),
            Err(e) => {
                eprintln!("hookhost serve: --metrics {addr}: {e}");
                return 1;
            }
        }
    }
    options.auto = a.auto;
    options.idle_exit =
        a.idle_exit.map(Duration::from_secs_f64).or(a.auto.then_some(crate::daemon::auto::DEFAULT_IDLE_EXIT));
    // The automatic daemon: one per socket, held for its life.
    let _lock = if a.auto {
        if let Err(e) = crate::daemon::auto::ensure_dir(&options.socket) {
            eprintln!("hookhost serve: cannot create the directory of {}: {e}", options.socket.display());
            return 1;
        }
        match crate::daemon::auto::lock(&options.socket) {
            Ok(Some(l)) => Some(l),
            Ok(None) => {
                eprintln!("hookhost serve: another automatic daemon holds {}.lock; exiting", options.socket.display());
                return 0;
            }
            Err(e) => {
                eprintln!("hookhost serve: cannot take {}.lock: {e}", options.socket.display());
                return 1;
            }
        }
    } else {
        None
    };
    // Warm the project named on the command line: its changes made while no daemon ran are
    // gated at start, not at the first event.
    if g.project_dir.is_some() || g.settings.is_some() {
        let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        options.preload.push((g.project_dir.as_ref().map(abs), g.settings.as_ref().map(abs)));
    }
    for u in &a.allow_uid {
        match server::parse_uid(u) {
            Ok(uid) => options.allowed_uids.push(uid),
            Err(e) => {
                eprintln!("hookhost serve: --allow-uid {u}: {e}");
                return 1;
            }
        }
    }
    // Observability (issue 24): the audit shipping of the managed settings at start.
    options.ship =
        crate::audit::ship::ShipOptions::from_settings(&crate::settings::load(&g.locations()).settings.audit);
    // Threads with room for the Bash parser read an event's command line where it is judged.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(crate::permissions::bash::THREAD_STACK_BYTES)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookhost serve: cannot start the runtime: {e}");
            return 1;
        }
    };
    // Socket activation (systemd's hookhost.socket): the socket is inherited, not bound here.
    let inherited = match crate::daemon::activation::inherited() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("hookhost serve: socket activation: {e}");
            return 1;
        }
    };
    if let Some((_, path)) = &inherited {
        options.socket = path.clone();
        options.socket_activated = true;
    }
    rt.block_on(async {
        // Server-managed settings: fetched now when there is no cache (or
        // forceRemoteSettingsRefresh asks for a fresh copy, without which the daemon refuses to
        // start), then polled. WebAssembly pooled, sandboxes prepared ahead, settings live.
        let host = crate::Host::builder()
            .watch(true)
            .remote(crate::host::RemoteMode::Poll)
            .wasm(crate::host::WasmAllocator::Pooled)
            .sandbox_pool(true)
            .max_projects(a.max_projects.max(1))
            .max_event_bytes(options.max_event_bytes)
            .build();
        let host = match host {
            Ok(h) => h,
            Err(e) => {
                eprintln!("hookhost serve: refusing to start: {e}");
                return 1;
            }
        };
        for w in host.warnings() {
            eprintln!("hookhost serve: WARNING: {w}");
        }
        let bound = match inherited {
            Some((l, _)) => tokio::net::UnixListener::from_std(l).map_err(|e| e.to_string()),
            None => server::bind(&options).map_err(|e| e.to_string()),
        };
        let listener = match bound {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hookhost serve: {e}");
                host.shutdown().await;
                return 1;
            }
        };
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(_hup)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
        else {
            eprintln!("hookhost serve: cannot install signal handlers");
            return 1;
        };
        eprintln!(
            "hookhost serve: listening on {}{}",
            options.socket.display(),
            if options.socket_activated {
                " (socket from systemd; its mode and group are the .socket unit's)"
            } else {
                ""
            }
        );
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        server::serve(listener, options, host, shutdown).await;
        0
    })
}
