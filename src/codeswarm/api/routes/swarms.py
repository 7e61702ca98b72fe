"""``/api/swarms``: list, bring up (through ``codeswarm up``, the one place its logic lives),
status, bring down."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codeswarm.api.body import decode
from codeswarm.api.errors import ApiError, one_line
from codeswarm.api.routes.common import index_of, off_loop, query_bool, query_float, swarm_of

UP_GRACE_S = 60.0
"""How much longer than ``up``'s own ``--timeout`` the server waits for it before killing it."""
UP_TIMEOUT_S = 120.0
_RUNNING_UPS: set[asyncio.Future[tuple[bytes, bytes]]] = set()
"""``up`` processes still being read (a reference keeps their task alive)."""


class UpBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /api/swarms``: the flags of ``codeswarm up`` (``up --help``), by their long names."""

    name: str
    agents: int
    cwd: str | None = None
    model_provider: str | None = None
    script: str | None = None
    model: str | None = None
    roles: str | list[str] | None = None
    approval_policy: str | None = None
    sandbox: str | None = None
    approvals: str | None = None
    message_mode: Literal["queue", "steer"] | None = None
    coord: bool | None = None
    backend: Literal["local", "slurm"] | None = None
    budget: int | None = None
    agent_budget: int | None = None
    timeout: float | None = None


def up_args(body: UpBody) -> list[str]:
    """The ``codeswarm up`` command line for ``body`` (``--json`` added). Every value is joined
    to its flag (``--model=X``): a value that starts with ``-`` is never taken for a flag."""
    flags: dict[str, object] = {
        "--agents": body.agents, "--name": body.name, "--cwd": body.cwd,
        "--model-provider": body.model_provider, "--script": body.script, "--model": body.model,
        "--approval-policy": body.approval_policy, "--sandbox": body.sandbox,
        "--approvals": body.approvals, "--message-mode": body.message_mode,
        "--backend": body.backend, "--budget": body.budget, "--agent-budget": body.agent_budget,
        "--timeout": body.timeout,
        "--roles": ",".join(body.roles) if isinstance(body.roles, list) else body.roles,
    }  # fmt: skip
    args = ["up", *(f"{flag}={value}" for flag, value in flags.items() if value is not None)]
    if body.coord is not None:
        args.append("--coord" if body.coord else "--no-coord")
    return [*args, "--json"]


async def list_swarms(request: Request) -> JSONResponse:
    from codeswarm.control.status import swarm_row

    index = index_of(request)

    def rows() -> list[dict[str, Any]]:
        out = []
        for name in index.names():
            try:
                out.append(swarm_row(*index.get(name)))
            except ApiError:  # removed meanwhile
                continue
        return out

    return JSONResponse({"swarms": await off_loop(rows)})


def _check_up(request: Request, body: UpBody) -> Path:
    """The project directory ``up`` runs in; refuses (nothing started) a bad name, a ``cwd``
    in another project (its swarm would not be this server's) and a swarm already up."""
    from codeswarm.control.launch import backend_for
    from codeswarm.core.errors import CodeswarmError
    from codeswarm.core.paths import state_dir
    from codeswarm.core.swarm import check_swarm_name

    index = index_of(request)
    check_swarm_name(body.name)
    run = index.run(body.name)
    project = index.project
    if body.cwd is not None:
        cwd = Path(body.cwd).expanduser()
        if not cwd.is_absolute() or not cwd.is_dir():
            raise ApiError(400, "bad_request", f"cwd {body.cwd!r}: not an absolute directory")
        if state_dir(cwd) != index.runs_root.parent:
            raise ApiError(
                400, "bad_request", f"cwd {body.cwd!r} is not in this server's project {project}"
            )
    if run.spec_path.exists():
        spec = run.load_spec()
        try:
            running = backend_for(spec.backend).running(run)
        except CodeswarmError:
            running = None
        if running:
            raise ApiError(409, "already_running", f"swarm {body.name!r} is already up ({running})")
    return project


async def create_swarm(request: Request) -> JSONResponse:
    body = await decode(request, UpBody)
    project = await off_loop(_check_up, request, body)
    timeout = (body.timeout or UP_TIMEOUT_S) + UP_GRACE_S
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-P", "-m", "codeswarm", *up_args(body),
        cwd=project, env=os.environ.copy(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    # a client that goes away does not cut `up` short: it finishes (its output is read) anyway
    done = asyncio.ensure_future(proc.communicate())
    _RUNNING_UPS.add(done)
    done.add_done_callback(_RUNNING_UPS.discard)
    try:
        out, err = await asyncio.wait_for(asyncio.shield(done), timeout)
    except TimeoutError:
        proc.kill()
        await done
        raise ApiError(500, "up_failed", f"codeswarm up took more than {timeout:g}s") from None
    if proc.returncode != 0:
        status, code = (400, "bad_request") if proc.returncode == 2 else (500, "up_failed")
        raise ApiError(status, code, _error_line(err.decode(errors="replace")))
    try:
        ready = msgspec.json.decode(out)
    except msgspec.DecodeError:
        raise ApiError(500, "up_failed", "codeswarm up printed no JSON") from None
    return JSONResponse({"swarm": body.name, "status": ready}, status_code=201)


def _error_line(stderr: str) -> str:
    """``up``'s one-line error (the last ``codeswarm: error: …`` line), without the prefix."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("codeswarm: error:")]
    line = (errors or lines or ["codeswarm up failed"])[-1]
    return one_line(line.removeprefix("codeswarm: error:").strip())


async def get_swarm(request: Request) -> JSONResponse:
    from codeswarm.control.status import fleet_status

    run, _ = swarm_of(request)
    return JSONResponse(await off_loop(fleet_status, run))


async def delete_swarm(request: Request) -> JSONResponse:
    import shutil

    from codeswarm.control.launch import backend_for
    from codeswarm.control.worktrees.purge import purge_run
    from codeswarm.core.errors import PurgeRefusedError

    grace = query_float(request, "grace", 10.0, 0.0, 3600.0)
    purge = query_bool(request, "purge")
    force = query_bool(request, "force")
    if force and not purge:
        raise ApiError(400, "bad_request", "force=true only applies with purge=true")
    run, spec = swarm_of(request)
    killed = await off_loop(backend_for(spec.backend).stop, run, spec, grace=grace)
    lost: list[str] = []
    if purge:
        # as `down --purge`: worktrees holding unmerged or uncommitted work stay (force=true
        # throws it away), and one a live process works in is never removed
        try:
            lost = await off_loop(purge_run, spec, run, force=force, remove=shutil.rmtree)
        except PurgeRefusedError as exc:
            raise ApiError(409, "work_would_be_lost", "; ".join([str(exc), *exc.lines])) from None
    # killed: what had to be killed after the grace ("supervisor", "workers", "codex");
    # forced: the same with the pids and agents, as the backend says it
    return JSONResponse({"swarm": spec.name, "down": True, "killed": sorted(killed),
                         "forced": killed, "purged": purge, "lost": lost})  # fmt: skip


ROUTES = [
    Route("/api/swarms", list_swarms, methods=["GET"]),
    Route("/api/swarms", create_swarm, methods=["POST"]),
    Route("/api/swarms/{swarm}", get_swarm, methods=["GET"]),
    Route("/api/swarms/{swarm}", delete_swarm, methods=["DELETE"]),
]
