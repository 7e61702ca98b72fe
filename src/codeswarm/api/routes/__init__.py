"""The REST routes (docs/api.md), one module per concept: ``swarms`` (list, up, status, down),
``agents`` (agents, send, interrupt, approvals), ``coord`` (leases, tasks, messages), ``run``
(budgets and usage). :func:`rest_routes` lists them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.routing import BaseRoute


def rest_routes() -> list[BaseRoute]:
    from codeswarm.api.routes import agents, coord, run, swarms

    return [*swarms.ROUTES, *agents.ROUTES, *coord.ROUTES, *run.ROUTES]
