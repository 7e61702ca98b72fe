"""The watchers' rules over the event stream (docs/watch.md), pure: events and the time in, findings
out. No files, no store, no clock of their own: :mod:`.runner` feeds them and acts.

- **stall**: an agent busy (a turn running, no approval pending) with no event for ``stall_s``
  seconds; each further ``stall_s`` without an event fires again (the next action).
- **loop**: the same tool call with the same arguments (a command and its directory, an MCP
  tool and its arguments, a patch and the changes it made) ``loop_k`` times in one turn; each
  further repeat fires again.
- **scope**: a file change outside the ``files`` of the task the agent holds (claimed or in
  progress); the task list comes from the coordination store, passed in by the caller.

A rule that fires gives a :class:`Finding`: the agent, the rule, the action its configuration
names for this firing (``*_actions`` escalate: the n-th firing takes the n-th action, the last
repeating), the evidence, and the kind of record/event/audit row it becomes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codeswarm.core import events as ev
from codeswarm.core.events import Event
from codeswarm.core.swarm import WatchAction, WatchOptions

STALL = "stall"
LOOP = "loop"
SCOPE = "scope"
RULES = (STALL, LOOP, SCOPE)

# record / event / audit kinds
WATCH_STALLED = "watch.stalled"
WATCH_LOOPING = "watch.looping"
WATCH_OUT_OF_SCOPE = "watch.out_of_scope"
WATCH_NUDGED = "watch.nudged"
WATCH_INTERRUPTED = "watch.interrupted"
WATCH_STOPPED = "watch.stopped"
WATCH_KINDS = (
    WATCH_STALLED,
    WATCH_LOOPING,
    WATCH_OUT_OF_SCOPE,
    WATCH_NUDGED,
    WATCH_INTERRUPTED,
    WATCH_STOPPED,
)
_REPORTED = {STALL: WATCH_STALLED, LOOP: WATCH_LOOPING, SCOPE: WATCH_OUT_OF_SCOPE}
_ACTED = {"nudge": WATCH_NUDGED, "interrupt": WATCH_INTERRUPTED, "stop": WATCH_STOPPED}

ACTIONS: tuple[WatchAction, ...] = ("report", "nudge", "interrupt", "stop")


def kind_for(rule: str, action: str) -> str:
    """The record kind of a finding: what was done (``watch.nudged`` …), or, for ``report``,
    what was seen (``watch.stalled``, ``watch.looping``, ``watch.out_of_scope``)."""
    return _ACTED.get(action) or _REPORTED[rule]


@dataclass(frozen=True)
class Finding:
    agent: str
    rule: str
    action: WatchAction
    level: int
    """Which firing of this rule this is (1 for the first; a stall: per quiet spell, a loop or
    scope: per turn)."""
    turn_id: str | None
    evidence: dict[str, Any]

    @property
    def kind(self) -> str:
        return kind_for(self.rule, self.action)

    def as_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "rule": self.rule,
            "action": self.action,
            "level": self.level,
            "turn_id": self.turn_id,
            "evidence": self.evidence,
        }


def call_key(event: Event) -> tuple[str, str] | None:
    """What identifies a tool call for the loop rule (the kind of call and its arguments as
    canonical JSON), or None for an event that is no tool call."""
    kind = event.get("type")
    if kind == ev.COMMAND_STARTED:
        args: Any = {"command": event.get("command"), "cwd": event.get("cwd")}
        call = "command"
    elif kind == ev.TOOL_STARTED:
        args = {
            "server": event.get("server"),
            "tool": event.get("tool"),
            "arguments": event.get("arguments"),
        }
        call = "tool"
    elif kind == ev.FILE_CHANGED:
        args = {"changes": event.get("changes")}
        call = "patch"
    else:
        return None
    return call, json.dumps(args, sort_keys=True, default=str)


def pick(actions: Sequence[WatchAction], level: int) -> WatchAction:
    """The action of the ``level``-th firing (1-based): escalating, the last one repeating."""
    if not actions:
        return "report"
    return actions[min(level, len(actions)) - 1]


@dataclass
class _AgentWatch:
    busy: bool = False
    approval: bool = False
    turn_id: str | None = None
    last_ms: int = 0
    """When the watcher last saw an event of this agent (its own clock)."""
    stall_level: int = 0
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    loop_level: int = 0
    scope_level: int = 0


_ENDS = frozenset({ev.AGENT_STARTED, ev.AGENT_READY, ev.AGENT_STOPPED, ev.AGENT_FAILED})


class Watcher:
    """The rules' state for one swarm. ``observe`` every event in order (``now_ms``: the
    caller's clock when it saw it), ``tick`` now and then for stalls; both return findings."""

    def __init__(self, options: WatchOptions) -> None:
        self.options = options
        self.agents: dict[str, _AgentWatch] = {}

    def _agent(self, name: str) -> _AgentWatch:
        a = self.agents.get(name)
        if a is None:
            a = self.agents[name] = _AgentWatch()
        return a

    def observe(self, event: Event, now_ms: int) -> list[Finding]:
        name = str(event.get("agent"))
        a = self._agent(name)
        a.last_ms = max(a.last_ms, now_ms)
        a.stall_level = 0
        kind = event.get("type")
        if kind == ev.TURN_STARTED or (kind == ev.MESSAGE_ACCEPTED and not event.get("steered")):
            if not a.busy or event.get("turn_id") != a.turn_id:
                self._new_turn(a, event.get("turn_id"))
            a.busy = True
        elif kind == ev.TURN_COMPLETED or kind in _ENDS:
            a.busy = a.approval = False
        elif kind == ev.APPROVAL_REQUESTED:
            a.approval = True
        elif kind == ev.APPROVAL_RESOLVED:
            a.approval = False
        return self._loop(name, a, event)

    @staticmethod
    def _new_turn(a: _AgentWatch, turn_id: Any) -> None:
        a.turn_id = turn_id if isinstance(turn_id, str) else None
        a.calls.clear()
        a.loop_level = a.scope_level = 0

    def _loop(self, name: str, a: _AgentWatch, event: Event) -> list[Finding]:
        k = self.options.loop_k
        if k is None:
            return []
        key = call_key(event)
        if key is None:
            return []
        a.calls[key] += 1
        count = a.calls[key]
        if count < k:
            return []
        a.loop_level += 1
        evidence = {"call": key[0], "arguments": json.loads(key[1]), "count": count}
        if isinstance(event.get("item_id"), str):
            evidence["item_id"] = event["item_id"]
        action = pick(self.options.loop_actions, a.loop_level)
        return [Finding(name, LOOP, action, a.loop_level, a.turn_id, evidence)]

    def tick(self, now_ms: int) -> list[Finding]:
        """Stalls as of ``now_ms``: each busy agent quiet for another ``stall_s`` fires once."""
        stall = self.options.stall_s
        if stall is None or stall <= 0:
            return []
        period = int(stall * 1000)
        out = []
        for name, a in self.agents.items():
            if not a.busy or a.approval:
                continue
            quiet = now_ms - a.last_ms
            due = quiet // period
            if due <= a.stall_level:
                continue
            a.stall_level = due
            evidence = {"quiet_s": round(quiet / 1000, 3), "stall_s": stall}
            action = pick(self.options.stall_actions, a.stall_level)
            out.append(Finding(name, STALL, action, a.stall_level, a.turn_id, evidence))
        return out

    def scope(self, event: Event, outside: Sequence[str], tasks: Iterable[int]) -> list[Finding]:
        """A ``file.changed`` of an agent whose changes ``outside`` lie outside the files of its
        ``tasks`` (see :func:`codeswarm.coordination.paths.outside`): a finding, or none when nothing is outside."""
        if not self.options.scope or not outside:
            return []
        name = str(event.get("agent"))
        a = self._agent(name)
        a.scope_level += 1
        evidence = {"paths": list(outside), "tasks": list(tasks)}
        if isinstance(event.get("item_id"), str):
            evidence["item_id"] = event["item_id"]
        action = pick(self.options.scope_actions, a.scope_level)
        return [Finding(name, SCOPE, action, a.scope_level, a.turn_id, evidence)]


def changed_paths(event: Event) -> list[str]:
    """The paths a ``file.changed`` event wrote (moves: both ends)."""
    out: list[str] = []
    for change in event.get("changes") or ():
        if not isinstance(change, dict):
            continue
        for key in ("path", "move_path"):
            value = change.get(key)
            if isinstance(value, str) and value and value not in out:
                out.append(value)
    return out
