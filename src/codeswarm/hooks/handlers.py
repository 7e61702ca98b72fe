"""What each hook event does, for Codex and Claude Code alike.

- SessionStart: register (or adopt the fleet's registration) and prime the model with the swarm.
- PreToolUse: a write to a file a peer leases is denied, naming the holder: by the file's real
  path (symlinks followed) and its identity (a hard link to it, wherever it is); with auto leases
  the first edit of a free file takes a lease for this agent. Then the content of every file peers
  lease is kept (:mod:`codeswarm.hooks.leased`), and a holder's call is marked as at work
  (:mod:`codeswarm.hooks.busy`).
- PostToolUse: a file a peer leases whose content changed during the call is put back as it was,
  unless its holder was at work on it meanwhile; the model is told and the audit log records it
  (``lease.violated``, ``lease.restored``), with this agent as the actor.
- Stop: heartbeat, and this turn's tool calls are over. UserPromptSubmit: heartbeat only (Stop
  fires per turn: never deregister there).
- SessionEnd: deregister (personal sessions; a fleet worker owns its agent's registration).
"""

from __future__ import annotations

import os
import stat
import time
from typing import Any

from codeswarm.coordination.agents import DEFAULT_LEASE_S
from codeswarm.coordination.models import agent_name
from codeswarm.hooks import SHELL_TOOLS, WRITE_TOOLS
from codeswarm.hooks.context import PERSONAL_LEASE_S, HookContext

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

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
    """One hook call. ``open_coord`` opens the coordination store, on first use (a PostToolUse
    that finds nothing changed never opens it); :meth:`close` closes it."""

    def __init__(self, ctx: HookContext, open_coord: Callable[[], Any], root: str) -> None:
        self.ctx = ctx
        self.root = root
        self._open_coord = open_coord
        self._coord: Any = None

    @property
    def coord(self) -> Any:
        if self._coord is None:
            self._coord = self._open_coord()
        return self._coord

    def close(self) -> None:
        if self._coord is not None:
            self._coord.close()
            self._coord = None

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
            label=self.ctx.label,
            pid=self.ctx.pid or os.getppid(),
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
        where = f"shared repository {self.root}"
        if self.ctx.worktree:
            rule = "hold across them" if self.ctx.worktree_leases else "are not enforced here"
            where = f"your own git worktree {self.root}; peers work in theirs, leases {rule}"
        lines = [f"You are agent {me} in a codeswarm ({where})."]
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
            if isinstance(command, str) and "***" in command:
                # Codex runs `apply_patch <<'EOF' … EOF` given to the shell as a patch of its
                # own, and calls no PostToolUse after it: read it as a patch (docs/security/patch.md)
                from codeswarm.codex.patch import affected_paths

                shell += affected_paths(command)
        else:
            return None
        me = self.ctx.name
        # (path, kind, holder): no records built, per call; none in a worktree of its own
        leases = self.coord.lease_paths() if self.ctx.worktree_leases else []
        mine = me + "#"
        peers = _peers(leases, mine)
        found = self._conflicts(me, [*edits, *shell], peers)
        if found:
            return self._deny(me, tool, found)
        if self.ctx.scope_deny and (edits or shell):
            found = self._out_of_scope(me, [*edits, *shell])
            if found:
                return self._deny(me, tool, found, kind="scope.denied")
        if edits or shell:
            self.me()  # a heartbeat (a deny's audit row is one too)
        took = False
        if edits and self.ctx.auto_lease and self.ctx.worktree_leases:
            found, took = self._auto_lease(me, edits)
            if found:
                return self._deny(me, tool, found)
        holds = took or len(peers) < len(leases)
        # what the call may write, for a peer's PostToolUse (None: anything, a shell command)
        may_write = None if tool in SHELL_TOOLS else self._own_paths(edits)
        self._before(me, peers, holds, may_write)
        return None

    # -- before: the check on paths (real path and file identity) ---------------------------------
    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root.rstrip("/") + "/")

    def _conflicts(
        self, me: str, paths: list[str], peers: list[tuple[str, str, str]]
    ) -> list[tuple[str, str]]:
        """``(leased path, why)`` for each of ``paths`` whose writing would touch a file a peer
        leases: by its real path (symlinks followed, wherever the link is) and by its identity
        (a hard link to a leased file, wherever it is)."""
        from codeswarm.coordination.paths import from_canonical, normalize
        from codeswarm.core.errors import CoordInputError

        if not peers:
            return []
        now = time.time()
        found: list[tuple[str, str]] = []
        inodes: dict[tuple[int, int], str] | None = None
        files: set[str] | None = None
        wider: list[tuple[str, str, str]] = []
        for path in paths:
            full = os.path.join(self.ctx.cwd, path)
            real = os.path.realpath(full)
            if self._inside(real):
                try:
                    spec = normalize(real, self.root)
                except CoordInputError as exc:
                    # fail closed: a path the store cannot check is not a path we let through
                    found.append((path, f"{path}: {exc}; leases cannot be checked for it"))
                    continue
                if files is None:  # peers' file leases by path: one set lookup per path
                    files, wider = _by_kind(peers)
                if spec.kind == "file":
                    hit = spec.path in files or any(
                        _overlaps(spec, le, from_canonical) for le in wider
                    )
                else:
                    hit = any(_overlaps(spec, le, from_canonical) for le in peers)
                if hit:
                    shown = "" if real == os.path.normpath(full) else f"{path} -> "
                    held = self.coord.conflicts(real, agent=me)  # the records, to name them
                    found += [(le.path, shown + _holder_line(le, now)) for le in held]
                    if held:
                        continue
            try:
                st = os.stat(full)
            except OSError:
                continue
            if st.st_nlink > 1 and stat.S_ISREG(st.st_mode):
                if inodes is None:
                    inodes = self._peer_inodes(peers)
                rel = inodes.get((st.st_dev, st.st_ino))
                if rel is not None:
                    found += [
                        (rel, f"{path} is a hard link to {rel}: {_holder_line(le, now)}")
                        for le in self.coord.conflicts(rel, agent=me)
                    ]
        return found

    def _out_of_scope(self, me: str, paths: list[str]) -> list[tuple[str, str]]:
        """``(path, why)`` for each of ``paths`` outside the files of the tasks ``me`` holds
        (claimed or in progress; ``--watch-action scope=deny``). No task, or a task without
        files: no scope. Paths are taken by their real path (a symlink out of scope is out)."""
        from codeswarm.coordination.paths import outside

        held = self.coord.tasks(status=["claimed", "in_progress"], assignee=me)
        files = [f for t in held for f in t.files]
        if not files:
            return []
        real = [os.path.realpath(os.path.join(self.ctx.cwd, p)) for p in paths]
        tasks = ", ".join(f"#{t.id}" for t in held if t.files)
        scope = ", ".join(files[:8]) + (" …" if len(files) > 8 else "")
        return [
            (path, f"{path} is outside the files of your task {tasks} ({scope})")
            for path, full in zip(paths, real, strict=True)
            if outside([full], files, self.root, self.ctx.cwd)
        ]

    def _peer_inodes(self, peers: list[tuple[str, str, str]]) -> dict[tuple[int, int], str]:
        from codeswarm.hooks.leased import covered, inode_index, specs_of

        return inode_index(self.root, covered(self.root, specs_of(peers)))

    def _own_paths(self, paths: list[str]) -> list[str] | None:
        """``paths`` relative to the root by their real path; ``None`` (any path) when one is
        outside the root or a hard link: it may stand for any file."""
        out = []
        for path in paths:
            full = os.path.join(self.ctx.cwd, path)
            real = os.path.realpath(full)
            if not self._inside(real):
                return None
            try:
                if os.stat(full).st_nlink > 1:
                    return None
            except OSError:
                pass
            out.append(os.path.relpath(real, self.root))
        return out

    def _auto_lease(self, me: str, paths: list[str]) -> tuple[list[tuple[str, str]], bool]:
        """Lease the files a first edit creates or changes (by their real path). Returns why
        that was refused (``(leased path, why)``), and whether a lease was taken."""
        from codeswarm.core.errors import CoordInputError, LeaseConflictError

        reasons: list[tuple[str, str]] = []
        took = False
        for path in paths:
            real = os.path.realpath(os.path.join(self.ctx.cwd, path))
            if not self._inside(real):
                continue
            try:
                self.coord.lease(me, real, note="auto: first edit")
                took = True
            except LeaseConflictError as exc:
                reasons.append((exc.held, str(exc)))
            except CoordInputError:
                continue
        return reasons, took

    def _deny(
        self, me: str, tool: str, found: list[tuple[str, str]], kind: str = "lease.denied"
    ) -> Output:
        """Refuse the call, naming the holders; the audit log records the attempt (this agent
        is the actor, the first leased path the subject)."""
        reasons = [why for _, why in found]
        data = {"tool": tool, "tool_use_id": self.ctx.payload.get("tool_use_id"),
                "paths": list(dict.fromkeys(p for p, _ in found)), "reasons": reasons}  # fmt: skip
        self._report(me, kind, found[0][0], data)
        if kind == "scope.denied":
            advice = (
                ". Keep to your task's files, or ask the orchestrator (or whoever gave you the "
                "task) to widen its scope."
            )
        else:
            advice = (
                ". Work on another file, or ask the holder to release it (codeswarm MCP tool "
                "`send`), then try again."
            )
        reason = "codeswarm: " + "; ".join(reasons) + advice
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }

    def _report(self, me: str, kind: str, subject: str, data: dict[str, object]) -> None:
        """An audit row with this agent as the actor (the write is its heartbeat too)."""
        from codeswarm.core.errors import CoordError

        try:
            self.coord.report(me, kind, subject, data)
        except CoordError:  # not registered (any more): register, then record it
            self.coord.report(self.me(), kind, subject, data)

    # -- before and after: the content of leased files ------------------------------------------
    def _key(self) -> str:
        from codeswarm.hooks.leased import call_key

        return call_key(self.ctx.session_id, str(self.ctx.payload.get("tool_use_id") or ""))

    def _before(self, me: str, peers: list[Any], holds: bool, may_write: list[str] | None) -> None:
        """Keep the content of every file a peer leases (for this call's PostToolUse), and, when
        this agent holds files, say that it is at work (so a peer never undoes its writes)."""
        if not peers and not holds:
            return
        from codeswarm.hooks import scratch

        where = scratch.ensure(self.ctx.env)
        now = time.time()
        key = self._key()
        if holds:
            from codeswarm.hooks import busy

            busy.start(where, me, key, may_write, now)
        if peers:
            from codeswarm.hooks.leased import Snapshot, save, specs_of

            specs = specs_of(peers)
            call = str(self.ctx.payload.get("tool_use_id") or "")
            tool = str(self.ctx.payload.get("tool_name") or "")
            snap = Snapshot.take(now, self.root, specs, os.path.join(where, "blobs"), tool, call)
            save(where, key, snap)

    def post_tool_use(self) -> Output:
        from codeswarm.hooks import GUARDED_TOOLS, busy, scratch
        from codeswarm.hooks.leased import collect, load

        tool = str(self.ctx.payload.get("tool_name") or "")
        if tool not in GUARDED_TOOLS:
            return None
        where = scratch.ensure(self.ctx.env)
        now = time.time()
        key = self._key()
        busy.end(where, self.ctx.name, key, now)
        collect(where, now)
        self._sightings(tool)
        snap = load(where, key)
        if snap is None:
            return None
        changes = snap.changes()
        if not changes:
            return None
        return self._undo(where, snap, changes, now)

    def _sightings(self, tool: str) -> None:
        """Audit what the call's output and command show of the agent's reach: a refusal by the
        sandbox, codeswarm's own state named (see codeswarm.hooks.probes)."""
        from codeswarm.hooks.probes import sightings

        payload = self.ctx.payload
        seen = sightings(payload.get("tool_input"), payload.get("tool_response"), self.ctx.env)
        if seen is None:
            return
        kind, subject, data = seen
        data = {"tool": tool, "tool_use_id": payload.get("tool_use_id"), **data}
        self._report(self.ctx.name, kind, subject, data)

    def _undo(self, where: str, snap: Any, changes: list[Any], now: float) -> Output:
        """Put back each changed file a peer still leases, unless its holder was at work on it
        meanwhile; tell the model and the audit log either way."""
        from codeswarm.hooks import busy
        from codeswarm.hooks.leased import restore, signature

        me = self.me()
        mine = me + "#"
        held = {
            (le.path, le.kind): le for le in self.coord.leases() if not le.holder.startswith(mine)
        }
        blobs = os.path.join(where, "blobs")
        undone, kept = [], []
        for rel, before, mode, spec in changes:
            lease = held.get((spec.path, spec.kind))
            if lease is None:
                continue  # released meanwhile (or now ours): nobody's to guard
            holder = agent_name(lease.holder)
            after, _ = signature(os.path.join(snap.root, rel), blobs)  # keep what we displace
            if busy.overlapped(where, holder, rel, snap.t0, now):
                why: str | None = f"its holder {lease.holder} was working at the same time"
            else:
                why = restore(snap.root, rel, before, mode, blobs)
            data = {"holder": lease.holder, "path": lease.path, "tool": snap.tool,
                    "tool_use_id": snap.call, "before": before, "after": after,
                    "restored": why is None}  # fmt: skip
            if why is not None:
                data["why"] = why
            self.coord.report(me, "lease.violated", rel, data)
            if why is None:
                self.coord.report(me, "lease.restored", rel, data)
                undone.append(f"{rel} ({_holder_line(lease, now)})")
            else:
                kept.append(f"{rel} ({_holder_line(lease, now)}; not undone: {why})")
        if not undone and not kept:
            return None
        parts = []
        if undone:
            parts.append(
                "codeswarm: that command changed files a peer holds: "
                + "; ".join(undone)
                + ". They were put back as their holder had them: your change to them is undone."
            )
        if kept:
            parts.append(
                "codeswarm: files a peer holds changed during that command: " + "; ".join(kept)
            )
        parts.append(
            "Do not write files a peer holds; ask the holder (codeswarm MCP tool `send`) or work "
            "on another file."
        )
        return {"decision": "block", "reason": " ".join(parts)}

    def heartbeat(self) -> Output:
        self.me()
        return None

    def stop(self) -> Output:
        """The turn is over, and so is every tool call of it: a call that had no PostToolUse
        (Codex runs a shell ``apply_patch`` heredoc without one) is checked now."""
        from codeswarm.hooks import busy, scratch
        from codeswarm.hooks.leased import leftovers, load

        self.me()
        where = scratch.ensure(self.ctx.env)
        now = time.time()
        busy.end_all(where, self.ctx.name, now)
        told = []
        for key in leftovers(where, self.ctx.session_id):
            snap = load(where, key)
            changes = snap.changes() if snap is not None else []
            out = self._undo(where, snap, changes, now) if changes else None
            if out is not None:
                told.append(str(out["reason"]))
        if not told or self.ctx.payload.get("stop_hook_active"):
            return None  # (a turn that is already a continuation is not continued again)
        return {"decision": "block", "reason": " ".join(told)}

    def session_end(self) -> Output:
        if not self.ctx.fleet:
            import contextlib

            from codeswarm.core.errors import CoordError

            with contextlib.suppress(CoordError):  # already gone (expired, superseded)
                self.coord.deregister(self.ctx.name)
        return None


_PEERS: tuple[list[tuple[str, str, str]], str, list[tuple[str, str, str]]] | None = None


def _peers(leases: list[tuple[str, str, str]], mine: str) -> list[tuple[str, str, str]]:
    """The leases not held by ``mine`` (``name#``); the list made last time when ``leases`` is
    the very same list (the decision service keeps it while the store does): the same list
    again, so what is derived from it is kept too (:func:`codeswarm.hooks.leased.specs_of`)."""
    global _PEERS
    kept = _PEERS  # (one read: several services' threads may share this module)
    if kept is not None and kept[0] is leases and kept[1] == mine:
        return kept[2]
    peers = [le for le in leases if not le[2].startswith(mine)]
    _PEERS = (leases, mine, peers)
    return peers


_BY_KIND: tuple[object, set[str], list[tuple[str, str, str]]] | None = None


def _by_kind(peers: list[tuple[str, str, str]]) -> tuple[set[str], list[tuple[str, str, str]]]:
    """The paths of ``peers``' file leases, and their other leases; kept for the very same
    list (see :func:`_peers`). Not to be changed."""
    global _BY_KIND
    kept = _BY_KIND
    if kept is not None and kept[0] is peers:
        return kept[1], kept[2]
    files = {le[0] for le in peers if le[1] == "file"}
    wider = [le for le in peers if le[1] != "file"]
    _BY_KIND = (peers, files, wider)
    return files, wider


def _overlaps(spec: Any, lease: tuple[str, str, str], from_canonical: Any) -> bool:
    """Whether ``spec`` overlaps a lease ``(path, kind, holder)``."""
    if spec.kind == "file" and lease[1] == "file":  # the common case, without building specs
        return bool(spec.path == lease[0])
    return bool(spec.overlaps(from_canonical(lease[0], lease[1])))


def scope_root(ctx: HookContext) -> str:
    root = ctx.env.get("CODESWARM_SCOPE")
    if root:
        return os.path.abspath(root)
    from pathlib import Path

    from codeswarm.core.paths import project_root

    return str(project_root(Path(ctx.cwd)))


def lease_root(ctx: HookContext) -> str:
    """What paths are relative to: the agent's worktree (``CODESWARM_WORKTREE``; the scope stays
    the project's, so ``src/a.py`` in two worktrees is one lease), else the scope root."""
    if ctx.worktree:
        return os.path.abspath(ctx.worktree)
    return scope_root(ctx)
