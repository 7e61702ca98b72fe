"""``codeswarm up``: check the flags, write the spec, launch through the swarm's backend, wait for
every agent with a progress display."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeswarm.core.defaults import APPROVAL_POLICIES, ROLE, SANDBOXES
from codeswarm.core.errors import CodeswarmError, UsageError, say
from codeswarm.core.swarm import SlurmOptions, WatchOptions

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

    from codeswarm.control.fleet.router import Router
    from codeswarm.control.launch.base import Backend, Ready
    from codeswarm.core.swarm import RunDir, SwarmSpec
STOP_GRACE_S = 10.0
"""Seconds a swarm's workers get to stop (the end of a run, Ctrl-C during `up`) before they are
killed."""
LAUNCH_SETTLE_S = 10.0
"""After Ctrl-C during the launch: how long to wait for the swarm's supervisor (or job) to come
up, so that it can be stopped."""


def _coord_db(workdir: Path) -> str:
    """The coordination store every agent of the swarm shares (an absolute path or a URL)."""
    from codeswarm.coordination import resolve_url

    url = resolve_url(start=workdir)
    return url if "://" in url else os.path.abspath(url)


def _exposures(spec: SwarmSpec, run: RunDir) -> list[str]:
    """What of the swarm's state and of the code run outside the sandbox its agents could write
    (docs/security/state.md), one warning per writable root; and state an older codeswarm left in
    the project."""
    import codeswarm
    from codeswarm.coordination.target import sqlite_path
    from codeswarm.core.paths import legacy_state_dir
    from codeswarm.core.sandbox import WORKSPACE_TABLE, configured_table, exposures, writable_roots

    seed = Path(spec.user_codex_home) / "config.toml" if spec.user_codex_home else None
    workspace = configured_table(seed, spec.config_overrides, WORKSPACE_TABLE)
    roots = writable_roots(spec.sandbox, spec.cwd, workspace, os.environ)
    guarded = {"the swarm's state": run.root}
    db = sqlite_path(spec.coord_db) if spec.coord_db else None
    if db:
        guarded["the coordination store"] = Path(db)
    guarded["codeswarm's code"] = Path(codeswarm.__file__).parent
    guarded["codeswarm's Python"] = Path(sys.prefix)
    if spec.codex_bin:
        guarded["the Codex CLI"] = Path(spec.codex_bin)
    if spec.claude_bin:
        guarded["the Claude Code CLI"] = Path(spec.claude_bin)
    warnings = exposures(roots, spec.sandbox, guarded)
    if "claude" in spec.runtimes and spec.approvals == "all":
        warnings.append(
            "the Claude Code agents run without a sandbox and --approvals all grants every "
            "command they ask for: they can write anything you can, the swarm's state and the "
            "coordination store included (docs/runtimes.md)"
        )
    legacy = legacy_state_dir(Path(spec.cwd))
    if legacy is not None and legacy != run.root.parent.parent:
        warnings.append(
            f"{legacy} holds state of an older codeswarm, which is no longer used "
            f"(this swarm's state: {run.root.parent.parent}); remove it when done"
        )
    return warnings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_budgets(*, budget: int | None, agent_budget: int | None, warn: float) -> None:
    """``--budget``, ``--agent-budget`` (tokens, > 0) and ``--budget-warn`` (a fraction in
    (0, 1]): :class:`UsageError` for a bad one, before anything starts."""
    for flag, value in (("--budget", budget), ("--agent-budget", agent_budget)):
        if value is not None and value <= 0:
            raise UsageError(f"{flag} must be a positive number of tokens, not {value}")
    if not 0 < warn <= 1:  # NaN fails too
        raise UsageError(f"--budget-warn must be a fraction above 0 and at most 1, not {warn:g}")


MAX_AGENTS = 512


def parse_runtimes(text: str | None, n: int | None) -> tuple[int, list[str]]:
    """``-n`` and ``--runtime`` together: the swarm's size and what drives each rank (rank 0
    first; an empty list is every agent ``codex``). ``--runtime`` is ``codex``, ``claude``, or
    a mix with counts (``codex:2,claude:1``: ranks in that order); the counts sum to ``-n``
    when it is given, else they are the size. :class:`UsageError` (one line) for anything
    else."""
    from codeswarm.core.swarm import RUNTIMES

    if text is None:
        if n is None:
            raise UsageError("up needs -n N (how many agents), or counts in --runtime "
                             "(e.g. --runtime codex:2,claude:1)")  # fmt: skip
        return n, []
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise UsageError(f"--runtime {text!r}: give codex, claude or a mix like codex:2,claude:1")
    runtimes: list[str] = []
    for part in parts:
        name, colon, count = (s.strip() for s in part.partition(":"))
        if name not in RUNTIMES:
            raise UsageError(f"--runtime {text}: unknown runtime {name!r} (codex or claude)")
        if not colon:
            if len(parts) > 1:
                raise UsageError(f"--runtime {text}: give each runtime of a mix its count "
                                 f"({name}:N)")  # fmt: skip
            if n is None:
                raise UsageError(f"--runtime {name} needs -n N (or say {name}:N)")
            runtimes = [name] * n
            break
        if not count.isdigit() or not 1 <= int(count) <= MAX_AGENTS:
            raise UsageError(f"--runtime {text}: the count of {name} must be a whole number "
                             f"from 1 to {MAX_AGENTS}, not {count!r}")  # fmt: skip
        runtimes += [name] * int(count)
    if len(runtimes) > MAX_AGENTS:
        raise UsageError(f"--runtime {text}: {len(runtimes)} agents, at most {MAX_AGENTS}")
    if n is not None and len(runtimes) != n:
        raise UsageError(f"--runtime {text} makes {len(runtimes)} agents, -n says {n}")
    size = len(runtimes)
    return size, [] if all(r == "codex" for r in runtimes) else runtimes


def check_claude_login(spec: SwarmSpec, environ: Mapping[str, str]) -> str | None:
    """Why the swarm's Claude agents could not use their model (one line: the cause and the
    fix), else None: the scripted model needs nothing; a real one a key or provider in the
    environment, or the person's Claude Code login to seed from."""
    if spec.model_provider == "mock" or "claude" not in spec.runtimes:
        return None
    if any(environ.get(k) for k in CLAUDE_AUTH_ENV):
        return None
    seed = Path(spec.user_claude_dir) if spec.user_claude_dir else None
    if seed is not None and (seed / ".credentials.json").is_file():
        return None
    where = seed or "~/.claude"
    return (f"claude agents need a Claude Code login: none in {where}/.credentials.json and no "
            "ANTHROPIC_API_KEY in the environment; log in with 'claude' (or set the key), "
            "or use the scripted model (--script FILE)")  # fmt: skip


CLAUDE_AUTH_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
                   "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX")  # fmt: skip
"""What in the environment gives Claude Code a model without a login of its own."""


def run_up(
    *,
    n: int | None,
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
    resume_interrupted: bool = True,
    backend: str = "local",
    slurm: SlurmOptions | None = None,
    replace: bool = False,
    retry_deadline: float | None = None,
    budget: int | None = None,
    agent_budget: int | None = None,
    budget_warn: float = 0.8,
    watch: WatchOptions | None = None,
    report_chars: int = 2000,
    isolation: str = "shared",
    base: str | None = None,
    into: str | None = None,
    check: str | None = None,
    worktree_leases: bool = True,
    runtime: str | None = None,
) -> None:
    from codeswarm.cli.toolchain_install import locate_or_install
    from codeswarm.control.launch import backend_for
    from codeswarm.core.config import load_config
    from codeswarm.core.layers import user_codex_home
    from codeswarm.core.paths import ensure_state_dir, project_root
    from codeswarm.core.swarm import RunDir, SwarmSpec, check_swarm_name
    from codeswarm.core.tomlfmt import parse_overrides

    check_swarm_name(name)
    n, runtimes = parse_runtimes(runtime, n)
    check_budgets(budget=budget, agent_budget=agent_budget, warn=budget_warn)
    check_report_chars(report_chars)
    check_isolation(isolation, base=base, into=into, check=check)
    if not worktree_leases and isolation != "worktree":
        raise UsageError("--no-worktree-leases only applies with --isolation worktree")
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
    overrides = parse_overrides(config)
    workdir = (cwd or Path.cwd()).expanduser().resolve()
    if not workdir.is_dir():
        raise UsageError(f"--cwd {workdir}: not a directory")
    script_path = None
    role_list = [r.strip() for r in (roles or "").split(",") if r.strip()]
    if script is not None:
        from codeswarm.mockmodel.script import load_script

        parsed = load_script(script)  # refuse a bad script now, not in every worker
        script_path = str(script.expanduser().resolve())
        if not role_list and parsed.roles:  # the script's roles unless --roles says otherwise
            role_list = [parsed.role_for(f"{name}_{r}") or ROLE for r in range(n)]
    cfg = load_config()
    claude_bin = claude_dir = None
    if "claude" in runtimes:
        from codeswarm.codex.claude_toolchain import locate
        from codeswarm.hooks.install import claude_config_dir

        claude_bin, claude_dir = str(locate().path), str(claude_config_dir())
    # installs the pinned Codex on first use (a swarm of Claude agents alone needs none)
    codex_bin = str(locate_or_install(cfg).path) if len(runtimes) < n or "codex" in runtimes else ""
    ensure_state_dir(workdir)  # the state of --cwd's project (docs/security/state.md)
    run = RunDir.of(name, workdir)
    launcher = backend_for(backend)
    previous = run.load_spec() if run.spec_path.exists() else None
    _refuse_running(run, previous, backend)
    mock_port = None
    if script_path:
        # a relaunch keeps the scripted model's port: workers that outlived their supervisor
        # (adopted by the new one) still talk to it
        mock_port = previous.mock_port if previous and previous.mock_port else _free_port()
    spec = SwarmSpec(
        name=name,
        size=n,
        cwd=str(workdir),
        codex_bin=codex_bin,
        user_codex_home=str(user_codex_home(cfg)),
        runtimes=runtimes,  # type: ignore[arg-type]
        claude_bin=claude_bin,
        user_claude_dir=claude_dir,
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
        coord_db=_coord_db(workdir) if coord else None,
        scope=str(project_root(workdir)) if coord else None,
        roles=role_list,
        leases_auto=leases_auto,
        resume_interrupted=resume_interrupted,
        backend=backend,  # type: ignore[arg-type]
        slurm=slurm,
        retry_deadline_s=retry_deadline or cfg.codex.retry_deadline,
        budget_tokens=budget,
        agent_budget_tokens=agent_budget,
        budget_warn=budget_warn,
        watch=watch,
        report_chars=report_chars,
        isolation=isolation,  # type: ignore[arg-type]
        base=base,
        into=into,
        check=check,
        worktree_leases=worktree_leases,
    )
    changed = _changed(previous, spec) if previous is not None else []
    if changed and not replace:
        raise UsageError(
            f"swarm {name!r} exists with other settings ({'; '.join(changed)}); its threads "
            f"would resume on the old ones: 'codeswarm down {name} --purge' first, choose "
            "another --name, or pass --replace to start it anew with these"
        )
    from codeswarm.cli.swarm.preflight import check_model_access
    from codeswarm.control.worktrees.create import create, resolve

    if spec.isolation == "worktree":  # a bad repository or ref: refused before anything is made
        spec = resolve(spec, run, None if changed else previous)
    if spec.codex_bin:
        check_model_access(spec)  # no login, or settings Codex refuses: said now, not by hanging
    no_claude = check_claude_login(spec, os.environ)
    if no_claude is not None:
        raise CodeswarmError(no_claude)
    if changed:  # --replace: the old run goes (as with `down --purge`), its threads with it
        import shutil

        from codeswarm.control.worktrees.purge import purge
        from codeswarm.core.errors import PurgeRefusedError

        assert previous is not None
        try:  # its worktrees go only if no work is lost with them
            purge(previous, run, force=False)
        except PurgeRefusedError as exc:
            raise UsageError(
                f"--replace: {exc.lines[0] if exc.lines else exc} (see 'codeswarm worktrees "
                f"{name}'; 'codeswarm down {name} --purge --force' throws such work away)"
            ) from exc
        shutil.rmtree(run.root)
        say(f"replaced swarm {name!r} ({'; '.join(changed)}): its old threads are gone")
        previous = None
    fresh = previous is None and not run.root.exists()
    spec, warnings = launcher.prepare(spec, previous)
    if spec.isolation == "worktree":  # every worktree exists before any worker starts
        warnings = [*warnings, *create(spec, run)]
    if spec.backend == "local":  # the agents run here: can they all sleep on inotify?
        from codeswarm.cli.swarm.preflight import inotify_shortfall
        from codeswarm.core.swarm import agent_runtime

        claude = sum(agent_runtime(spec, agent) == "claude" for agent in run.agents(spec))
        short = inotify_shortfall(spec.size, claude)
        warnings = [*warnings, short] if short else warnings
    for warning in [*_exposures(spec, run), *warnings]:
        say(f"warning: {warning}")
    _launch(launcher, run, spec, fresh=fresh, timeout=timeout, json_out=json_out)


def start(**options: Any) -> None:
    """``up`` with its options by their names, as the command line gives them (Typer's
    ``commands.up``, or :mod:`.upline` for an ordinary line): the durations, budgets and
    watchers checked before anything starts, then :func:`run_up`."""
    from codeswarm.cli.args import WEEK, seconds
    from codeswarm.control.watch.config import watch_options
    from codeswarm.core.swarm import SlurmOptions

    seconds("--timeout", options["timeout"], 1.0, WEEK)  # before anything starts
    if options["retry_deadline"] is not None:
        seconds("--retry-deadline", options["retry_deadline"], 1.0, WEEK)
    check_budgets(budget=options["budget"], agent_budget=options["agent_budget"],
                  warn=options["budget_warn"])  # fmt: skip
    watch = watch_options(
        stall_s=options.pop("watch_stall"), loop_k=options.pop("watch_loop"),
        scope=options.pop("watch_scope"), actions=options.pop("watch_action") or [],
        nudge_text=options.pop("watch_nudge"),
    )  # fmt: skip
    slurm = SlurmOptions(
        nodes=options.pop("nodes"), ntasks_per_node=options.pop("ntasks_per_node"),
        partition=options.pop("partition"), account=options.pop("account"),
        qos=options.pop("qos"), time=options.pop("time_limit"),
        sbatch_args=options.pop("sbatch_args"), stop_grace_s=options.pop("stop_grace"),
    )  # fmt: skip
    run_up(**options, watch=watch, slurm=slurm)


def check_isolation(
    isolation: str, *, base: str | None, into: str | None, check: str | None
) -> None:
    """Raises UsageError for an unknown ``--isolation``, or worktree options without it."""
    from codeswarm.core.swarm import ISOLATIONS

    if isolation not in ISOLATIONS:
        raise UsageError(f"--isolation must be one of {', '.join(ISOLATIONS)}, not {isolation!r}")
    if isolation != "worktree":
        given = [f for f, v in (("--base", base), ("--into", into), ("--check", check)) if v]
        if given:
            verb = "apply" if len(given) > 1 else "applies"
            raise UsageError(f"{', '.join(given)} only {verb} with --isolation worktree")
    for flag, value in (("--base", base), ("--into", into), ("--check", check)):
        if value is not None and (not value.strip() or "\n" in value or "\0" in value):
            raise UsageError(f"{flag} must be one non-empty line")


def check_report_chars(report_chars: int) -> None:
    """Raises UsageError for a ``--report-chars`` out of range."""
    if not 100 <= report_chars <= 1_000_000:
        raise UsageError(f"--report-chars must be between 100 and 1000000, not {report_chars}")


def _changed(previous: SwarmSpec, spec: SwarmSpec) -> list[str]:
    """What of a swarm's identity a relaunch would change: the directory, the provider, the
    model (a resumed thread keeps its provider; it must not silently move elsewhere)."""

    def provider(value: str | None) -> str:
        return value or "the configured default"

    out = []
    if previous.cwd != spec.cwd:
        out.append(f"directory {previous.cwd} -> {spec.cwd}")
    if previous.model_provider != spec.model_provider:
        out.append(
            f"model provider {provider(previous.model_provider)} -> {provider(spec.model_provider)}"
        )
    if previous.model != spec.model:
        out.append(f"model {previous.model} -> {spec.model}")
    if previous.isolation != spec.isolation:  # the agents would change directory
        out.append(f"isolation {previous.isolation} -> {spec.isolation}")
    common = min(previous.size, spec.size)  # a rank added or dropped changes no thread
    if _by_rank(previous)[:common] != _by_rank(spec)[:common]:  # a Codex thread is no session
        out.append(f"runtimes {_runtimes(previous)} -> {_runtimes(spec)}")
    return out


def _by_rank(spec: SwarmSpec) -> list[str]:
    from codeswarm.core.swarm import agent_runtime

    return [agent_runtime(spec, agent) for agent in (f"{spec.name}_{r}" for r in range(spec.size))]


def _runtimes(spec: SwarmSpec) -> str:
    """The runtimes of ``spec`` as ``--runtime`` takes them (``codex:2,claude:1``)."""
    runs: list[list[Any]] = []
    for runtime in _by_rank(spec):
        if runs and runs[-1][0] == runtime:
            runs[-1][1] += 1
        else:
            runs.append([runtime, 1])
    return ",".join(f"{r}:{k}" for r, k in runs)


def _launch(
    launcher: Backend, run: RunDir, spec: SwarmSpec, *, fresh: bool, timeout: float, json_out: bool
) -> None:
    """Create the run directory, launch the workers, wait (with progress) until every agent is
    ready; print the fleet."""
    from codeswarm.control.fleet.router import Router
    from codeswarm.control.launch.base import create_run

    try:
        create_run(run, spec)  # (inside: a Ctrl-C as its spec lands, during the fsync, counts too)
        # the fleet as the outboxes tell it; the backend marks what the new launch will see
        router = Router(run, start="begin", spec=spec)
        router.replay()
        said = launcher.launch(run, router, fresh=fresh)
        if said:
            say(said)
        ready = asyncio.run(_wait_ready(launcher, router, timeout, quiet=json_out))
    except KeyboardInterrupt:
        # nothing half-started is left running: what came up is stopped (the run directory
        # stays: `up` again resumes every thread)
        bring_down(run, launching=True)
        say(f"interrupted: swarm {spec.name} stopped while its agents started")
        raise
    if json_out:
        import orjson

        sys.stdout.write(orjson.dumps({**router.fleet.as_json(), **ready.extra}).decode() + "\n")
        return
    n = spec.size
    print(
        f"swarm {spec.name} is up: {n} agent{'s' if n != 1 else ''} ready {ready.where} "
        f"(send with 'codeswarm send {spec.name} all \"…\"', watch with 'codeswarm attach {spec.name}')"
    )


def _refuse_running(run: RunDir, previous: SwarmSpec | None, backend: str) -> None:
    """A swarm whose workers run (under the backend that launched it last) is up. A backend
    that cannot be asked is a reason to refuse only if it is the one asked for now."""
    from codeswarm.control.launch import backend_for

    for kind in dict.fromkeys([previous.backend if previous else backend, backend]):
        try:
            running = backend_for(kind).running(run)
        except CodeswarmError:
            if kind == backend:
                raise
            continue
        if running:
            raise UsageError(
                f"swarm {run.name!r} is already up ({running}): 'codeswarm down {run.name}' first"
            )


async def _wait_ready(
    launcher: Backend, router: Router, deadline_s: float, *, quiet: bool
) -> Ready:
    """The backend's wait, shown: a progress bar on a terminal, a line per phase otherwise,
    nothing with ``--json``. (Rich only for the bar: imported while the agents start, it would
    take a core from them.)"""
    if quiet:
        return await launcher.wait_ready(router, deadline_s)
    if not sys.stderr.isatty():
        said: list[str] = []

        def line(phase: str, ready: int, total: int) -> None:
            if not said or said[-1] != phase:
                said.append(phase)
                say(phase)

        return await launcher.wait_ready(router, deadline_s, line)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("agents ready"),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("starting agents", total=len(router.agents))

        def show(phase: str, ready: int, total: int) -> None:
            progress.update(task, description=phase, completed=ready)

        return await launcher.wait_ready(router, deadline_s, show)


def _end_started(
    supervisors: list[subprocess.Popen[bytes]], end_hubs: Callable[[], list[int]]
) -> dict[str, object]:
    """The supervisors and hubs this process started, once the swarm was stopped: a
    supervisor that came up too late to be stopped gets SIGTERM (it stops what it started),
    SIGKILL after the grace; a hub ends by itself once no worker is left (``end_hubs``)."""
    import contextlib
    import signal

    from codeswarm.control.proc import kill_group

    killed: dict[str, object] = {}
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in supervisors:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if proc.poll() is None:
                kill_group(proc.pid, signal.SIGKILL)
                killed["supervisor"] = proc.pid
    hubs = end_hubs()
    if hubs:
        killed["hub"] = hubs
    return killed


def bring_down(run: RunDir, *, launching: bool = False) -> None:
    """Stop the run's swarm if it was launched; says what had to be killed, or what could
    not be stopped (the error that ended the run is the one that counts). ``launching``: the
    launch was cut short, its supervisor (or job) may be on its way up: it is waited for (at
    most :data:`LAUNCH_SETTLE_S`) so that it is stopped too. Ctrl-C meanwhile is ignored."""
    import signal

    from codeswarm.control.launch import backend_for
    from codeswarm.core.errors import CodeswarmError

    if not run.spec_path.exists():
        return
    from codeswarm.control.launch import pending
    from codeswarm.worker import mcphub

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if launching:  # no longer one of the swarm's workers; what was not handed over ends
            mcphub.let_go()
            pending.let_go()
        spec = run.load_spec()
        backend = backend_for(spec.backend)
        started = [proc for proc in pending.STARTED if proc.poll() is None]
        if launching and (started or (run.root / "slurm").exists()):
            deadline = time.monotonic() + LAUNCH_SETTLE_S
            while not backend.running(run) and time.monotonic() < deadline:
                if started and all(proc.poll() is not None for proc in started):
                    break  # (it ended without coming up: nothing to wait for)
                time.sleep(0.05)
        killed = backend.stop(run, spec, grace=STOP_GRACE_S)
        if launching:  # whatever this launch started and did not come up in time
            killed.update(_end_started(pending.STARTED, mcphub.end_started))
    except CodeswarmError as exc:
        say(f"warning: could not stop swarm {run.name!r}: {exc}")
        return
    finally:
        signal.signal(signal.SIGINT, previous)
    if killed:
        say(f"had to kill: {killed}")
