"""Defaults that more than one part of codeswarm states: written here once (no imports at run
time: the configuration, the swarm spec and hot CLI paths read them)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

MODEL: Final = "gpt-5.5"
"""The model a Codex session (``exec``, an agent of a swarm) uses unless told otherwise."""
APPROVAL_POLICY: Final = "on-request"
"""Codex's approval policy unless told otherwise."""
SANDBOX: Final = "workspace-write"
"""Codex's sandbox unless told otherwise."""
RETRY_DEADLINE: Final = 60.0
"""Seconds a turn may do nothing but retry an unreachable model before it is given up."""
ROLE: Final = "implementer"
"""The role of a fleet agent when the swarm names none (``up --roles``)."""

APPROVAL_POLICIES: Final = ("untrusted", "on-request", "never")
"""Codex's approval policies (``core.config.ApprovalPolicy`` spells the same as a type)."""
SANDBOXES: Final = ("read-only", "workspace-write", "danger-full-access")
"""Codex's sandboxes (``core.config.Sandbox`` spells the same as a type)."""
