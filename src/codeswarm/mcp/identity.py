"""Who the MCP server acts as, from its environment (Codex gives an MCP server only the
variables it is told to pass: see docs/coordination.md).

- ``CODESWARM_AGENT_ID=name#generation`` (what a codeswarm worker passes): act as exactly that
  generation; once it is fenced (superseded, expired), every write fails, as it must.
- ``CODESWARM_AGENT_ID=name``: the current registration of ``name``, or a new one when there is
  none or it ended (this server then keeps it alive, see :class:`Heartbeat`).
- unset: a personal session. The server names itself as the session's hooks do
  (:func:`codeswarm.hooks.context.session_identity`: ``CODESWARM_AGENT_NAME``, else after the
  Codex or Claude Code process that started it), and adopts the registration the hooks made at
  the session's start, so that the session's hooks and its tools act as one agent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from codeswarm.coordination import DEFAULT_LEASE_S, Coord
from codeswarm.coordination.bounds import LEASE_S
from codeswarm.coordination.models import agent_ref, split_ref
from codeswarm.core.errors import FencedError, NotFoundError
from codeswarm.hooks.context import PERSONAL_LEASE_S, role_of, session_identity


class Identity:
    """Resolves (registering if needed) the agent ref this server acts as; thread-safe."""

    def __init__(self, coord: Coord, env: Mapping[str, str]) -> None:
        self.coord = coord
        fleet = env.get("CODESWARM_AGENT_ID", "").strip()
        self.personal = not fleet
        self.label = ""
        self.pid = os.getppid()
        if fleet:
            self.name, self.pinned = split_ref(fleet)
            self.role = env.get("CODESWARM_AGENT_ROLE", "")
        else:
            session = session_identity(None, env)
            self.name, self.pinned = split_ref(session.name)
            self.label, self.pid = session.label, session.pid or self.pid
            self.role = env.get("CODESWARM_AGENT_ROLE", "") or role_of(env, coord.root, False)
        lease = env.get("CODESWARM_AGENT_LEASE_S", "")
        default = PERSONAL_LEASE_S if self.personal else DEFAULT_LEASE_S
        self.lease_s = LEASE_S.parse("CODESWARM_AGENT_LEASE_S", lease) if lease else default
        self._id: str | None = None if self.pinned is None else agent_ref(self.name, self.pinned)
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        """The agent ref, registering ``name`` first when it has no live registration."""
        with self._lock:
            if self._id is None:
                self._id = self._adopt_or_register()
            return self._id

    @property
    def known(self) -> str | None:
        """The id if already resolved (no registration)."""
        return self._id

    def renew(self) -> str:
        """After a FencedError: the name's current registration when another one is live (a
        personal session's hooks registered it again, at a new session start), else a fresh
        registration; unless the generation was pinned."""
        if self.pinned is not None:
            raise FencedError(f"agent {self._id} was fenced; its writes are refused")
        with self._lock:
            stale = self._id
            self._id = self._adopt_or_register(stale)
            return self._id

    def _adopt_or_register(self, stale: str | None = None) -> str:
        try:
            current = self.coord.agent(self.name)
        except (NotFoundError, FencedError):
            return self._register()
        if current.status != "active" or current.id == stale:
            return self._register()
        return current.id

    def _register(self) -> str:
        return self.coord.register(
            self.name, role=self.role, label=self.label, pid=self.pid, lease_s=self.lease_s
        ).id
