"""Adding codeswarm's hooks, MCP server and /swarm command to a person's own Codex or Claude Code.

Idempotent (a second install changes nothing), keeps the person's own hooks and MCP servers, and
reversible: the first install keeps each file's original bytes beside it
(``<file>.codeswarm-orig``, or a marker that it did not exist); uninstall puts them back byte for
byte when the file is still as codeswarm left it, and otherwise removes only codeswarm's entries
(saying so).

| client | scope | files |
|---|---|---|
| codex | user | ``<home>/hooks.json``, ``<home>/config.toml`` (a marked block), ``<home>/prompts/swarm.md``; ``<home>`` is the Codex home (``[codex] home``, ``$CODEX_HOME``, ``~/.codex``) |
| codex | project | ``<repo>/.codex/hooks.json``, ``<repo>/.codex/config.toml``, ``<repo>/.codex/prompts/swarm.md`` |
| claude | user | ``~/.claude/settings.json``, ``~/.claude.json`` (``mcpServers``), ``~/.claude/commands/swarm.md`` |
| claude | project | ``<repo>/.claude/settings.json``, ``<repo>/.mcp.json``, ``<repo>/.claude/commands/swarm.md`` |
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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


@dataclass
class Change:
    path: Path
    action: str  # "create", "update", "unchanged", "restore", "remove", "strip"

    def line(self) -> str:
        return f"{self.action:<9} {self.path}"


def _is_ours(group: Any) -> bool:
    from codeswarm.hooks import is_ours

    hooks = group.get("hooks") if isinstance(group, dict) else None
    return isinstance(hooks, list) and any(
        is_ours(h.get("command", "")) for h in hooks if isinstance(h, dict)
    )


def _with_hooks(doc: dict[str, Any], client: str) -> dict[str, Any]:
    from codeswarm.hooks import groups

    doc = dict(doc)
    table = dict(doc.get("hooks") or {})
    for name, ours in groups(client).items():
        table[name] = [*(g for g in (table.get(name) or []) if not _is_ours(g)), ours]
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


def _mcp_entry() -> dict[str, Any]:
    return {"command": sys.executable, "args": module_args("codeswarm.mcp"), "env": {}}


def _with_mcp(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    servers = dict(doc.get("mcpServers") or {})
    servers[SERVER] = _mcp_entry()
    doc["mcpServers"] = servers
    return doc


def _without_mcp(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    servers = {k: v for k, v in (doc.get("mcpServers") or {}).items() if k != SERVER}
    if servers:
        doc["mcpServers"] = servers
    else:
        doc.pop("mcpServers", None)
    return doc


def _toml_block() -> str:
    return (
        f"{TOML_BEGIN}\n[mcp_servers.{SERVER}]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps(module_args('codeswarm.mcp'))}\n"
        'env_vars = ["CODESWARM_AGENT_ID", "CODESWARM_DB", '
        '"CODESWARM_SCOPE", "CODESWARM_ROLE"]\nstartup_timeout_sec = 30\n'
        'default_tools_approval_mode = "approve"\n'
        f"{TOML_END}\n"
    )


def _toml_without(text: str) -> str:
    start = text.find(TOML_BEGIN)
    if start < 0:
        return text
    end = text.find(TOML_END, start)
    end = len(text) if end < 0 else end + len(TOML_END) + 1
    head = text[:start]
    if head.endswith("\n\n"):
        head = head[:-1]  # the blank line install added
    return head + text[end:]


def _toml_with(text: str) -> str:
    base = _toml_without(text)
    sep = "" if not base else ("\n" if base.endswith("\n") else "\n\n")
    return base + sep + _toml_block()


def _swarm_command(client: str) -> str:
    cs = f"{sys.executable} -P -m codeswarm coord"
    if client == "claude":
        return (
            "---\ndescription: codeswarm status: agents, leases, my tasks, unread messages\n---\n"
            f"Agents: !`{cs} agents`\n\nLeases: !`{cs} leases`\n\nTasks: !`{cs} tasks`\n\n"
            f"My unread messages: !`{cs} inbox`\n\n"
            "Summarise this codeswarm status in a few lines: who is working, which files are "
            "held by whom, my tasks, and my unread messages.\n"
        )
    return (
        "Show the codeswarm status compactly: call the codeswarm MCP tools for the swarm's status "
        "(agents, leases, tasks) and my unread messages, then print a few lines: who is working, "
        "which files are held by whom, my tasks, my unread messages. Do not edit anything.\n"
    )


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

    def apply(self, *, dry_run: bool, uninstall: bool) -> list[Change]:
        changes = []
        for path, content in self.writes.items():
            orig = path.with_name(path.name + ".codeswarm-orig")
            current = path.read_bytes() if path.exists() else None
            if uninstall:
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


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".codeswarm-sha256")


def _write(path: Path, data: bytes) -> None:
    atomic_write(path, data, mode=KEEP_MODE)  # a person's own file keeps its permission bits


def plan(client: Client, scope: Scope, *, repo: Path, uninstall: bool) -> Plan:
    p = Plan()
    if client == "codex":
        home = user_codex_home() if scope == "user" else repo / ".codex"
        hooks, config, prompt = (
            home / "hooks.json",
            home / "config.toml",
            home / "prompts" / "swarm.md",
        )
        doc = _json_load(hooks)
        p.writes[hooks] = _dump(_without_hooks(doc) if uninstall else _with_hooks(doc, "codex"))
        text = config.read_text() if config.exists() else ""
        p.writes[config] = _toml_without(text) if uninstall else _toml_with(text)
        p.writes[prompt] = None if uninstall else _swarm_command("codex")
    else:
        base = Path.home() / ".claude" if scope == "user" else repo / ".claude"
        settings = base / "settings.json"
        mcp = Path.home() / ".claude.json" if scope == "user" else repo / ".mcp.json"
        command = base / "commands" / "swarm.md"
        doc = _json_load(settings)
        p.writes[settings] = _dump(_without_hooks(doc) if uninstall else _with_hooks(doc, "claude"))
        doc = _json_load(mcp)
        p.writes[mcp] = _dump(_without_mcp(doc) if uninstall else _with_mcp(doc))
        p.writes[command] = None if uninstall else _swarm_command("claude")
    return p
