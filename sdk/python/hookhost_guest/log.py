"""Lines in hookhost's log, attributed to the hook (``RUST_LOG=hookhost=info`` shows them).

Only for use inside a component: it imports the world's ``log`` interface, at build time, so
that a call costs no import in the fresh instance each event runs in."""

from wit_world.imports import log as _log


def debug(message: str) -> None:
    _log.write(_log.Level.DEBUG, str(message))


def info(message: str) -> None:
    _log.write(_log.Level.INFO, str(message))


def warn(message: str) -> None:
    _log.write(_log.Level.WARN, str(message))


def error(message: str) -> None:
    _log.write(_log.Level.ERROR, str(message))
