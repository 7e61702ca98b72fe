"""Printing a ``codeswarm coord`` result: JSON with ``--json``, else one short line per record."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def write(name: str, value: Any, now: float, *, as_json: bool) -> None:
    """Print what command ``name`` returned on stdout (nothing for an empty human form);
    ``now`` is the store's clock, for "expires in"."""
    if as_json:
        from codeswarm.coordination._json import dumps

        sys.stdout.write(dumps(_plain(value)) + "\n")
        return
    text = render(name, value, now)
    if text:
        sys.stdout.write(text + "\n")


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    s = now - ts
    return f"{s:.0f}s ago" if s >= 0 else f"in {-s:.0f}s"


def render(name: str, value: Any, now: float) -> str:
    """The human form of a result."""
    from codeswarm.coordination import Agent, AuditEvent, KvEntry, Lease, Message, Task

    if value is None:
        return "" if name != "task claim-next" else "no open task"
    if name == "send" and isinstance(value, Message):
        return f"sent #{value.id} to {value.to}"
    if name == "kv get" and isinstance(value, KvEntry):
        return value.value
    if isinstance(value, list):
        return "\n".join(render(name, v, now) for v in value)
    if isinstance(value, Agent):
        if name == "register":
            return value.id
        return (f"{value.id:<20} {value.status:<12} {value.role or '-':<10} "
                f"{value.pid or '-'}@{value.host}  expires {_ago(value.expires_at, now)}")  # fmt: skip
    if isinstance(value, Lease):
        expiry = "no ttl" if value.expires_at is None else f"expires {_ago(value.expires_at, now)}"
        note = f"  {value.note!r}" if value.note else ""
        return (f"{value.path:<30} {value.mode:<9} {value.holder:<16} token {value.token:<6} "
                f"{expiry}{note}")  # fmt: skip
    if isinstance(value, Task):
        who = f"  [{value.assignee}]" if value.assignee else ""
        if value.budget_tokens is not None:
            who += f"  budget {value.budget_tokens}"
        if value.verdict:
            who += f"  {value.verdict}"
        return f"#{value.id:<5} {value.status:<11} p{value.priority:<3} {value.title}{who}"
    if isinstance(value, KvEntry):
        text = value.value if len(value.value) <= 60 else value.value[:57] + "..."
        return f"{value.key}  v{value.version}  {text}"
    if isinstance(value, Message):
        about = f" (task #{value.task_id})" if value.task_id is not None else ""
        about += " (expects a reply)" if value.expects_reply else ""
        about += f" (re #{value.reply_to})" if value.reply_to is not None else ""
        return f"#{value.id} from {value.sender or '-'} to {value.to}{about}: {value.text}"
    if isinstance(value, AuditEvent):
        from codeswarm.coordination._json import dumps

        return (f"{value.seq:<7} {value.kind:<18} {value.agent or '-':<14} {value.subject}  "
                f"{dumps(value.data)}")  # fmt: skip
    if isinstance(value, dict) and "notes" in value:  # task show
        lines = [
            f"{k}: {v}"
            for k, v in value.items()
            if k != "notes" and v is not False and v not in (None, "", [])
        ]
        lines += [f"note {n['seq']} ({n['agent'] or '-'}): {n['text']}" for n in value["notes"]]
        return "\n".join(lines)
    if isinstance(value, dict):
        return " ".join(f"{k} {v}" for k, v in value.items())
    return str(value)
