"""An independent checker of the audit log: it replays events and proves the safety properties.

It shares no code with codeswarm.coordination (its own path overlap for plain files and directories),
so a bug in the store cannot hide itself here. Input: events as dicts with ``seq``, ``kind``,
``agent`` and ``data`` (what ``codeswarm coord --json events`` prints).

Properties:
- no two holders ever held conflicting leases at once (exclusive vs anything overlapping);
- fencing tokens of grants strictly increase with seq;
- a task is claimed only while open (never by two agents at once), finished only by its holder
  (a delegated task: assigned only while open, to one agent; flagged for review only by its
  holder, who may still finish it);
- every release or expiry ends a lease that was granted and not yet ended.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def overlap(a: str, b: str) -> bool:
    """Plain paths: ``x.py`` a file, ``dir/`` a directory tree, ``.`` everything."""
    if a == "." or b == ".":
        return True
    if a.endswith("/") and b.startswith(a):
        return True
    if b.endswith("/") and a.startswith(b):
        return True
    return a == b


class Violation(AssertionError):
    pass


def check(events: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Replay; raise Violation at the first broken property. Returns counters."""
    active: dict[int, dict[str, Any]] = {}
    tasks: dict[int, tuple[str, str | None]] = {}
    last_token = 0
    last_seq = 0
    counts = {"grants": 0, "ends": 0, "claims": 0, "finished": 0, "events": 0}
    for e in events:
        counts["events"] += 1
        seq, kind, data = e["seq"], e["kind"], e["data"]
        if seq <= last_seq:
            raise Violation(f"seq {seq} after {last_seq}")
        last_seq = seq
        if kind == "lease.acquired":
            if data["token"] <= last_token:
                raise Violation(f"seq {seq}: token {data['token']} after {last_token}")
            last_token = data["token"]
            for other in active.values():
                if other["holder"] == data["holder"]:
                    continue
                if data["mode"] == "shared" and other["mode"] == "shared":
                    continue
                if overlap(data["path"], other["path"]):
                    raise Violation(
                        f"seq {seq}: {data['holder']} got {data['path']} ({data['mode']}) while "
                        f"{other['holder']} held {other['path']} ({other['mode']}) since token "
                        f"{other['token']}"
                    )
            active[data["id"]] = data
            counts["grants"] += 1
        elif kind in ("lease.released", "lease.expired"):
            if active.pop(data["id"], None) is None:
                raise Violation(f"seq {seq}: {kind} of lease {data['id']}, which is not held")
            counts["ends"] += 1
        elif kind == "lease.renewed":
            if data["id"] not in active:
                raise Violation(f"seq {seq}: renewal of lease {data['id']}, which is not held")
        elif kind == "task.added":  # a delegated task may be claimed for its assignee at once
            tasks[data["id"]] = (data["status"], data.get("assignee") if data.get("delegated")
                                 and data["status"] == "claimed" else None)  # fmt: skip
        elif kind == "task.assigned":  # delegated: claimed for its assignee (added or unblocked)
            status, holder = tasks.get(data["id"], ("missing", None))
            if status not in ("open", "claimed") or holder not in (None, data["assignee"]):
                raise Violation(f"seq {seq}: task {data['id']} assigned while it was {status} "
                                f"by {holder}")  # fmt: skip
            tasks[data["id"]] = ("claimed", data["assignee"])
        elif kind == "task.needs_review":
            status, holder = tasks.get(data["id"], ("missing", None))
            if status not in ("claimed", "in_progress") or holder != e["agent"]:
                raise Violation(f"seq {seq}: task {data['id']} flagged by {e['agent']} while it "
                                f"was {status} by {holder}")  # fmt: skip
            tasks[data["id"]] = ("needs_review", holder)
        elif kind == "task.reviewed":
            tasks[data["id"]] = (data["status"], tasks.get(data["id"], ("missing", None))[1])
        elif kind == "task.claimed":
            status, holder = tasks.get(data["id"], ("missing", None))
            if status != "open":
                raise Violation(f"seq {seq}: {e['agent']} claimed task {data['id']} while it was "
                                f"{status} by {holder}")  # fmt: skip
            tasks[data["id"]] = ("claimed", e["agent"])
            counts["claims"] += 1
        elif kind in ("task.done", "task.failed", "task.reopened", "task.started"):
            status, holder = tasks.get(data["id"], ("missing", None))
            held = ("claimed", "in_progress", "needs_review")  # its holder may still report
            if kind in ("task.started", "task.reopened"):
                held = ("claimed", "in_progress")
            if status not in held or (kind != "task.reopened" and holder != e["agent"]):
                raise Violation(f"seq {seq}: {kind} of task {data['id']} by {e['agent']} while "
                                f"it was {status} by {holder}")  # fmt: skip
            if kind == "task.started":
                tasks[data["id"]] = ("in_progress", holder)
            elif kind == "task.reopened":
                tasks[data["id"]] = ("open", None)
            else:
                tasks[data["id"]] = (kind.split(".")[1], holder)
                counts["finished"] += 1
        elif kind in ("task.cancelled", "task.unblocked"):
            tasks[data["id"]] = ("cancelled" if kind == "task.cancelled" else "open", None)
    counts["still_held"] = len(active)
    return counts
