"""protect-secrets in Python: the same policy as ../../wasm/protect-secrets (Rust), passing the
same tests. Denies Read/Edit/Write/MultiEdit/NotebookEdit of secrets, matched with
gitignore-style rules against the path relative to the project."""

from hookhost_guest import Event, PreToolUse, deny, hook, none
from hookhost_guest.paths import Rules, relative

RULES = Rules([".env", ".env.*", "!.env.example", "!.env.sample", "!.env.template", "**/secrets/**"])
TOOLS = ("Read", "Edit", "Write", "MultiEdit", "NotebookEdit")


def policy(event: Event):
    if not isinstance(event, PreToolUse) or event.tool_name not in TOOLS or event.file_path is None:
        return none()
    rel = relative(event.file_path, event.cwd or "")
    rule = RULES.matching(rel)
    if rule is None:
        return none()
    return deny(f"Blocked by protect-secrets: {rel} matches `{rule}`; secrets must not be read or written by the agent.")


WitWorld = hook(policy)
