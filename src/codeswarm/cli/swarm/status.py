"""``codeswarm status``: replay the outboxes into fleet state; overlay what is actually running
(the pure part is :mod:`codeswarm.control.status`, which the HTTP API shares; an ordinary
command line is served by :mod:`codeswarm.cli.hot` without this module)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from codeswarm.control.status import _fleet_status, _with_leases, fleet_status, fleet_views

__all__ = ["_fleet_status", "_with_leases", "fleet_status", "fleet_views", "run_status"]


def run_status(swarm: str, *, json_out: bool, project: Path | None = None) -> None:
    from codeswarm.cli.args import find_run

    run = find_run(swarm, project)
    status = fleet_status(run)
    if json_out:
        import orjson

        sys.stdout.write(orjson.dumps(status).decode() + "\n")
        return
    render_status(status)


def render_status(status: dict[str, Any]) -> None:
    """The status as ``codeswarm status`` prints it (a table, approvals waiting, the supervisor)."""
    from rich.console import Console

    from codeswarm.cli.swarm.render import approval_lines, usage_table

    console = Console(highlight=False)
    console.print(usage_table(status, console.width))
    for line in approval_lines(status):
        console.print(line, soft_wrap=True)
    if status.get("slurm"):
        console.print(f"[dim]slurm {status['slurm'].get('describe') or 'job unknown'}[/]")
        return
    sup = "running" if status["supervisor"]["running"] else "not running"
    console.print(f"[dim]supervisor {sup}[/]")
