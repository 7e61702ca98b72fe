"""``/api/swarms/{swarm}/run``: the swarm's budgets, what each agent spent, the orchestrator of
a ``codeswarm run``, and that run's summary once it wrote one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codeswarm.api.routes.common import off_loop, swarm_of
from codeswarm.core.swarm import RunDir


def run_view(run: RunDir) -> dict[str, Any]:
    from codeswarm.control.run.prompt import ORCHESTRATOR_ROLE
    from codeswarm.control.run.summary import SUMMARY_FILE
    from codeswarm.control.status import fleet_status
    from codeswarm.core.atomic import read_json

    spec = run.load_spec()
    status = fleet_status(run)
    usage = {
        a["id"]: {
            "input_tokens": a["tokens"]["input"],
            "cached_input_tokens": a["tokens"]["cached_input"],
            "output_tokens": a["tokens"]["output"],
            "total": a["tokens"]["total"],
        }
        for a in status["agents"]
    }
    orchestrator = next(
        (a["id"] for a in status["agents"] if a.get("role") == ORCHESTRATOR_ROLE), None
    )
    try:
        summary = read_json(run.root / SUMMARY_FILE)
    except (OSError, ValueError):
        summary = None
    return {
        "budget": spec.budget_tokens,
        "agent_budget": spec.agent_budget_tokens,
        "budget_warn": spec.budget_warn,
        "usage": usage,
        "reached": {a["id"]: a["budget"] for a in status["agents"] if a.get("budget")},
        "total": status["tokens"]["total"],
        "orchestrator": orchestrator,
        "summary": summary,
    }


async def run_budgets(request: Request) -> JSONResponse:
    run, _ = swarm_of(request)
    return JSONResponse(await off_loop(run_view, run))


ROUTES = [Route("/api/swarms/{swarm}/run", run_budgets, methods=["GET"])]
