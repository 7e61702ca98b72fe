"""One hook call's decision: the event's bytes in, what to print on stdout and stderr out.

The hook process runs it itself (``python -m codeswarm.hooks``, when it has no decision service
to ask), and a fleet agent's decision service (:mod:`codeswarm.hooks.service`) runs it for the
hooks that ask it: the same code, so the same decisions. With the coordinator unreachable it
fails open (the call goes ahead, a warning is shown) unless ``CODESWARM_HOOKS_FAIL=closed``.
Imports as little as it can: it runs on every tool call.
"""

from __future__ import annotations

import json  # not orjson: loading its extension costs ~20 ms, more than this whole hook

from codeswarm.hooks import GUARDED_TOOLS

TYPE_CHECKING = False  # `typing` is not imported at run time: this runs on every tool call
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from codeswarm.coordination import Coord

    Opener = Callable[[str, "str | None"], Coord]
    """``(root, scope) -> Coord``: a store opened (or kept open) for the call."""

EVENTS = {
    "session-start": "session_start",
    "pre-tool-use": "pre_tool_use",
    "post-tool-use": "post_tool_use",
    "stop": "stop",
    "user-prompt-submit": "heartbeat",
    "session-end": "session_end",
}
CLIENTS = ("codex", "claude")


def _unreachable(event: str, fail_closed: bool, why: str) -> tuple[dict[str, Any] | None, str]:
    return _failed(
        event,
        fail_closed,
        f"codeswarm: coordinator unreachable ({why}); leases are not being checked",
    )


def _failed(event: str, fail_closed: bool, message: str) -> tuple[dict[str, Any] | None, str]:
    """What a call that could not decide answers: a deny of a PreToolUse under
    ``CODESWARM_HOOKS_FAIL=closed``, else the call goes ahead with a warning."""
    if fail_closed and event == "pre-tool-use":
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": message + " (CODESWARM_HOOKS_FAIL=closed)",
            }
        }, ""
    shown = (
        {"systemMessage": message}
        if event in ("pre-tool-use", "post-tool-use", "session-start")
        else None
    )
    return shown, message + "\n"


def decide(
    client: str,
    event: str,
    data: bytes,
    env: Mapping[str, str],
    *,
    cwd: str | None = None,
    parent_pid: int | None = None,
    opener: Opener | None = None,
    raise_unreachable: bool = False,
) -> tuple[bytes, str]:
    """The answer to one hook call: ``(stdout bytes, stderr text)``. ``data`` is the event's
    JSON as Codex (or Claude Code) wrote it, ``env`` the hook's environment, ``cwd`` its working
    directory (default: this process's), ``parent_pid`` the pid of the process that ran the hook
    (default: this process's parent). ``opener`` opens the store (default: opened for this call
    and closed after it). Raises only on a bug, or StoreUnavailableError with
    ``raise_unreachable`` (the caller then lets the hook try by itself); ``client`` and
    ``event`` must be valid."""
    try:
        payload = json.loads(data or b"{}")
    except ValueError as exc:
        return b"", f"codeswarm hook: the event is not JSON: {exc}\n"  # never block on it
    if not isinstance(payload, dict):
        return b"", ""
    if event in ("pre-tool-use", "post-tool-use") and payload.get("tool_name") not in GUARDED_TOOLS:
        return b"", ""  # a read, a search, an MCP call: nothing to check, and nothing to open
    from codeswarm.hooks.context import HookContext

    ctx = HookContext(client, payload, env, cwd=cwd)
    if ctx.pid is None and parent_pid is not None:
        ctx.pid = parent_pid  # who registers, when the hook has to (re-)register its agent
    from codeswarm.core.errors import CodeswarmError, StoreUnavailableError

    err = ""
    try:
        from codeswarm.hooks.handlers import Hooks, lease_root, scope_root

        root = lease_root(ctx)  # a worktree's own root; the key stays the project's scope
        scope = scope_root(ctx) if ctx.worktree else None
        if opener is None:
            from codeswarm.coordination import Coord

            url = env.get("CODESWARM_DB") or None
            hooks = Hooks(ctx, lambda: Coord.open(url, root=root, scope=scope), root)
            try:
                out = getattr(hooks, EVENTS[event])()
            finally:
                hooks.close()
        else:
            out = getattr(Hooks(ctx, lambda: opener(root, scope), root), EVENTS[event])()
    except StoreUnavailableError as exc:
        if raise_unreachable:
            raise
        out, err = _unreachable(event, ctx.fail_closed, str(exc))
    except CodeswarmError as exc:
        # our own trouble must not stop the agent's work (unless asked): say so, let it go ahead
        out, err = _failed(event, ctx.fail_closed, f"codeswarm hook {event}: {exc}")
    return (b"" if out is None else json.dumps(out).encode()), err
