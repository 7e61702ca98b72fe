"""The watch runner: follows a swarm's events live (the router), applies the rules
(:mod:`.rules`) and acts through steering: ``nudge`` (a message steered into the running turn),
``interrupt``, ``stop`` (the agent's worker shuts down for good), or ``report`` only. Every
finding becomes a record in ``<run>/watch.jsonl`` (read back as a ``watch.*`` event, see
:mod:`.log`) and an audit row in the coordination store (the agent concerned is the actor,
the rule the subject).

The local supervisor runs one per swarm whose spec configures watchers (``SwarmSpec.watch``);
``codeswarm run`` may run one itself (:func:`watch_swarm`) where no supervisor does. One runner
per swarm: the second is refused (:class:`~codeswarm.core.errors.WriterBusyError`).

On start it replays the outboxes (without acting) to learn which agents are busy and what each
turn has called so far, then follows what comes next: a restarted runner neither repeats what
it did nor forgets a loop in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from codeswarm.control import steering
from codeswarm.control.fleet.router import Router
from codeswarm.control.watch.log import log_path, record_event
from codeswarm.control.watch.rules import (
    LOOP,
    STALL,
    Finding,
    Watcher,
    changed_paths,
)
from codeswarm.coordination.paths import outside
from codeswarm.core import events as ev
from codeswarm.core.atomic import read_json
from codeswarm.core.errors import CodeswarmError
from codeswarm.core.events import Event
from codeswarm.core.swarm import RunDir, SwarmSpec, WatchOptions

if TYPE_CHECKING:
    from codeswarm.coordination import Coord
    from codeswarm.mailbox import Writer

log = logging.getLogger("codeswarm.watch")

HELD = ("claimed", "in_progress")
CONSUMER = "watch"
"""The runner's named router cursor (``<run>/consumers/watch.cursor``): the events it acted on."""
SAVE_EVERY_S = 1.0


def nudge_text(finding: Finding, options: WatchOptions) -> str:
    """What a nudge says: the configured text, else a line naming what was seen."""
    if options.nudge_text:
        return options.nudge_text
    e = finding.evidence
    head = "codeswarm watcher: "
    if finding.rule == LOOP:
        return (
            f"{head}you have made the same {e.get('call')} call {e.get('count')} times in this "
            "turn with the same arguments, and it is not getting you anywhere. Stop repeating "
            "it: try something else, or say what blocks you and end the turn."
        )
    if finding.rule == STALL:
        return (
            f"{head}nothing has happened in this turn for {e.get('quiet_s')} s. If you are "
            "stuck, say what blocks you and end the turn."
        )
    paths = ", ".join(str(p) for p in e.get("paths") or ())
    return (
        f"{head}you changed {paths}, outside the files of your task. Keep to the task's files "
        "(put back what you changed outside them), or ask for the task's scope to be widened."
    )


class WatchRunner:
    def __init__(
        self,
        run: RunDir,
        spec: SwarmSpec | None = None,
        *,
        options: WatchOptions | None = None,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
        coord: Coord | None = None,
    ) -> None:
        self.run = run
        self.spec = spec or run.load_spec()
        opts = options or self.spec.watch
        if opts is None:
            raise CodeswarmError(f"swarm {self.spec.name!r} configures no watchers")
        self.options = opts
        self.watcher = Watcher(opts)
        self.on_event = on_event
        self._clock = clock
        self.coord = coord
        self._own_coord = False
        self.writer: Writer | None = None
        self.root = self._root()
        self.findings: list[Finding] = []

    def _root(self) -> str:
        from codeswarm.core.swarm import swarm_scope

        return swarm_scope(self.spec)

    def _now(self) -> int:
        return int(self._clock() * 1000)

    # -- life ---------------------------------------------------------------------------------
    async def run_until(self, stop: asyncio.Event | None = None) -> None:
        """Watch until ``stop`` is set (forever without one); cancellable."""
        from codeswarm.mailbox import Writer

        self.writer = Writer.open(log_path(self.run), rotate_bytes=None)
        router = Router(self.run, spec=self.spec)
        try:
            await self._open_coord()
            await self._catch_up(router)
            tasks: list[asyncio.Task[Any]] = [
                asyncio.create_task(self._follow(router), name="watch-follow"),
                asyncio.create_task(self._tick(), name="watch-tick"),
            ]
            if stop is not None:
                tasks.append(asyncio.create_task(stop.wait(), name="watch-stop"))
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            router.close()
            self.writer.close()
            if self._own_coord and self.coord is not None:
                self.coord.close()
                self.coord = None

    async def _catch_up(self, router: Router) -> None:
        """Replay the outboxes into the rules; act on what the events after the last saved
        cursor show (a first runner: the events since the swarm was brought up), then save."""
        saved = read_json(self.run.consumer_cursor(CONSUMER))
        table = saved.get("agents") if isinstance(saved, dict) else None
        upto = (
            {a: int((c or {}).get("event_seq") or 0) for a, c in table.items()}
            if isinstance(table, dict)
            else None
        )
        pending: list[Finding] = []
        scoped: list[Event] = []
        now = self._now()

        def replayed(event: Event) -> None:
            found = self.watcher.observe(event, now)
            if upto is not None:
                new = int(event.get("seq") or 0) > upto.get(str(event.get("agent")), 0)
            else:
                ts = event.get("ts")
                new = isinstance(ts, int) and ts >= self.spec.created_ms
            if not new:
                return  # an earlier runner acted on it
            pending.extend(found)
            if event.get("type") == ev.FILE_CHANGED and self.options.scope:
                scoped.append(event)

        await asyncio.to_thread(router.replay, replayed)
        for event in scoped:
            pending += await self._scope(event)
        for finding in pending:
            await self.act(finding)
        router.consumer = CONSUMER
        router.save()

    async def _open_coord(self) -> None:
        if self.coord is not None or not self.spec.coord:
            return
        from codeswarm.coordination import Coord

        try:
            self.coord = await asyncio.to_thread(Coord.open, self.spec.coord_db, root=self.root)
            self._own_coord = True
        except CodeswarmError as exc:
            log.warning("watch: no coordination store (%s): no audit rows, no scope rule", exc)

    async def _follow(self, router: Router) -> None:
        saved = time.monotonic()
        async for batch in router.follow():
            acted = False
            for event in batch:
                now = self._now()
                found = self.watcher.observe(event, now)
                if event.get("type") == ev.FILE_CHANGED and self.options.scope:
                    found += await self._scope(event)
                for finding in found:
                    await self.act(finding)
                    acted = True
            if acted or time.monotonic() - saved > SAVE_EVERY_S:
                router.save()  # where a restarted runner starts acting again
                saved = time.monotonic()

    async def _tick(self) -> None:
        stall = self.options.stall_s
        if stall is None or stall <= 0:
            await asyncio.Event().wait()  # nothing to time
            return
        period = min(1.0, max(0.05, stall / 4))
        while True:
            await asyncio.sleep(period)
            for finding in self.watcher.tick(self._now()):
                await self.act(finding)

    async def _scope(self, event: Event) -> list[Finding]:
        coord = self.coord
        if coord is None:
            return []
        agent = str(event.get("agent"))
        try:
            held = await asyncio.to_thread(coord.tasks, status=HELD, assignee=agent)
        except CodeswarmError as exc:
            log.warning("watch: the tasks of %s: %s", agent, exc)
            return []
        files = [f for t in held for f in t.files]
        found = outside(changed_paths(event), files, self.root, self.spec.cwd)
        return self.watcher.scope(event, found, [t.id for t in held])

    # -- acting --------------------------------------------------------------------------------
    async def act(self, finding: Finding) -> Event:
        """Do what ``finding`` says, record it (watch log, audit row); returns its event."""
        extra: dict[str, Any] = {}
        agents = [finding.agent]
        state = self.watcher.agents.get(finding.agent)
        if finding.action in ("nudge", "interrupt") and (
            state is None or not state.busy or state.turn_id != finding.turn_id
        ):  # seen late (a runner catching up): that turn is over, nothing to steer or stop
            finding = dataclasses.replace(finding, action="report")
            extra["turn_over"] = True
        try:
            if finding.action == "nudge":
                sent = steering.send(
                    self.run, agents, nudge_text(finding, self.options), mode="steer"
                )
                extra["inbox_id"] = sent[finding.agent].get("id")
            elif finding.action == "interrupt":
                steering.interrupt(self.run, agents)
            elif finding.action == "stop":
                steering.shutdown(self.run, agents)
        except CodeswarmError as exc:
            extra["error"] = str(exc)
        assert self.writer is not None
        record = self.writer.append(
            finding.kind, swarm=self.spec.name, **finding.as_json(), **extra
        )
        log.info("watch: %s %s (%s, level %d): %s", finding.kind, finding.agent, finding.rule,
                 finding.level, finding.evidence)  # fmt: skip
        await self._audit(finding, extra)
        self.findings.append(finding)
        event = record_event(record)
        assert event is not None
        if self.on_event is not None:
            self.on_event(event)
        return event

    async def _audit(self, finding: Finding, extra: dict[str, Any]) -> None:
        coord = self.coord
        if coord is None:
            return
        data = {**finding.as_json(), **extra}
        data.pop("agent", None)
        try:
            await asyncio.to_thread(coord.report, finding.agent, finding.kind, finding.rule, data)
        except CodeswarmError as exc:
            log.warning("watch: no audit row for %s of %s: %s", finding.kind, finding.agent, exc)


async def watch_swarm(
    run: RunDir,
    spec: SwarmSpec | None = None,
    *,
    stop: asyncio.Event | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> None:
    """Run the watchers of ``run`` (as its spec configures them) until ``stop`` is set."""
    await WatchRunner(run, spec, on_event=on_event).run_until(stop)


RESTART_DELAY = 1.0


async def keep_watching(run: RunDir, spec: SwarmSpec, stop: asyncio.Event) -> None:
    """The supervisor's loop: :func:`watch_swarm` until ``stop``, restarted after a failure
    (logged); given up when another runner holds the watch log."""
    from codeswarm.core.errors import WriterBusyError

    while not stop.is_set():
        try:
            await watch_swarm(run, spec, stop=stop)
            return
        except WriterBusyError as exc:
            log.warning("watch: another watch runner has this swarm (%s): not watching", exc)
            return
        except CodeswarmError as exc:
            log.warning("watch: %s; restarting in %.0f s", exc, RESTART_DELAY)
        except Exception:
            log.exception("watch: the runner failed; restarting in %.0f s", RESTART_DELAY)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RESTART_DELAY)
