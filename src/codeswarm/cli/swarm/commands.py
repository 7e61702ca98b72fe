"""The swarm commands: ``up``, ``attach``, ``status``, ``logs``, ``interrupt``, ``approve``,
``down``, ``ls`` (``send`` is a fast command: :mod:`codeswarm.cli.swarm.send`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from codeswarm.cli.args import (
    PROJECT_HELP,
    find_run,
    print_log_tail,
    project_dir,
    seconds,
)
from codeswarm.cli.swarm.options import (
    AgentBudget,
    Base,
    Budget,
    BudgetWarn,
    Check,
    Into,
    Isolation,
    ReportChars,
    Runtime,
    WatchAction,
    WatchLoop,
    WatchNudge,
    WatchScope,
    WatchStall,
    WorktreeLeases,
)
from codeswarm.core.errors import UsageError

if TYPE_CHECKING:
    from codeswarm.control.steering import History
    from codeswarm.core.swarm import RunDir, SwarmSpec

UP_TIMEOUT = 120.0


def _run(name: str, project: Path | None = None):  # type: ignore[no-untyped-def]
    run = find_run(name, project_dir(project))
    return run, run.load_spec()


def _replay(run: RunDir, spec: SwarmSpec) -> tuple[dict[str, dict[str, Any]], History]:
    """Every agent's status view (as ``status --json`` shows it) and the steering history."""
    from codeswarm.cli.swarm.status import fleet_views
    from codeswarm.control.steering import History

    history = History()
    return fleet_views(run, spec, history), history


def up(
    n: int | None = typer.Option(
        None, "-n", "--agents", min=1, max=512, help="How many agents (or counts in --runtime)."
    ),
    name: str = typer.Option(..., "--name", help="The swarm's name (agent ids are NAME_0 …)."),
    cwd: Path | None = typer.Option(
        None, "--cwd", "-C", "--project", help="The repository the agents work in (its project)."
    ),
    model_provider: str | None = typer.Option(
        None, "--model-provider", help="'mock' or a Codex provider."
    ),
    script: Path | None = typer.Option(None, "--script", help="Scripted-model script."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model slug."),
    approval_policy: str | None = typer.Option(
        None, "--approval-policy", help="untrusted | on-request | never"
    ),
    sandbox: str | None = typer.Option(
        None, "--sandbox", help="read-only | workspace-write | danger-full-access"
    ),
    approvals: str = typer.Option(
        "forward",
        "--approvals",
        help="forward (answer with `codeswarm approve`) | workspace | all | decline",
    ),
    message_mode: str = typer.Option(
        "queue", "--message-mode", help="A message during a turn: queue | steer"
    ),
    config: list[str] = typer.Option(
        [], "--config", "-c", help="Codex config override KEY=VALUE; repeatable."
    ),
    timeout: float = typer.Option(
        UP_TIMEOUT, "--timeout", help="Seconds to wait for every agent to be ready (1 to 604800)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the ready fleet as JSON."),
    coord: bool = typer.Option(
        True,
        "--coord/--no-coord",
        help="Lease hooks, coordination tools and wake-ups (default on).",
    ),
    roles: str | None = typer.Option(
        None, "--roles", help="Roles by rank, cycled: e.g. planner,implementer,reviewer."
    ),
    leases_auto: bool = typer.Option(
        True, "--auto-leases/--no-auto-leases", help="A first edit of a free file leases it."
    ),
    resume_interrupted: bool = typer.Option(
        True,
        "--resume-interrupted/--no-resume-interrupted",
        help="After a crash, continue the cut-short turn with a follow-up turn (default on).",
    ),
    backend: str = typer.Option(
        "local", "--backend", help="local (processes here) | slurm (an sbatch job, one task each)."
    ),
    nodes: int | None = typer.Option(
        None, "--nodes", min=1, max=512, help="Slurm: how many nodes."
    ),
    ntasks_per_node: int | None = typer.Option(
        None, "--ntasks-per-node", min=1, max=512, help="Slurm: agents per node."
    ),
    partition: str | None = typer.Option(None, "--partition", help="Slurm partition."),
    account: str | None = typer.Option(None, "--account", help="Slurm account."),
    qos: str | None = typer.Option(None, "--qos", help="Slurm QOS."),
    time_limit: str | None = typer.Option(None, "--time", help="Slurm time limit (1:00:00)."),
    sbatch_args: list[str] = typer.Option(
        [], "--sbatch-arg", help="Slurm: an extra sbatch option (--constraint=X); repeatable."
    ),
    stop_grace: int = typer.Option(
        60,
        "--stop-grace",
        min=1,
        max=3600,
        help="Slurm: seconds workers get to stop at the job's end.",
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="An existing swarm of this name with another directory, provider or model: "
        "delete it (its threads) and start anew (without: refused).",
    ),
    retry_deadline: float | None = typer.Option(
        None,
        "--retry-deadline",
        help="Seconds a turn may only retry an unreachable model before it is given up "
        "(default: [codex] retry_deadline, else 60).",
    ),
    budget: Budget = None,
    agent_budget: AgentBudget = None,
    budget_warn: BudgetWarn = 0.8,
    report_chars: ReportChars = 2000,
    watch_stall: WatchStall = None,
    watch_loop: WatchLoop = None,
    watch_scope: WatchScope = False,
    watch_action: WatchAction = None,
    watch_nudge: WatchNudge = None,
    isolation: Isolation = "shared",
    base: Base = None,
    into: Into = None,
    check: Check = None,
    worktree_leases: WorktreeLeases = True,
    runtime: Runtime = None,
) -> None:
    """Start a swarm of N agents (local processes, or a Slurm job) and wait until every one is
    ready."""
    options = dict(locals())  # every option by its name (an ordinary line skips Typer: .upline)
    from codeswarm.cli.swarm.up import start

    start(**options)


def attach(
    swarm: str = typer.Argument(..., help="The swarm."),
    json_out: bool = typer.Option(False, "--json", help="Events as JSONL on stdout."),
    cursor: str | None = typer.Option(
        None,
        "--cursor",
        help="Resume from (and save to) this named cursor: nothing missed, nothing twice.",
    ),
    from_start: bool = typer.Option(False, "--from-start", help="Replay from the beginning."),
    remote: str | None = typer.Option(
        None, "--remote", help="ssh://[user@]host[:port]/path/to/workspace of a swarm elsewhere."
    ),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Follow the swarm live: every agent's events, one colour each; answer approvals inline."""
    from codeswarm.cli.swarm.attach import run_attach

    raise typer.Exit(
        run_attach(
            swarm,
            json_out=json_out,
            cursor=cursor,
            from_start=from_start,
            remote=remote,
            project=project_dir(project),
        )
    )


def status(
    swarm: str = typer.Argument(..., help="The swarm."),
    json_out: bool = typer.Option(False, "--json", help="JSON output."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Each agent's state, turns, tokens and last message; the totals."""
    from codeswarm.cli.swarm.status import run_status

    run_status(swarm, json_out=json_out, project=project_dir(project))


def logs(
    swarm: str = typer.Argument(...),
    agent: str = typer.Argument(..., help="Agent id or rank."),
    codex: bool = typer.Option(False, "--codex", help="Codex's own log (stderr) instead."),
    lines: int = typer.Option(
        50, "--lines", "-n", min=0, help="How many lines from the end (0: all)."
    ),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Print the end of an agent's worker log (or its Codex log)."""
    from codeswarm.control.steering import resolve_targets

    run, spec = _run(swarm, project)
    (one,) = resolve_targets(spec, agent)[:1]
    path = run.codex_log(one) if codex else run.worker_log(one)
    print_log_tail(path, one, codex=codex, lines=lines)


def interrupt(
    swarm: str = typer.Argument(...),
    target: str = typer.Argument(..., help="An agent id, a rank, a comma list, or 'all'."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Interrupt the running turn of these agents. Exit 1 when none of them has a turn to
    interrupt (nothing is sent); an idle agent among busy ones is named, not interrupted."""
    from codeswarm.control.steering import interrupt_checked, resolve_targets

    run, spec = _run(swarm, project)
    agents = resolve_targets(spec, target)
    views, history = _replay(run, spec)
    chosen, idle = interrupt_checked(run, agents, views, history)
    print(f"interrupt sent to {', '.join(chosen)}")
    for line in idle:
        print(line)


def approve(
    swarm: str = typer.Argument(...),
    agent: str = typer.Argument(..., help="Agent id or rank."),
    request_id: str = typer.Argument(
        ..., help="The request id (`status` lists what each agent waits on; `attach` shows it)."
    ),
    decline: bool = typer.Option(False, "--decline", help="Decline instead."),
    session: bool = typer.Option(False, "--session", help="Accept for the rest of the session."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Answer an approval request an agent forwarded. Exit 2 (nothing sent) when the agent
    does not wait on that request: already answered, or never asked."""
    from codeswarm.control.steering import approve as do_approve
    from codeswarm.control.steering import check_approval, resolve_targets

    run, spec = _run(swarm, project)
    (one,) = resolve_targets(spec, agent)[:1]
    views, history = _replay(run, spec)
    check_approval(one, request_id, views.get(one) or {}, history)
    decision = "decline" if decline else "acceptForSession" if session else "accept"
    # ascii: str.isdigit() also takes "²", which int() refuses
    digits = request_id.isascii() and request_id.isdigit()
    rid: int | str = int(request_id) if digits else request_id
    do_approve(run, one, rid, decision)
    print(f"{decision} sent to {one} for request {request_id}")


def down(
    swarm: str = typer.Argument(...),
    grace: float = typer.Option(
        10.0, "--grace", help="Seconds workers get before they are killed (0 to 3600)."
    ),
    purge: bool = typer.Option(
        False,
        "--purge",
        help="Also delete the run directory (threads, mailbox, logs) and the agents' worktrees "
        "and branches (refused for one with unmerged or uncommitted work, unless --force).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="With --purge: remove worktrees even with unmerged or uncommitted work (never one "
        "in use).",
    ),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Stop the swarm: graceful, then forceful after the grace period; nothing left behind.

    The run directory stays (a later `up` with the same name resumes every agent's thread)
    unless --purge."""
    from codeswarm.control.launch import backend_for

    seconds("--grace", grace, 0.0, 3600.0)
    if force and not purge:
        raise UsageError("--force only applies with --purge")
    run, spec = _run(swarm, project)
    killed = backend_for(spec.backend).stop(run, spec, grace=grace)
    extra = f" (had to kill: {killed})" if killed else ""
    if purge:
        import shutil

        from codeswarm.control.worktrees.purge import purge_run
        from codeswarm.core.errors import PurgeRefusedError, say

        try:
            lost = purge_run(spec, run, force=force, remove=shutil.rmtree)
        except PurgeRefusedError as exc:
            say(f"error: swarm {spec.name} is down{extra}; not purged: {exc}")
            for line in exc.lines:
                say(f"  {line}")
            raise typer.Exit(2) from exc
        for line in lost:
            say(f"warning: removed with its work: {line}")
        extra += "; run directory deleted"
    print(f"swarm {spec.name} is down{extra}")


def ls(
    json_out: bool = typer.Option(False, "--json", help="JSON output."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """List the swarms of this project."""
    import orjson

    from codeswarm.control.status import swarm_row
    from codeswarm.core.swarm import RunDir, runs_root

    rows = []
    root = runs_root(project_dir(project))
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        run = RunDir(path)
        try:
            spec = run.load_spec()
        except UsageError:
            continue
        rows.append(swarm_row(run, spec))
    if json_out:
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    if not rows:
        print("no swarms here (start one with 'codeswarm up -n N --name S')")
    for r in rows:
        state = "up" if r["running"] else "down"
        workers = "?" if r["live_workers"] is None else r["live_workers"]
        print(f"{r['swarm']:<20} {state:<5} {workers}/{r['agents']} workers  {r['cwd']}")


def register(app: typer.Typer) -> None:
    from codeswarm.cli.swarm.worktrees import worktrees

    for fn in (up, attach, status, logs, interrupt, approve, down, ls, worktrees):
        app.command(fn.__name__)(fn)
