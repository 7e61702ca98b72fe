"""``codeswarm merge submit|status|run``: the merge queue of a swarm whose agents work in
worktrees (docs/isolation.md; :mod:`codeswarm.control.merge` does the work)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from codeswarm.cli.args import PROJECT_HELP, find_run, project_dir

app = typer.Typer(
    help="The merge queue of a worktree swarm: submit an agent's branch, show the queue.",
    no_args_is_help=True,
)


def _print_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value).decode() + "\n")


@app.command()
def submit(
    swarm: str = typer.Argument(..., help="The swarm."),
    agent: str = typer.Argument(..., help="The agent (an id or a rank)."),
    summary: str = typer.Option(
        "",
        "--summary",
        help="What the change does (the commit "
        "message of uncommitted work; default: the last commit's).",
    ),
    json_out: bool = typer.Option(False, "--json", help="JSON output."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Submit an agent's branch to the queue (its uncommitted work is committed first)."""
    from codeswarm.control.merge.submit import submit as do_submit
    from codeswarm.control.steering import resolve_targets
    from codeswarm.core.errors import UsageError

    run = find_run(swarm, project_dir(project))
    spec = run.load_spec()
    if "," in agent or agent.strip() == "all":
        raise UsageError(f"name one agent (an id or a rank), not {agent!r}")
    one = resolve_targets(spec, agent)[0]
    done = do_submit(run, spec, one, summary)
    if json_out:
        _print_json(done.as_json())
        return
    first = " (its uncommitted work committed first)" if done.committed else ""
    print(f"queued {done.id}: {done.branch} at {done.commit[:12]}{first}, position "
          f"{done.position}")  # fmt: skip


@app.command()
def status(
    swarm: str = typer.Argument(..., help="The swarm."),
    json_out: bool = typer.Option(False, "--json", help="JSON output."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """The queue: each submission and where it is (queued, testing, merged, rejected)."""
    from codeswarm.control.merge import journal
    from codeswarm.control.merge.runner import lock_path
    from codeswarm.control.proc import running_pid
    from codeswarm.core.errors import UsageError

    run = find_run(swarm, project_dir(project))
    spec = run.load_spec()
    if spec.isolation != "worktree":
        raise UsageError(f"swarm {spec.name!r} does not use worktrees: it has no merge queue")
    state = journal.state(run)
    pid = running_pid(lock_path(run))
    out = {
        "swarm": spec.name, "into": spec.into, "check": spec.check,
        "runner": pid if pid is not None and pid > 0 else None, "waiting": state.waiting,
        "checks": state.checks,
        "submissions": [s.as_json() for s in state.submissions.values()],
    }  # fmt: skip
    if json_out:
        _print_json(out)
        return
    runner = f"queue process {pid}" if out["runner"] else "no queue process running"
    print(f"{spec.name}: into {spec.into}, check {spec.check or '(none)'}; {runner}; "
          f"{state.checks} check runs")  # fmt: skip
    if state.waiting:
        print(f"waiting: {state.waiting}")
    if not state.submissions:
        print("nothing submitted yet")
        return
    now = time.time()
    for s in state.submissions.values():
        age = f"{max(0, now - s.ts / 1000):.0f}s ago"
        more = ""
        if s.state == "rejected" and s.end is not None:
            paths = s.end.get("paths")
            more = f" ({s.end.get('reason')}" + (f": {', '.join(paths)}" if paths else "") + ")"
        elif s.state == "merged" and s.end is not None:
            more = f" (as {str(s.end.get('target'))[:12]})"
        print(f"  {s.id}  {s.agent:<10} {s.state:<8}{more}  {s.commit[:12]}  {age}  "
              f"{s.summary.splitlines()[0] if s.summary else ''}")  # fmt: skip


@app.command("run")
def run_(
    swarm: str = typer.Argument(..., help="The swarm."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Run the queue process in the foreground (to drain the queue of a swarm that is down).

    Ctrl-C stops it; a second one for the same swarm is refused."""
    from codeswarm.control.merge.runner import main

    run = find_run(swarm, project_dir(project))
    run.load_spec()
    raise typer.Exit(main(["--run-dir", str(run.root)]))
