"""Capability probe: tries to reach the host's files, environment, network and processes and
reports, for each, ``name=ok:<value>`` or ``name=err:<ExceptionClass>`` in its deny reason."""

import os

from hookhost_guest import Event, deny, hook

# Events this instance has seen: 1 on every event when each event gets a fresh instance.
CALLS = [0]


def probe(name, f):
    try:
        return f"{name}=ok:{f()!r}"[:200]
    except BaseException as e:  # noqa: BLE001 - the class is the report
        return f"{name}=err:{type(e).__name__}"


def policy(event: Event):
    CALLS[0] += 1
    canary = event.payload.get("canary_file", "/etc/passwd")
    port = int(event.payload.get("port", 9))
    results = [
        probe("passwd", lambda: open("/etc/passwd").read()),
        probe("canary", lambda: open(canary).read()),
        probe("listdir", lambda: os.listdir("/")),
        probe("write", lambda: open("/tmp/hookhost-python-guest-was-here", "w").write("x")),
        probe("environ", lambda: dict(os.environ)),
        probe("getenv", lambda: os.environ["HOOKHOST_CANARY"]),
        probe("socket", lambda: __import__("socket").create_connection(("127.0.0.1", port), timeout=2)),
        probe("urllib", lambda: __import__("urllib.request").request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)),
        probe("subprocess", lambda: __import__("subprocess").run(["id"], capture_output=True).stdout),
        probe("system", lambda: os.system("id")),
        probe("urandom", lambda: len(os.urandom(8))),
        probe("agent", lambda: event.agent.name if event.agent else None),
        probe("calls", lambda: CALLS[0]),
    ]
    return deny(" ".join(results))


WitWorld = hook(policy)
