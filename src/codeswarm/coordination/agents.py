"""Agents: register, heartbeat, deregister, list. Expiry and fencing live in :mod:`._base`."""

from __future__ import annotations

import os

from codeswarm.coordination import rows
from codeswarm.coordination._base import SUPERSEDED, CoordBase
from codeswarm.coordination.bounds import LEASE_S, PID
from codeswarm.coordination.models import ACTIVE, DEREGISTERED, Agent, check_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.coordination._base import AgentLike

DEFAULT_LEASE_S = 120.0
"""Seconds an agent stays alive without a heartbeat (any write counts as one)."""


class AgentOps(CoordBase):
    def register(
        self,
        name: str,
        *,
        role: str = "",
        label: str = "",
        pid: int | None = None,
        host: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> Agent:
        """Register ``name`` in this scope and return its record; act as ``agent.id``.

        Registering a name again starts a new generation: the previous one is fenced (its
        writes are refused from now on), its leases are released and its tasks reopened; its
        unread messages wait for the new generation.
        """
        check_name(name)
        self._text("role", role, self.limits.title)
        self._text("label", label, self.limits.title)
        lease = LEASE_S.check("lease_s", lease_s)
        if pid is not None:
            PID.check("pid", pid)
        host = host if host is not None else os.uname().nodename
        with self.store.write() as tx:
            now = self.clock.now()
            self._begin(tx, now)
            prev = tx.one(
                "SELECT generation, status FROM agents WHERE scope = ? AND name = ?",
                (self.scope, name),
            )
            values = (role, label, pid, host, lease, now, now, now + lease)
            if prev is None:
                gen = 1
                tx.execute(
                    "INSERT INTO agents (scope, name, generation, status, role, label, pid, "
                    "host, lease_s, registered_at, heartbeat_at, expires_at, ended_at) "
                    "VALUES (?, ?, 1, 'active', ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (self.scope, name, *values),
                )
            else:
                old = int(prev[0])
                if prev[1] == ACTIVE:
                    self._reclaim(tx, now, self.scope, name, old, SUPERSEDED)
                gen = old + 1
                tx.execute(
                    "UPDATE agents SET generation = ?, status = 'active', role = ?, label = ?, "
                    "pid = ?, host = ?, lease_s = ?, registered_at = ?, heartbeat_at = ?, "
                    "expires_at = ?, ended_at = NULL WHERE scope = ? AND name = ?",
                    (gen, *values, self.scope, name),
                )
            data = {"role": role, "label": label, "pid": pid, "host": host, "lease_s": lease}
            self._event(tx, now, "agent.registered", name, data, agent=(name, gen))
            self._hand_out(tx, now, name)  # an unassigned delegated task, if one waits
            row = tx.one(
                f"SELECT {rows.AGENT_COLS} FROM agents WHERE scope = ? AND name = ?",
                (self.scope, name),
            )
        assert row is not None
        return rows.agent(row)

    def heartbeat(self, agent: AgentLike) -> Agent:
        """Keep ``agent`` alive for another ``lease_s`` seconds; returns its record.

        Raises FencedError when it is superseded, expired or deregistered.
        """
        with self.store.write() as tx:
            now = self.clock.now()
            (name, _), _ = self._begin_as(tx, now, agent)
            row = tx.one(
                f"SELECT {rows.AGENT_COLS} FROM agents WHERE scope = ? AND name = ?",
                (self.scope, name),
            )
        assert row is not None
        return rows.agent(row)

    def deregister(self, agent: AgentLike) -> None:
        """End ``agent``: its leases are released and its tasks reopened; its unread messages
        stay for the next agent registered under the same name."""
        with self.store.write() as tx:
            now = self.clock.now()
            (name, gen), _ = self._begin_as(tx, now, agent)
            self._reclaim(tx, now, self.scope, name, gen, DEREGISTERED)

    def agent(self, agent: AgentLike) -> Agent:
        """The current record of an agent (by id or name). Raises NotFoundError or
        FencedError (a superseded generation)."""
        with self.store.read() as tx:
            now = self.clock.now()
            found = self._agent_row(tx, agent, now)
        return _effective(found, now)

    def agents(self, *, all: bool = False) -> list[Agent]:
        """The live agents of this scope (with ``all``: the expired and deregistered too),
        by name. An agent past its lease shows as expired even before it is reclaimed."""
        with self.store.read() as tx:
            now = self.clock.now()
            found = [
                _effective(rows.agent(r), now)
                for r in tx.query(
                    f"SELECT {rows.AGENT_COLS} FROM agents WHERE scope = ? ORDER BY name",
                    (self.scope,),
                )
            ]
        return found if all else [a for a in found if a.status == ACTIVE]


def _effective(agent: Agent, now: float) -> Agent:
    if agent.status == ACTIVE and agent.expires_at <= now:
        agent.status = "expired"
    return agent
