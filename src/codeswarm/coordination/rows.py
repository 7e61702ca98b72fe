"""Table columns and the mapping from rows to records (one place for both)."""

from __future__ import annotations

from codeswarm.coordination.models import Agent, KvEntry, Lease, Message, Task, agent_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from codeswarm.coordination.store import Row

AGENT_COLS = (
    "name, generation, status, role, label, pid, host, lease_s, registered_at, heartbeat_at, "
    "expires_at, ended_at"
)
LEASE_COLS = (
    "id, path, kind, mode, holder, generation, note, id AS token, ttl, acquired_at, renewed_at, "
    "expires_at"
)
TASK_COLS = (
    "id, type, title, description, files, priority, depends_on, idem_key, parent, status, "
    "assignee, assignee_gen, created_by, created_at, updated_at, claimed_at, result, "
    "files_changed, tests_run, if_dep_fails, version, budget_tokens, delegated, verdict"
)
KV_COLS = "key, value, version, updated_at, updated_by"
MESSAGE_COLS = (
    "m.id, m.sender, m.recipient, m.text, m.sent_at, m.reply_to, m.task_id, m.expects_reply"
)


def agent(r: Row) -> Agent:
    return Agent(
        name=r[0],
        generation=int(r[1]),
        status=r[2],
        role=r[3],
        label=r[4],
        pid=r[5],
        host=r[6],
        lease_s=float(r[7]),
        registered_at=float(r[8]),
        heartbeat_at=float(r[9]),
        expires_at=float(r[10]),
        ended_at=_f(r[11]),
    )


def lease(r: Row) -> Lease:
    return Lease(
        id=int(r[0]),
        path=r[1],
        kind=r[2],
        mode=r[3],
        holder=agent_ref(r[4], int(r[5])),
        note=r[6],
        token=int(r[7]),
        ttl=_f(r[8]),
        acquired_at=float(r[9]),
        renewed_at=float(r[10]),
        expires_at=_f(r[11]),
    )


def task(r: Row) -> Task:
    return Task(
        id=int(r[0]),
        type=r[1],
        title=r[2],
        description=r[3],
        files=split_lines(r[4]),
        priority=int(r[5]),
        depends_on=[int(x) for x in r[6].split(",") if x],
        key=r[7],
        parent=None if r[8] is None else int(r[8]),
        status=r[9],
        assignee=None if r[10] is None else agent_ref(r[10], int(r[11])),
        created_by=r[12],
        created_at=float(r[13]),
        updated_at=float(r[14]),
        claimed_at=_f(r[15]),
        result=r[16],
        files_changed=split_lines(r[17]),
        tests_run=split_lines(r[18]),
        if_dep_fails=r[19],
        version=int(r[20]),
        budget_tokens=None if r[21] is None else int(r[21]),
        delegated=bool(r[22]),
        verdict=r[23],
    )


def kv(r: Row) -> KvEntry:
    return KvEntry(key=r[0], value=r[1], version=int(r[2]), updated_at=float(r[3]), updated_by=r[4])


def message(r: Row) -> Message:
    return Message(
        id=int(r[0]),
        sender=r[1],
        to=r[2],
        text=r[3],
        sent_at=float(r[4]),
        reply_to=None if r[5] is None else int(r[5]),
        task_id=None if r[6] is None else int(r[6]),
        expects_reply=bool(r[7]),
    )


def join_lines(items: list[str]) -> str:
    return "\n".join(items)


def split_lines(text: str) -> list[str]:
    return text.split("\n") if text else []


def _f(value: Any) -> float | None:
    return None if value is None else float(value)
