"""``codeswarm attach``: follow every agent live; answer approvals inline (y / a / n + Enter)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from codeswarm.core import events as ev
from codeswarm.core.swarm import RunDir


def run_attach(swarm: str, *, json_out: bool, cursor: str | None, from_start: bool) -> int:
    from codeswarm.control.router import Router

    run = RunDir.of(swarm)
    spec = run.load_spec()
    start = cursor if cursor else ("begin" if from_start else "end")
    router = Router(run, start=start, spec=spec)
    try:
        asyncio.run(_attach(router, json_out=json_out))
    except KeyboardInterrupt:
        pass
    finally:
        router.close()
    return 0


async def _attach(router: Any, *, json_out: bool) -> None:
    from codeswarm.control.commands import approve

    emit: Any
    if json_out:
        import orjson

        out = sys.stdout

        def emit(event: dict[str, Any]) -> None:
            out.write(orjson.dumps(event).decode() + "\n")

    else:
        from codeswarm.cli.fleet_render import FleetRenderer

        emit = FleetRenderer(agents=router.agents)
    pending: list[dict[str, Any]] = []  # approvals waiting, oldest first
    answering = None
    if not json_out and sys.stdin.isatty():
        answering = asyncio.create_task(_answer_loop(router, pending, approve))
    try:
        async for batch in router.follow():
            for event in batch:
                emit(event)
                if event["type"] == ev.APPROVAL_REQUESTED:
                    pending.append(event)
                    if answering is not None:
                        print("  answer with y (accept), a (for the session), n (decline) + Enter")
                elif event["type"] == ev.APPROVAL_RESOLVED:
                    pending[:] = [
                        p
                        for p in pending
                        if not (
                            p["agent"] == event["agent"]
                            and p["request_id"] == event.get("request_id")
                        )
                    ]
            if json_out:
                sys.stdout.flush()
            router.save()  # after acting on the batch: a restart resumes right after it
    finally:
        if answering is not None:
            answering.cancel()


async def _answer_loop(router: Any, pending: list[dict[str, Any]], approve: Any) -> None:
    decisions = {"y": "accept", "a": "acceptForSession", "n": "decline"}
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        choice = decisions.get(line.strip().lower()[:1])
        if choice is None or not pending:
            continue
        req = pending.pop(0)
        approve(router.run, req["agent"], req["request_id"], choice, item_id=req.get("item_id"))
