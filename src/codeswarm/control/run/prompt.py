"""What the orchestrator is told: the goal, its workers, its tools, the rules of the run."""

from __future__ import annotations

ORCHESTRATOR_ROLE = "orchestrator"
"""The role of rank 0 in a run: the one agent the MCP server offers the orchestrator tools."""
WORKER_ROLE = "implementer"
"""The role of ranks 1..N in a run."""
TOOLS = ("delegate", "converse", "check", "end", "list", "finish")
"""The orchestrator's MCP tools (server ``codeswarm``), named in its priming prompt."""


def roles(workers: int) -> list[str]:
    """Roles by rank for a run of ``workers`` workers: rank 0 orchestrates, the rest implement."""
    return [ORCHESTRATOR_ROLE] + [WORKER_ROLE] * workers


def priming_prompt(
    goal: str,
    workers: list[str],
    *,
    budget_tokens: int | None = None,
    agent_budget_tokens: int | None = None,
) -> str:
    """The first message of the orchestrator's thread: the goal and how to reach it."""
    budget = []
    if budget_tokens is not None:
        budget.append(f"the whole run may spend {budget_tokens} tokens (input + output)")
    if agent_budget_tokens is not None:
        budget.append(f"each agent {agent_budget_tokens}")
    budget_line = f"Budget: {'; '.join(budget)}. Past it work is stopped.\n" if budget else ""
    return (
        "You are the orchestrator of a codeswarm run: a team of coding agents working on one "
        "repository, each in its own persistent thread.\n\n"
        f"GOAL:\n{goal}\n\n"
        f"Your workers: {', '.join(workers)}.\n"
        f"{budget_line}\n"
        "Your tools (MCP server `codeswarm`):\n"
        "- delegate(title, instructions, files?, agent?, depends_on?, budget_tokens?): give a "
        "worker a task; it starts as soon as the tasks it depends on are done.\n"
        "- converse(agent, message, wait=true): ask a worker something in its own thread and "
        "get its answer.\n"
        "- check(agent|task): state, last message, usage, leases, files changed.\n"
        "- end(agent|task, verdict, summary): accept or reject a task's result; the worker "
        "returns to the pool.\n"
        "- list(): agents and tasks.\n"
        "- finish(summary): end the run, when the goal is met or cannot be.\n\n"
        "Rules: split the goal into tasks and delegate them; do not do the work yourself. You "
        "are woken by a message whenever a task you delegated ends: never poll, just end your "
        "turn while work runs. Check each result, end each task with a verdict, and call "
        "finish(summary) once nothing is left to do."
    )


def nudge_prompt() -> str:
    """Said to an orchestrator that ended its turn with nothing running and nothing queued."""
    return (
        "Nothing is running and nothing is queued, and the run has not finished. If the goal "
        "is met (or cannot be), call finish(summary); otherwise delegate what is left."
    )
