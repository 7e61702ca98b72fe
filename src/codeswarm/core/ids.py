"""Agent ids and ranks (``<swarm>_<rank>``): stdlib-free, for the hot commands
(:mod:`codeswarm.core.swarm` re-exports them)."""

from __future__ import annotations


def agent_id(swarm: str, rank: int) -> str:
    return f"{swarm}_{rank}"


def agent_rank(agent: str) -> int | None:
    head, sep, tail = agent.rpartition("_")
    return int(tail) if sep and head and tail.isdigit() else None
