"""``codeswarm up``: write the spec, start the supervisor, wait for every agent with a progress bar."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from codeswarm.core.errors import CodeswarmError, UsageError
from codeswarm.core.swarm import SlurmOptions

if TYPE_CHECKING:
    from codeswarm.control.fleet.router import Router
    from codeswarm.control.launch.slurm_jobs import JobInfo, JobRecord
    from codeswarm.core.swarm import RunDir, SwarmSpec

from codeswarm.cli.exec.command import APPROVAL_POLICIES, SANDBOXES


def _coord_db() -> str:
    """The coordination store every agent of the swarm shares (an absolute path or a URL)."""
    from codeswarm.coord import resolve_url

    url = resolve_url()
    return url if "://" in url else os.path.abspath(url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_up(
    *,
    n: int,
    name: str,
    cwd: Path | None,
    model_provider: str | None,
    script: Path | None,
    model: str | None,
    approval_policy: str | None,
    sandbox: str | None,
    approvals: str,
    message_mode: str,
    config: list[str],
    timeout: float,
    json_out: bool,
    coord: bool = True,
    roles: str | None = None,
    leases_auto: bool = True,
    backend: str = "local",
    slurm: SlurmOptions | None = None,
) -> None:
    from codeswarm.codex.toolchain import locate, user_codex_home
    from codeswarm.control.fleet.state import STARTING
    from codeswarm.control.launch.local import (
        create_run,
        live_workers,
        start_supervisor,
        supervisor_pid,
    )
    from codeswarm.core.config import load_config
    from codeswarm.core.swarm import RunDir, SwarmSpec, check_swarm_name

    check_swarm_name(name)
    if approval_policy is not None and approval_policy not in APPROVAL_POLICIES:
        raise UsageError(f"--approval-policy must be one of {', '.join(APPROVAL_POLICIES)}")
    if sandbox is not None and sandbox not in SANDBOXES:
        raise UsageError(f"--sandbox must be one of {', '.join(SANDBOXES)}")
    if approvals not in ("forward", "workspace", "all", "decline"):
        raise UsageError("--approvals must be forward, workspace, all or decline")
    if message_mode not in ("queue", "steer"):
        raise UsageError("--message-mode must be queue or steer")
    if model_provider == "mock" and script is None:
        raise UsageError("--model-provider mock needs --script FILE")
    if script is not None and model_provider not in (None, "mock"):
        raise UsageError("--script only works with --model-provider mock")
    overrides: dict[str, str] = {}
    for item in config:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--config wants KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    workdir = (cwd or Path.cwd()).expanduser().resolve()
    if not workdir.is_dir():
        raise UsageError(f"--cwd {workdir}: not a directory")
    script_path = None
    if script is not None:
        from codeswarm.mockmodel.script import load_script

        load_script(script)  # refuse a bad script now, not in every worker
        script_path = str(script.expanduser().resolve())
    cfg = load_config()
    binary = locate(cfg)
    run = RunDir.of(name)
    if supervisor_pid(run) is not None:
        raise UsageError(f"swarm {name!r} is already up ('codeswarm down {name}' first)")
    if backend not in ("local", "slurm"):
        raise UsageError("--backend must be local or slurm")
    _refuse_live_job(run, strict=backend == "slurm")
    if backend == "slurm":
        from codeswarm.control.launch.slurm import check_options

        check_options(n, slurm or SlurmOptions())
    mock_port = None
    if script_path:
        # a relaunch keeps the scripted model's port: workers that outlived their supervisor
        # (adopted by the new one) still talk to it
        previous = run.load_spec() if run.spec_path.exists() else None
        mock_port = previous.mock_port if previous and previous.mock_port else _free_port()
    spec = SwarmSpec(
        name=name,
        size=n,
        cwd=str(workdir),
        codex_bin=str(binary.path),
        user_codex_home=str(user_codex_home(cfg)),
        model=model or cfg.codex.model,
        model_provider="mock" if script_path else model_provider,
        script=script_path,
        mock_port=mock_port,
        approval_policy=approval_policy or cfg.codex.approval_policy,
        sandbox=sandbox or cfg.codex.sandbox,
        approvals=approvals,  # type: ignore[arg-type]
        message_mode=message_mode,  # type: ignore[arg-type]
        config_overrides=overrides,
        created_ms=int(time.time() * 1000),
        coord=coord,
        coord_db=_coord_db() if coord else None,
        roles=[r.strip() for r in (roles or "").split(",") if r.strip()],
        leases_auto=leases_auto,
        backend=backend,  # type: ignore[arg-type]
        slurm=(slurm or SlurmOptions()) if backend == "slurm" else None,
    )
    if backend == "slurm":
        _up_slurm(run, spec, timeout=timeout, json_out=json_out)
        return
    from codeswarm.control.fleet.router import Router

    create_run(run, spec)
    # the fleet as the outboxes tell it (a relaunch may adopt workers that are still running);
    # every agent without a live worker must announce itself afresh
    router = Router(run, start="begin", spec=spec)
    router.replay()
    alive = live_workers(run, spec)
    for agent, view in router.fleet.agents.items():
        if agent not in alive:
            view.state = STARTING
    start_supervisor(run)
    try:
        asyncio.run(_wait_ready(router, timeout, quiet=json_out))
    except TimeoutError:
        raise CodeswarmError(_not_ready(router, timeout)) from None
    fleet = router.fleet
    if json_out:
        import orjson

        sys.stdout.write(orjson.dumps(fleet.as_json()).decode() + "\n")
    else:
        print(
            f"swarm {name} is up: {n} agent{'s' if n != 1 else ''} ready in {workdir} "
            f"(send with 'codeswarm send {name} all \"…\"', watch with 'codeswarm attach {name}')"
        )


async def _wait_ready(router: object, deadline_s: float, *, quiet: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from codeswarm.control.fleet.router import Router
    from codeswarm.control.fleet.state import FAILED, IDLE

    assert isinstance(router, Router)
    total = len(router.agents)

    def ready() -> int:
        return sum(1 for v in router.fleet.agents.values() if v.state == IDLE)

    def failed() -> list[str]:
        return [f"{v.id}: {v.error}" for v in router.fleet.agents.values() if v.state == FAILED]

    async def follow(progress: Progress | None, task: object) -> None:
        if ready() == total:  # adopted workers that were ready all along
            return
        async for _batch in router.follow():
            if progress is not None:
                progress.update(task, completed=ready())  # type: ignore[arg-type]
            bad = failed()
            if bad:
                raise CodeswarmError("an agent failed to start: " + "; ".join(bad))
            if ready() == total:
                return

    try:
        if quiet or not sys.stderr.isatty():
            await asyncio.wait_for(follow(None, None), deadline_s)
            return
        with Progress(
            TextColumn("[bold]starting agents"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as progress:
            task = progress.add_task("agents", total=total)
            await asyncio.wait_for(follow(progress, task), deadline_s)
    finally:
        router.close()


def _not_ready(router: object, timeout: float) -> str:
    from codeswarm.control.fleet.router import Router
    from codeswarm.control.fleet.state import IDLE
    from codeswarm.control.launch.local import tail

    assert isinstance(router, Router)
    late = [v.id for v in router.fleet.agents.values() if v.state != IDLE]
    hint = tail(router.run.worker_log(late[0])) if late else ""
    return (
        f"not every agent was ready after {timeout:.0f}s: {', '.join(late)} "
        f"(see 'codeswarm logs {router.spec.name} {late[0] if late else 0}': {hint})"
    )


# -- the slurm backend ------------------------------------------------------------------------------
def _refuse_live_job(run: RunDir, *, strict: bool) -> None:
    """A swarm whose Slurm job is still alive is up. (For a local launch, a Slurm that cannot be
    asked is not a reason to refuse: ``strict`` is False.)"""
    from codeswarm.control.launch.slurm_jobs import load_record

    if load_record(run) is None:
        return
    from codeswarm.control.launch.slurm import active_job

    try:
        info = active_job(run)
    except CodeswarmError:
        if strict:
            raise
        return
    if info is not None:
        raise UsageError(
            f"swarm {run.name!r} is already up (slurm {info.describe()}): "
            f"'codeswarm down {run.name}' first"
        )


def _up_slurm(run: RunDir, spec: SwarmSpec, *, timeout: float, json_out: bool) -> None:
    """Submit the swarm as a Slurm job and wait (with progress) until every agent is ready."""
    import msgspec

    from codeswarm.cli.errors import say
    from codeswarm.control.fleet.router import Router
    from codeswarm.control.fleet.state import STARTING
    from codeswarm.control.launch.local import create_run
    from codeswarm.control.launch.slurm import launch
    from codeswarm.control.launch.slurm_jobs import coord_url_for_nodes

    if spec.coord and spec.coord_db:
        url, warning = coord_url_for_nodes(spec.coord_db)
        spec = msgspec.structs.replace(spec, coord_db=url)
        if warning:
            say(f"warning: {warning}")
    fresh = not run.root.exists()
    create_run(run, spec)
    # every agent starts afresh in the new job (a relaunch resumes its thread)
    router = Router(run, start="begin", spec=spec)
    router.replay()
    for view in router.fleet.agents.values():
        view.state, view.error = STARTING, None
    record = launch(run, spec, fresh=fresh)
    say(f"submitted batch job {record.job_id} (script {record.script}, output {record.output})")
    info = asyncio.run(_wait_job(router, record, timeout, quiet=json_out))
    if json_out:
        import orjson

        out = router.fleet.as_json()
        out["slurm"] = {"job_id": record.job_id, "state": info.state, "nodes": info.nodes}
        sys.stdout.write(orjson.dumps(out).decode() + "\n")
    else:
        n = spec.size
        print(
            f"swarm {spec.name} is up: {n} agent{'s' if n != 1 else ''} ready in slurm "
            f"{info.describe()} (send with 'codeswarm send {spec.name} all \"…\"', "
            f"watch with 'codeswarm attach {spec.name}')"
        )


async def _wait_job(
    router: Router, record: JobRecord, deadline_s: float, *, quiet: bool
) -> JobInfo:
    """launch.slurm.wait_ready with a progress display: job pending → running → agents k/N."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from codeswarm.control.launch.slurm import wait_ready

    if quiet:
        return await wait_ready(router, record, deadline_s)
    if not sys.stderr.isatty():
        said: list[str] = []

        def line(phase: str, ready: int, total: int) -> None:
            if not said or said[-1] != phase:
                said.append(phase)
                print(f"codeswarm: {phase}", file=sys.stderr)

        return await wait_ready(router, record, deadline_s, line)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("agents ready"),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task(f"job {record.job_id}", total=len(router.agents))

        def show(phase: str, ready: int, total: int) -> None:
            progress.update(task, description=phase, completed=ready)

        return await wait_ready(router, record, deadline_s, show)
