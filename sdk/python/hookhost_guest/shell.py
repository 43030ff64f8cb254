"""A Bash command line split into its simple commands (the same splitter as the Rust and
JavaScript SDKs, one test corpus: ``sdk/testdata/shell.json``).

Words follow Bash's quoting (``'…'``, ``"…"``, backslash); commands are split at ``;``, ``&&``,
``||``, ``&``, ``|``, ``|&``, newlines and parentheses; redirections (``> f``, ``2>&1``, ``<f``)
are taken out of the arguments into ``redirects``; leading assignments (``X=1``), keywords
(``if``, ``then``, ``do``, ``!``, ``{`` …) and wrappers (``sudo -u root``, ``env X=1``,
``timeout 5``, ``xargs -0`` …) are dropped; the script of ``sh -c '…'``, ``bash -lc "…"`` and
``eval …`` is split too, its commands following the shell's, and so are command and process
substitutions (``$(…)``, backticks, ``<(…)``), their commands at the end. It is a heuristic,
not a shell parser: variables, globs, aliases and functions are not expanded. For
rules that must hold against an adversary use hookhost's permission rules, which parse the
command with a real Bash grammar; a hook adds judgement on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

# wrapper → its options that take a value, and how many plain arguments precede the command.
WRAPPERS = {
    "sudo": ("-u -g -h -p -C -D -r -t -U -T", 0),
    "doas": ("-u -C", 0),
    "command": ("", 0),
    "builtin": ("", 0),
    "exec": ("-a", 0),
    "nice": ("-n", 0),
    "nohup": ("", 0),
    "time": ("-f -o", 0),
    "env": ("-u -C -S", 0),
    "xargs": ("-n -I -d -P -L -s -a -E", 0),
    "timeout": ("-s -k", 1),
    "stdbuf": ("-i -o -e", 0),
    "setsid": ("", 0),
    "ionice": ("-c -n -p", 0),
}
KEYWORDS = ("!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "in", "esac")
SHELLS = ("sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "busybox")
BLANKS = " \t\r\x0b\x0c"
MAX_DEPTH = 8


@dataclass
class Command:
    program: str
    """The program's file name (``/usr/bin/rm`` → ``rm``), after wrappers and assignments."""
    args: List[str] = field(default_factory=list)
    piped: bool = False
    """Whether its output is piped (``|``, ``|&``) into the next command."""
    redirects: List[str] = field(default_factory=list)
    """The targets of its redirections, in order (``> out.txt`` → ``out.txt``)."""

    def has_arg(self, arg: str) -> bool:
        return arg in self.args

    def has_flag(self, shorts: str, long: str) -> bool:
        """Whether one of the short flags in ``shorts`` (in any cluster: ``-rf`` sets r and f) or
        ``--long`` is set (arguments after ``--`` are not flags)."""
        for a in self.args:
            if a == "--":
                break
            if a.startswith("--"):
                if a[2:] == long:
                    return True
            elif len(a) > 1 and a.startswith("-") and any(c in a for c in shorts):
                return True
        return False


def _substitution(line: str, i: int):
    """The substitution starting at ``i`` (``$(``, ``<(``, ``>(`` or a backtick): the index of
    its script's start and end, and the index just past it (the end of the line when it is not
    closed)."""
    n = len(line)
    if line[i] == "`":
        j = i + 1
        while j < n and line[j] != "`":
            j += 2 if line[j] == "\\" else 1
        return i + 1, min(j, n), min(j + 1, n)
    depth, j = 0, i + 1
    while j < n:
        if line[j] == "(":
            depth += 1
        elif line[j] == ")":
            depth -= 1
            if depth == 0:
                return i + 2, j, j + 1
        j += 1
    return i + 2, n, n


def _tokens(line: str):
    """Words ``("w", text)``, separators ``("sep", piped)``, redirections ``("redir", op)`` and
    command substitutions ``("sub", script)``."""
    out, subs, cur, quote, i, n = [], [], None, None, 0, len(line)

    def end_word():
        nonlocal cur
        if cur is not None:
            out.append(("w", cur))
            cur = None

    while i < n:
        c = line[i]
        nxt = line[i + 1] if i + 1 < n else ""
        if quote != "'" and (c == "`" or (c == "$" and nxt == "(") or (quote is None and c in "<>" and nxt == "(")):
            start, end, j = _substitution(line, i)
            subs.append(("sub", line[start:end]))
            cur = (cur or "") + line[i:j]
            i = j
            continue
        if quote == "'":
            if c == "'":
                quote = None
            else:
                cur += c
        elif quote == '"':
            if c == '"':
                quote = None
            elif c == "\\" and nxt in ('"', "\\", "$", "`"):
                cur += nxt
                i += 1
            else:
                cur += c
        elif c == "\\":
            if nxt == "\n":
                i += 1
            elif nxt:
                cur = (cur or "") + nxt
                i += 1
            else:
                cur = (cur or "") + c
        elif c in ("'", '"'):
            quote = c
            cur = cur or ""
        elif c in BLANKS:
            end_word()
        elif c in ";&|()\n":
            end_word()
            if c == "|":
                if nxt == "|":
                    out.append(("sep", False))
                    i += 1
                else:
                    out.append(("sep", True))
                    if nxt == "&":
                        i += 1
            elif c == "&" and nxt == ">":
                j = i + 2 if i + 2 < n and line[i + 2] == ">" else i + 1
                out.append(("redir", line[i:j + 1]))
                i = j
            else:
                if c == "&" and nxt == "&":
                    i += 1
                out.append(("sep", False))
        elif c in "<>":
            if cur is not None and cur != "" and all(ch in "0123456789" for ch in cur):
                cur = None  # a file descriptor number: `2>`
            end_word()
            j = i
            while j + 1 < n and line[j + 1] in "<>&|":
                j += 1
            out.append(("redir", line[i:j + 1]))
            i = j
        else:
            cur = (cur or "") + c
        i += 1
    end_word()
    return out + subs


def _is_assignment(w: str) -> bool:
    name, eq, _ = w.partition("=")
    return bool(eq) and bool(name) and (name[0].isascii() and (name[0].isalpha() or name[0] == "_")) and all(
        ch.isascii() and (ch.isalnum() or ch == "_") for ch in name)


def _strip(words: List[str]) -> List[str]:
    """Drops leading assignments, keywords and wrappers (with their options)."""
    i = 0
    while i < len(words):
        w = words[i]
        if _is_assignment(w) or w in KEYWORDS:
            i += 1
        elif w in WRAPPERS:
            takes_value, positional = WRAPPERS[w]
            takes_value = takes_value.split()
            i += 1
            while i < len(words) and words[i].startswith("-") and words[i] != "-":
                if words[i] == "--":
                    i += 1
                    break
                i += 2 if words[i] in takes_value else 1
            while i < len(words) and _is_assignment(words[i]):
                i += 1
            i += positional
        else:
            break
    return words[i:]


def _inline_script(program: str, args: List[str]) -> Optional[str]:
    """The script of ``sh -c SCRIPT`` (``-c`` in any option cluster; the script is the first
    argument that is not an option) or of ``eval ARGS``."""
    if program == "eval":
        return " ".join(args)
    if program not in SHELLS:
        return None
    seen_c, k = False, 0
    while k < len(args):
        a = args[k]
        if a == "--":
            k += 1
            break
        if len(a) < 2 or a[0] not in "-+":
            break
        if a[1] != "-":
            seen_c = seen_c or "c" in a[1:]
            if a[-1] in "oO":
                k += 1  # -o OPTION
        k += 1
    return args[k] if seen_c and k < len(args) else None


def _commands(line: str, depth: int) -> List[Command]:
    out: List[Command] = []
    words: List[str] = []
    redirects: List[str] = []
    want_target = False

    def flush(piped: bool):
        nonlocal words, redirects
        rest = _strip(words)
        if rest:
            program = rest[0].rsplit("/", 1)[-1]
            out.append(Command(program, rest[1:], piped, redirects))
            script = _inline_script(program, rest[1:])
            if script is not None and depth < MAX_DEPTH:
                out.extend(_commands(script, depth + 1))
        words, redirects = [], []

    scripts: List[str] = []
    for kind, v in _tokens(line):
        if kind == "sub":
            scripts.append(v)
        elif kind == "w":
            if want_target:
                redirects.append(v)
                want_target = False
            else:
                words.append(v)
        elif kind == "redir":
            want_target = True
        else:
            want_target = False
            flush(v)
    flush(False)
    if depth < MAX_DEPTH:
        for script in scripts:
            out.extend(_commands(script, depth + 1))
    return out


def commands(line: str) -> List[Command]:
    """The simple commands of ``line``, in order (empty ones are skipped)."""
    return _commands(line, 0)
