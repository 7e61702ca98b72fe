"""``/api/swarms/{swarm}/leases``, ``tasks`` and ``messages``: the swarm's scope of the
coordination store, read-only. A swarm without coordination (``--no-coord``) has none."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codeswarm.api.errors import ApiError
from codeswarm.api.routes.common import agent_of, off_loop, query_int, swarm_of

if TYPE_CHECKING:
    from codeswarm.coordination import Coord
    from codeswarm.core.swarm import SwarmSpec


def read_store(
    spec: SwarmSpec, fn: Callable[[Coord], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """``fn(coord)`` on the swarm's scope of its store; ``[]`` without one. A store that cannot
    be read is 503 ``coordination_unavailable``."""
    if not spec.coord or not spec.coord_db:
        return []
    from codeswarm.coordination import Coord
    from codeswarm.core.errors import CoordError, CoordInputError
    from codeswarm.core.swarm import swarm_scope

    try:
        with Coord.open(spec.coord_db, root=swarm_scope(spec)) as coord:
            return fn(coord)
    except CoordInputError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    except CoordError as exc:
        raise ApiError(503, "coordination_unavailable", str(exc)) from None


def lease_rows(coord: Coord) -> list[dict[str, Any]]:
    from codeswarm.coordination.models import agent_name

    return [
        {"path": lease.path, "mode": lease.mode, "holder": lease.holder,
         "agent": agent_name(lease.holder), "note": lease.note, "token": lease.token,
         "expires_at": lease.expires_at}
        for lease in coord.leases()
    ]  # fmt: skip


async def leases(request: Request) -> JSONResponse:
    _, spec = swarm_of(request)
    return JSONResponse({"leases": await off_loop(read_store, spec, lease_rows)})


async def tasks(request: Request) -> JSONResponse:
    _, spec = swarm_of(request)

    def rows(coord: Coord) -> list[dict[str, Any]]:
        return [task.to_dict() for task in coord.tasks()]

    return JSONResponse({"tasks": await off_loop(read_store, spec, rows)})


async def messages(request: Request) -> JSONResponse:
    _, spec = swarm_of(request)
    limit = query_int(request, "limit", 100, 1, 1000)
    name = request.query_params.get("agent")
    agent = agent_of(spec, name) if name else None

    def rows(coord: Coord) -> list[dict[str, Any]]:
        return [m.to_dict() for m in coord.messages(agent=agent, limit=limit)]

    return JSONResponse({"messages": await off_loop(read_store, spec, rows)})


ROUTES = [
    Route("/api/swarms/{swarm}/leases", leases, methods=["GET"]),
    Route("/api/swarms/{swarm}/tasks", tasks, methods=["GET"]),
    Route("/api/swarms/{swarm}/messages", messages, methods=["GET"]),
]
