"""A holder's tool calls at work, so that a peer's hook never undoes the holder's own write.

A hook that lets a tool call of an agent holding leases go ahead records it (``start``), with the
paths the call may write (a patch's files; any path for a shell command); the PostToolUse of that
call records its end (``end``); the Stop hook ends any left open (a call Codex never ran). A
non-holder's PostToolUse that finds a leased file changed asks :func:`overlapped`: did its holder
have a call that may have written that file at any moment since the non-holder's call began? If
so the change may be the holder's and is not undone (only reported).

Records live in ``<scratch>/busy/<agent>@<call>.json`` (agent names never hold ``@``).
"""

from __future__ import annotations

import json
import os

from codeswarm.core.atomic import atomic_write

KEEP_S = 6 * 3600.0
"""An ended record is kept this long: a peer's tool call running longer than this may undo a
write the holder made at its very beginning."""

ANY = "*"


def _dir(scratch: str) -> str:
    return os.path.join(scratch, "busy")


def _path(scratch: str, agent: str, key: str) -> str:
    return os.path.join(_dir(scratch), f"{agent}@{key}.json")


def start(scratch: str, agent: str, key: str, paths: list[str] | None, now: float) -> None:
    """``agent``'s call ``key`` may write ``paths`` (relative to the scope root; ``None``: any)."""
    doc = {"since": now, "ended": None, "paths": [ANY] if paths is None else paths}
    atomic_write(_path(scratch, agent, key), json.dumps(doc).encode(), durable=False)


def end(scratch: str, agent: str, key: str, now: float) -> None:
    """``agent``'s call ``key`` is over (nothing happens if it was never started)."""
    path = _path(scratch, agent, key)
    doc = _read(path)
    if doc is not None and doc.get("ended") is None:
        doc["ended"] = now
        atomic_write(path, json.dumps(doc).encode(), durable=False)


def end_all(scratch: str, agent: str, now: float) -> None:
    """Every call of ``agent`` still open is over (its turn ended)."""
    for name, _ in _records(scratch, agent):
        end(scratch, agent, name[len(agent) + 1 : -len(".json")], now)


def overlapped(scratch: str, holder: str, rel: str, since: float, now: float) -> bool:
    """Whether ``holder`` had a call that may have written ``rel`` at some moment in
    ``[since, now]`` (one still open, or one that ended after ``since``). Forgets records
    ended more than :data:`KEEP_S` ago."""
    found = False
    for _, path in _records(scratch, holder):
        doc = _read(path)
        if doc is None:
            continue
        ended = doc.get("ended")
        if isinstance(ended, (int, float)) and ended < now - KEEP_S:
            try:  # noqa: SIM105 (contextlib is an import hooks do not otherwise pay for)
                os.unlink(path)
            except OSError:
                pass
            continue
        if isinstance(ended, (int, float)) and ended < since:
            continue
        paths = doc.get("paths")
        if not isinstance(paths, list) or ANY in paths or _under(rel, paths):
            found = True
    return found


def _under(rel: str, paths: list[object]) -> bool:
    for p in paths:
        if isinstance(p, str) and (rel == p or rel.startswith(p.rstrip("/") + "/")):
            return True
    return False


def _records(scratch: str, agent: str) -> list[tuple[str, str]]:
    prefix = agent + "@"
    try:
        names = os.listdir(_dir(scratch))
    except OSError:
        return []
    return [
        (n, os.path.join(_dir(scratch), n))
        for n in names
        if n.startswith(prefix) and n.endswith(".json")
    ]


def _read(path: str) -> dict[str, object] | None:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
