"""Who is calling a hook, and the settings hooks read (environment only: they run per tool call).

| variable | meaning |
|---|---|
| ``CODESWARM_AGENT_ID`` | set by a fleet worker: the agent's name (the worker registered it) |
| ``CODESWARM_AGENT_NAME`` | a personal session's name (default: see :func:`session_identity`) |
| ``CODESWARM_ROLE`` | the agent's role (else the file ``.codeswarm/role`` or ``.codeswarm-role`` at the scope root) |
| ``CODESWARM_LEASES_AUTO`` | ``1`` (default): a first edit of a free file leases it, ``0``: never |
| ``CODESWARM_HOOKS_FAIL`` | ``open`` (default): an unreachable coordinator allows the call, with a warning; ``closed``: denies it |
| ``CODESWARM_DB``, ``CODESWARM_SCOPE`` | which coordination store and which scope root (see codeswarm.coordination) |
| ``CODESWARM_WORKTREE`` | set by a fleet worker in a worktree swarm: the agent's worktree; paths are made relative to it, leases keyed by ``CODESWARM_SCOPE`` (docs/isolation.md) |
| ``CODESWARM_WORKTREE_LEASES`` | ``0``: peers' leases are not enforced in this worktree (``up --no-worktree-leases``) |
| ``CODESWARM_RUN_DIR`` | set by a fleet worker: the hooks' scratch directory is ``<run dir>/hooks`` (else a private per-user one, see codeswarm.hooks.scratch) |

A personal session's identity is shared by its hooks and its MCP server (``codeswarm.mcp``
imports :func:`session_identity`): both are children of the same Codex (or Claude Code) process,
so both name the session after that process.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # `typing` is not imported at run time: this runs on every tool call
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

PERSONAL_LEASE_S = 4 * 3600.0
"""A personal session's registration lasts this long without a heartbeat (each turn beats)."""

CLIENT_PROCESSES = {"codex": "codex", "claude": "claude"}
"""The process name (``/proc/<pid>/comm``) of each client -> the client. Codex's native binary
is ``codex``; Claude Code names its process ``claude`` (its Node process sets the title)."""
MAX_ANCESTORS = 16
"""How far up the process tree the session's client is looked for."""


class Session:
    """A personal session's identity: ``name`` (what it registers as), ``label`` (for people),
    ``pid`` (the client's process, when found)."""

    __slots__ = ("label", "name", "pid")

    def __init__(self, name: str, label: str, pid: int | None) -> None:
        self.name, self.label, self.pid = name, label, pid


def client_process(start: int | None = None) -> tuple[str, int, str] | None:
    """The nearest process, from ``start`` (default: this process's parent) upwards, that is a
    Codex or Claude Code client: ``(client, pid, start time in clock ticks since boot)``; None
    when there is none, or no ``/proc`` to tell (not Linux)."""
    pid = os.getppid() if start is None else start
    for _ in range(MAX_ANCESTORS):
        if pid <= 1:
            return None
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return None
        close = stat.rfind(b")")  # the name may hold spaces and parentheses
        comm = stat[stat.find(b"(") + 1 : close].decode(errors="replace")
        fields = stat[close + 2 :].split()
        client = CLIENT_PROCESSES.get(comm)
        if client is not None:
            return client, pid, fields[19].decode()
        pid = int(fields[1])
    return None


def _short_hash(text: str) -> str:
    """8 hex digits of ``text``: CRC-32 tells names apart as well as a cryptographic hash would
    here (nothing is secret or adversarial), without loading OpenSSL (~3 ms) per hook."""
    import binascii

    return f"{binascii.crc32(text.encode()):08x}"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def session_identity(
    client: str | None, env: Mapping[str, str], session_id: str = "", start: int | None = None
) -> Session:
    """The identity of the personal session this process belongs to (a hook, or the MCP server
    its client started). In order:

    1. ``CODESWARM_AGENT_NAME``, as given;
    2. the nearest Codex / Claude Code ancestor process: ``<client>-<pid>-<hash>``, the hash over
       the host, the boot, the pid and the process's start time (a pid reused later, on another
       host or after a reboot, names another session);
    3. Claude Code's ``CLAUDE_CODE_SESSION_ID`` (its hooks and MCP server both get it), hashed;
    4. the hook's ``session_id``, hashed (the MCP server cannot know it: see docs/hooks.md);
    5. ``agent-<pid>`` (the MCP server, run by hand).

    ``client`` is the caller's client when it knows it (a hook), else None (the MCP server);
    ``session_id`` labels the session."""
    name = env.get("CODESWARM_AGENT_NAME", "").strip()
    found = client_process(start)
    pid = found[1] if found else None
    client = found[0] if found else client
    sid = session_id or env.get("CLAUDE_CODE_SESSION_ID", "")
    label = f"{client or 'agent'} session {sid[:13]}".strip() if sid else ""
    if name:
        return Session(name, label, pid)
    if found:
        host = os.uname().nodename
        digest = _short_hash(f"{host}:{_boot_id()}:{found[1]}:{found[2]}")
        return Session(f"{found[0]}-{found[1]}-{digest}", label, pid)
    claude = env.get("CLAUDE_CODE_SESSION_ID", "")
    if claude and client in ("claude", None):
        return Session(f"claude-{_short_hash(claude)}", label, pid)
    if session_id and client:
        return Session(f"{client}-{_short_hash(session_id)}", label, pid)
    return Session(f"{client or 'agent'}-{os.getpid()}", label, pid)


def leases_auto(env: Mapping[str, str]) -> bool:
    """``CODESWARM_LEASES_AUTO``: on unless ``0`` (fleets and personal sessions alike)."""
    return env.get("CODESWARM_LEASES_AUTO", "1").strip() != "0"


def role_of(env: Mapping[str, str], root: str, fleet: bool) -> str:
    """``CODESWARM_ROLE``, else the first line of ``.codeswarm/role`` (or ``.codeswarm-role``)
    at ``root``, else the fleet's default role or ``person``."""
    role = env.get("CODESWARM_ROLE")
    if role:
        return role
    for name in (".codeswarm/role", ".codeswarm-role"):
        try:
            with open(os.path.join(root, name)) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text:
            return text.splitlines()[0][:100]
    from codeswarm.core.defaults import ROLE

    return ROLE if fleet else "person"


class HookContext:
    def __init__(
        self,
        client: str,
        payload: dict[str, Any],
        env: Mapping[str, str],
        cwd: str | None = None,
    ) -> None:
        self.client = client
        self.payload = payload
        self.env = env
        self.session_id = str(payload.get("session_id") or "")
        self.cwd = str(payload.get("cwd") or cwd or os.getcwd())
        fleet = env.get("CODESWARM_AGENT_ID")
        self.fleet = bool(fleet)
        self.pid: int | None = None
        if fleet:
            self.name = fleet
            self.label = f"{client} session {self.session_id[:13]}".strip()
        else:
            session = session_identity(client, env, self.session_id)
            self.name, self.label, self.pid = session.name, session.label, session.pid
        self.auto_lease = leases_auto(env)
        self.scope_deny = env.get("CODESWARM_SCOPE_DENY") == "1"
        self.worktree = env.get("CODESWARM_WORKTREE") or None
        self.worktree_leases = env.get("CODESWARM_WORKTREE_LEASES", "1").strip() != "0"
        self.fail_closed = env.get("CODESWARM_HOOKS_FAIL", "open").lower() == "closed"

    def role(self, root: str) -> str:
        return role_of(self.env, root, self.fleet)
