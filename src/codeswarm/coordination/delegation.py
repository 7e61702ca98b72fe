"""Delegation: an agent (the orchestrator) hands tasks to the others and hears back by push.

A delegated task is assigned to a named agent or to the next idle one (an active agent whose role
is not ``orchestrator`` and that has no delegated or held task under way). When its dependencies
are all done (at once, or in the transaction that completes the last one) it is claimed for its
assignee and a message with its instructions and ``task_id`` is sent to the assignee: the message
wakes the agent's worker. When it ends (done, failed, cancelled, or ``needs_review``: a turn for it
ended without its agent reporting) a compact message tells its creator: that wakes the creator.
Nobody polls.
"""

from __future__ import annotations

from codeswarm.coordination import rows
from codeswarm.coordination._base import Limits, _lease_data
from codeswarm.coordination.bounds import BUDGET, check_count
from codeswarm.coordination.models import (
    ACCEPTED,
    ACTIVE,
    BUSY,
    CANCEL,
    CANCELLED,
    CLAIMED,
    DONE,
    FAILED,
    HELD,
    NEEDS_REVIEW,
    ORCHESTRATOR,
    TERMINAL,
    VERDICTS,
    Task,
    agent_name,
    record_id,
)
from codeswarm.coordination.tasks import TaskOps
from codeswarm.core.errors import ClaimLostError, CoordInputError, NotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from codeswarm.coordination._base import AgentLike
    from codeswarm.coordination.store import Tx

STARTED = "started"  # claimed for its assignee, who was sent its instructions
WAITING = "waiting"  # assigned, blocked until its dependencies are done
UNASSIGNED = "unassigned"  # no idle agent: open (or blocked) for anyone to claim

_BUSY_SQL = ", ".join(f"'{s}'" for s in sorted(BUSY))


class DelegationOps(TaskOps):
    def delegate(
        self,
        by: AgentLike,
        title: str,
        instructions: str,
        *,
        agent: str | None = None,
        files: Iterable[str] = (),
        depends_on: Iterable[int] = (),
        budget_tokens: int | None = None,
        cwd: str | None = None,
    ) -> tuple[Task, str]:
        """Add a task for ``agent`` (a name; absent: the first idle agent by name, see the
        module docstring) and return it with its state: ``started`` (claimed for the assignee,
        who was sent the instructions), ``waiting`` (assigned; the instructions go out when
        the last dependency is done) or ``unassigned`` (no idle agent: claimable by anyone).

        Raises NotFoundError for an unknown agent or dependency; CoordInputError for an agent
        that is not active, a dependency that failed or was cancelled, a budget that is not
        positive.
        """
        title = self._line("title", title, self.limits.title)
        self._text("instructions", instructions, self.limits.text)
        if not instructions.strip():
            raise CoordInputError("instructions must not be empty")
        paths = self._paths("files", files, cwd)
        deps = sorted({record_id("task", d) for d in depends_on})
        check_count("depends_on", len(deps))
        if budget_tokens is not None:
            budget_tokens = BUDGET.check_int("budget_tokens", budget_tokens)
        wanted = None if agent is None else agent_name(agent)
        with self.store.write() as tx:
            now = self.clock.now()
            actor = self._begin_as(tx, now, by)[0]
            assignee = self._assignee(tx, now, wanted, actor[0])
            task, ready = self._create(
                tx, now, actor, title=title, type="task", description=instructions,
                files=paths, priority=0, deps=deps, key=None, parent=None, if_dep_fails=CANCEL,
                budget_tokens=budget_tokens, assignee=assignee, delegated=True,
            )  # fmt: skip
            if assignee is None:
                return task, UNASSIGNED
            if not ready:
                return task, WAITING
            self._wake(tx, task, now, actor)
        return task, STARTED

    def _assignee(self, tx: Tx, now: float, wanted: str | None, me: str) -> tuple[str, int] | None:
        if wanted is not None:
            row = tx.one(
                "SELECT generation, status, expires_at FROM agents WHERE scope = ? AND name = ?",
                (self.scope, wanted),
            )
            if row is None:
                raise NotFoundError(f"no agent named {wanted!r} has registered in this scope")
            if row[1] != ACTIVE or float(row[2]) <= now:
                raise CoordInputError(f"agent {wanted!r} is not active ({row[1]})")
            return wanted, int(row[0])
        row = tx.one(
            "SELECT a.name, a.generation FROM agents a WHERE a.scope = ? AND a.status = 'active' "
            "AND a.expires_at > ? AND a.role != ? AND a.name != ? AND NOT EXISTS (SELECT 1 FROM "
            f"tasks t WHERE t.scope = a.scope AND t.assignee = a.name AND t.status IN ({_BUSY_SQL})) "
            "ORDER BY a.registered_at, a.name LIMIT 1",
            (self.scope, now, ORCHESTRATOR, me),
        )
        return None if row is None else (str(row[0]), int(row[1]))

    def idle_agents(self) -> list[str]:
        """The names of the agents ``delegate`` may pick, in the order it picks them."""
        with self.store.read() as tx:
            return [
                str(r[0])
                for r in tx.query(
                    "SELECT a.name FROM agents a WHERE a.scope = ? AND a.status = 'active' "
                    "AND a.expires_at > ? AND a.role != ? AND NOT EXISTS (SELECT 1 FROM tasks t "
                    "WHERE t.scope = a.scope AND t.assignee = a.name AND t.status IN "
                    f"({_BUSY_SQL})) ORDER BY a.registered_at, a.name",
                    (self.scope, self.clock.now(), ORCHESTRATOR),
                )
            ]

    def _hand_out(self, tx: Tx, now: float, name: str, ended: Sequence[int] = ()) -> None:
        """Give agent ``name`` the oldest unassigned delegated task (``delegate`` found no idle
        agent for it) when ``name`` is idle: active, not the orchestrator, and busy with no
        task but ``ended`` (tasks this transaction just ended: its writes are deferred). The
        task is claimed for it and its instructions sent (from the task's creator), in the
        transaction that freed it: the wake-up happens exactly once."""
        me = tx.one(
            "SELECT generation, status, role, expires_at FROM agents WHERE scope = ? AND name = ?",
            (self.scope, name),
        )
        if me is None or me[1] != ACTIVE or me[2] == ORCHESTRATOR or float(me[3]) <= now:
            return
        for (busy,) in tx.query(
            f"SELECT id FROM tasks WHERE scope = ? AND assignee = ? AND status IN ({_BUSY_SQL})",
            (self.scope, name),
        ):
            if int(busy) not in ended:
                return
        row = tx.one(
            f"SELECT {rows.TASK_COLS} FROM tasks WHERE scope = ? AND delegated = 1 AND "
            "assignee IS NULL AND status = 'open' ORDER BY id LIMIT 1",
            (self.scope,),
        )
        if row is None:
            return
        self._give(tx, rows.task(row), now, (name, int(me[0])))

    def _hand_out_ready(self, tx: Tx, task: Task, now: float) -> None:
        """An unassigned delegated task whose last dependency just got done: to the first idle
        agent (as ``delegate`` picks), in this transaction; none idle: it stays open, for the
        next agent that frees up (:meth:`_hand_out`) or anyone to claim."""
        creator = agent_name(task.created_by) if task.created_by else ""
        pick = self._assignee(tx, now, None, creator)
        if pick is not None:
            self._give(tx, task, now, pick)

    def _give(self, tx: Tx, task: Task, now: float, to: tuple[str, int]) -> None:
        """Claim ``task`` for ``to`` and send it the instructions, from the task's creator."""
        creator = None
        if task.created_by is not None:
            by = tx.one(
                "SELECT generation FROM agents WHERE scope = ? AND name = ?",
                (self.scope, agent_name(task.created_by)),
            )
            creator = None if by is None else (agent_name(task.created_by), int(by[0]))
        handed = self._update(tx, task, now, status=CLAIMED, assignee=to, claimed_at=now)
        self._wake(tx, handed, now, creator)

    def flag_for_review(self, agent: AgentLike, task_id: int, *, reason: str = "") -> Task | None:
        """A turn of ``agent`` for task ``task_id`` ended: if the task is still claimed or in
        progress by it (it reported neither done nor failed), mark it ``needs_review`` and tell
        a delegated task's creator; returns it then, else None (nothing to do)."""
        task_id = record_id("task", task_id)
        self._text("reason", reason, self.limits.text)
        with self.store.write() as tx:
            now = self.clock.now()
            (name, gen), (found,) = self._begin_as(tx, now, agent, [self._select(task_id)])
            task = self._found(found, task_id)
            if task.status not in HELD or task.assignee is None:
                return None
            if agent_name(task.assignee) != name:
                return None
            why = reason or "the turn ended without a report"
            updated = self._update(tx, task, now, status=NEEDS_REVIEW, result=why)
            self._event(
                tx, now, "task.needs_review", str(task.id), {"id": task.id, "reason": why},
                agent=(name, gen),
            )  # fmt: skip
            self._tell_creator(tx, updated, now, (name, gen))
        return updated

    def end_task(
        self, task_id: int, verdict: str, summary: str = "", *, by: AgentLike
    ) -> tuple[Task, list[str]]:
        """Record ``by``'s verdict on a task and free its agent: ``accepted`` makes it done,
        ``rejected`` failed (its dependents then as for a failure); the assignee's leases are
        released. Returns the task and the released lease paths.

        Raises NotFoundError for an unknown task, CoordInputError for an unknown verdict,
        ClaimLostError for accepting a task that already failed or was cancelled.
        """
        task_id = record_id("task", task_id)
        verdict = _verdict(verdict)
        self._text("summary", summary, self.limits.text)
        with self.store.write() as tx:
            now = self.clock.now()
            actor = self._begin_as(tx, now, by)[0]
            task = self._load(tx, task_id)
            updated = self._judge(tx, task, verdict, summary, now, actor)
            released = self._free(tx, task.assignee, now, actor)
            if task.assignee is not None:
                self._hand_out(tx, now, agent_name(task.assignee), [task.id])
        return updated, released

    def end_agent(
        self, agent: str, verdict: str, summary: str = "", *, by: AgentLike
    ) -> tuple[list[Task], list[str]]:
        """:meth:`end_task` for every task ``agent`` holds or has waiting for review, and
        release its leases: it is idle again. Returns the tasks and the released lease paths.
        Raises NotFoundError for an unknown agent."""
        name = agent_name(agent)
        verdict = _verdict(verdict)
        self._text("summary", summary, self.limits.text)
        with self.store.write() as tx:
            now = self.clock.now()
            actor = self._begin_as(tx, now, by)[0]
            if tx.one("SELECT 1 FROM agents WHERE scope = ? AND name = ?",
                      (self.scope, name)) is None:  # fmt: skip
                raise NotFoundError(f"no agent named {name!r} has registered in this scope")
            found = [
                rows.task(r)
                for r in tx.query(
                    f"SELECT {rows.TASK_COLS} FROM tasks WHERE scope = ? AND assignee = ? AND "
                    "status IN ('claimed', 'in_progress', 'needs_review') ORDER BY id",
                    (self.scope, name),
                )
            ]
            ended = [self._judge(tx, t, verdict, summary, now, actor) for t in found]
            released = self._free(tx, name, now, actor)
            self._hand_out(tx, now, name, [t.id for t in found])
        return ended, released

    def _judge(
        self, tx: Tx, task: Task, verdict: str, summary: str, now: float, actor: tuple[str, int]
    ) -> Task:
        if verdict == ACCEPTED and task.status in (FAILED, CANCELLED):
            raise ClaimLostError(f"task #{task.id} is {task.status}; it cannot be accepted")
        if verdict == ACCEPTED:
            status = DONE
        else:
            status = task.status if task.status in (FAILED, CANCELLED) else FAILED
        result = task.result
        if status != task.status and summary:
            result = summary
        updated = self._update(tx, task, now, verdict=verdict, status=status, result=result)
        self._event(
            tx, now, "task.reviewed", str(task.id),
            {"id": task.id, "verdict": verdict, "summary": summary, "status": status,
             "was": task.status}, agent=actor,
        )  # fmt: skip
        if status != task.status and task.status not in TERMINAL:
            self._settle(tx, task.id, status, now, actor)
        elif status == FAILED and task.status == DONE:
            self._settle(tx, task.id, FAILED, now, actor)
        return updated

    def _free(self, tx: Tx, assignee: str | None, now: float, actor: tuple[str, int]) -> list[str]:
        """Release every lease of ``assignee`` (an agent ref or name)."""
        if assignee is None:
            return []
        name = agent_name(assignee)
        released = []
        for row in tx.query(
            f"DELETE FROM leases WHERE scope = ? AND holder = ? RETURNING {rows.LEASE_COLS}",
            (self.scope, name),
        ):
            lease = rows.lease(row)
            data = _lease_data(lease)
            data["reason"] = f"ended by {actor[0]}"
            self._event(tx, now, "lease.released", lease.path, data, agent=actor)
            released.append(lease.path)
        return released


REPORT_ENV = "CODESWARM_REPORT_CHARS"
"""The swarm's ``report_chars`` (SwarmSpec), given to its agents' MCP servers and hooks."""


def report_limits(chars: str | int | None) -> Limits:
    """The store's limits with :attr:`Limits.report` = ``chars`` (the swarm's ``report_chars``;
    absent or not a positive number: the default): the most characters of an agent's words
    carried to a delegated task's creator (its result in the message that tells it, a reply,
    ``check``)."""
    limits = Limits()
    try:
        n = int(chars) if chars is not None else 0
    except ValueError:
        n = 0
    if n > 0:
        limits.report = max(n, 100)
    return limits


def _verdict(verdict: str) -> str:
    if verdict not in VERDICTS:
        raise CoordInputError(f"verdict must be 'accepted' or 'rejected', not {verdict!r}")
    return verdict
