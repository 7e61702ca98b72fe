"""``codeswarm sessions list|show|logs|kill|clean``: every agent thread of every swarm of the
project (:mod:`codeswarm.control.sessions` reads them; this module parses and renders)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from codeswarm.cli.args import PROJECT_HELP, find_run, print_log_tail, project_dir, seconds
from codeswarm.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from codeswarm.control.sessions import Thread
    from codeswarm.core.swarm import RunDir, SwarmSpec

app = typer.Typer(
    help="Every agent thread of every swarm of this project: list, show, logs, kill, clean.",
    no_args_is_help=True,
)

OUTPUT_LINES = 6
"""Lines of a command's output ``show`` prints (``--full``: all)."""
WIDE = 160
"""Columns of ``list`` when its output is not a terminal."""


def _root(project: Path | None) -> Path:
    from codeswarm.core.swarm import runs_root

    return runs_root(project_dir(project))


def _print_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value).decode() + "\n")


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    import time

    age = max(0.0, time.time() - ms / 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if age >= size:
            return f"{age / size:.0f}{unit} ago"
    return f"{age:.0f}s ago"


def _agent_of(run: RunDir, spec: SwarmSpec, agent: str) -> str:
    """One agent id or rank of the swarm (no lists, no 'all')."""
    from codeswarm.control.steering import resolve_targets

    if "," in agent or agent.strip() == "all":
        raise UsageError(f"name one agent (an id or a rank), not {agent!r}")
    return resolve_targets(spec, agent)[0]


def _target(
    first: str, agent: str | None, project: Path | None
) -> tuple[RunDir, SwarmSpec, str, str | None]:
    """``THREAD`` or ``SWARM AGENT`` → ``(run, spec, agent, thread id or None: current)``."""
    from codeswarm.control.sessions import find_thread

    if agent is None:
        return find_thread(_root(project), first)
    run = find_run(first, project_dir(project))
    spec = run.load_spec()
    return run, spec, _agent_of(run, spec, agent), None


@app.command("list")
def list_(
    json_out: bool = typer.Option(False, "--json", help="JSON output."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Every thread of every swarm of the project: state, turns, tokens, last activity.

    Ended swarms included."""
    from codeswarm.control.sessions import project_threads

    threads = project_threads(_root(project))
    if json_out:
        _print_json([t.summary() for t in threads])
        return
    if not threads:
        print("no sessions here (start a swarm with 'codeswarm up -n N --name S')")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("swarm", "agent", "thread", "state", "turns", "tokens", "cached", "last activity"):
        table.add_column(
            name,
            justify="right" if name in ("turns", "tokens", "cached") else "left",
            no_wrap=True,
            min_width=36 if name == "thread" else None,
        )
    colour = {"live": "green", "stopped": "yellow", "ended": "dim", "unknown": "red"}
    for t in threads:
        state = f"[{colour.get(t.state, 'white')}]{t.state}[/]"
        table.add_row(
            t.swarm, t.agent, t.thread_id + ("" if t.current else " (old)"), state,
            str(len(t.turns)), f"{t.tokens.total:,}", f"{t.tokens.cached_input:,}",
            _when(t.last_activity_ms),
        )  # fmt: skip
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, WIDE)  # a pipe: whole ids, no ellipses
    console.print(table)


@app.command()
def show(
    thread: str = typer.Argument(..., help="A thread id (or its first characters), or a swarm."),
    agent: str | None = typer.Argument(None, help="With a swarm: the agent (id or rank)."),
    json_out: bool = typer.Option(False, "--json", help="JSON output."),
    full: bool = typer.Option(False, "--full", help="Every line of every command's output."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """A thread's turns: messages, commands with exit codes, file changes, tool calls, usage.

    `show THREAD` (an id or its first characters) or `show SWARM AGENT` (that agent's current
    thread)."""
    from codeswarm.control.sessions import load_thread

    run, spec, one, thread_id = _target(thread, agent, project)
    found = load_thread(run, spec, one, thread_id)
    if json_out:
        _print_json(found.as_json())
        return
    from rich.console import Console

    render_thread(Console(highlight=False), found, full=full)


def render_thread(console: Console, thread: Thread, *, full: bool = False) -> None:
    from rich.markup import escape

    console.print(
        f"[bold]{thread.swarm} / {thread.agent}[/] ({thread.role or 'agent'}) thread "
        f"{thread.thread_id}: {thread.state}, {len(thread.turns)} turns, "
        f"{thread.tokens.total:,} tokens ({thread.tokens.input:,} in, "
        f"{thread.tokens.cached_input:,} cached, {thread.tokens.output:,} out)",
        soft_wrap=True,
    )
    if not thread.turns:
        console.print("[dim]no turns yet[/]")
    for number, turn in enumerate(thread.turns, 1):
        colour = "green" if turn.status == "completed" else "yellow"
        ended = f": {escape(turn.error)}" if turn.error and turn.error != turn.status else ""
        console.print(
            f"\n[bold]turn {number}[/] [dim]{turn.turn_id}[/] [{colour}]{turn.status}{ended}[/]"
            f" [dim]· {turn.tokens.total:,} tokens ({turn.tokens.input:,} in, "
            f"{turn.tokens.cached_input:,} cached, {turn.tokens.output:,} out)[/]",
            soft_wrap=True,
        )
        for item in turn.items:
            _render_item(console, item, full=full)


def _render_item(console: Console, item: dict[str, Any], *, full: bool) -> None:
    from rich.markup import escape

    kind = item["type"]
    if kind == "user_message":
        console.print(f"[bold cyan]user:[/] {escape(item['text'])}", soft_wrap=True)
    elif kind == "agent_message":
        console.print(f"[bold magenta]agent:[/] {escape(item['text'])}", soft_wrap=True)
    elif kind == "reasoning" and item["text"]:
        console.print(f"[dim italic]thinking: {escape(item['text'])}[/]", soft_wrap=True)
    elif kind == "command":
        code = item.get("exit_code")
        colour = "green" if code == 0 else "red"
        console.print(
            f"[dim]$[/] {escape(item['command'])} [{colour}](exit {code})[/]", soft_wrap=True
        )
        lines = item["output"].splitlines()
        shown = lines if full else lines[:OUTPUT_LINES]
        for line in shown:
            console.print(f"  [dim]│ {escape(line)}[/]", soft_wrap=True)
        if len(shown) < len(lines):
            console.print(f"  [dim]│ … {len(lines) - len(shown)} more lines (--full)[/]")
    elif kind == "file_change":
        for change in item["changes"]:
            console.print(f"[yellow]  {change['kind']}[/] {escape(change['path'])}")
    elif kind == "tool_call":
        status = item.get("status") or ""
        console.print(f"[dim]⚙ {item.get('server')}/{item.get('tool')} {status}[/]")


@app.command()
def logs(
    thread: str = typer.Argument(..., help="A thread id (or its first characters), or a swarm."),
    agent: str | None = typer.Argument(None, help="With a swarm: the agent (id or rank)."),
    codex: bool = typer.Option(False, "--codex", help="Codex's own log (stderr) instead."),
    lines: int = typer.Option(
        50, "--lines", "-n", min=0, help="How many lines from the end (0: all)."
    ),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """The end of a thread's agent's worker log (or Codex's log).

    `logs THREAD` or `logs SWARM AGENT`."""
    run, _spec, one, _thread = _target(thread, agent, project)
    path = run.codex_log(one) if codex else run.worker_log(one)
    print_log_tail(path, one, codex=codex, lines=lines)


@app.command()
def kill(
    swarm: str = typer.Argument(..., help="The swarm."),
    agent: str | None = typer.Argument(None, help="One agent (id or rank); without: the swarm."),
    grace: float = typer.Option(
        10.0, "--grace", help="The whole swarm: seconds workers get before they are killed."
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", help="One agent: seconds to wait for its worker to stop."
    ),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Stop one agent of a live swarm, or the whole swarm (as `down`).

    The agent's turn is interrupted and it is not restarted; a later `up` resumes its thread.
    Exit 1 when it is not running."""
    from codeswarm.control.sessions import kill_agent, kill_swarm

    seconds("--grace", grace, 0.0, 3600.0)
    seconds("--timeout", timeout, 0.1, 3600.0)
    run = find_run(swarm, project_dir(project))
    spec = run.load_spec()
    if agent is None:
        killed = kill_swarm(run, spec, grace=grace)
        print(f"swarm {spec.name} is down" + (f" (had to kill: {killed})" if killed else ""))
        return
    one = _agent_of(run, spec, agent)
    kill_agent(run, spec, one, timeout=timeout)
    print(f"{one} stopped (its thread stays; 'codeswarm up' resumes it)")


@app.command()
def clean(
    swarms: list[str] = typer.Argument(None, help="These swarms only (default: every ended one)."),
    older_than: str | None = typer.Option(
        None, "--older-than", help="Only swarms idle for longer than this (90s, 15m, 2h, 7d)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go; remove nothing."),
    json_out: bool = typer.Option(False, "--json", help="JSON output."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Remove ended swarms' run directories (threads, mailboxes, logs); never a live one.

    A live swarm named is refused (exit 2, nothing removed); unnamed, live ones are kept."""
    import time

    from codeswarm.control.sessions import (
        disk_bytes,
        last_activity_ms,
        liveness,
        remove_run,
        swarm_runs,
        swarm_threads,
    )
    from codeswarm.core.errors import PurgeRefusedError
    from codeswarm.core.swarm import RunDir

    age = None if older_than is None else parse_age(older_than)
    root = _root(project)
    if swarms:
        chosen = []
        for name in dict.fromkeys(swarms):
            run = RunDir.of(name, project_dir(project))  # this project's only: it deletes
            spec = run.load_spec()
            live = liveness(run, spec)
            if live.running:
                raise UsageError(f"swarm {name} is live ({live.why}): not removed (kill it first)")
            chosen.append((run, spec))
    else:
        chosen = swarm_runs(root)
    now_ms = time.time() * 1000
    rows: list[dict[str, Any]] = []
    for run, spec in chosen:
        live = liveness(run, spec)
        last = last_activity_ms(run)
        row = {"swarm": spec.name, "path": str(run.root), "last_activity_ms": last}
        if live.running:
            rows.append({**row, "action": "kept", "why": f"live: {live.why}"})
            continue
        if age is not None and now_ms - last < age * 1000:
            rows.append({**row, "action": "kept", "why": f"active {_when(last)}"})
            continue
        threads = len(swarm_threads(run, spec))
        row |= {"threads": threads, "bytes": disk_bytes(run.root)}
        if dry_run:
            rows.append({**row, "action": "would remove"})
            continue
        try:
            remove_run(run, spec)
        except PurgeRefusedError as exc:  # worktrees with unmerged work (docs/isolation.md)
            rows.append({**row, "action": "kept", "why": str(exc)})
            continue
        rows.append({**row, "action": "removed"})
    if json_out:
        _print_json(rows)
        return
    if not rows:
        print("nothing to clean")
    for r in rows:
        if r["action"] == "kept":
            print(f"kept {r['swarm']}: {r['why']}")
        else:
            size = r["bytes"] / 1e6
            print(f"{r['action']} {r['swarm']} ({r['threads']} threads, {size:.1f} MB)")


def parse_age(text: str) -> float:
    from codeswarm.control.sessions import parse_duration

    return parse_duration(text, "--older-than")
