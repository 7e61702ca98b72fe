"""Tasks: a dependency DAG of work items with compare-and-set claims and idempotent creation."""

from __future__ import annotations

from codeswarm.coordination import rows
from codeswarm.coordination._base import CoordBase, ref_parts
from codeswarm.coordination.bounds import BUDGET, PRIORITY, VERSION, check_count, check_path
from codeswarm.coordination.messages import cut, post
from codeswarm.coordination.models import BLOCK as BLOCK_ON_FAILURE
from codeswarm.coordination.models import (
    BLOCKED,
    CANCEL,
    CANCELLED,
    CLAIMED,
    DONE,
    FAILED,
    HELD,
    IN_PROGRESS,
    NEEDS_REVIEW,
    OPEN,
    TASK_STATUSES,
    TERMINAL,
    Task,
    TaskNote,
    agent_name,
    agent_ref,
    record_id,
    split_ref,
)
from codeswarm.coordination.paths import PathSpec, from_canonical, normalize
from codeswarm.core.errors import (
    ClaimLostError,
    CoordInputError,
    DependencyCycleError,
    NotFoundError,
    VersionMismatchError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from codeswarm.coordination._base import AgentLike
    from codeswarm.coordination.store import Params, Row, Tx

_ENDED = {DONE: "task.done", FAILED: "task.failed", CANCELLED: "task.cancelled"}
REPORTED = (DONE, FAILED, CANCELLED, NEEDS_REVIEW)
"""The ends of a delegated task its creator is told of (by a message that wakes it)."""


class _Keep:
    """The default of ``assignee`` in ``_update``: leave it as it is."""


_KEEP = _Keep()


class TaskOps(CoordBase):
    def add_task(
        self,
        title: str,
        *,
        type: str = "task",
        description: str = "",
        files: Iterable[str] = (),
        priority: int = 0,
        depends_on: Iterable[int] = (),
        key: str | None = None,
        parent: int | None = None,
        if_dep_fails: str = CANCEL,
        by: AgentLike | None = None,
        cwd: str | None = None,
        budget_tokens: int | None = None,
    ) -> Task:
        """Add a task and return it. It starts ``open``, or ``blocked`` until every task in
        ``depends_on`` is done. With ``key``, adding the same key again returns the task the
        first call made (idempotent). ``files`` are lease paths (normalized like leases).
        ``budget_tokens``: the most tokens turns for it may spend (kept with it; the workers
        enforce it).

        Raises NotFoundError for an unknown dependency or parent; CoordInputError for a
        dependency that already failed or was cancelled, or a budget that is not positive.
        """
        title = self._line("title", title, self.limits.title)
        self._line("type", type, self.limits.key)
        self._text("description", description, self.limits.text)
        if key is not None:
            self._line("key", key, self.limits.key)
        if if_dep_fails not in (CANCEL, BLOCK_ON_FAILURE):
            raise CoordInputError(f"if_dep_fails must be 'cancel' or 'block', not {if_dep_fails!r}")
        paths = self._paths("files", files, cwd)
        deps = sorted({_task_id(d) for d in depends_on})
        check_count("depends_on", len(deps))
        priority = PRIORITY.check_int("priority", priority)
        if budget_tokens is not None:
            budget_tokens = BUDGET.check_int("budget_tokens", budget_tokens)
        with self.store.write() as tx:
            now = self.clock.now()
            actor, _ = self._begin(tx, now, by)
            if key is not None:
                existing = tx.one(
                    f"SELECT {rows.TASK_COLS} FROM tasks WHERE scope = ? AND idem_key = ?",
                    (self.scope, key),
                )
                if existing is not None:
                    return rows.task(existing)
            if parent is not None:
                self._load(tx, _task_id(parent))
            task, _ = self._create(
                tx, now, actor, title=title, type=type, description=description, files=paths,
                priority=priority, deps=deps, key=key, parent=parent, if_dep_fails=if_dep_fails,
                budget_tokens=budget_tokens,
            )  # fmt: skip
        return task

    def _create(
        self,
        tx: Tx,
        now: float,
        actor: tuple[str, int] | None,
        *,
        title: str,
        type: str,
        description: str,
        files: list[str],
        priority: int,
        deps: list[int],
        key: str | None,
        parent: int | None,
        if_dep_fails: str,
        budget_tokens: int | None,
        assignee: tuple[str, int] | None = None,
        delegated: bool = False,
    ) -> tuple[Task, bool]:
        """Insert a task (its checks done) and audit it; returns it and whether its dependencies
        are all done. With ``assignee`` (``delegate``) it is delegated: claimed for the
        assignee at once when ready, else blocked with the assignee kept."""
        ready = True
        for dep in deps:
            found = self._load(tx, dep)
            if found.status in (FAILED, CANCELLED):
                raise CoordInputError(f"task #{dep} is {found.status}; nothing can depend on it")
            if found.status != DONE:
                ready = False
        status = OPEN if ready else BLOCKED
        if assignee is not None and ready:
            status = CLAIMED
        creator = None if actor is None else agent_ref(*actor)
        name, gen = assignee or (None, None)
        row = tx.one(
            f"INSERT INTO tasks (scope, type, title, description, files, priority, depends_on, "
            "idem_key, parent, status, assignee, assignee_gen, created_by, created_at, "
            "updated_at, claimed_at, result, files_changed, tests_run, if_dep_fails, version, "
            "budget_tokens, delegated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '', '', ?, 1, ?, ?) "
            f"RETURNING {rows.TASK_COLS}",
            (self.scope, type, title, description, rows.join_lines(files), priority,
             ",".join(map(str, deps)), key, parent, status, name, gen, creator, now, now,
             now if status == CLAIMED else None, if_dep_fails, budget_tokens,
             int(delegated or assignee is not None)),
        )  # fmt: skip
        assert row is not None
        task = rows.task(row)
        for dep in deps:
            tx.defer("INSERT INTO task_deps (task, depends_on) VALUES (?, ?)", (task.id, dep))
        data = {"id": task.id, "title": title, "type": type, "priority": priority, "files": files,
                "depends_on": deps, "parent": parent, "key": key, "status": status}  # fmt: skip
        if budget_tokens is not None:
            data["budget_tokens"] = budget_tokens
        if task.delegated:
            data["delegated"] = True
        if assignee is not None:
            data["assignee"] = task.assignee
        self._event(tx, now, "task.added", str(task.id), data, agent=actor)
        return task, ready

    def _wake(self, tx: Tx, task: Task, now: float, actor: tuple[str, int] | None) -> None:
        """Send a delegated task's instructions to its assignee (the message wakes it)."""
        assert task.assignee is not None
        lines = [f"Task #{task.id}: {task.title}"]
        if task.description:
            lines.append(task.description)
        if task.files:
            lines.append("Files: " + ", ".join(task.files))
        if task.budget_tokens is not None:
            lines.append(f"Budget: {task.budget_tokens} tokens")
        lines.append(f'When finished, report with task_update(id={task.id}, status="done", '
                     'result=..., files_changed=[...]), or status="failed" with result = why.')  # fmt: skip
        self._text("message", "\n".join(lines), self.limits.message)
        post(self, tx, now, actor, agent_name(task.assignee), "\n".join(lines), task_id=task.id)
        self._event(
            tx, now, "task.assigned", str(task.id),
            {"id": task.id, "assignee": task.assignee}, agent=actor,
        )  # fmt: skip

    def _hand_out_ready(self, tx: Tx, task: Task, now: float) -> None:
        """A delegated task nobody was given just became ready (delegation hands it to an idle
        agent: :mod:`codeswarm.coordination.delegation`)."""

    def _tell_creator(self, tx: Tx, task: Task, now: float, actor: tuple[str, int] | None) -> None:
        """Tell a delegated task's creator that it ended (``task`` as it is now): a compact
        message that wakes it. Nothing when the creator ended it itself, or is unknown."""
        if not task.delegated or task.created_by is None or task.status not in REPORTED:
            return
        creator = agent_name(task.created_by)
        if actor is not None and actor[0] == creator:
            return
        if tx.one("SELECT 1 FROM agents WHERE scope = ? AND name = ?",
                  (self.scope, creator)) is None:  # fmt: skip
            return
        from codeswarm.coordination._json import dumps

        news: dict[str, object] = {"task": task.id, "status": task.status, "title": task.title}
        if task.assignee:
            news["agent"] = agent_name(task.assignee)
        if task.result:
            news["result"] = cut(task.result, self.limits.report)
        if task.files_changed:
            news["files_changed"] = task.files_changed[:50]
        if task.tests_run:
            news["tests_run"] = task.tests_run[:20]
        text = f"task #{task.id} {task.status}: {dumps(news)}"
        post(self, tx, now, actor, creator, text, task_id=task.id)

    def add_dependencies(
        self, task_id: int, depends_on: Iterable[int], *, by: AgentLike | None = None
    ) -> Task:
        """Make an open or blocked task also wait for ``depends_on``; returns it.

        Raises DependencyCycleError when that would close a cycle (naming it), NotFoundError for
        an unknown task, ClaimLostError when the task is no longer open or blocked.
        """
        task_id = _task_id(task_id)
        new = sorted({_task_id(d) for d in depends_on})
        check_count("depends_on", len(new))
        with self.store.write() as tx:
            now = self.clock.now()
            actor, _ = self._begin(tx, now, by)
            task = self._load(tx, task_id)
            if task.status not in (OPEN, BLOCKED):
                raise ClaimLostError(f"task #{task_id} is {task.status}; only an open or blocked "
                                     "task can get new dependencies")  # fmt: skip
            edges: dict[int, list[int]] = {}
            for a, b in tx.query(
                "SELECT d.task, d.depends_on FROM task_deps d JOIN tasks t ON t.id = d.task "
                "WHERE t.scope = ?",
                (self.scope,),
            ):
                edges.setdefault(int(a), []).append(int(b))
            status = task.status
            for dep in new:
                if dep == task_id:
                    raise DependencyCycleError(f"task #{task_id} cannot depend on itself")
                found = self._load(tx, dep)
                if found.status in (FAILED, CANCELLED):
                    raise CoordInputError(
                        f"task #{dep} is {found.status}; nothing can depend on it"
                    )
                cycle = _path(edges, dep, task_id)
                if cycle is not None:
                    chain = " -> ".join(f"#{t}" for t in [task_id, *cycle])
                    raise DependencyCycleError(f"a dependency #{task_id} -> #{dep} would make a "
                                               f"cycle: {chain}")  # fmt: skip
                if dep not in edges.get(task_id, []):
                    edges.setdefault(task_id, []).append(dep)
                    tx.execute(
                        "INSERT INTO task_deps (task, depends_on) VALUES (?, ?)", (task_id, dep)
                    )
                if found.status != DONE:
                    status = BLOCKED
            all_deps = sorted(edges.get(task_id, []))
            updated = self._update(
                tx, task, now, status=status, depends_on=",".join(map(str, all_deps))
            )
            self._event(
                tx, now, "task.updated", str(task_id),
                {"id": task_id, "depends_on": all_deps, "status": status}, agent=actor,
            )  # fmt: skip
        return updated

    def claim(self, agent: AgentLike, task_id: int, *, version: int | None = None) -> Task:
        """Claim an open task (compare-and-set: exactly one claimer wins); with ``version``,
        only if the task is still at that version. Raises ClaimLostError when it is not open,
        VersionMismatchError when its version moved on."""
        task_id = _task_id(task_id)
        if version is not None:
            VERSION.check("version", version)
        with self.store.read() as tx:  # a lost claim needs no write lock (see LeaseOps._grant)
            now = self.clock.now()
            seen = self._found(tx.query(*self._select(task_id)), task_id)
            if version is not None and seen.version != version:
                raise VersionMismatchError(
                    f"task #{task_id} is at version {seen.version}, not {version}"
                )
            if seen.status != OPEN and self._stays_taken(tx, seen, now):
                raise self._lost(seen)
        with self.store.write() as tx:
            now = self.clock.now()
            (name, gen), (found,) = self._begin_as(tx, now, agent, [self._select(task_id)])
            task = self._found(found, task_id)
            if version is not None and task.version != version:
                raise VersionMismatchError(
                    f"task #{task_id} is at version {task.version}, not {version}"
                )
            return self._take(tx, task, name, gen, now)

    def claim_next(self, agent: AgentLike, *, type: str | None = None) -> Task | None:
        """Claim the best open task (of ``type``), or return None when there is none.

        Best: highest priority; then not touching files other agents hold; then the most files
        under the claimer's own leases; then the oldest.
        """
        if type is not None:
            self._line("type", type, self.limits.key)
        with self.store.read() as tx:  # nothing to claim needs no write lock
            now = self.clock.now()
            sql = (
                "SELECT 1 FROM tasks t LEFT JOIN agents a ON a.scope = t.scope "
                "AND a.name = t.assignee WHERE t.scope = ? AND (t.status = 'open' OR "
                "(t.status IN ('claimed', 'in_progress') AND "
                "(a.status IS NULL OR a.status != 'active' OR a.expires_at <= ?)))"
            )
            params: list[object] = [self.scope, now]
            if type is not None:
                sql += " AND t.type = ?"
                params.append(type)
            if not tx.query(sql + " LIMIT 1", params):
                return None  # none open, and none a lapsed agent holds (a sweep would reopen)
        with self.store.write() as tx:
            now = self.clock.now()
            (name, gen), _ = self._begin_as(tx, now, agent)
            sql = f"SELECT {rows.TASK_COLS} FROM tasks WHERE scope = ? AND status = 'open'"
            params = [self.scope]
            if type is not None:
                sql += " AND type = ?"
                params.append(type)
            candidates = [rows.task(r) for r in tx.query(sql, params)]
            if not candidates:
                return None
            mine: list[PathSpec] = []
            others: list[PathSpec] = []
            for path, kind, holder in tx.query(
                "SELECT path, kind, holder FROM leases WHERE scope = ?", (self.scope,)
            ):
                (mine if holder == name else others).append(from_canonical(path, kind))

            def rank(t: Task) -> tuple[int, bool, int, float, int]:
                specs = [from_canonical(f) for f in t.files]
                taken = any(s.overlaps(o) for s in specs for o in others)
                near = sum(1 for s in specs if any(s.overlaps(m) for m in mine))
                return (-t.priority, taken, -near, t.created_at, t.id)

            best = min(candidates, key=rank)
            return self._take(tx, best, name, gen, now)

    def _stays_taken(self, tx: Tx, task: Task, now: float) -> bool:
        """Whether a task that is not open will not be reopened by the next sweep (it is not
        held by an agent whose lease has lapsed)."""
        if task.status not in HELD or task.assignee is None:
            return True
        name, gen = split_ref(task.assignee)
        alive = tx.one(
            "SELECT 1 FROM agents WHERE scope = ? AND name = ? AND generation = ? "
            "AND status = 'active' AND expires_at > ?",
            (self.scope, name, gen, now),
        )
        return alive is not None

    @staticmethod
    def _lost(task: Task) -> ClaimLostError:
        who = f" by {task.assignee}" if task.assignee and task.status in HELD else ""
        return ClaimLostError(f"task #{task.id} is {task.status}{who}, not open")

    def _take(self, tx: Tx, task: Task, name: str, gen: int, now: float) -> Task:
        if task.status != OPEN:
            raise self._lost(task)
        updated = self._update(tx, task, now, status=CLAIMED, assignee=(name, gen), claimed_at=now)
        self._event(
            tx, now, "task.claimed", str(task.id),
            {"id": task.id, "version": updated.version}, agent=(name, gen),
        )  # fmt: skip
        return updated

    def start(self, agent: AgentLike, task_id: int) -> Task:
        """Mark a task you claimed as in progress."""
        with self.store.write() as tx:
            now = self.clock.now()
            task_id = _task_id(task_id)
            (name, gen), (found,) = self._begin_as(tx, now, agent, [self._select(task_id)])
            task = self._mine(self._found(found, task_id), name)
            if task.status == IN_PROGRESS:
                return task
            updated = self._update(tx, task, now, status=IN_PROGRESS)
            self._event(tx, now, "task.started", str(task.id), {"id": task.id}, agent=(name, gen))
        return updated

    def progress(self, agent: AgentLike, task_id: int, note: str) -> Task:
        """Record a progress note on a task you hold (see :meth:`task_notes`)."""
        note = self._text("note", note, self.limits.text)
        if not note:
            raise CoordInputError("note must not be empty")
        with self.store.write() as tx:
            now = self.clock.now()
            task_id = _task_id(task_id)
            (name, gen), (found,) = self._begin_as(tx, now, agent, [self._select(task_id)])
            task = self._mine(self._found(found, task_id), name)
            updated = self._update(tx, task, now)
            self._event(
                tx, now, "task.progress", str(task.id), {"id": task.id, "note": note},
                agent=(name, gen),
            )  # fmt: skip
        return updated

    def complete(
        self,
        agent: AgentLike,
        task_id: int,
        *,
        result: str = "",
        files_changed: Iterable[str] = (),
        tests_run: Iterable[str] = (),
        cwd: str | None = None,
    ) -> Task:
        """Finish a task you hold as done; its dependents whose dependencies are now all done
        become open."""
        self._text("result", result, self.limits.text)
        changed = self._paths("files_changed", files_changed, cwd)
        tests = [self._line("tests_run entry", t, self.limits.title) for t in tests_run]
        check_count("tests_run", len(tests), self.limits.files)
        return self._end(agent, task_id, DONE, result, changed, tests)

    def fail(self, agent: AgentLike, task_id: int, *, reason: str = "") -> Task:
        """Finish a task you hold as failed; its dependents are cancelled (those added with
        ``if_dep_fails="block"`` stay blocked)."""
        self._text("reason", reason, self.limits.text)
        return self._end(agent, task_id, FAILED, reason, [], [])

    def _end(
        self,
        agent: AgentLike,
        task_id: int,
        status: str,
        result: str,
        changed: list[str],
        tests: list[str],
    ) -> Task:
        with self.store.write() as tx:
            now = self.clock.now()
            task_id = _task_id(task_id)
            (name, gen), (found,) = self._begin_as(tx, now, agent, [self._select(task_id)])
            task = self._found(found, task_id)
            if task.status != NEEDS_REVIEW:  # its agent may still report on it: it is still its
                task = self._mine(task, name)
            elif task.assignee is None or agent_name(task.assignee) != name:
                raise ClaimLostError(f"task #{task.id} is {task.status} by {task.assignee}, "
                                     f"not {name}")  # fmt: skip
            updated = self._update(
                tx, task, now, status=status, result=result,
                files_changed=rows.join_lines(changed), tests_run=rows.join_lines(tests),
            )  # fmt: skip
            data = {"id": task.id, "result": result, "files_changed": changed, "tests_run": tests}
            self._event(tx, now, _ENDED[status], str(task.id), data, agent=(name, gen))
            self._tell_creator(tx, updated, now, (name, gen))
            self._settle(tx, task.id, status, now, (name, gen))
            self._hand_out(tx, now, name, [task.id])
        return updated

    def unclaim(self, agent: AgentLike, task_id: int) -> Task:
        """Give a task you hold back: it is open again."""
        with self.store.write() as tx:
            now = self.clock.now()
            task_id = _task_id(task_id)
            (name, gen), (found,) = self._begin_as(tx, now, agent, [self._select(task_id)])
            task = self._mine(self._found(found, task_id), name)
            updated = self._update(tx, task, now, status=OPEN, assignee=None, claimed_at=None)
            self._event(
                tx, now, "task.reopened", str(task.id), {"id": task.id, "reason": "unclaimed"},
                agent=(name, gen),
            )  # fmt: skip
        return updated

    def cancel(self, task_id: int, *, by: AgentLike | None = None, reason: str = "") -> Task:
        """Cancel a task that has not ended (whoever holds it); dependents as for :meth:`fail`.
        Raises ClaimLostError when it already ended."""
        self._text("reason", reason, self.limits.text)
        with self.store.write() as tx:
            now = self.clock.now()
            actor, _ = self._begin(tx, now, by)
            task = self._load(tx, _task_id(task_id))
            if task.status in TERMINAL:
                raise ClaimLostError(f"task #{task.id} is already {task.status}")
            updated = self._update(tx, task, now, status=CANCELLED, result=reason)
            self._event(
                tx, now, "task.cancelled", str(task.id), {"id": task.id, "reason": reason},
                agent=actor,
            )  # fmt: skip
            self._tell_creator(tx, updated, now, actor)
            self._settle(tx, task.id, CANCELLED, now, actor)
        return updated

    def task(self, task_id: int) -> Task:
        """One task. Raises NotFoundError."""
        with self.store.read() as tx:
            return self._load(tx, _task_id(task_id))

    def task_notes(self, task_id: int) -> list[TaskNote]:
        """The progress notes of a task, oldest first."""
        task_id = _task_id(task_id)
        with self.store.read() as tx:
            self._load(tx, task_id)
            found = tx.query(
                "SELECT seq, ts, agent, generation, data FROM events "
                "WHERE scope = ? AND kind = 'task.progress' AND subject = ? ORDER BY seq",
                (self.scope, str(task_id)),
            )
        from codeswarm.coordination._json import loads

        return [
            TaskNote(
                seq=int(seq),
                at=float(ts),
                agent=None if name is None else agent_ref(name, int(gen)),
                text=loads(data).get("note", ""),
            )
            for seq, ts, name, gen, data in found
        ]

    def tasks(
        self,
        *,
        status: str | Iterable[str] | None = None,
        assignee: AgentLike | None = None,
        type: str | None = None,
    ) -> list[Task]:
        """Tasks of this scope by id, filtered by status (one or several), assignee's name,
        type."""
        sql = f"SELECT {rows.TASK_COLS} FROM tasks WHERE scope = ?"
        params: list[object] = [self.scope]
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(dict.fromkeys(status))
            for s in wanted:
                if s not in TASK_STATUSES:
                    raise CoordInputError(
                        f"unknown task status {s!r} (one of {', '.join(TASK_STATUSES)})"
                    )
            sql += f" AND status IN ({', '.join('?' * len(wanted))})"
            params += wanted
        if assignee is not None:
            name, _ = ref_parts(assignee)
            sql += " AND assignee = ?"
            params.append(name)
        if type is not None:
            self._line("type", type, self.limits.key)
            sql += " AND type = ?"
            params.append(type)
        with self.store.read() as tx:
            return [rows.task(r) for r in tx.query(sql + " ORDER BY id", params)]

    # -- internals ----------------------------------------------------------------------------

    def _paths(self, what: str, paths: Iterable[str], cwd: str | None) -> list[str]:
        if isinstance(paths, str):
            raise CoordInputError(f"{what} must be a list of paths, not one string")
        paths = list(paths)
        if len(paths) > self.limits.files:  # before resolving any of them
            raise CoordInputError(f"{what}: {len(paths)} paths; the limit is {self.limits.files}")
        out = []
        for p in paths:
            canonical = check_path(normalize(p, self.root, cwd).path)
            if canonical not in out:
                out.append(canonical)
        return out

    def _select(self, task_id: int) -> tuple[str, Params]:
        return (
            f"SELECT {rows.TASK_COLS} FROM tasks WHERE scope = ? AND id = ?",
            (self.scope, task_id),
        )

    def _found(self, found: list[Row], task_id: int) -> Task:
        if not found:
            raise NotFoundError(f"no task #{task_id} in this scope")
        return rows.task(found[0])

    def _load(self, tx: Tx, task_id: int) -> Task:
        return self._found(tx.query(*self._select(task_id)), task_id)

    def _mine(self, task: Task, name: str) -> Task:
        if task.status not in HELD:
            raise ClaimLostError(f"task #{task.id} is {task.status}, not claimed by {name}")
        assert task.assignee is not None
        if agent_name(task.assignee) != name:
            raise ClaimLostError(f"task #{task.id} is {task.status} by {task.assignee}, not {name}")
        return task

    def _update(
        self,
        tx: Tx,
        task: Task,
        now: float,
        *,
        assignee: tuple[str, int] | _Keep | None = _KEEP,
        **cols: str | int | float | None,
    ) -> Task:
        """Change columns of ``task`` (a deferred write: writes are serialized, so the row is
        still the one read); returns the task as it is now. ``assignee``: ``(name,
        generation)``, or None to clear it."""
        new = Task(**task.to_dict())
        new.updated_at = now
        new.version = task.version + 1
        for col, value in cols.items():
            if col in ("files_changed", "tests_run"):
                setattr(new, col, rows.split_lines(str(value)))
            elif col == "depends_on":
                new.depends_on = [int(x) for x in str(value).split(",") if x]
            else:
                setattr(new, col, value)
        if not isinstance(assignee, _Keep):
            cols["assignee"], cols["assignee_gen"] = assignee or (None, None)
            new.assignee = None if assignee is None else agent_ref(*assignee)
        sets = "".join(f", {c} = ?" for c in cols)
        tx.defer(
            f"UPDATE tasks SET updated_at = ?, version = version + 1{sets} WHERE id = ?",
            (now, *cols.values(), task.id),
        )
        return new

    def _settle(
        self, tx: Tx, task_id: int, outcome: str, now: float, actor: tuple[str, int] | None
    ) -> None:
        """Carry an ended task's outcome to its dependents (transitively for cancellation)."""
        pending = [(task_id, outcome)]
        while pending:
            dep_id, dep_outcome = pending.pop()
            for row in tx.query(
                f"SELECT {rows.TASK_COLS} FROM tasks WHERE id IN "
                "(SELECT task FROM task_deps WHERE depends_on = ?) ORDER BY id",
                (dep_id,),
            ):
                task = rows.task(row)
                if task.status in TERMINAL:
                    continue
                if dep_outcome == DONE:
                    if task.status != BLOCKED:
                        continue
                    waiting = tx.one(
                        "SELECT COUNT(*) FROM tasks WHERE status != 'done' AND id IN "
                        "(SELECT depends_on FROM task_deps WHERE task = ?)",
                        (task.id,),
                    )
                    if waiting is not None and int(waiting[0]) == 0:
                        # a delegated task is claimed for its assignee, who is woken: in this
                        # transaction, so that the wake-up happens exactly once
                        held = task.delegated and task.assignee is not None
                        now_task = self._update(
                            tx, task, now, status=CLAIMED if held else OPEN,
                            claimed_at=now if held else task.claimed_at,
                        )  # fmt: skip
                        self._event(
                            tx, now, "task.unblocked", str(task.id), {"id": task.id},
                            agent=actor,
                        )  # fmt: skip
                        if held:
                            self._wake(tx, now_task, now, actor)
                        elif task.delegated:
                            self._hand_out_ready(tx, now_task, now)
                elif task.if_dep_fails == CANCEL:
                    reason = f"dependency #{dep_id} {dep_outcome}"
                    gone = self._update(
                        tx, task, now, status=CANCELLED, result=reason,
                        assignee=None,
                    )  # fmt: skip
                    self._event(
                        tx, now, "task.cancelled", str(task.id),
                        {"id": task.id, "reason": reason}, agent=actor,
                    )  # fmt: skip
                    self._tell_creator(tx, gone, now, actor)
                    pending.append((task.id, CANCELLED))


def _task_id(value: object) -> int:
    return record_id("task", value)


def _path(edges: dict[int, list[int]], start: int, goal: int) -> list[int] | None:
    """A dependency path from ``start`` to ``goal`` (both included), or None."""
    stack = [(start, [start])]
    seen = {start}
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        for nxt in edges.get(node, []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None
