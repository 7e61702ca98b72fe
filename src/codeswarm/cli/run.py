"""``codeswarm run GOAL``: a swarm of N workers and an orchestrator (rank 0) handed one goal,
followed live until it ends (:mod:`codeswarm.control.run`), then summed up and brought down.

Exit codes (docs/run.md): 0 the orchestrator finished, 1 it failed (or ``--max-time`` passed),
2 bad input (nothing started), 4 stopped by a budget, 130 interrupted."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from codeswarm.cli.swarm.options import (
    AgentBudget,
    Base,
    Budget,
    BudgetWarn,
    Check,
    Into,
    Isolation,
    ReportChars,
    WatchAction,
    WatchLoop,
    WatchScope,
    WatchStall,
)
from codeswarm.cli.swarm.up import bring_down
from codeswarm.core.errors import EXIT_INTERRUPTED, UsageError, say

if TYPE_CHECKING:
    from rich.console import RenderableType

    from codeswarm.control.run import RunController, RunEnd
    from codeswarm.coordination import Coord
    from codeswarm.core.swarm import RunDir, SlurmOptions, SwarmSpec, WatchOptions

UP_TIMEOUT = 120.0
LIVE_REFRESH_PER_S = 4
BACKENDS = ("local", "slurm")
RUNTIMES = ("codex", "claude")
DEFAULT_WORKERS = 3
MAX_WORKERS = 511
"""Workers of a run: one rank of ``up``'s 512 is the orchestrator's."""


def parse_duration(flag: str, text: str) -> float:
    """``--max-time``: ``90``, ``90s``, ``10m``, ``1h``, ``1h30m`` → seconds (> 0; hours at
    most as a unit). UsageError otherwise."""
    from codeswarm.core.durations import parse_duration as parse

    return parse(text, flag, units="hms", positive=True)


def run(
    goal: str = typer.Argument(..., help="What the swarm should get done."),
    n: int | None = typer.Option(
        None, "-n", "--workers", help="How many workers (besides the orchestrator; default 3)."
    ),
    runtime: str | None = typer.Option(
        None,
        "--runtime",
        help="What drives the workers: codex | claude | a mix by rank with "
        "counts, e.g. codex:2,claude:1 (the counts sum to -n; docs/runtimes.md).",
    ),
    orchestrator_runtime: str = typer.Option(
        "codex", "--orchestrator-runtime", help="What drives the orchestrator: codex | claude."
    ),
    name: str | None = typer.Option(
        None, "--name", help="The swarm's name (default: run-<date>-<time>)."
    ),
    cwd: Path | None = typer.Option(
        None, "--cwd", "-C", help="The repository the agents work in (default: here)."
    ),
    backend: str = typer.Option("local", "--backend", help="local | slurm"),
    model_provider: str | None = typer.Option(
        None, "--model-provider", help="'mock' or a Codex provider."
    ),
    script: Path | None = typer.Option(None, "--script", help="Scripted-model script."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model slug."),
    sandbox: str | None = typer.Option(
        None, "--sandbox", help="read-only | workspace-write | danger-full-access"
    ),
    config: list[str] = typer.Option(
        [], "--config", "-c", help="Codex config override KEY=VALUE; repeatable."
    ),
    budget: Budget = None,
    agent_budget: AgentBudget = None,
    partition: str | None = typer.Option(None, "--partition", help="Slurm partition."),
    account: str | None = typer.Option(None, "--account", help="Slurm account."),
    sbatch_args: list[str] = typer.Option(
        [], "--sbatch-arg", help="Slurm: an extra sbatch option (--time=2:00:00); repeatable."
    ),
    budget_warn: BudgetWarn = 0.8,
    report_chars: ReportChars = 2000,
    watch_stall: WatchStall = None,
    watch_loop: WatchLoop = None,
    watch_scope: WatchScope = False,
    watch_action: WatchAction = None,
    max_time: str | None = typer.Option(
        None, "--max-time", help="Stop the run after this long (90s, 10m, 1h30m): exit 1."
    ),
    summary_json: Path | None = typer.Option(
        None, "--summary-json", help="Also write the summary to this file, as JSON."
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Leave the swarm running after the run (default: brought down)."
    ),
    timeout: float = typer.Option(
        UP_TIMEOUT, "--timeout", help="Seconds to wait for every agent to be ready."
    ),
    isolation: Isolation = "shared",
    base: Base = None,
    into: Into = None,
    check: Check = None,
) -> None:
    """Hand a goal to a swarm: N workers and an orchestrator that delegates to them; live
    progress, then a summary (tasks, tokens, files changed). Exit 0 finished, 1 failed,
    2 bad input, 4 stopped by a budget, 130 interrupted."""
    from codeswarm.control.watch.config import watch_options

    watch = watch_options(
        stall_s=watch_stall, loop_k=watch_loop, scope=watch_scope, actions=watch_action or []
    )
    slurm = None
    if partition or account or sbatch_args:
        from codeswarm.core.swarm import SlurmOptions

        slurm = SlurmOptions(partition=partition, account=account, sbatch_args=sbatch_args)
    raise typer.Exit(
        run_goal(
            goal,
            n=n,
            runtime=runtime,
            orchestrator_runtime=orchestrator_runtime,
            name=name,
            cwd=cwd,
            backend=backend,
            model_provider=model_provider,
            script=script,
            model=model,
            sandbox=sandbox,
            config=config,
            budget=budget,
            agent_budget=agent_budget,
            budget_warn=budget_warn,
            report_chars=report_chars,
            watch=watch,
            slurm=slurm,
            max_time=max_time,
            summary_json=summary_json,
            keep=keep,
            timeout=timeout,
            isolation=isolation,
            base=base,
            into=into,
            check=check,
        )
    )


def run_runtimes(n: int | None, runtime: str | None, orchestrator: str) -> tuple[int, str | None]:
    """The number of workers and ``up``'s ``--runtime`` for the whole swarm (the orchestrator,
    rank 0, first), from ``-n``, the workers' ``--runtime`` and ``--orchestrator-runtime``.
    ``None``: every agent Codex. Raises :class:`UsageError` for bad input (nothing started)."""
    from codeswarm.cli.swarm.up import parse_runtimes

    if orchestrator not in RUNTIMES:
        raise UsageError(f"--orchestrator-runtime must be codex or claude, got {orchestrator!r}")
    if n is None and (runtime is None or ":" not in runtime):
        n = DEFAULT_WORKERS
    if n is not None and (n < 1 or n > MAX_WORKERS):
        raise UsageError(f"-n must be 1 to {MAX_WORKERS} workers, got {n}")
    workers, by_rank = parse_runtimes(runtime, n)
    by_rank = by_rank or ["codex"] * workers
    if orchestrator == "codex" and all(r == "codex" for r in by_rank):
        return workers, None
    return workers, ",".join(f"{r}:1" for r in [orchestrator, *by_rank])


def _check(
    goal: str,
    *,
    name: str | None,
    cwd: Path | None,
    backend: str,
    model_provider: str | None,
    script: Path | None,
    budget: int | None,
    agent_budget: int | None,
    budget_warn: float,
    max_time: str | None,
    summary_json: Path | None,
    timeout: float,
) -> tuple[str, Path, float | None]:
    """Every check that needs nothing started; returns the swarm's name, the directory and
    ``--max-time`` in seconds."""
    from codeswarm.cli.args import WEEK, seconds
    from codeswarm.cli.swarm.up import check_budgets
    from codeswarm.core.swarm import RunDir, check_swarm_name

    if not goal.strip():
        raise UsageError("the goal is empty: say what the swarm should get done")
    check_budgets(budget=budget, agent_budget=agent_budget, warn=budget_warn)
    if backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if model_provider == "mock" and script is None:
        raise UsageError("--model-provider mock needs --script FILE")
    if script is not None and model_provider not in (None, "mock"):
        raise UsageError("--script only works with --model-provider mock")
    if script is not None:
        from codeswarm.mockmodel.script import load_script

        load_script(script)
    seconds("--timeout", timeout, 1.0, WEEK)
    limit = parse_duration("--max-time", max_time) if max_time is not None else None
    workdir = (cwd or Path.cwd()).expanduser().resolve()
    if not workdir.is_dir():
        raise UsageError(f"--cwd {workdir}: not a directory")
    if summary_json is not None:
        parent = summary_json.expanduser().resolve().parent
        if not parent.is_dir():
            raise UsageError(f"--summary-json {summary_json}: {parent} is not a directory")
    if name is None:
        import secrets

        name = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    check_swarm_name(name)
    if RunDir.of(name, workdir).root.exists():
        raise UsageError(
            f"a swarm named {name!r} exists already: choose another --name, or "
            f"'codeswarm down {name} --purge' first"
        )
    return name, workdir, limit


def run_goal(
    goal: str,
    *,
    n: int | None = None,
    runtime: str | None = None,
    orchestrator_runtime: str = "codex",
    name: str | None = None,
    cwd: Path | None = None,
    backend: str = "local",
    model_provider: str | None = None,
    script: Path | None = None,
    model: str | None = None,
    sandbox: str | None = None,
    config: list[str] | None = None,
    budget: int | None = None,
    agent_budget: int | None = None,
    budget_warn: float = 0.8,
    report_chars: int = 2000,
    watch: WatchOptions | None = None,
    slurm: SlurmOptions | None = None,
    max_time: str | None = None,
    summary_json: Path | None = None,
    keep: bool = False,
    timeout: float = UP_TIMEOUT,
    isolation: str = "shared",
    base: str | None = None,
    into: str | None = None,
    check: str | None = None,
) -> int:
    """The whole run; returns its exit code. Raises UsageError (nothing started) for bad input."""
    import contextlib

    from codeswarm.cli.swarm.up import check_isolation, check_report_chars, run_up
    from codeswarm.control.run import dirty_files, roles
    from codeswarm.core.swarm import RunDir

    n, runtimes = run_runtimes(n, runtime, orchestrator_runtime)
    name, workdir, limit = _check(
        goal, name=name, cwd=cwd, backend=backend, model_provider=model_provider,
        script=script, budget=budget, agent_budget=agent_budget, budget_warn=budget_warn,
        max_time=max_time, summary_json=summary_json, timeout=timeout,
    )  # fmt: skip
    check_report_chars(report_chars)
    check_isolation(isolation, base=base, into=into, check=check)
    run_dir = RunDir.of(name, workdir)
    before = dirty_files(workdir)
    started = time.time()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout: the summary only
            run_up(
                n=n + 1, name=name, cwd=workdir, model_provider=model_provider, script=script,
                model=model, approval_policy=None, sandbox=sandbox, approvals="workspace",
                message_mode="queue", config=list(config or []), timeout=timeout,
                json_out=False, roles=",".join(roles(n)), backend=backend, budget=budget,
                runtime=runtimes,
                agent_budget=agent_budget, budget_warn=budget_warn, watch=watch,
                slurm=slurm, report_chars=report_chars, isolation=isolation, base=base,
                into=into, check=check,
            )  # fmt: skip
    except KeyboardInterrupt:
        bring_down(run_dir, launching=True)  # whatever of it started
        say("interrupted while the agents started")
        return EXIT_INTERRUPTED
    except BaseException:
        bring_down(run_dir)
        raise
    return _follow(
        run_dir, goal=goal, started=started, limit=limit, keep=keep, summary_json=summary_json,
        before=before, budget=budget, agent_budget=agent_budget,
    )  # fmt: skip


def _follow(run: RunDir, **options: Any) -> int:
    """Send the goal, follow the run until it ends, bring it down, print the summary
    (:func:`_follow_in`, with the swarm's spec and store)."""
    from codeswarm.coordination import Coord
    from codeswarm.core.swarm import swarm_scope

    spec = run.load_spec()
    with Coord.open(spec.coord_db, root=swarm_scope(spec)) as coord:
        return _follow_in(run, spec, coord, **options)


def _follow_in(
    run: RunDir,
    spec: SwarmSpec,
    coord: Coord,
    *,
    goal: str,
    started: float,
    limit: float | None,
    keep: bool,
    summary_json: Path | None,
    before: dict[str, str | None] | None,
    budget: int | None,
    agent_budget: int | None,
) -> int:
    """:func:`_follow` once the swarm's spec is read and its store open."""
    import asyncio

    from codeswarm.control.fleet.router import Router
    from codeswarm.control.run import (
        RunController,
        RunEnd,
        build_summary,
        changed_since,
        diff_stat,
        priming_prompt,
    )
    from codeswarm.control.run.controller import message_tasks, read_board
    from codeswarm.control.run.tokens import task_tokens
    from codeswarm.control.steering import send
    from codeswarm.core.swarm import agent_id

    orchestrator = agent_id(spec.name, 0)
    workers = [agent_id(spec.name, r) for r in range(1, spec.size)]
    roles = {a: _role(spec, r) for r, a in enumerate([orchestrator, *workers])}
    router = Router(run, start="begin", spec=spec)
    router.replay()
    controller = RunController(
        router, coord, orchestrator=orchestrator, since_seq=coord.last_seq(), started_at=started,
        max_time=limit,
    )  # fmt: skip
    end: RunEnd | None = None
    try:
        sent = send(run, [orchestrator], priming_prompt(
            goal, workers, budget_tokens=budget, agent_budget_tokens=agent_budget))  # fmt: skip
        controller.goal_id = str(sent[orchestrator]["id"])
        say(f"run {spec.name}: goal sent to the orchestrator {orchestrator} ({len(workers)} "
            f"worker{'s' if len(workers) != 1 else ''})")  # fmt: skip
        end = asyncio.run(_watch(controller, spec, roles, budget))
    except KeyboardInterrupt:
        end = RunEnd("interrupted", EXIT_INTERRUPTED, "interrupted (Ctrl-C)")
    finally:
        if not keep or end is None:
            bring_down(run)
    router.replay()  # what the workers said while stopping (their last usage)
    board = read_board(coord, set(router.agents), started)
    spent = task_tokens(run, workers, lambda ids: message_tasks(coord, ids))
    files = changed_since(Path(spec.cwd), before)
    summary = build_summary(
        end=end, goal=goal, swarm=spec.name, fleet=router.fleet, roles=roles, board=board,
        task_tokens=spent,
        files_changed=files, diff=diff_stat(Path(spec.cwd), files), budget_tokens=budget,
        agent_budget_tokens=agent_budget, duration_s=time.time() - started, kept=keep,
    )  # fmt: skip
    import contextlib

    from codeswarm.control.run.summary import SUMMARY_FILE
    from codeswarm.core.atomic import atomic_write_json

    with contextlib.suppress(OSError):  # the run's own copy (GET /api/swarms/S/run)
        atomic_write_json(run.root / SUMMARY_FILE, summary)
    if summary_json is not None:
        try:
            atomic_write_json(summary_json.expanduser(), summary)
        except OSError as exc:
            say(f"warning: could not write --summary-json {summary_json}: {exc.strerror}")
    _print_summary(summary)
    say(end.message)
    if keep:
        say(f"the swarm {spec.name} is still up ('codeswarm down {spec.name}' to stop it)")
    return end.exit_code


def _role(spec: SwarmSpec, rank: int) -> str:
    from codeswarm.core.defaults import ROLE

    return spec.roles[rank % len(spec.roles)] if spec.roles else ROLE


# -- live progress --------------------------------------------------------------------------------
async def _watch(
    controller: RunController, spec: SwarmSpec, roles: dict[str, str], budget: int | None
) -> RunEnd:
    """The controller's run, shown: a live board on a terminal, a line per task change
    otherwise."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.live import Live

        console = Console(stderr=True, highlight=False)
        with Live(
            get_renderable=lambda: _board(controller, roles, budget),
            console=console,
            refresh_per_second=LIVE_REFRESH_PER_S,
            transient=True,
        ):
            return await controller.run()
    seen: dict[int, str] = {}

    def lines() -> None:
        for task in controller.board.tasks:
            state = f"{task.status} {task.assignee.partition('#')[0] if task.assignee else ''}"
            if seen.get(task.id) != state:
                seen[task.id] = state
                say(f"task #{task.id} {task.title!r}: {state.strip()}")

    controller.on_change = lines
    return await controller.run()


def _board(controller: RunController, roles: dict[str, str], budget: int | None) -> RenderableType:
    from rich.console import Group
    from rich.table import Table

    fleet = controller.router.fleet
    agents = Table(title="agents", title_justify="left", expand=False)
    for col in ("agent", "role", "state", "turns", "tokens"):
        agents.add_column(col, overflow="fold")
    for view in sorted(fleet.agents.values(), key=lambda v: v.rank or 0):
        agents.add_row(view.id, roles.get(view.id, ""), view.state, str(view.turns),
                       str(view.input_tokens + view.output_tokens))  # fmt: skip
    tasks = Table(title="tasks", title_justify="left", expand=False)
    for col in ("#", "title", "status", "agent"):
        tasks.add_column(col)
    for task in controller.board.tasks:
        who = task.assignee.partition("#")[0] if task.assignee else ""
        tasks.add_row(str(task.id), task.title[:60], task.status, who)
    totals = fleet.totals()
    spent = totals["input"] + totals["output"]
    line = f"tokens: {spent}" + (f" of {budget}" if budget else "")
    line += f" (cached input {totals['cached_input']})"
    elapsed = time.time() - controller.started_at
    return Group(agents, tasks, f"{line}   elapsed {elapsed:.0f}s")


# -- the summary ----------------------------------------------------------------------------------
def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    console.print(f"run {summary['swarm']}: {summary['outcome']} ({summary['message']})")
    if summary["orchestrator_summary"]:
        console.print(f"orchestrator: {summary['orchestrator_summary']}")
    if summary["tasks"]:
        tasks = Table(title="tasks", title_justify="left")
        for col in ("#", "title", "verdict", "agent", "tokens"):
            tasks.add_column(col)
        for t in summary["tasks"]:
            tokens = "" if t["tokens"] is None else str(t["tokens"])
            tasks.add_row(str(t["id"]), t["title"], t["outcome"], t["assignee"] or "", tokens)
        console.print(tasks)
    else:
        console.print("tasks: none")
    usage = Table(title="tokens", title_justify="left")
    for col in ("agent", "role", "input", "cached", "output", "input+output"):
        usage.add_column(
            col,
            justify="right" if col not in ("agent", "role") else "left",
            overflow="fold",
        )
    for agent, row in summary["tokens"]["agents"].items():
        usage.add_row(agent, row["role"] or "", str(row["input"]), str(row["cached_input"]),
                      str(row["output"]), str(row["counted"]))  # fmt: skip
    total = summary["tokens"]["total"]
    usage.add_row("total", "", str(total["input"]), str(total["cached_input"]),
                  str(total["output"]), str(total["counted"]))  # fmt: skip
    console.print(usage)
    files = summary["files_changed"]
    console.print(f"files changed: {len(files)}" + (f": {', '.join(files)}" if files else ""))
    if summary["diff_stat"]:
        console.print(summary["diff_stat"], markup=False)
