"""The options `up` and `run` share, declared once (the same names, help and defaults): the token
budgets and the watchers."""

from __future__ import annotations

from typing import Annotated

import typer

Budget = Annotated[
    int | None,
    typer.Option(
        "--budget", help="The swarm's token budget (input + output, all agents together)."
    ),
]
AgentBudget = Annotated[
    int | None, typer.Option("--agent-budget", help="Each agent's token budget (input + output).")
]
BudgetWarn = Annotated[
    float,
    typer.Option("--budget-warn", help="The fraction of a budget at which to warn (0 < F <= 1)."),
]
ReportChars = Annotated[
    int,
    typer.Option(
        "--report-chars",
        help="The most characters of an agent's words (a task's result, a reply, a message) "
        "carried to the orchestrator; longer ones are cut (100..1000000).",
    ),
]
WatchStall = Annotated[
    float | None,
    typer.Option("--watch-stall", help="Watch: an agent busy with no event for S seconds stalls."),
]
WatchLoop = Annotated[
    int | None,
    typer.Option("--watch-loop", help="Watch: the same tool call K times in one turn is a loop."),
]
WatchScope = Annotated[
    bool, typer.Option("--watch-scope", help="Watch: report writes outside the held task's files.")
]
WatchAction = Annotated[
    list[str] | None,
    typer.Option(
        "--watch-action",
        help="Watch: [RULE=]ACTION[,ACTION…] (report|nudge|interrupt|stop, escalating; "
        "scope=deny: the hook denies writes outside the task's files); "
        "repeatable. Defaults: stall=report, loop=nudge,interrupt, scope=report (docs/watch.md).",
    ),
]
WatchNudge = Annotated[
    str | None,
    typer.Option("--watch-nudge", help="Watch: what a nudge says (default: what was seen)."),
]
Isolation = Annotated[
    str,
    typer.Option(
        "--isolation",
        help="shared (every agent in the project tree, leases enforced) | worktree (a git "
        "worktree and branch per agent, merged by the merge queue; docs/isolation.md).",
    ),
]
Base = Annotated[
    str | None,
    typer.Option(
        "--base", help="worktree: the ref the agents' branches start from (default HEAD)."
    ),
]
Into = Annotated[
    str | None,
    typer.Option(
        "--into", help="worktree: the branch the merge queue merges into (default: the current)."
    ),
]
Check = Annotated[
    str | None,
    typer.Option(
        "--check", help="worktree: the command the merge queue runs before merging (e.g. tests)."
    ),
]
WorktreeLeases = Annotated[
    bool,
    typer.Option(
        "--worktree-leases/--no-worktree-leases",
        help="worktree: leases hold across the agents' worktrees (repo-relative paths; default), "
        "or not (each agent alone in its tree, conflicts left to the merge queue).",
    ),
]
Runtime = Annotated[
    str | None,
    typer.Option(
        "--runtime",
        help="What drives the agents: codex | claude | a mix by rank with counts, e.g. "
        "codex:2,claude:1 (the counts sum to -n; without -n they are the size; "
        "docs/runtimes.md).",
    ),
]
