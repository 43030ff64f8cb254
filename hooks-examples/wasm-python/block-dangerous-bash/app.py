"""block-dangerous-bash in Python: the same policy as ../../wasm/block-dangerous-bash (Rust) and
../../wasm-js/block-dangerous-bash (JavaScript), passing the same tests."""

from hookhost_guest import Event, deny, hook, log, none
from hookhost_guest.shell import commands

# Interpreters that must not read a script from a pipe.
SHELLS = ("sh", "bash", "zsh", "dash", "ksh", "fish", "python", "python3", "perl", "ruby", "node")


def danger(line: str):
    """Why ``line`` is dangerous, if it is."""
    cmds = commands(line)
    for i, c in enumerate(cmds):
        prev = cmds[i - 1] if i else None
        if prev and prev.piped and prev.program in ("curl", "wget") and c.program in SHELLS:
            return "`curl … | sh` runs code downloaded from the network"
        if c.program == "rm" and c.has_flag("rR", "recursive") and c.has_flag("f", "force"):
            return "`rm -rf` deletes recursively"
        if c.program == "chmod" and any(c.has_arg(m) for m in ("777", "0777", "a+rwx", "ugo+rwx")):
            return "`chmod 777` opens files"
        if c.program.startswith("mkfs"):
            return "`mkfs` formats a file system"
        if c.program == "dd" and any(a.startswith("of=/dev/") for a in c.args):
            return "`dd of=/dev/…` overwrites a device"
        if c.program == ":" and ":(){:|:&};:" in "".join(line.split()):
            return "a fork bomb"
    return None


def policy(event: Event):
    why = danger(event.bash_command) if event.bash_command else None
    if why is None:
        return none()
    log.info(f"denied: {why}")
    return deny(f"Blocked by block-dangerous-bash: {why}. Ask the user to run it if it is really needed.")


WitWorld = hook(policy)
