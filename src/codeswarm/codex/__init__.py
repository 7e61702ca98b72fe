"""Driving the real Codex CLI: the app-server client, approvals, the toolchain.

Names load on first use (PEP 562): ``codeswarm.codex.launch`` and ``.toolchain`` stay cheap to
import (stdlib only) for paths that start Codex before anything else has loaded.
"""

from __future__ import annotations

from codeswarm.core.lazy import lazy_names

TYPE_CHECKING = False  # not `typing` at run time: hot paths import this package

if TYPE_CHECKING:
    from codeswarm.codex.approval import (
        AcceptAll,
        AcceptWithinWorkspace,
        ApprovalPolicy,
        ApprovalRequest,
        CallbackPolicy,
        Decision,
        DeclineAll,
        PendingApproval,
        QueuePolicy,
    )
    from codeswarm.codex.client import AppServer, Thread
    from codeswarm.codex.launch import launch
    from codeswarm.codex.subscription import Message, Subscription
    from codeswarm.codex.toolchain import CodexBinary, install, locate
    from codeswarm.codex.turn import TurnHandle, TurnResult
    from codeswarm.core.tomlfmt import config_flags

_WHERE = {
    "AcceptAll": "codex.approval",
    "AcceptWithinWorkspace": "codex.approval",
    "ApprovalPolicy": "codex.approval",
    "ApprovalRequest": "codex.approval",
    "CallbackPolicy": "codex.approval",
    "Decision": "codex.approval",
    "DeclineAll": "codex.approval",
    "PendingApproval": "codex.approval",
    "QueuePolicy": "codex.approval",
    "AppServer": "codex.client",
    "Thread": "codex.client",
    "launch": "codex.launch",
    "Message": "codex.subscription",
    "Subscription": "codex.subscription",
    "CodexBinary": "codex.toolchain",
    "install": "codex.toolchain",
    "locate": "codex.toolchain",
    "TurnHandle": "codex.turn",
    "TurnResult": "codex.turn",
    "config_flags": "core.tomlfmt",
}

__all__ = [
    "AcceptAll",
    "AcceptWithinWorkspace",
    "AppServer",
    "ApprovalPolicy",
    "ApprovalRequest",
    "CallbackPolicy",
    "CodexBinary",
    "Decision",
    "DeclineAll",
    "Message",
    "PendingApproval",
    "QueuePolicy",
    "Subscription",
    "Thread",
    "TurnHandle",
    "TurnResult",
    "config_flags",
    "install",
    "launch",
    "locate",
]


__getattr__ = lazy_names(__name__, _WHERE, globals())
