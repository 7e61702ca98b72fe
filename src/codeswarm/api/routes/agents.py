"""``/api/swarms/{swarm}/agents``, ``send``, ``interrupt`` and ``approvals``: the agents' status
views, and steering through :mod:`codeswarm.control.steering` (the CLI's ``send``,
``interrupt`` and ``approve`` do the same)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codeswarm.api.body import decode
from codeswarm.api.errors import ApiError
from codeswarm.api.routes.common import agent_of, off_loop, swarm_of, targets
from codeswarm.core.errors import CodeswarmError, UsageError
from codeswarm.core.swarm import RunDir

APPROVAL_FIELDS = ("request_id", "kind", "method", "command", "cwd", "reason", "item_id")


class SendBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    to: str | list[str]
    text: str
    mode: Literal["queue", "steer"] | None = None


class InterruptBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    to: str | list[str]


class ApprovalBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    agent: str
    request_id: int | str
    decision: Literal["accept", "acceptForSession", "decline"]


async def _agents(run: RunDir) -> list[dict[str, Any]]:
    from codeswarm.control.status import fleet_status

    agents: list[dict[str, Any]] = (await off_loop(fleet_status, run))["agents"]
    return agents


async def list_agents(request: Request) -> JSONResponse:
    run, _ = swarm_of(request)
    return JSONResponse({"agents": await _agents(run)})


async def get_agent(request: Request) -> JSONResponse:
    run, spec = swarm_of(request)
    one = agent_of(spec, request.path_params["agent"])
    (view,) = [a for a in await _agents(run) if a["id"] == one]
    return JSONResponse(view)


async def send(request: Request) -> JSONResponse:
    from codeswarm.control import steering

    run, spec = swarm_of(request)
    body = await decode(request, SendBody)
    try:
        steering.message_fields(body.text, body.mode)  # refused before any target is looked at
    except UsageError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    agents = targets(spec, body.to)
    sent = await off_loop(steering.send, run, agents, body.text, mode=body.mode)
    return JSONResponse(
        {"sent": {a: {"id": str(rec["id"])} for a, rec in sent.items()}}, status_code=202
    )


async def interrupt(request: Request) -> JSONResponse:
    from codeswarm.control.status import fleet_views
    from codeswarm.control.steering import History, interrupt_checked

    run, spec = swarm_of(request)
    body = await decode(request, InterruptBody)
    agents = targets(spec, body.to)

    def do() -> tuple[list[str], list[str]]:
        history = History()
        views = fleet_views(run, spec, history)
        return interrupt_checked(run, agents, views, history)

    try:
        chosen, idle = await off_loop(do)
    except CodeswarmError as exc:
        raise ApiError(409, "nothing_to_interrupt", str(exc)) from None
    return JSONResponse({"interrupted": chosen, "skipped": idle}, status_code=202)


def approval_rows(agents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every pending approval request of these status views, oldest agent first."""
    return [
        {"agent": a["id"], **{k: request.get(k) for k in APPROVAL_FIELDS}}
        for a in agents
        for request in a.get("pending_approvals") or ()
    ]


async def list_approvals(request: Request) -> JSONResponse:
    run, _ = swarm_of(request)
    return JSONResponse({"approvals": approval_rows(await _agents(run))})


async def answer_approval(request: Request) -> JSONResponse:
    from codeswarm.control.status import fleet_views
    from codeswarm.control.steering import History, approve, check_approval

    run, spec = swarm_of(request)
    body = await decode(request, ApprovalBody)
    one = agent_of(spec, body.agent)

    def do() -> dict[str, Any]:
        history = History()
        views = fleet_views(run, spec, history)
        try:
            check_approval(one, body.request_id, views.get(one) or {}, history)
        except UsageError as exc:
            raise ApiError(409, "not_pending", str(exc)) from None
        rid = body.request_id
        if isinstance(rid, str) and rid.isascii() and rid.isdigit():
            rid = int(rid)  # as the request carried it: Codex matches ids by type
        return approve(run, one, rid, body.decision)

    record = await off_loop(do)
    return JSONResponse(
        {"agent": one, "request_id": body.request_id, "decision": body.decision,
         "id": str(record["id"])},
        status_code=202,
    )  # fmt: skip


ROUTES = [
    Route("/api/swarms/{swarm}/agents", list_agents, methods=["GET"]),
    Route("/api/swarms/{swarm}/agents/{agent}", get_agent, methods=["GET"]),
    Route("/api/swarms/{swarm}/send", send, methods=["POST"]),
    Route("/api/swarms/{swarm}/interrupt", interrupt, methods=["POST"]),
    Route("/api/swarms/{swarm}/approvals", list_approvals, methods=["GET"]),
    Route("/api/swarms/{swarm}/approvals", answer_approval, methods=["POST"]),
]
