"""Answering Codex's server→client requests: approval policies.

Codex asks before running a command, applying a patch, granting extra permissions or calling an
MCP tool (depending on its approval policy). Every such request reaches an :class:`ApprovalPolicy`
as an :class:`ApprovalRequest`; the policy returns a :class:`Decision`, which :func:`wire_reply`
turns into the reply shape that method expects. Requests that are not approvals (user-input forms,
dynamic tool calls, auth refreshes) are answered with a JSON-RPC error by the client: never silence.

Policies: :class:`AcceptWithinWorkspace`, :class:`DeclineAll`, :class:`AcceptAll`,
:class:`CallbackPolicy` (any async function) and :class:`QueuePolicy` (hand each request to a
person, or to another process, through an ``asyncio.Queue``).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

ApprovalKind = Literal[
    "command", "file_change", "permissions", "mcp_tool_call", "mcp_elicitation", "legacy_exec",
    "legacy_patch",
]  # fmt: skip

APPROVAL_METHODS: dict[str, ApprovalKind] = {
    "item/commandExecution/requestApproval": "command",
    "item/fileChange/requestApproval": "file_change",
    "item/permissions/requestApproval": "permissions",
    "mcpServer/elicitation/request": "mcp_elicitation",  # refined to mcp_tool_call below
    "execCommandApproval": "legacy_exec",
    "applyPatchApproval": "legacy_patch",
}


class Decision(enum.Enum):
    ACCEPT = "accept"
    ACCEPT_FOR_SESSION = "acceptForSession"
    DECLINE = "decline"
    CANCEL = "cancel"  # decline and stop the turn


@dataclass(frozen=True)
class ApprovalRequest:
    """One server→client approval request, with the details a policy or a person needs."""

    request_id: int | str
    method: str
    kind: ApprovalKind
    params: dict[str, Any]
    thread_id: str | None = None
    turn_id: str | None = None
    item_id: str | None = None
    command: str | None = None
    cwd: str | None = None
    reason: str | None = None
    paths: tuple[str, ...] = ()
    """For a file change: every path it touches (rename destinations included)."""
    tool: str | None = None
    """For an MCP tool call: ``server/tool`` when known."""

    def summary(self) -> str:
        """One line for a person."""
        what = {
            "command": f"run {self.command!r}" + (f" in {self.cwd}" if self.cwd else ""),
            "legacy_exec": f"run {self.command!r}",
            "file_change": "change " + (", ".join(self.paths) or "files"),
            "legacy_patch": "change " + (", ".join(self.paths) or "files"),
            "permissions": "grant extra permissions",
            "mcp_tool_call": f"call MCP tool {self.tool or '?'}",
            "mcp_elicitation": f"answer a form from MCP server {self.tool or '?'}",
        }[self.kind]
        return what + (f" ({self.reason})" if self.reason else "")


class ApprovalPolicy(Protocol):
    async def decide(self, request: ApprovalRequest) -> Decision: ...


def _within(path: str, root: Path, cwd: str | None) -> bool:
    p = Path(path)
    if not p.is_absolute():
        p = Path(cwd or root) / p
    try:
        p.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


@dataclass
class AcceptWithinWorkspace:
    """Accept commands that run inside ``root`` and file changes that stay inside it; accept MCP
    tool calls; decline extra permissions, MCP forms, and anything pointing outside ``root``."""

    root: Path

    async def decide(self, request: ApprovalRequest) -> Decision:
        if request.kind in ("command", "legacy_exec"):
            cwd = request.cwd or str(self.root)
            return Decision.ACCEPT if _within(cwd, self.root, None) else Decision.DECLINE
        if request.kind in ("file_change", "legacy_patch"):
            grant_root = request.params.get("grantRoot")
            if isinstance(grant_root, str) and not _within(grant_root, self.root, None):
                return Decision.DECLINE
            ok = all(_within(p, self.root, request.cwd) for p in request.paths)
            return Decision.ACCEPT if ok else Decision.DECLINE
        if request.kind == "mcp_tool_call":
            return Decision.ACCEPT
        return Decision.DECLINE


class DeclineAll:
    async def decide(self, request: ApprovalRequest) -> Decision:
        return Decision.DECLINE


class AcceptAll:
    async def decide(self, request: ApprovalRequest) -> Decision:
        return Decision.ACCEPT


@dataclass
class CallbackPolicy:
    """Ask an async function."""

    callback: Callable[[ApprovalRequest], Awaitable[Decision]]

    async def decide(self, request: ApprovalRequest) -> Decision:
        return await self.callback(request)


@dataclass
class PendingApproval:
    """An approval waiting for someone: call :meth:`resolve` exactly once."""

    request: ApprovalRequest
    _future: asyncio.Future[Decision] = field(repr=False)

    @property
    def resolved(self) -> bool:
        return self._future.done()

    def resolve(self, decision: Decision) -> None:
        if not self._future.done():
            self._future.set_result(decision)


@dataclass
class QueuePolicy:
    """Put each request on ``queue`` as a :class:`PendingApproval` and wait for its decision.

    ``timeout`` (seconds) bounds the wait; on expiry the request is answered with ``on_timeout``.
    """

    queue: asyncio.Queue[PendingApproval] = field(default_factory=asyncio.Queue)
    timeout: float | None = None
    on_timeout: Decision = Decision.DECLINE

    async def decide(self, request: ApprovalRequest) -> Decision:
        fut: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        await self.queue.put(PendingApproval(request, fut))
        try:
            return await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            return self.on_timeout


def _changes_paths(item: dict[str, Any] | None) -> tuple[str, ...]:
    if not item:
        return ()
    out: list[str] = []
    for change in item.get("changes") or ():
        if not isinstance(change, dict):
            continue
        if isinstance(change.get("path"), str):
            out.append(change["path"])
        kind = change.get("kind")
        if isinstance(kind, dict) and isinstance(kind.get("move_path"), str):
            out.append(kind["move_path"])
    return tuple(out)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def build_request(msg: dict[str, Any], items: dict[str, dict[str, Any]]) -> ApprovalRequest | None:
    """An :class:`ApprovalRequest` for a server request, or ``None`` if it is not an approval.

    ``items`` maps item ids to the latest ``item/started`` payloads (for a file change's paths).
    """
    method = msg.get("method")
    if not isinstance(method, str) or method not in APPROVAL_METHODS:
        return None
    raw = msg.get("params")
    params: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = APPROVAL_METHODS[method]
    tool = None
    if kind == "mcp_elicitation":
        meta = params.get("_meta")
        tool = _str(params.get("serverName"))
        if isinstance(meta, dict) and meta.get("codex_approval_kind") == "mcp_tool_call":
            kind = "mcp_tool_call"
            name = _str(meta.get("tool_name")) or _str(meta.get("tool"))
            if name:
                tool = f"{tool}/{name}" if tool else name
    item_id = _str(params.get("itemId")) or _str(params.get("callId"))
    command = params.get("command")
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    paths: tuple[str, ...] = ()
    if kind == "file_change":
        paths = _changes_paths(items.get(item_id or ""))
    elif kind == "legacy_patch":
        changes = params.get("fileChanges")
        if isinstance(changes, dict):
            paths = tuple(str(p) for p in changes)
    return ApprovalRequest(
        request_id=msg["id"],
        method=method,
        kind=kind,
        params=params,
        thread_id=_str(params.get("threadId")) or _str(params.get("conversationId")),
        turn_id=_str(params.get("turnId")),
        item_id=item_id,
        command=_str(command),
        cwd=_str(params.get("cwd")),
        reason=_str(params.get("reason")) or _str(params.get("message")),
        paths=paths,
        tool=tool,
    )


def wire_reply(request: ApprovalRequest, decision: Decision) -> dict[str, Any]:
    """The JSON-RPC ``result`` for ``decision``, in the shape ``request.method`` expects."""
    accept = decision in (Decision.ACCEPT, Decision.ACCEPT_FOR_SESSION)
    if request.kind in ("command", "file_change"):
        return {"decision": decision.value}
    if request.kind in ("mcp_tool_call", "mcp_elicitation"):
        if accept:
            meta = {"persist": "session"} if decision is Decision.ACCEPT_FOR_SESSION else None
            return {"action": "accept", "content": {}, "_meta": meta}
        action = "cancel" if decision is Decision.CANCEL else "decline"
        return {"action": action, "content": None, "_meta": None}
    if request.kind == "permissions":
        scope = "session" if decision is Decision.ACCEPT_FOR_SESSION else "turn"
        asked = request.params.get("permissions")
        granted = (
            {k: v for k, v in asked.items() if v is not None}
            if accept and isinstance(asked, dict)
            else {}
        )
        return {"permissions": granted, "scope": scope}
    # legacy execCommandApproval / applyPatchApproval
    legacy: Any = {
        Decision.ACCEPT: "approved",
        Decision.ACCEPT_FOR_SESSION: "approved_for_session",
        Decision.DECLINE: {"denied": {"rejection": "declined by the codeswarm approval policy"}},
        Decision.CANCEL: "abort",
    }[decision]
    return {"decision": legacy}
