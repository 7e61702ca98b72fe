"""``codeswarm run``: a swarm with an orchestrator, followed until the goal is done.

- :mod:`.prompt` — the roles of a run (rank 0 orchestrates) and the orchestrator's priming prompt;
- :mod:`.controller` — follows the router's events and the store's audit log and tasks, and
  decides when the run ends (:class:`RunEnd`: finished, failed, budget, max_time, interrupted);
- :mod:`.summary` — tasks with verdicts, tokens per agent / task / total, files changed, diff stat.
"""

from codeswarm.control.run.controller import (
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_INTERRUPTED,
    Board,
    RunController,
    RunEnd,
)
from codeswarm.control.run.prompt import ORCHESTRATOR_ROLE, WORKER_ROLE, priming_prompt, roles
from codeswarm.control.run.summary import build_summary, changed_since, diff_stat, dirty_files

__all__ = [
    "EXIT_BUDGET",
    "EXIT_FAILED",
    "EXIT_FINISHED",
    "EXIT_INTERRUPTED",
    "ORCHESTRATOR_ROLE",
    "WORKER_ROLE",
    "Board",
    "RunController",
    "RunEnd",
    "build_summary",
    "changed_since",
    "diff_stat",
    "dirty_files",
    "priming_prompt",
    "roles",
]
