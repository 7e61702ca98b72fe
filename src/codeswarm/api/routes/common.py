"""What every route needs: the swarm a path names, an agent by id or rank, targets, and a way to
run the (synchronous, file- and database-reading) layers below off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from codeswarm.api.errors import ApiError
from codeswarm.core.errors import UsageError

if TYPE_CHECKING:
    from starlette.requests import Request

    from codeswarm.api.swarms import SwarmIndex
    from codeswarm.core.swarm import RunDir, SwarmSpec

T = TypeVar("T")


def index_of(request: Request) -> SwarmIndex:
    index: SwarmIndex = request.app.state.index
    return index


def swarm_of(request: Request) -> tuple[RunDir, SwarmSpec]:
    """The run and spec of the swarm in the path (404 ``unknown_swarm``)."""
    return index_of(request).get(request.path_params["swarm"])


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker thread: replays and store reads block."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def targets(spec: SwarmSpec, to: str | list[str]) -> list[str]:
    """Agent ids for ``to``: ``"all"``, an id or a rank, a comma list, or a list of those. An
    empty target is 400 ``bad_request``; an agent the swarm does not have, 404
    ``unknown_agent``."""
    from codeswarm.control.steering import resolve_targets

    parts = to.split(",") if isinstance(to, str) else list(to)
    if not parts or any(not p.strip() or "," in p for p in parts):
        raise ApiError(400, "bad_request", f"bad target {to!r}: 'all', ids, ranks, or a list")
    if any(p.strip() == "all" for p in parts):
        if len(parts) > 1:
            raise ApiError(400, "bad_request", "'all' cannot be listed with other agents")
        return resolve_targets(spec, "all")
    try:
        return resolve_targets(spec, ",".join(p.strip() for p in parts))
    except UsageError as exc:
        raise ApiError(404, "unknown_agent", str(exc)) from None


def agent_of(spec: SwarmSpec, name: str) -> str:
    """One agent by id (``s_1``) or rank (``1``); 404 ``unknown_agent`` otherwise."""
    if not name.strip() or "," in name or name.strip() == "all":
        raise ApiError(404, "unknown_agent", f"no agent {name!r} in swarm {spec.name!r}")
    (one,) = targets(spec, name)
    return one


def query_float(request: Request, name: str, default: float, lo: float, hi: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:
        raise ApiError(400, "bad_request", f"{name} must be a number from {lo:g} to {hi:g}")
    return value


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not lo <= int(raw) <= hi:
        raise ApiError(400, "bad_request", f"{name} must be an integer from {lo} to {hi}")
    return int(raw)


def query_bool(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"{name} must be true or false")
    return raw in ("true", "1")
