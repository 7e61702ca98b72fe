"""What a finished tool call says about the agent's reach: refusals by the sandbox, and the swarm's
own state named in the command.

The sandbox stops an agent that writes the store, a peer's inbox or its own hooks before
codeswarm sees a thing; the refusal is only in the call's output. After every guarded call,
PostToolUse reads that output and the command for two signs, and the audit log records them with
the calling agent as the actor:

- ``sandbox.refused``: the output shows the sandbox refusing something (a read-only file system,
  a read-only database, an operation not permitted);
- ``state.reached``: the command names codeswarm's own state (the swarm's state directory, the
  store, a mailbox file, an agent's Codex home, codeswarm's environment variables) and nothing was
  refused: a read, or a search that found nothing.

Best effort by design: the sandbox is what stops the write; this makes the attempt visible. Plain
string searches over at most :data:`SCAN_CAP` characters: it runs after every guarded call.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

REFUSALS = ("Read-only file system", "readonly database", "Operation not permitted")
"""What a sandbox refusal looks like in a command's output (EROFS, SQLite's read-only store,
EPERM from seccomp)."""
STATE_WORDS = ("coord.db", "codex-home", "inbox.cursor", "CODESWARM_")
"""Names of codeswarm's own state wherever it lives (file names of the layout, docs/fleet.md)."""
MAILBOX = r"(?:inbox|outbox)/[\w.*?\[\]-]*\.jsonl"
"""A mailbox file, spelled out or as a glob (``mailbox/inbox/t_0.jsonl``, ``*inbox/t_*.jsonl``)."""
SCAN_CAP = 256 * 1024
"""Characters of a command's text and output looked at (the head: a refusal is printed as it
happens, and a huge output is cut by Codex anyway)."""
SHOWN = 5
"""Refusal lines kept in the audit row."""


def text_of(value: object) -> str:
    """A tool input or response as text (Codex gives strings; Claude Code objects)."""
    if isinstance(value, str):
        return value[:SCAN_CAP]
    if value is None:
        return ""
    import json

    try:
        return json.dumps(value)[:SCAN_CAP]
    except (TypeError, ValueError):
        return str(value)[:SCAN_CAP]


def refused(output: str) -> list[str]:
    """The lines of ``output`` where the sandbox refused something (at most :data:`SHOWN`)."""
    if not any(word in output for word in REFUSALS):
        return []
    lines = [line.strip()[:300] for line in output.splitlines() if any(w in line for w in REFUSALS)]
    return list(dict.fromkeys(lines))[:SHOWN]


def state_paths(env: Mapping[str, str]) -> list[str]:
    """Where this swarm's state is, from the hook's own environment (the agent's shell has none
    of it): the state directory, the run directory, the store."""
    out = []
    run_dir = env.get("CODESWARM_RUN_DIR")
    if run_dir:
        runs = os.path.dirname(os.path.normpath(run_dir))
        out.append(os.path.dirname(runs) if os.path.basename(runs) == "runs" else run_dir)
    if env.get("CODESWARM_STATE_DIR"):
        out.append(os.path.normpath(env["CODESWARM_STATE_DIR"]))
    db = env.get("CODESWARM_DB") or ""
    db = db.removeprefix("sqlite:")
    if db.startswith("/"):
        out.append(os.path.normpath(db))
    return [p for p in dict.fromkeys(out) if len(p) > 1]


def named_state(command: str, env: Mapping[str, str]) -> list[str]:
    """What of codeswarm's own state ``command`` names: a path under the swarm's state, a file
    name of its layout, a ``CODESWARM_`` variable."""
    found = [p for p in state_paths(env) if p in command]
    folded = command.upper()
    found += [w for w in STATE_WORDS if (w in command if w != "CODESWARM_" else w in folded)]
    if "box/" in command:
        import re  # loaded already (json imports it): free here

        found += list(dict.fromkeys(re.findall(MAILBOX, command)))[:SHOWN]
    return found


def sightings(
    tool_input: object, tool_response: object, env: Mapping[str, str]
) -> tuple[str, str, dict[str, object]] | None:
    """``(kind, subject, data)`` for the audit row a finished call deserves, or ``None``."""
    output = text_of(tool_response)
    lines = refused(output)
    command = text_of(
        tool_input.get("command") if isinstance(tool_input, dict) else tool_input
    ) or text_of(tool_input)
    names = named_state(command, env)
    if not lines and not names:
        return None
    data: dict[str, object] = {"command": command[:2000]}
    if names:
        data["names"] = names
    if lines:
        data["refused"] = lines
        return "sandbox.refused", _subject(lines[0], names), data
    return "state.reached", names[0], data


def _subject(line: str, names: list[str]) -> str:
    """The path a refusal line is about (``…: PATH: Read-only file system``, ``…: 'PATH'``), else
    what the command named, else ``-``."""
    for word in REFUSALS:
        head, _, tail = line.partition(word)
        if not _:
            continue
        tail = tail.strip(" :'\"").rpartition("' -> '")[2]  # a link or rename: its target
        if tail.startswith("/"):
            return tail
        head = head.rstrip(" :")
        start = head.rfind(" /")
        if start >= 0:
            return head[start + 1 :]
        if head.startswith("/"):
            return head
    return names[0] if names else "-"
