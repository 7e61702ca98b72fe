"""What each hook event does, for Codex and Claude Code alike.

- SessionStart: register (or adopt the fleet's registration) and prime the model with the swarm.
- PreToolUse: a write to a path a peer leases is denied, naming the holder; with auto leases the
  first edit of a free file takes a lease for this agent.
- PostToolUse: files the command changed behind our back that a peer leases are reported to the
  model and in the audit log.
- Stop / UserPromptSubmit: heartbeat only (Stop fires per turn: never deregister there).
- SessionEnd: deregister (personal sessions; a fleet worker owns its agent's registration).
"""

from __future__ import annotations

import os
import time
from typing import Any

from codeswarm.coordination.agents import DEFAULT_LEASE_S
from codeswarm.coordination.models import agent_name
from codeswarm.hooks import SHELL_TOOLS, WRITE_TOOLS
from codeswarm.hooks.context import PERSONAL_LEASE_S, HookContext

Output = dict[str, Any] | None

MAX_CONTEXT_ITEMS = 12


def _age(seconds: float) -> str:
    s = max(0.0, seconds)
    return f"{s:.0f}s" if s < 120 else f"{s / 60:.0f}m" if s < 7200 else f"{s / 3600:.1f}h"


def _holder_line(lease: Any, now: float) -> str:
    note = f", note: {lease.note!r}" if lease.note else ""
    expires = (
        f", expires in {_age(lease.expires_at - now)}"
        if lease.expires_at is not None
        else ", until released"
    )
    return f"{lease.path} is held ({lease.mode}) by {lease.holder} for {_age(now - lease.acquired_at)}{note}{expires}"


class Hooks:
    def __init__(self, ctx: HookContext, coord: Any, root: str) -> None:
        self.ctx = ctx
        self.coord = coord
        self.root = root

    # -- identity -------------------------------------------------------------------------------
    def me(self) -> str:
        """The agent's name, registered and alive (registering it again when needed)."""
        from codeswarm.core.errors import CoordError

        try:
            self.coord.heartbeat(self.ctx.name)
        except CoordError:
            self._register()
        return self.ctx.name

    def _register(self) -> None:
        self.coord.register(
            self.ctx.name,
            role=self.ctx.role(self.root),
            label=f"{self.ctx.client} session {self.ctx.session_id[:8]}".strip(),
            pid=os.getppid(),
            lease_s=PERSONAL_LEASE_S if not self.ctx.fleet else DEFAULT_LEASE_S,
        )

    # -- events ---------------------------------------------------------------------------------
    def session_start(self) -> Output:
        if self.ctx.fleet:
            me = self.me()  # the worker registered it: adopt
        else:
            self._register()  # a new session: a new generation (an older one is fenced)
            me = self.ctx.name
        return {
            "hookSpecificOutput": {
                "hookEventName": "SessionStart",
                "additionalContext": self.picture(me),
            }
        }

    def picture(self, me: str) -> str:
        """A short picture of the swarm for the model: peers, leases, my tasks, my messages."""
        now = time.time()
        lines = [f"You are agent {me} in a codeswarm (shared repository {self.root})."]
        peers = [a for a in self.coord.agents() if a.name != me]
        if peers:
            lines.append(
                "Peers: "
                + ", ".join(f"{a.name} ({a.role or 'agent'})" for a in peers[:MAX_CONTEXT_ITEMS])
            )
        leases = [le for le in self.coord.leases() if agent_name(le.holder) != me]
        if leases:
            lines.append("Files held by peers (do not edit them; ask the holder):")
            lines += [f"- {_holder_line(le, now)}" for le in leases[:MAX_CONTEXT_ITEMS]]
        mine = self.coord.tasks(status=["claimed", "in_progress"], assignee=me)
        if mine:
            lines.append(
                "Your tasks: "
                + "; ".join(f"#{t.id} {t.title} [{t.status}]" for t in mine[:MAX_CONTEXT_ITEMS])
            )
        unread = self.coord.inbox(me, limit=5)
        if unread:
            lines.append(f"Unread messages ({len(unread)}{'+' if len(unread) == 5 else ''}):")
            lines += [f"- from {m.sender}: {m.text[:200]}" for m in unread]
        lines.append(
            "Coordinate through the codeswarm MCP tools (lease before editing, release when done, "
            "send messages, claim tasks)."
        )
        return "\n".join(lines)

    def pre_tool_use(self) -> Output:
        tool = str(self.ctx.payload.get("tool_name") or "")
        tool_input = self.ctx.payload.get("tool_input")
        tool_input = tool_input if isinstance(tool_input, dict) else {}
        edits: list[str] = []
        shell: list[str] = []
        if tool == "apply_patch":
            from codeswarm.codex.patch import affected_paths

            edits = affected_paths(
                tool_input.get("command") or tool_input.get("input") or tool_input.get("patch")
            )
        elif tool in WRITE_TOOLS:
            value = tool_input.get(WRITE_TOOLS[tool])
            edits = [value] if isinstance(value, str) and value else []
        elif tool in SHELL_TOOLS:
            from codeswarm.hooks.shell import written_paths

            command = tool_input.get("command")
            if isinstance(command, list):
                command = " ".join(str(c) for c in command)
            shell = written_paths(command)
            self._snapshot_before()
        else:
            return None
        if not edits and not shell:
            return None
        me = self.me()
        reasons = self._conflicts(me, [*edits, *shell])
        if reasons:
            return self._deny(reasons)
        if edits and self.ctx.auto_lease:
            reasons = self._auto_lease(me, edits)
            if reasons:
                return self._deny(reasons)
        return None

    def _in_scope(self, path: str) -> bool:
        full = os.path.normpath(os.path.join(self.ctx.cwd, path))
        return full == self.root or full.startswith(self.root.rstrip("/") + "/")

    def _conflicts(self, me: str, paths: list[str]) -> list[str]:
        from codeswarm.core.errors import CoordInputError

        now = time.time()
        reasons = []
        for path in paths:
            if not self._in_scope(path):
                continue
            try:
                held = self.coord.conflicts(path, agent=me, cwd=self.ctx.cwd)
            except CoordInputError:
                continue  # outside the scope, or not a path we can judge: not ours to guard
            reasons += [_holder_line(le, now) for le in held]
        return reasons

    def _auto_lease(self, me: str, paths: list[str]) -> list[str]:
        from codeswarm.core.errors import CoordInputError, LeaseConflictError

        reasons = []
        for path in paths:
            if not self._in_scope(path):
                continue
            try:
                self.coord.lease(me, path, note="auto: first edit", cwd=self.ctx.cwd)
            except LeaseConflictError as exc:
                reasons.append(str(exc))
            except CoordInputError:
                continue
        return reasons

    def _deny(self, reasons: list[str]) -> Output:
        reason = (
            "codeswarm: "
            + "; ".join(reasons)
            + ". Work on another file, or ask the holder to release it (codeswarm MCP tool "
            "`send`), then try again."
        )
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }

    def _snapshot_before(self) -> None:
        from codeswarm.hooks import snapshot

        picture = snapshot.take(self.root)
        if picture is not None:
            snapshot.save(
                self.ctx.session_id,
                str(self.ctx.payload.get("tool_use_id") or ""),
                self.root,
                picture,
            )

    def post_tool_use(self) -> Output:
        tool = str(self.ctx.payload.get("tool_name") or "")
        if tool not in SHELL_TOOLS:
            return None
        from codeswarm.hooks import snapshot

        saved = snapshot.load(self.ctx.session_id, str(self.ctx.payload.get("tool_use_id") or ""))
        if saved is None:
            return None
        root, before = saved
        after = snapshot.take(root)
        if after is None:
            return None
        touched = snapshot.changed(before, after)
        if not touched:
            return None
        me = self.me()
        now = time.time()
        found = []
        for rel in touched:
            for lease in self.coord.conflicts(os.path.join(root, rel), agent=me):
                found.append((rel, lease))
        if not found:
            return None
        for rel, lease in found:
            self.coord.report(
                me, "lease.violated", rel,
                {"holder": lease.holder, "path": lease.path, "tool": tool,
                 "tool_use_id": self.ctx.payload.get("tool_use_id")},
            )  # fmt: skip
        lines = "; ".join(f"{rel} ({_holder_line(lease, now)})" for rel, lease in found)
        return {
            "decision": "block",
            "reason": (
                f"codeswarm: that command changed files a peer holds: {lines}. Undo those "
                "changes (or coordinate with the holder) before going on."
            ),
        }

    def heartbeat(self) -> Output:
        self.me()
        return None

    def session_end(self) -> Output:
        if not self.ctx.fleet:
            import contextlib

            from codeswarm.core.errors import CoordError

            with contextlib.suppress(CoordError):  # already gone (expired, superseded)
                self.coord.deregister(self.ctx.name)
        return None


def scope_root(ctx: HookContext) -> str:
    root = ctx.env.get("CODESWARM_SCOPE")
    if root:
        return os.path.abspath(root)
    from pathlib import Path

    from codeswarm.core.paths import project_root

    return str(project_root(Path(ctx.cwd)))
