"""``python -m codeswarm.hooks CLIENT EVENT``: one hook call (Codex or Claude Code).

Reads the event's JSON on stdin, prints the answer (if any) as JSON on stdout, exits 0. With the
coordinator unreachable it fails open (the call goes ahead, a warning is shown) unless
``CODESWARM_HOOKS_FAIL=closed``. Imports as little as it can: it runs on every tool call.
"""

from __future__ import annotations

import json  # not orjson: loading its extension costs ~20 ms, more than this whole hook
import os
import sys

from codeswarm.hooks import GUARDED_TOOLS

TYPE_CHECKING = False  # `typing` is not imported at run time: this runs on every tool call
if TYPE_CHECKING:
    from typing import Any

EVENTS = {
    "session-start": "session_start",
    "pre-tool-use": "pre_tool_use",
    "post-tool-use": "post_tool_use",
    "stop": "stop",
    "user-prompt-submit": "heartbeat",
    "session-end": "session_end",
}
CLIENTS = ("codex", "claude")


def _emit(obj: dict[str, Any] | None) -> None:
    if obj is not None:
        sys.stdout.write(json.dumps(obj))
        sys.stdout.flush()


def _unreachable(event: str, fail_closed: bool, why: str) -> dict[str, Any] | None:
    return _failed(
        event,
        fail_closed,
        f"codeswarm: coordinator unreachable ({why}); leases are not being checked",
    )


def _failed(event: str, fail_closed: bool, message: str) -> dict[str, Any] | None:
    if fail_closed and event == "pre-tool-use":
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": message + " (CODESWARM_HOOKS_FAIL=closed)",
            }
        }
    print(message, file=sys.stderr)
    return (
        {"systemMessage": message}
        if event in ("pre-tool-use", "post-tool-use", "session-start")
        else None
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in CLIENTS or args[1] not in EVENTS:
        print(
            f"usage: python -m codeswarm.hooks {{{'|'.join(CLIENTS)}}} {{{'|'.join(EVENTS)}}}",
            file=sys.stderr,
        )
        return 2
    client, event = args
    try:
        payload = json.loads(sys.stdin.buffer.read() or b"{}")
    except ValueError as exc:
        print(f"codeswarm hook: the event is not JSON: {exc}", file=sys.stderr)
        return 0  # never block on our own parsing
    if not isinstance(payload, dict):
        return 0
    if event in ("pre-tool-use", "post-tool-use") and payload.get("tool_name") not in GUARDED_TOOLS:
        return 0  # a read, a search, an MCP call: nothing to check, and nothing to open
    from codeswarm.hooks.context import HookContext

    ctx = HookContext(client, payload, os.environ)
    from codeswarm.core.errors import CodeswarmError, StoreUnavailableError

    try:
        from codeswarm.coordination import Coord
        from codeswarm.hooks.handlers import Hooks, lease_root, scope_root

        root = lease_root(ctx)  # a worktree's own root; the key stays the project's scope
        scope = scope_root(ctx) if ctx.worktree else None
        hooks = Hooks(ctx, lambda: Coord.open(root=root, scope=scope), root)
        try:
            out = getattr(hooks, EVENTS[event])()
        finally:
            hooks.close()
    except StoreUnavailableError as exc:
        out = _unreachable(event, ctx.fail_closed, str(exc))
    except CodeswarmError as exc:
        # our own trouble must not stop the agent's work (unless asked): say so, let it go ahead
        out = _failed(event, ctx.fail_closed, f"codeswarm hook {event}: {exc}")
    _emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
