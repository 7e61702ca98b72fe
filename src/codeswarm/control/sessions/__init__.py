"""Sessions: every agent thread of every swarm of a project, as Codex recorded it on disk.

A swarm's run directory (:class:`~codeswarm.core.swarm.RunDir`) holds each agent's own
``CODEX_HOME``; Codex writes each thread there as a *rollout*,
``agents/<agent>/codex-home/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl``: one JSON
object per line (``session_meta`` first; ``event_msg`` records for turns and completed items;
``token_usage_record`` per model response). A resumed thread goes on appending to its file. This
package reads those files, never writing them (``rollouts``), says which threads there are and
which are live (``threads``), stops an agent or a swarm, and removes ended swarms' run
directories, never a live one (``stop``).

Tokens are the sum of the thread's ``token_usage_record`` usages, one per model response
(deduplicated by response id): exact across resumes, where Codex repeats its last usage
notification but records no new response.
"""

from __future__ import annotations

from codeswarm.control.sessions.rollouts import Thread, Tokens, Turn, read_rollouts
from codeswarm.control.sessions.stop import (
    disk_bytes,
    kill_agent,
    kill_swarm,
    last_activity_ms,
    remove_run,
)
from codeswarm.control.sessions.threads import (
    ENDED,
    LIVE,
    STOPPED,
    UNKNOWN,
    Liveness,
    agent_state,
    agent_threads,
    find_thread,
    liveness,
    load_thread,
    project_threads,
    swarm_runs,
    swarm_threads,
)
from codeswarm.core.durations import parse_duration

__all__ = [
    "ENDED",
    "LIVE",
    "STOPPED",
    "UNKNOWN",
    "Liveness",
    "Thread",
    "Tokens",
    "Turn",
    "agent_state",
    "agent_threads",
    "disk_bytes",
    "find_thread",
    "kill_agent",
    "kill_swarm",
    "last_activity_ms",
    "liveness",
    "load_thread",
    "parse_duration",
    "project_threads",
    "read_rollouts",
    "remove_run",
    "swarm_runs",
    "swarm_threads",
]
