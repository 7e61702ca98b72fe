"""A swarm as a Slurm job: launch it, wait for its agents, stop it, and merge Slurm's view of the
job into the fleet's (:mod:`codeswarm.control.launch.slurm_jobs` is the Slurm boundary below this).

The job owns the workers' lifetime. What the outboxes say is overruled by what Slurm says:

- the job is pending, or running but an agent has said nothing since it was submitted: the
  agent is ``starting``;
- the job runs but an agent's outbox has been silent longer than :data:`STALE_AFTER` (workers
  write a heartbeat every few seconds): the agent is ``failed`` (its task is gone);
- the job has ended: every agent is ``failed`` with Slurm's reason (``job 12 CANCELLED``,
  ``job 12 TIMEOUT``, ``job 12 NODE_FAIL``, ``job 12 FAILED (NonZeroExitCode, exit code 1:0)``),
  except agents that stopped when asked: by ``down`` (recorded in ``slurm.json`` before the job
  is signalled) or by a ``shutdown`` record (the job then ends ``COMPLETED``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codeswarm.control.fleet.router import Router
from codeswarm.control.fleet.state import FAILED, STARTING, STOPPED, FleetState
from codeswarm.control.launch.base import (
    Progress,
    Ready,
    follow_until_ready,
    not_ready_agents,
    ready_count,
)
from codeswarm.control.launch.slurm_jobs import (
    EXPORTED_ENV,
    JobInfo,
    JobRecord,
    cancel,
    coord_url_for_nodes,
    job_info,
    load_record,
    render_script,
    save_record,
    signal_job,
    slurm_dir,
    submit,
    update_record,
)
from codeswarm.control.proc import tail
from codeswarm.core.atomic import atomic_write
from codeswarm.core.errors import CodeswarmError, SlurmError, SlurmRejectedError, UsageError
from codeswarm.core.swarm import RunDir, SlurmOptions, SwarmSpec
from codeswarm.mailbox import Layout

POLL_INTERVAL = 1.0
"""How often `up` and `down` ask Slurm about the job."""
DOWN_MARGIN = 30.0
"""`down` waits the grace period plus this for the job to end by itself, then scancels it."""
CANCEL_WAIT = 120.0
"""After a hard scancel: how long to wait for Slurm to finish the job (KillWait and more)."""
STALE_AFTER = 60.0
"""An agent of a running job whose outbox is silent this long has lost its task."""


def job_env(run: RunDir, spec: SwarmSpec, env: Mapping[str, str]) -> dict[str, str]:
    """What the batch script exports: the state directory (so the tasks agree with `up` wherever
    they start), the coordination store the swarm uses (``spec.coord_db``, made fit for many
    nodes at `up`), and :data:`EXPORTED_ENV` values passed through."""
    out = {k: env[k] for k in EXPORTED_ENV if env.get(k)}
    out["CODESWARM_STATE_DIR"] = str(run.root.parent.parent)
    if spec.coord and spec.coord_db:
        out["CODESWARM_DB"] = spec.coord_db
    return out


def active_job(run: RunDir) -> JobInfo | None:
    """The swarm's job if Slurm says it is still alive (pending, running, completing, …)."""
    record = load_record(run)
    if record is None:
        return None
    info = job_info(record.job_id)
    return info if info is not None and info.active else None


def check_options(n: int, opts: SlurmOptions) -> None:
    """Refuse a job shape that cannot hold one task per agent."""
    if opts.nodes is not None and opts.nodes < 1:
        raise UsageError("--nodes must be at least 1")
    if opts.ntasks_per_node is not None and opts.ntasks_per_node < 1:
        raise UsageError("--ntasks-per-node must be at least 1")
    if opts.nodes is not None and opts.nodes > n:
        raise UsageError(f"--nodes {opts.nodes} is more than the {n} agents (one task per agent)")
    per_node = opts.ntasks_per_node
    if opts.nodes is not None and per_node is not None and opts.nodes * per_node != n:
        raise UsageError(
            f"-n {n} agents but --nodes {opts.nodes} x --ntasks-per-node {per_node} "
            f"= {opts.nodes * per_node} tasks"
        )
    for arg in opts.sbatch_args:
        if not arg.startswith("-"):
            raise UsageError(
                f"--sbatch-arg wants an sbatch option like --constraint=X, got {arg!r}"
            )


def launch(
    run: RunDir,
    spec: SwarmSpec,
    *,
    fresh: bool,
    env: Mapping[str, str] | None = None,
) -> JobRecord:
    """Write the batch script, submit it, record the job (``slurm.json``).

    ``fresh``: the run directory was created for this launch; if Slurm rejects the job it is
    removed again (a relaunch keeps its threads). Raises SlurmRejectedError with Slurm's message.
    """
    exports = job_env(run, spec, os.environ if env is None else env)
    folder = slurm_dir(run)
    folder.mkdir(mode=0o700, exist_ok=True)
    script = folder / "job.sh"
    text = render_script(spec, run.root, python=sys.executable, env=exports)
    atomic_write(script, text.encode(), mode=0o700)
    try:
        job_id = submit(script)
    except SlurmRejectedError:
        if fresh:
            shutil.rmtree(run.root, ignore_errors=True)
        raise
    previous = load_record(run)
    record = JobRecord(
        job_id=job_id,
        submitted_ms=int(time.time() * 1000),
        script=str(script),
        output=str(folder / f"job-{job_id}.out"),
        previous_jobs=[*previous.previous_jobs, previous.job_id] if previous else [],
    )
    save_record(run, record)
    return record


# -- up: wait until the job runs and every agent is ready ------------------------------------------
async def wait_ready(
    router: Router, record: JobRecord, deadline_s: float, progress: Progress | None = None
) -> JobInfo:
    """Follow the job (Slurm) and the agents (outboxes) until every agent is ready.

    Raises CodeswarmError when the job ends first or an agent fails; after ``deadline_s`` a
    CodeswarmError that says where things stand (a pending job stays queued)."""
    total = len(router.agents)
    last: list[JobInfo | None] = [None]
    phase = [f"submitted job {record.job_id}"]

    async def watch_job() -> None:
        while True:
            info = await asyncio.to_thread(job_info, record.job_id)
            last[0] = info
            if info is None or not info.active:
                said = info.describe() if info else f"job {record.job_id} is gone"
                raise CodeswarmError(
                    f"slurm {said} before every agent was ready ({ready_count(router)}/{total}); "
                    f"the job's output ends: {tail(Path(record.output), 3)}"
                )
            phase[0] = info.describe()
            if progress is not None:
                progress(phase[0], ready_count(router), total)
            await asyncio.sleep(POLL_INTERVAL)

    tasks = [
        asyncio.create_task(follow_until_ready(router, lambda: phase[0], progress)),
        asyncio.create_task(watch_job()),
    ]
    try:
        done, _pending = await asyncio.wait(
            tasks, timeout=deadline_s, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            raise CodeswarmError(_not_ready(router, record, last[0], deadline_s))
        for task in done:
            task.result()  # raises the failure, if that is what ended the wait
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        router.close()
    info = last[0] or await asyncio.to_thread(job_info, record.job_id)
    assert info is not None
    return info


def _not_ready(router: Router, record: JobRecord, info: JobInfo | None, timeout: float) -> str:
    name = router.spec.name
    if info is not None and info.state == "PENDING":
        return (
            f"slurm {info.describe()} after {timeout:.0f}s; it stays queued: "
            f"'codeswarm status {name}' shows when it runs, 'codeswarm down {name}' cancels it"
        )
    late = not_ready_agents(router)
    where = info.describe() if info else f"job {record.job_id}"
    return (
        f"not every agent was ready after {timeout:.0f}s (slurm {where}): {', '.join(late)}; "
        f"see 'codeswarm logs {name} {late[0] if late else 0}' and {record.output}"
    )


# -- down ------------------------------------------------------------------------------------------
def _wait_gone(job_id: str, timeout: float) -> JobInfo | None:
    """Poll until Slurm says the job has ended (or forgot it); returns the last info, which is
    still active if ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while True:
        info = job_info(job_id)
        if info is None or not info.active or time.monotonic() > deadline:
            return info
        time.sleep(POLL_INTERVAL)


def stop(run: RunDir, spec: SwarmSpec, *, grace: float) -> dict[str, object]:
    """Stop the swarm's job: the stop signal to the batch shell (which stops the workers
    gracefully), wait up to ``grace`` + :data:`DOWN_MARGIN`, then ``scancel``. Returns what had
    to be forced. Raises CodeswarmError if the job is still there after that."""
    record = load_record(run)
    if record is None:
        return {}
    info = job_info(record.job_id)
    forced: dict[str, object] = {}
    if info is not None and info.active:
        # recorded first: the job's end was asked for (a job that ended by itself stays failed)
        update_record(run, record.job_id, stop_requested_ms=int(time.time() * 1000))
        if info.state == "PENDING":
            cancel(record.job_id)  # nothing runs yet: nothing to stop gracefully
        else:
            signal_job(record.job_id, "TERM", batch=True)
        info = _wait_gone(record.job_id, grace + DOWN_MARGIN)
        if info is not None and info.active:
            forced["job"] = (
                f"scancel {record.job_id} (still {info.state} after {grace + DOWN_MARGIN:.0f}s)"
            )
            cancel(record.job_id)
            info = _wait_gone(record.job_id, CANCEL_WAIT)
            if info is not None and info.active:
                raise CodeswarmError(
                    f"slurm {info.describe()} is still there {CANCEL_WAIT:.0f}s after scancel; "
                    f"ask your site's admins (or 'scancel -f {record.job_id}')"
                )
    if info is not None:
        update_record(run, record.job_id, last_state=info.state, last_reason=info.reason)
    return forced


# -- status ----------------------------------------------------------------------------------------
def merge_status(fleet: FleetState, run: RunDir, spec: SwarmSpec) -> dict[str, Any]:
    """Overrule the fleet's states with Slurm's view of the job (module docstring); returns the
    ``slurm`` section of the status JSON."""
    record = load_record(run)
    if record is None:
        for view in fleet.agents.values():
            if view.state not in (STOPPED, FAILED):
                view.state, view.error = FAILED, view.error or "never submitted to Slurm"
        return {"job_id": None, "state": None, "active": False}
    try:
        info = job_info(record.job_id)
    except SlurmError as exc:
        return {"job_id": record.job_id, "state": None, "active": None, "error": str(exc)}
    if info is not None and (info.state, info.reason) != (record.last_state, record.last_reason):
        # Slurm forgets ended jobs: remember how this one ended
        record = (
            update_record(run, record.job_id, last_state=info.state, last_reason=info.reason)
            or record
        )
    if info is None:
        state = record.last_state or "UNKNOWN"
        said = f"job {record.job_id} {state} (no longer known to Slurm)"
        active = False
    else:
        state, said, active = info.state, info.describe(), info.active
    if active:
        _merge_running(fleet, run, record, info)
    else:
        for view in fleet.agents.values():
            asked = record.stop_requested_ms is not None or state == "COMPLETED"
            if view.state == STOPPED and asked:
                continue
            if view.state != FAILED or not view.error:
                view.error = f"slurm {said}"
            view.state = FAILED
            view.turn_id = None
    return {
        "job_id": record.job_id,
        "state": state,
        "reason": info.reason if info else record.last_reason,
        "nodes": info.nodes if info else None,
        "describe": said,
        "active": active,
        "stop_requested": record.stop_requested_ms is not None,
        "output": record.output,
        "previous_jobs": record.previous_jobs,
    }


def _merge_running(fleet: FleetState, run: RunDir, record: JobRecord, info: JobInfo | None) -> None:
    layout = Layout(run.root)
    now = time.time()
    running_for = now - info.start_time if info and info.start_time else 0.0
    for view in fleet.agents.values():
        if view.last_seen_ms < record.submitted_ms:
            # nothing from this agent since the job was submitted: it has yet to start
            view.state, view.error, view.turn_id = STARTING, None, None
        if view.state in (STOPPED, FAILED) or running_for < STALE_AFTER:
            continue
        try:
            silent = now - os.stat(layout.outbox(view.id)).st_mtime
        except OSError:
            silent = running_for
        if silent > STALE_AFTER:
            view.state = FAILED
            view.error = f"no word from its worker for {silent:.0f}s (slurm {info.describe() if info else ''})"


# -- the backend -----------------------------------------------------------------------------------
class SlurmBackend:
    """The swarm as one Slurm job, one task per agent (module docstring)."""

    name = "slurm"

    def prepare(self, spec: SwarmSpec, previous: SwarmSpec | None) -> tuple[SwarmSpec, list[str]]:
        import msgspec

        check_options(spec.size, spec.slurm or SlurmOptions())
        warnings: list[str] = []
        if spec.coord and spec.coord_db:
            url, warning = coord_url_for_nodes(spec.coord_db)
            spec = msgspec.structs.replace(spec, coord_db=url)
            if warning:
                warnings.append(warning)
        return spec, warnings

    def running(self, run: RunDir) -> str | None:
        if load_record(run) is None:
            return None
        info = active_job(run)
        return None if info is None else f"slurm {info.describe()}"

    def launch(self, run: RunDir, router: Router, *, fresh: bool) -> str | None:
        # every agent starts afresh in the new job (a relaunch resumes its thread)
        for view in router.fleet.agents.values():
            view.state, view.error = STARTING, None
        record = launch(run, router.spec, fresh=fresh)
        return (
            f"submitted batch job {record.job_id} (script {record.script}, output {record.output})"
        )

    async def wait_ready(
        self, router: Router, deadline_s: float, progress: Progress | None = None
    ) -> Ready:
        record = load_record(router.run)
        if record is None:
            raise CodeswarmError(f"swarm {router.spec.name!r} was never submitted to Slurm")
        info = await wait_ready(router, record, deadline_s, progress)
        return Ready(
            where=f"in slurm {info.describe()}",
            extra={"slurm": {"job_id": record.job_id, "state": info.state, "nodes": info.nodes}},
        )

    def stop(self, run: RunDir, spec: SwarmSpec, *, grace: float) -> dict[str, object]:
        return stop(run, spec, grace=grace)

    def overlay(self, fleet: FleetState, run: RunDir, spec: SwarmSpec) -> dict[str, Any]:
        # the job owns the workers, which may run on other nodes: Slurm says what runs
        job = merge_status(fleet, run, spec)
        return {"supervisor": {"running": bool(job.get("active"))}, "slurm": job}

    def live_workers(self, run: RunDir, spec: SwarmSpec) -> int | None:
        return None  # they run on the job's nodes: `status` asks Slurm
