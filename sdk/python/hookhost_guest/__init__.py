"""Write hookhost WebAssembly hooks in Python (componentize-py 0.25.1, world hookhost:hook@0.2.0).

    from hookhost_guest import Event, PreToolUse, deny, none, hook

    def policy(event: Event):
        match event:
            case PreToolUse(tool_name="Bash") if "rm -rf" in event.tool_input.get("command", ""):
                return deny("no rm -rf")
        return none()

    WitWorld = hook(policy)

Build: ``componentize-py -d wit -w hook componentize app -o hook.wasm`` (``build.sh`` does it).
The policy takes an :class:`Event` (a typed dataclass per event, the whole payload always in
``event.payload``) and returns an :class:`Answer` (``none()``, ``allow()``, ``deny(reason)``,
``ask(reason)``, ``defer()``, ``block(reason)``, ``rewrite(input)``, ``context(text)``,
``system_message(text)``). An exception in the policy is a hook *failure* (handled by the hook's
``onFailure``), reported with its class and message, never a "no".

Helpers: :mod:`hookhost_guest.shell` splits a Bash command line, :mod:`hookhost_guest.paths`
matches gitignore-style rules, :mod:`hookhost_guest.log` writes to hookhost's log. A hook has no
other capability: no files, no environment variables, no network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

__all__ = [
    "Agent", "Event", "PreToolUse", "PostToolUse", "PostToolUseFailure", "UserPromptSubmit",
    "ConfigChange", "Stop", "SubagentStop", "SessionStart", "SessionEnd", "Notification",
    "PreCompact", "Answer", "none", "allow", "deny", "ask", "defer", "block", "rewrite", "context",
    "system_message", "parse_event", "hook",
]


@dataclass(frozen=True)
class Agent:
    """The agent that sent the event: "claude", "codex", "gemini", …"""
    name: str
    version: Optional[str] = None


@dataclass(kw_only=True)
class Event:
    """Any event. The typed subclasses below add the fields of the events they stand for;
    every other event is a plain ``Event``. ``payload`` is the whole event (a dict)."""
    name: str
    tool_name: Optional[str] = None
    agent: Optional[Agent] = None
    payload: dict = field(default_factory=dict, repr=False)
    payload_json: str = field(default="{}", repr=False)

    @property
    def cwd(self) -> Optional[str]:
        return _str(self.payload.get("cwd"))

    @property
    def session_id(self) -> Optional[str]:
        return _str(self.payload.get("session_id"))

    @property
    def tool_input(self) -> dict:
        v = self.payload.get("tool_input")
        return v if isinstance(v, dict) else {}

    @property
    def bash_command(self) -> Optional[str]:
        """The command of a ``Bash`` tool event."""
        return _str(self.tool_input.get("command")) if self.tool_name == "Bash" else None

    @property
    def file_path(self) -> Optional[str]:
        """``tool_input.file_path``, else ``notebook_path``, else ``path``."""
        for key in ("file_path", "notebook_path", "path"):
            v = _str(self.tool_input.get(key))
            if v is not None:
                return v
        return None


@dataclass(kw_only=True)
class PreToolUse(Event):
    tool_use_id: Optional[str] = None


@dataclass(kw_only=True)
class PostToolUse(Event):
    tool_response: Any = None


@dataclass(kw_only=True)
class PostToolUseFailure(Event):
    error: str = ""
    is_interrupt: bool = False


@dataclass(kw_only=True)
class UserPromptSubmit(Event):
    prompt: str = ""


@dataclass(kw_only=True)
class ConfigChange(Event):
    """``source``: user_settings, project_settings, local_settings, policy_settings, skills."""
    source: str = ""
    file_path: Optional[str] = None  # the settings file (shadows Event.file_path)


@dataclass(kw_only=True)
class Stop(Event):
    stop_hook_active: bool = False
    last_assistant_message: Optional[str] = None


@dataclass(kw_only=True)
class SubagentStop(Stop):
    pass


@dataclass(kw_only=True)
class SessionStart(Event):
    source: str = ""


@dataclass(kw_only=True)
class SessionEnd(Event):
    reason: str = ""


@dataclass(kw_only=True)
class Notification(Event):
    message: str = ""


@dataclass(kw_only=True)
class PreCompact(Event):
    trigger: str = ""


def _str(v: Any) -> Optional[str]:
    return v if isinstance(v, str) else None


def parse_event(name: str, tool_name: Optional[str], payload_json: str, agent: Optional[Agent] = None) -> Event:
    """The typed event for hookhost's fields and payload text (``ValueError`` if not JSON)."""
    payload = json.loads(payload_json)
    if not isinstance(payload, dict):
        raise ValueError("event is not a JSON object")
    if agent is None and isinstance(payload.get("agent"), dict) and isinstance(payload["agent"].get("name"), str):
        agent = Agent(payload["agent"]["name"], _str(payload["agent"].get("version")))
    tool_name = tool_name if tool_name is not None else _str(payload.get("tool_name"))
    common = dict(name=name, tool_name=tool_name, agent=agent, payload=payload, payload_json=payload_json)
    s = lambda k: _str(payload.get(k)) or ""
    b = lambda k: payload.get(k) is True
    if name == "PreToolUse":
        return PreToolUse(tool_use_id=_str(payload.get("tool_use_id")), **common)
    if name == "PostToolUse":
        return PostToolUse(tool_response=payload.get("tool_response"), **common)
    if name == "PostToolUseFailure":
        return PostToolUseFailure(error=s("error"), is_interrupt=b("is_interrupt"), **common)
    if name == "UserPromptSubmit":
        return UserPromptSubmit(prompt=s("prompt"), **common)
    if name == "ConfigChange":
        return ConfigChange(source=s("source"), file_path=_str(payload.get("file_path")), **common)
    if name in ("Stop", "SubagentStop"):
        cls = Stop if name == "Stop" else SubagentStop
        return cls(stop_hook_active=b("stop_hook_active"),
                   last_assistant_message=_str(payload.get("last_assistant_message")), **common)
    if name == "SessionStart":
        return SessionStart(source=s("source"), **common)
    if name == "SessionEnd":
        return SessionEnd(reason=s("reason"), **common)
    if name == "Notification":
        return Notification(message=s("message"), **common)
    if name == "PreCompact":
        return PreCompact(trigger=s("trigger"), **common)
    return Event(**common)


DECISIONS = ("allow", "deny", "ask", "defer", "block")


@dataclass
class Answer:
    """A hook's answer; ``none()`` says nothing. ``decision`` is one of ``DECISIONS`` or None."""
    decision: Optional[str] = None
    reason: Optional[str] = None
    additional_context: Optional[str] = None
    updated_input: Optional[dict] = None
    system_message: Optional[str] = None

    def with_reason(self, text: str) -> "Answer":
        self.reason = text
        return self

    def with_context(self, text: str) -> "Answer":
        self.additional_context = text
        return self

    def with_system_message(self, text: str) -> "Answer":
        self.system_message = text
        return self

    def with_updated_input(self, value: dict) -> "Answer":
        self.updated_input = value
        return self


def none() -> Answer:
    """No opinion."""
    return Answer()


def allow() -> Answer:
    """Allow (PreToolUse: skip the permission prompt)."""
    return Answer("allow")


def deny(reason: str) -> Answer:
    """Deny the tool call; the reason goes to the model."""
    return Answer("deny", reason)


def ask(reason: str) -> Answer:
    """Ask the user; the reason is shown to them."""
    return Answer("ask", reason)


def defer() -> Answer:
    """Defer the tool call."""
    return Answer("defer")


def block(reason: str) -> Answer:
    """Block the action (events other than PreToolUse)."""
    return Answer("block", reason)


def rewrite(tool_input: dict, reason: Optional[str] = None) -> Answer:
    """Allow the tool call with ``tool_input`` (a dict) as its whole new input."""
    return Answer("allow", reason, updated_input=tool_input)


def context(text: str) -> Answer:
    """No decision, extra context for the model."""
    return Answer(additional_context=text)


def system_message(text: str) -> Answer:
    """No decision, a warning shown to the user."""
    return Answer(system_message=text)


def _to_response(answer: Answer, types: Any) -> Any:
    if not isinstance(answer, Answer):
        raise TypeError(f"the policy returned {type(answer).__name__}, not an Answer")
    decision = None
    if answer.decision is not None:
        if answer.decision not in DECISIONS:
            raise ValueError(f"unknown decision {answer.decision!r} (one of {', '.join(DECISIONS)})")
        decision = getattr(types.Decision, answer.decision.upper())
    updated = None if answer.updated_input is None else json.dumps(answer.updated_input)
    return types.Response(decision, answer.reason, answer.additional_context, updated, answer.system_message)


def hook(policy: Callable[[Event], Answer]) -> type:
    """The class componentize-py exports: ``WitWorld = hook(policy)`` at the end of the app module.

    An exception in ``policy`` (or an event that is not JSON) becomes the hook's error result,
    ``"<ExceptionClass>: <message>"``: a failure, never an answer."""
    import wit_world
    from componentize_py_types import Err
    from wit_world.imports import types

    class WitWorld(wit_world.WitWorld):
        def handle(self, event: Any) -> Any:
            try:
                agent = Agent(event.agent.name, event.agent.version) if getattr(event, "agent", None) else None
                e = parse_event(event.hook_event_name, event.tool_name, event.payload_json, agent)
                return _to_response(policy(e), types)
            except Exception as x:  # noqa: BLE001 - every failure is reported, none traps
                raise Err(f"{type(x).__name__}: {x}")

    return WitWorld
