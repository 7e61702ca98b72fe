"""Fleet state: what every agent is doing and has spent, folded from events.

:class:`FleetState` is a pure reducer: ``apply(event)`` for every event in order gives the same
state whether the events arrive live or are replayed from the outboxes.
"""

from __future__ import annotations

from codeswarm.core import events as ev
from codeswarm.core.ids import agent_rank
from codeswarm.core.usage import ThreadTotals, Tokens

TYPE_CHECKING = False  # not `typing` at run time: `status` and `interrupt` replay events
if TYPE_CHECKING:
    from typing import Any

    from codeswarm.core.events import Event

# Agent states (the `state` field of `codeswarm status`):
STARTING = "starting"  # the worker is up, Codex not yet ready
IDLE = "idle"  # ready, no turn running
BUSY = "busy"  # a turn is running
WAITING_APPROVAL = "waiting_approval"  # a running turn waits for someone to approve
STOPPED = "stopped"  # stopped on request
FAILED = "failed"  # the worker died and was not (yet) brought back


class AgentView:
    """One agent's state as ``status`` shows it. (A plain class, not a dataclass: ``status``
    and ``interrupt`` import this, and ``dataclasses`` costs a hot command milliseconds.)"""

    def __init__(self, id: str, rank: int | None) -> None:
        self.id = id
        self.rank = rank
        self.state: str = STARTING
        self.turns = 0
        self.input_tokens = 0
        self.cached_input_tokens = 0
        self.output_tokens = 0
        self.total_tokens = 0
        self.last_message: str | None = None
        self.thread_id: str | None = None
        self.turn_id: str | None = None
        self.pending_approvals: dict[str, Event] = {}
        self.threads = ThreadTotals()
        """Each thread's running token totals (the largest seen): Codex's own cumulative count,
        so a usage update sent again (after ``thread/resume``, on a router replay) adds nothing."""
        self.restarts = 0
        self.pid: int | None = None
        self.host: str | None = None
        self.node: str | None = None
        self.last_seen_ms = 0
        self.error: str | None = None
        self.budget: dict[str, dict[str, Any]] = {}
        """Each budget of the agent that was reached (key ``agent``, ``swarm`` or ``task:<id>``):
        ``{scope, task_id?, limit, spent, state}``, state ``warning`` or ``exceeded``."""
        self.error_passes = False
        """Whether ``error`` is about reaching the model: a turn that completes clears it."""
        self.seq = 0
        """The last event seq applied (for dedupe by consumers)."""

    _SAVED = ("state", "turns", "input_tokens", "cached_input_tokens", "output_tokens",
              "total_tokens", "last_message", "thread_id", "turn_id", "pending_approvals",
              "restarts", "pid", "host", "node", "last_seen_ms", "error", "budget",
              "error_passes", "seq")  # fmt: skip

    def saved(self) -> dict[str, Any]:
        """Everything this view holds, as JSON (a status checkpoint: :meth:`restore` gives the
        same view back)."""
        out = {name: getattr(self, name) for name in self._SAVED}
        out["threads"] = {
            thread: [t.input, t.cached_input, t.output, t.total]
            for thread, t in self.threads.by_thread.items()
        }
        return out

    @classmethod
    def restore(cls, id: str, rank: int | None, saved: dict[str, Any]) -> AgentView:
        """The view :meth:`saved` wrote (``KeyError``/``TypeError``/``ValueError`` when it is
        not one)."""
        view = cls(id, rank)
        for name in cls._SAVED:
            setattr(view, name, saved[name])
        if type(view.pending_approvals) is not dict or type(view.budget) is not dict:
            raise ValueError("not a saved view")
        for thread, (i, c, o, t) in saved["threads"].items():
            view.threads.add(str(thread), Tokens(int(i), int(c), int(o), int(t)))
        return view

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rank": self.rank,
            "state": self.state,
            "turns": self.turns,
            "tokens": {
                "input": self.input_tokens,
                "cached_input": self.cached_input_tokens,
                "output": self.output_tokens,
                "total": self.total_tokens,
            },
            "last_message": self.last_message,
            "thread_id": self.thread_id,
            "turn_id": self.turn_id,
            "pending_approvals": list(self.pending_approvals.values()),
            "restarts": self.restarts,
            "pid": self.pid,
            "host": self.host,
            "node": self.node,
            "last_seen_ms": self.last_seen_ms,
            "error": self.error,
            "budget": self.budget,
        }


_USAGE_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "total_tokens")


class FleetState:
    def __init__(self, swarm: str, agents: list[str]) -> None:
        self.swarm = swarm
        self.agents: dict[str, AgentView] = {a: AgentView(a, agent_rank(a)) for a in agents}

    def view(self, agent: str) -> AgentView:
        view = self.agents.get(agent)
        if view is None:
            view = self.agents[agent] = AgentView(agent, agent_rank(agent))
        return view

    def apply(self, event: Event) -> None:
        a = self.view(str(event.get("agent")))
        a.seq = max(a.seq, int(event.get("seq") or 0))
        ts = event.get("ts")
        if isinstance(ts, int):
            a.last_seen_ms = max(a.last_seen_ms, ts)
        kind = event["type"]
        if kind == ev.AGENT_STARTED:
            a.state = STARTING
            a.pid = event.get("pid")
            a.host = event.get("host")
            a.node = event.get("node")
            a.error = None
        elif kind == ev.AGENT_READY:
            a.state = IDLE
            a.thread_id = event.get("thread_id")
            a.turn_id = None
            a.pending_approvals.clear()
        elif kind == ev.AGENT_RESTARTED:
            a.restarts += 1
        elif kind == ev.TURN_STARTED:
            a.state = BUSY
            a.turn_id = event.get("turn_id")
        elif kind == ev.APPROVAL_REQUESTED:
            a.pending_approvals[str(event.get("request_id"))] = event
            a.state = WAITING_APPROVAL
        elif kind == ev.APPROVAL_RESOLVED:
            a.pending_approvals.pop(str(event.get("request_id")), None)
            if not a.pending_approvals and a.state == WAITING_APPROVAL:
                a.state = BUSY
        elif kind == ev.TURN_COMPLETED:
            a.turns += 1
            a.turn_id = None
            a.pending_approvals.clear()
            if a.state in (BUSY, WAITING_APPROVAL, STARTING):
                a.state = IDLE
            if event.get("status") == "failed":
                a.error, a.error_passes = event.get("error"), True
            elif event.get("status") == "completed" and a.error_passes:
                a.error = None  # the model answered: its earlier failure is over
        elif kind == ev.MESSAGE_COMPLETED:
            a.last_message = event.get("text")
        elif kind == ev.USAGE_UPDATED:
            self._usage(a, event)
        elif kind in (ev.BUDGET_WARNING, ev.BUDGET_EXCEEDED):
            self._budget(a, event)
        elif kind == ev.AGENT_STOPPED:
            a.state = STOPPED
            a.turn_id = None
        elif kind == ev.AGENT_FAILED:
            a.state = FAILED
            a.error = event.get("reason") or event.get("message")
        elif kind == ev.ERROR:
            a.error = event.get("message")
            # about reaching the model (over once a turn completes), or about the agent itself
            a.error_passes = bool(
                event.get("will_retry") or event.get("http_status") or event.get("gave_up")
            )

    @staticmethod
    def _usage(a: AgentView, event: Event) -> None:
        """An agent spends what each of its threads says it spent in total (Codex keeps the
        running total per thread across restarts and resumes); a thread's figures only grow."""
        total = event.get("total") or {}
        thread = str(event.get("thread_id") or a.thread_id or "")
        n = {k: int(total.get(k) or 0) for k in _USAGE_KEYS}
        a.threads.add(
            thread,
            Tokens(
                n["input_tokens"], n["cached_input_tokens"], n["output_tokens"], n["total_tokens"]
            ),
        )
        spent = a.threads.sum
        a.input_tokens, a.cached_input_tokens = spent.input, spent.cached_input
        a.output_tokens, a.total_tokens = spent.output, spent.total

    @staticmethod
    def _budget(a: AgentView, event: Event) -> None:
        """A budget reached: its latest state (a warning never undoes an ``exceeded`` of the
        same limit)."""
        scope = str(event.get("scope") or "agent")
        task = event.get("task_id")
        key = f"task:{task}" if scope == "task" else scope
        state = "exceeded" if event["type"] == ev.BUDGET_EXCEEDED else "warning"
        seen = a.budget.get(key)
        if state == "warning" and seen and seen["state"] == "exceeded" \
                and seen["limit"] == event.get("limit"):  # fmt: skip
            return
        entry: dict[str, Any] = {"scope": scope, "limit": event.get("limit"),
                                 "spent": event.get("spent"), "state": state}  # fmt: skip
        if scope == "task":
            entry["task_id"] = task
        a.budget[key] = entry

    def totals(self) -> dict[str, int]:
        views = self.agents.values()
        return {
            "input": sum(v.input_tokens for v in views),
            "cached_input": sum(v.cached_input_tokens for v in views),
            "output": sum(v.output_tokens for v in views),
            "total": sum(v.total_tokens for v in views),
        }

    def as_json(self) -> dict[str, Any]:
        ordered = sorted(self.agents.values(), key=lambda v: (v.rank is None, v.rank or 0, v.id))
        return {
            "swarm": self.swarm,
            "agents": [v.as_json() for v in ordered],
            "tokens": self.totals(),
        }
