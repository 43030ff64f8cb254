//! Capability probe: tries to reach the host's files, environment, arguments, stdin and network
//! and reports, for each, `name=ok:<value>` or `name=err:<error>` in its deny reason; also
//! `agent=<name>` from world 0.2.0's `event.agent`.

use std::fmt::Debug;
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

use hookhost_guest::{Answer, Event, deny, hook};

fn probe<T: Debug, E: Debug>(name: &str, f: impl FnOnce() -> Result<T, E>) -> String {
    let mut s = match f() {
        Ok(v) => format!("{name}=ok:{v:?}"),
        Err(e) => format!("{name}=err:{e:?}"),
    };
    s.truncate(s.char_indices().nth(200).map_or(s.len(), |(i, _)| i));
    s.replace(' ', "_")
}

/// Events this instance has seen: 1 on every event when each event gets a fresh instance.
static CALLS: AtomicU32 = AtomicU32::new(0);

fn policy(event: &Event) -> Answer {
    let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    let canary = event.str("canary_file").unwrap_or("/etc/passwd").to_string();
    let port = event.payload()["port"].as_u64().unwrap_or(9) as u16;
    let results = [
        probe("passwd", || std::fs::read_to_string("/etc/passwd")),
        probe("canary", || std::fs::read_to_string(&canary)),
        probe("listdir", || std::fs::read_dir("/").map(|d| d.count())),
        probe("write", || std::fs::write("/tmp/hookhost-rust-guest-was-here", "x")),
        probe("environ", || Ok::<_, ()>(std::env::vars().collect::<Vec<_>>())),
        probe("getenv", || std::env::var("HOOKHOST_CANARY")),
        probe("args", || Ok::<_, ()>(std::env::args().collect::<Vec<_>>())),
        probe("cwd", std::env::current_dir),
        probe("stdin", || {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map(|_| s)
        }),
        probe("tcp", || TcpStream::connect(("127.0.0.1", port))),
        probe("udp", || UdpSocket::bind("127.0.0.1:0").and_then(|s| s.send_to(b"x", ("127.0.0.1", port)))),
        probe("dns", || ("localhost", 80).to_socket_addrs().map(|a| a.count())),
        probe("agent", || Ok::<_, ()>(event.agent.as_ref().map(|a| a.name.clone()))),
        probe("calls", || Ok::<_, ()>(calls)),
    ];
    deny(results.join(" "))
}

hook!(policy);
