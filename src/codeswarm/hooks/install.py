"""Adding codeswarm's hooks, MCP server and swarm picture to a person's own Codex or Claude Code.

Idempotent (a second install changes nothing), keeps the person's own hooks and MCP servers, and
reversible: the first install keeps each file's original bytes beside it
(``<file>.codeswarm-orig``, or a marker that it did not exist); uninstall puts them back byte for
byte when the file is still as codeswarm left it, and otherwise removes only codeswarm's entries
(saying so).

| client | scope | files |
|---|---|---|
| codex | user | ``<home>/hooks.json``, ``<home>/config.toml`` (a marked block: the MCP server and the hooks' trust), ``<home>/skills/swarm/SKILL.md`` (``$swarm``); ``<home>`` is the Codex home (``[codex] home``, ``$CODEX_HOME``, ``~/.codex``) |
| codex | project | ``<repo>/.codex/hooks.json``, ``<repo>/.codex/config.toml``, ``<repo>/.codex/skills/swarm/SKILL.md`` |

Codex runs a hook only when it is trusted: ``[hooks.state."<key>"] trusted_hash`` in
config.toml, which the TUI writes when the person agrees, and which ``codex exec`` never asks
for. The install writes it for codeswarm's own hooks (:func:`codex_trust`), so they run in
``codex exec`` too. A ``prompts/swarm.md`` of an earlier install (Codex 0.169 has no custom
prompts) is taken out.
| claude | user | ``<dir>/settings.json``, ``~/.claude.json`` (``mcpServers``; ``<dir>/.claude.json`` when ``$CLAUDE_CONFIG_DIR`` is set), ``<dir>/commands/swarm.md``; ``<dir>`` is ``$CLAUDE_CONFIG_DIR``, else ``~/.claude`` |
| claude | project | ``<repo>/.claude/settings.json``, ``<repo>/.mcp.json``, ``<repo>/.claude/commands/swarm.md`` |

**Gateway mode** (``gateway=True``, ``codeswarm install codex|claude --gateway``): the session
conducts the swarm running in the project (docs/hooks.md "Gateway mode"). The same files, with
the MCP server mounted as the orchestrator's (``CODESWARM_AGENT_ROLE=orchestrator``; Codex allows
its calls an hour, for ``check`` with ``wait``; Claude Code's settings allow ``mcp__codeswarm``
as Codex's mount pre-approves it), every hook registering the session with that role (an
assignment before its command: both clients run a hook's command through a shell), and one more
SessionStart hook, ``python -P -m codeswarm.mcp.gateway``, which primes the model; the swarm
picture command (``$swarm``, ``/swarm``) is left out (the gateway has ``list``), so the model's
context holds nothing a fleet agent's does not, but the primer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from codeswarm.core.atomic import KEEP_MODE, atomic_write
from codeswarm.core.entry import module_args
from codeswarm.core.errors import UsageError
from codeswarm.core.layers import user_codex_home

Client = Literal["codex", "claude"]
Scope = Literal["user", "project"]
SERVER = "codeswarm"
TOML_BEGIN = "# >>> codeswarm >>> (managed by `codeswarm install`; remove with --uninstall)"
TOML_END = "# <<< codeswarm <<<"
ABSENT = b"codeswarm: this file did not exist before install\n"
GATEWAY_ROLE = "orchestrator"
GATEWAY_MODULE = "codeswarm.mcp.gateway"
"""The primer hook's module, named, not imported (``hooks`` imports nothing of ``mcp``)."""
GATEWAY_TOOL_TIMEOUT_S = 3660
"""Codex's bound on one call of the gateway's tools: ``check``'s ``wait`` and ``converse`` take
up to an hour (as for a fleet's orchestrator)."""
CLAUDE_ALLOW = f"mcp__{SERVER}"
"""What a gateway's Claude Code settings allow without asking: codeswarm's MCP tools."""


@dataclass
class Change:
    path: Path
    action: str  # "create", "update", "unchanged", "restore", "remove", "strip"

    def line(self) -> str:
        return f"{self.action:<9} {self.path}"


def _ours(command: object) -> bool:
    """Whether a hook command is codeswarm's: the hooks (as they are, or with the gateway's
    role assignment first) or the gateway's primer."""
    from codeswarm.hooks import is_ours

    text = str(command)
    return is_ours(text) or f"-m {GATEWAY_MODULE}" in text


def _is_ours(group: Any) -> bool:
    hooks = group.get("hooks") if isinstance(group, dict) else None
    return isinstance(hooks, list) and any(
        _ours(h.get("command", "")) for h in hooks if isinstance(h, dict)
    )


def gateway_groups(client: str) -> dict[str, list[dict[str, Any]]]:
    """codeswarm's hook groups for a gateway session, per event: the usual ones, each command
    run with ``CODESWARM_ROLE=orchestrator`` (so the session registers with that role and no
    delegation picks it as a worker), and for SessionStart a second group printing the primer."""
    from codeswarm.hooks import TIMEOUT_S, groups

    out: dict[str, list[dict[str, Any]]] = {}
    for name, group in groups(client).items():
        handlers = group["hooks"]
        assert isinstance(handlers, list)
        role = [{**h, "command": f"CODESWARM_ROLE={GATEWAY_ROLE} {h['command']}"} for h in handlers]
        out[name] = [{**group, "hooks": role}]
    primer = " ".join([sys.executable, *module_args(GATEWAY_MODULE)])
    out["SessionStart"].append(
        {"hooks": [{"type": "command", "command": primer, "timeout": TIMEOUT_S}]}
    )
    return out


def _with_hooks(doc: dict[str, Any], client: str, gateway: bool = False) -> dict[str, Any]:
    from codeswarm.hooks import groups

    doc = dict(doc)
    table = dict(doc.get("hooks") or {})
    if gateway:
        ours_by_event = gateway_groups(client)
    else:
        ours_by_event = {name: [group] for name, group in groups(client).items()}
    for name, ours in ours_by_event.items():
        table[name] = [*(g for g in (table.get(name) or []) if not _is_ours(g)), *ours]
    doc["hooks"] = table
    return doc


def _without_hooks(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    table = {k: [g for g in v if not _is_ours(g)] for k, v in (doc.get("hooks") or {}).items()}
    table = {k: v for k, v in table.items() if v}
    if table:
        doc["hooks"] = table
    else:
        doc.pop("hooks", None)
    return doc


def _mcp_entry(gateway: bool = False) -> dict[str, Any]:
    env = {"CODESWARM_AGENT_ROLE": GATEWAY_ROLE} if gateway else {}
    return {"command": sys.executable, "args": module_args("codeswarm.mcp"), "env": env}


def _with_mcp(doc: dict[str, Any], gateway: bool = False) -> dict[str, Any]:
    doc = dict(doc)
    servers = dict(doc.get("mcpServers") or {})
    servers[SERVER] = _mcp_entry(gateway)
    doc["mcpServers"] = servers
    return doc


def _with_allow(doc: dict[str, Any]) -> dict[str, Any]:
    """Claude Code settings allowing codeswarm's MCP tools (a gateway's)."""
    doc = dict(doc)
    permissions = dict(doc.get("permissions") or {})
    allow = [x for x in (permissions.get("allow") or []) if x != CLAUDE_ALLOW]
    permissions["allow"] = [*allow, CLAUDE_ALLOW]
    doc["permissions"] = permissions
    return doc


def _without_allow(doc: dict[str, Any]) -> dict[str, Any]:
    permissions = doc.get("permissions")
    if not isinstance(permissions, dict) or CLAUDE_ALLOW not in (permissions.get("allow") or []):
        return doc
    doc, permissions = dict(doc), dict(permissions)
    allow = [x for x in permissions["allow"] if x != CLAUDE_ALLOW]
    if allow:
        permissions["allow"] = allow
    else:
        permissions.pop("allow")
    if permissions:
        doc["permissions"] = permissions
    else:
        doc.pop("permissions")
    return doc


def _without_mcp(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    servers = {k: v for k, v in (doc.get("mcpServers") or {}).items() if k != SERVER}
    if servers:
        doc["mcpServers"] = servers
    else:
        doc.pop("mcpServers", None)
    return doc


MCP_ENV_VARS = ("CODESWARM_AGENT_ID", "CODESWARM_AGENT_NAME", "CODESWARM_DB", "CODESWARM_SCOPE",
                "CODESWARM_ROLE", "CODESWARM_STATE_DIR", "CODESWARM_CODEX_HOME",
                "XDG_STATE_HOME", "XDG_CONFIG_HOME")  # fmt: skip
"""What Codex passes on to the MCP server (it passes only a few variables of its own, HOME and
PATH among them): enough to find the same store and name as the session's hooks."""
HOOK_EVENTS_SNAKE = {"SessionStart": "session_start", "PreToolUse": "pre_tool_use",
                     "PostToolUse": "post_tool_use", "Stop": "stop", "SessionEnd": "session_end",
                     "UserPromptSubmit": "user_prompt_submit"}  # fmt: skip
MATCHER_EVENTS = ("PreToolUse", "PostToolUse", "PermissionRequest", "SessionStart")
"""Events whose matcher Codex keeps (and hashes); for the others it is ignored."""
CODEX_DEFAULT_TIMEOUT_S = 600
CODEX_SESSION_END_MAX_S = 3


def codex_hook_hash(event: str, group: dict[str, Any], handler: dict[str, Any]) -> str:
    """Codex's ``currentHash`` of one command hook (what ``trusted_hash`` must equal): SHA-256
    over compact, key-sorted JSON of the event (snake case), the group's matcher and the handler
    with its effective timeout (``hooks/src/engine/discovery.rs`` ``command_hook_hash``)."""
    timeout = handler.get("timeout")
    timeout = CODEX_DEFAULT_TIMEOUT_S if not isinstance(timeout, int) else max(1, timeout)
    if event == "SessionEnd":
        timeout = min(timeout, CODEX_SESSION_END_MAX_S)
    hook: dict[str, Any] = {"type": "command", "command": handler.get("command", ""),
                            "timeout": timeout, "async": bool(handler.get("async", False))}  # fmt: skip
    if handler.get("statusMessage") is not None:
        hook["statusMessage"] = handler["statusMessage"]
    obj: dict[str, Any] = {"event_name": HOOK_EVENTS_SNAKE[event], "hooks": [hook]}
    if event in MATCHER_EVENTS and group.get("matcher") is not None:
        obj["matcher"] = group["matcher"]
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def codex_trust(hooks_file: Path, doc: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, trusted_hash)`` for each of codeswarm's hooks in ``doc`` (the content of
    ``hooks_file``): the key is ``<defining file>:<event>:<group index>:<handler index>``, with
    the file as Codex names it (its absolute path; its real path too when that differs)."""
    files = [str(hooks_file.absolute())]
    real = os.path.realpath(files[0])
    if real != files[0]:
        files.append(real)
    out = []
    for event, groups in (doc.get("hooks") or {}).items():
        if event not in HOOK_EVENTS_SNAKE or not isinstance(groups, list):
            continue
        for g, group in enumerate(groups):
            handlers = group.get("hooks") if isinstance(group, dict) else None
            for h, handler in enumerate(handlers if isinstance(handlers, list) else []):
                if isinstance(handler, dict) and _ours(handler.get("command", "")):
                    digest = codex_hook_hash(event, group, handler)
                    out += [(f"{f}:{HOOK_EVENTS_SNAKE[event]}:{g}:{h}", digest) for f in files]
    return out


def _toml_block(trust: list[tuple[str, str]], gateway: bool = False) -> str:
    state = "".join(
        f"\n[hooks.state.{json.dumps(key)}]\ntrusted_hash = {json.dumps(digest)}\n"
        for key, digest in trust
    )
    role = (
        f"env = {{ CODESWARM_AGENT_ROLE = {json.dumps(GATEWAY_ROLE)} }}\n"
        f"tool_timeout_sec = {GATEWAY_TOOL_TIMEOUT_S}\n"
        if gateway
        else ""
    )
    return (
        f"{TOML_BEGIN}\n[mcp_servers.{SERVER}]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps(module_args('codeswarm.mcp'))}\n"
        f"env_vars = {json.dumps(list(MCP_ENV_VARS))}\n"
        f"{role}"
        # required: Codex waits for the server before the first model request (else the model's
        # first requests lack the tools); the start-up bound is Codex's default
        "required = true\nstartup_timeout_sec = 30\n"
        'default_tools_approval_mode = "approve"\n'
        f"{state}{TOML_END}\n"
    )


def _trust_outside(text: str, trust: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """The person's config text without stale trust tables for codeswarm's hook keys (the TUI
    writes them as ``[hooks.state."<key>"]``), and the trust still to write in our block (a
    key the text still defines another way is left alone: TOML forbids defining it twice)."""
    import tomllib

    keys = {key for key, _ in trust}
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    skipping = False
    for line in lines:
        head = line.strip()
        if head.startswith("["):
            skipping = any(head == f"[hooks.state.{json.dumps(k)}]" for k in keys)
        if not skipping:
            kept.append(line)
    stripped = "".join(kept)
    try:
        defined = tomllib.loads(stripped).get("hooks", {}).get("state", {})
    except (tomllib.TOMLDecodeError, AttributeError):
        defined = {}
    return stripped, [(k, d) for k, d in trust if not isinstance(defined, dict) or k not in defined]


def toml_without(text: str, begin: str = TOML_BEGIN) -> str:
    start = text.find(begin)
    if start < 0:
        return text
    end = text.find(TOML_END, start)
    end = len(text) if end < 0 else end + len(TOML_END) + 1
    head = text[:start]
    if head.endswith("\n\n"):
        head = head[:-1]  # the blank line install added
    return head + text[end:]


def _toml_with(text: str, trust: list[tuple[str, str]], gateway: bool = False) -> str:
    base, trust = _trust_outside(toml_without(text), trust)
    sep = "" if not base else ("\n" if base.endswith("\n") else "\n\n")
    return base + sep + _toml_block(trust, gateway)


TRUST_BEGIN_PREFIX = "# >>> codeswarm: trust for "
"""How each block trusting a project's hooks (``--scope project``) starts in a person's config."""


def _trust_begin(hooks_file: Path) -> str:
    return f"{TRUST_BEGIN_PREFIX}{hooks_file} >>> (`codeswarm install --scope project`)"


FLEET_TRUST_BEGIN = "# >>> codeswarm fleet: its hooks' trust >>> (rewritten at each start)"
"""How the block trusting a fleet agent's own hooks starts in the agent's ``config.toml``."""


def with_fleet_trust(text: str, hooks_file: Path, doc: dict[str, Any]) -> str:
    """A fleet agent's ``config.toml`` text (``text``) trusting codeswarm's hooks in its
    ``hooks_file`` (content ``doc``), in a marked block replaced at each start: Codex runs them
    with no ``config/batchWrite`` (and the config reload it starts) before the thread opens. A
    stale trust table for the same hook outside the block (one Codex wrote) is dropped."""
    return _trust_with(text, hooks_file, codex_trust(hooks_file, doc), FLEET_TRUST_BEGIN)


def _trust_with(
    text: str, hooks_file: Path, trust: list[tuple[str, str]], begin: str | None = None
) -> str:
    """The person's own config with a marked block trusting a project's codeswarm hooks (Codex
    reads ``hooks.state`` from the person's config only: a project cannot trust itself)."""
    begin = begin or _trust_begin(hooks_file)
    base, trust = _trust_outside(toml_without(text, begin), trust)
    if not trust:
        return base
    state = "".join(
        f"[hooks.state.{json.dumps(key)}]\ntrusted_hash = {json.dumps(digest)}\n"
        for key, digest in trust
    )
    sep = "" if not base else ("\n" if base.endswith("\n") else "\n\n")
    return f"{base}{sep}{begin}\n{state}{TOML_END}\n"


CLAUDE_SWARM_COMMAND = f"""---
description: codeswarm status: who is here, who holds which files, my tasks, unread messages
allowed-tools: mcp__{SERVER}__swarm_status, mcp__{SERVER}__inbox
---
Show the codeswarm picture:

1. Call the `swarm_status` tool of the `{SERVER}` MCP server (no arguments). It returns who you
   are (`me`), the agents, the leases (file, holder, note, expiry), your tasks, the open tasks
   and how many messages wait for you.
2. If `unread_messages` is more than 0, call the `inbox` tool of the same server to read them.
3. Print the picture in a few lines, nothing else: who you are, and the other agents with their
   roles; which files are held, by whom, with the note; your tasks, and how many are open; your
   unread messages (sender: first line).

Do not edit files and do not take or release leases while doing this. If the `{SERVER}` tools
are missing, say that the codeswarm MCP server is not running (see `codeswarm install claude`).
"""
"""Claude Code's ``/swarm``: its ``allowed-tools`` let the two read-only MCP calls through
Claude Code's permission check (``-p`` asks for every MCP tool otherwise), and the MCP server
answers as the session's agent (the hooks' identity)."""


def claude_config_dir() -> Path:
    """Claude Code's user configuration directory: ``$CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".claude"


def claude_user_mcp_file() -> Path:
    """Where Claude Code keeps a user's MCP servers: ``.claude.json`` in ``$CLAUDE_CONFIG_DIR``
    when that is set, else ``~/.claude.json``."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR", "").strip()
    return claude_config_dir() / ".claude.json" if configured else Path.home() / ".claude.json"


def _swarm_command(client: str) -> str:
    if client == "claude":
        return CLAUDE_SWARM_COMMAND
    return SWARM_SKILL  # Codex: a skill (``$swarm``), Codex 0.169 has no custom prompts


SWARM_SKILL = """---
name: swarm
description: Show the codeswarm picture (agents, who holds which files, my tasks, unread messages) through the codeswarm MCP tools. Use when the person types $swarm or asks for the swarm's status.
---
# The swarm's picture

1. Call the `swarm_status` tool of the `codeswarm` MCP server (no arguments). It returns who you
   are (`me`), the agents, the leases (file, holder, note, expiry), your tasks, the open tasks
   and how many messages wait for you.
2. If `unread_messages` is more than 0, call the `inbox` tool of the same server to read them
   (do not `ack` them: the person decides).
3. Print the picture in a few lines, nothing else:
   - who you are, and the other agents with their roles;
   - which files are held, by whom, since when, with the note;
   - your tasks, and how many tasks are open;
   - your unread messages (sender: first line).

Do not edit files and do not take or release leases while doing this. If the `codeswarm` tools
are missing, say that the codeswarm MCP server is not running (see `codeswarm install codex`).
"""


def _json_load(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise UsageError(
            f"{path} is not valid JSON ({exc}); fix it first, nothing was changed"
        ) from exc
    if not isinstance(doc, dict):
        raise UsageError(f"{path} does not hold a JSON object; nothing was changed")
    return doc


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


class Plan:
    """The files one install or uninstall touches, and their new contents (None: delete)."""

    def __init__(self) -> None:
        self.writes: dict[Path, str | None] = {}
        self.retired: set[Path] = set()
        """Files an earlier install wrote that this one takes out (as an uninstall would)."""
        self.shared: set[Path] = set()
        """Files another install may own too (the person's Codex config, for a project's trust):
        changed in place, never backed up nor restored byte for byte."""

    def apply(self, *, dry_run: bool, uninstall: bool) -> list[Change]:
        changes = []
        for path, content in self.writes.items():
            orig = path.with_name(path.name + ".codeswarm-orig")
            current = path.read_bytes() if path.exists() else None
            if path in self.shared:
                changes.append(_edit(path, current, content, dry_run, uninstall))
                continue
            if uninstall or path in self.retired:
                changes.append(self._undo(path, orig, current, content, dry_run))
                continue
            new = None if content is None else content.encode()
            if current == new:
                changes.append(Change(path, "unchanged"))
                continue
            changes.append(Change(path, "create" if current is None else "update"))
            if dry_run:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if not orig.exists():
                # the backup is as private as the file it saves (a new file would get the umask)
                mode = path.stat().st_mode & 0o777 if current is not None else 0o600
                atomic_write(orig, ABSENT if current is None else current, mode=mode)
            assert new is not None
            _write(path, new)
            _write(_stamp(path), hashlib.sha256(new).hexdigest().encode())
        return changes

    def _undo(
        self, path: Path, orig: Path, current: bytes | None, stripped: str | None, dry_run: bool
    ) -> Change:
        stamp = _stamp(path)
        ours = (
            stamp.exists()
            and current is not None
            and hashlib.sha256(current).hexdigest() == stamp.read_text()
        )
        if orig.exists() and ours:
            saved = orig.read_bytes()
            action = "remove" if saved == ABSENT else "restore"
            if not dry_run:
                if saved == ABSENT:
                    path.unlink()
                else:
                    _write(path, saved)
                orig.unlink()
                stamp.unlink()
                if saved == ABSENT and path.parent.name in ("prompts", "commands"):
                    with contextlib.suppress(OSError):  # only when empty
                        path.parent.rmdir()
                if saved == ABSENT and path.name == "SKILL.md":  # skills/swarm/, skills/ if empty
                    with contextlib.suppress(OSError):
                        path.parent.rmdir()
                        path.parent.parent.rmdir()
            return Change(path, action)
        if current is None:
            return Change(path, "unchanged")
        # changed since install: take out only what is ours
        new = None if stripped is None else stripped.encode()
        if new == current:
            return Change(path, "unchanged")
        if not dry_run:
            if new is None:
                path.unlink()
            else:
                _write(path, new)
            for f in (orig, stamp):
                if f.exists():
                    f.unlink()
        return Change(path, "strip")


def _edit(
    path: Path, current: bytes | None, content: str | None, dry_run: bool, undo: bool
) -> Change:
    new = None if content is None else content.encode()
    if new == current or (new is not None and current is None and not new):
        return Change(path, "unchanged")
    action = "strip" if undo else "create" if current is None else "update"
    if not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        if new is None:
            path.unlink()
        elif current is None:
            atomic_write(path, new, mode=0o600)
        else:
            _write(path, new)
    return Change(path, action)


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".codeswarm-sha256")


def _write(path: Path, data: bytes) -> None:
    atomic_write(path, data, mode=KEEP_MODE)  # a person's own file keeps its permission bits


def plan(
    client: Client, scope: Scope, *, repo: Path, uninstall: bool, gateway: bool = False
) -> Plan:
    """What ``codeswarm install`` changes (``uninstall``: takes everything of codeswarm's out,
    a gateway's too; ``gateway``: gateway mode, see the module docstring)."""
    p = Plan()
    gateway = gateway and not uninstall
    if client == "codex":
        home = user_codex_home() if scope == "user" else repo / ".codex"
        hooks, config, skill = (
            home / "hooks.json",
            home / "config.toml",
            home / "skills" / "swarm" / "SKILL.md",
        )
        doc = _json_load(hooks)
        new_doc = _without_hooks(doc) if uninstall else _with_hooks(doc, "codex", gateway)
        p.writes[hooks] = _dump(new_doc)
        text = config.read_text() if config.exists() else ""
        trust = [] if uninstall else codex_trust(hooks, new_doc)
        own = trust if scope == "user" else []  # a project's own config cannot trust it
        p.writes[config] = toml_without(text) if uninstall else _toml_with(text, own, gateway)
        _swarm_command_file(p, skill, "codex", uninstall=uninstall, gateway=gateway)
        if scope == "project":  # Codex takes a project hook's trust from the person's config
            mine = user_codex_home() / "config.toml"
            text = mine.read_text() if mine.exists() else ""
            begin = _trust_begin(hooks.absolute())
            p.writes[mine] = (
                toml_without(text, begin)
                if uninstall
                else _trust_with(text, hooks.absolute(), trust)
            )
            p.shared.add(mine)
        prompt = home / "prompts" / "swarm.md"  # an earlier install's /swarm (no longer read)
        if prompt.with_name(prompt.name + ".codeswarm-orig").exists():
            p.writes[prompt] = None
            p.retired.add(prompt)
    else:
        base = claude_config_dir() if scope == "user" else repo / ".claude"
        settings = base / "settings.json"
        mcp = claude_user_mcp_file() if scope == "user" else repo / ".mcp.json"
        command = base / "commands" / "swarm.md"
        doc = _json_load(settings)
        if uninstall:  # a person's own allow of mcp__codeswarm is kept only byte for byte
            doc = _without_hooks(_without_allow(doc))
        else:  # switching from gateway to plain keeps the allow: it may be the person's
            doc = _with_hooks(doc, "claude", gateway)
            doc = _with_allow(doc) if gateway else doc
        p.writes[settings] = _dump(doc)
        doc = _json_load(mcp)
        p.writes[mcp] = _dump(_without_mcp(doc) if uninstall else _with_mcp(doc, gateway))
        _swarm_command_file(p, command, "claude", uninstall=uninstall, gateway=gateway)
    return p


def _swarm_command_file(
    p: Plan, path: Path, client: str, *, uninstall: bool, gateway: bool
) -> None:
    """``$swarm`` / ``/swarm``: written by an install, taken out by an uninstall; a gateway has
    none (its ``list`` tool shows the swarm), so one an earlier install wrote is taken out
    (only if it is ours: a file of the person's own is left alone)."""
    if uninstall:
        p.writes[path] = None
    elif not gateway:
        p.writes[path] = _swarm_command(client)
    elif path.with_name(path.name + ".codeswarm-orig").exists():
        p.writes[path] = None
        p.retired.add(path)
