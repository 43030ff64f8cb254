"""Paths against gitignore-style rules, relative to the project (the same as the Rust and
JavaScript SDKs, one test corpus: ``sdk/testdata/paths.json``).

As in ``.gitignore``: the last matching rule wins and ``!rule`` re-allows; a rule without ``/``
matches a name at any depth, a rule with ``/`` the path from the project root; ``**`` matches
any number of directories, ``*`` and ``?`` stay within one name; a protected directory protects
everything under it (a ``!`` rule cannot re-allow a file inside it). ``relative`` resolves
``.`` and ``..`` as text (a hook cannot see the file system, so symlinks are not followed).
"""

from __future__ import annotations

from typing import Iterable, List, Optional


def _normalize(path: str) -> List[str]:
    out: List[str] = []
    for c in path.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not path.startswith("/"):
                out.append("..")  # a relative path that leaves its start keeps its ``..``
        else:
            out.append(c)
    return out


def relative(path: str, cwd: str) -> str:
    """``path`` (absolute, or relative to ``cwd``) relative to ``cwd`` when inside it, else the
    absolute path without its leading ``/``; ``.``, ``..`` and empty components resolved."""
    if not path.startswith("/") and cwd.startswith("/"):
        path = cwd + "/" + path
    parts = _normalize(path)
    if cwd.startswith("/"):
        base = _normalize(cwd)
        if len(parts) > len(base) and parts[:len(base)] == base:
            return "/".join(parts[len(base):])
    return "/".join(parts)


def glob(pattern: str, name: str) -> bool:
    """One name against a pattern with ``*`` and ``?``."""
    pi = si = 0
    star = None
    while si < len(name):
        if pi < len(pattern) and pattern[pi] != "*" and (pattern[pi] == "?" or pattern[pi] == name[si]):
            pi += 1
            si += 1
        elif pi < len(pattern) and pattern[pi] == "*":
            star = (pi, si)
            pi += 1
        elif star is not None:
            pi = star[0] + 1
            si = star[1] + 1
            star = (star[0], star[1] + 1)
        else:
            return False
    return all(c == "*" for c in pattern[pi:])


def _match_parts(pat: List[str], parts: List[str]) -> bool:
    if not pat:
        return not parts
    if pat[0] == "**":
        return any(_match_parts(pat[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and glob(pat[0], parts[0]) and _match_parts(pat[1:], parts[1:])


class Rules:
    """An ordered list of gitignore-style rules."""

    def __init__(self, rules: Iterable[str]):
        self.rules = list(rules)

    def _last(self, parts: List[str]) -> Optional[str]:
        hit = None
        for rule in self.rules:
            negated = rule.startswith("!")
            pattern = rule[1:] if negated else rule
            if "/" in pattern:
                matched = _match_parts([p for p in pattern.split("/") if p], parts)
            else:
                matched = glob(pattern, parts[-1])
            if matched:
                hit = None if negated else rule
        return hit

    def matching(self, rel: str) -> Optional[str]:
        """The rule that protects ``rel`` (a relative path) or a directory above it, if any."""
        parts = [p for p in rel.split("/") if p]
        for k in range(1, len(parts) + 1):
            hit = self._last(parts[:k])
            if hit is not None:
                return hit
        return None
