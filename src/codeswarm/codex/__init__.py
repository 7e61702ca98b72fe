"""Driving the real Codex CLI: the app-server client, approvals, the toolchain."""

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
from codeswarm.codex.client import AppServer, Thread, config_flags
from codeswarm.codex.subscription import Message, Subscription
from codeswarm.codex.toolchain import CodexBinary, install, locate
from codeswarm.codex.turn import TurnHandle, TurnResult

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
    "locate",
]
