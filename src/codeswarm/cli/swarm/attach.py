"""``codeswarm attach``: follow every agent live; answer approvals inline (y / a / n + Enter)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from codeswarm.core import events as ev


def run_attach(
    swarm: str,
    *,
    json_out: bool,
    cursor: str | None,
    from_start: bool,
    remote: str | None = None,
    project: Path | None = None,
) -> int:
    from codeswarm.control.fleet.router import Router

    start = cursor if cursor else ("begin" if from_start else "end")
    if remote is not None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_attach_remote(remote, swarm, start, json_out=json_out))
        return 0
    from codeswarm.cli.args import find_run

    run = find_run(swarm, project)
    spec = run.load_spec()
    router = Router(run, start=start, spec=spec)

    async def answer(agent: str, request_id: Any, decision: str, item_id: str | None) -> None:
        from codeswarm.control.steering import approve

        approve(run, agent, request_id, decision, item_id=item_id)

    try:
        asyncio.run(_attach(router, json_out=json_out, answer=answer))
    except KeyboardInterrupt:
        pass
    finally:
        router.close()
    return 0


async def _attach_remote(remote: str, swarm: str, start: str, *, json_out: bool) -> None:
    """attach over one ssh connection (it reconnects by itself, resuming where it was)."""
    from codeswarm.cli.remote import mirror, open_remote, remote_spec
    from codeswarm.control.fleet.router import Router

    transport = open_remote(remote, swarm)
    try:
        spec = await remote_spec(transport, swarm)
        router = Router(mirror(remote, swarm), start=start, spec=spec, transport=transport)

        async def answer(agent: str, request_id: Any, decision: str, item_id: str | None) -> None:
            fields: dict[str, Any] = {
                "kind": "approval",
                "request_id": request_id,
                "decision": decision,
            }
            if item_id:
                fields["item_id"] = item_id
            await transport.append("inbox", agent, fields)

        await _attach(router, json_out=json_out, answer=answer)
    finally:
        await transport.aclose()


async def _attach(router: Any, *, json_out: bool, answer: Any) -> None:

    emit: Any
    if json_out:
        import orjson

        out = sys.stdout

        def emit(event: dict[str, Any]) -> None:
            out.write(orjson.dumps(event).decode() + "\n")

    else:
        from codeswarm.cli.swarm.render import FleetRenderer

        emit = FleetRenderer(agents=router.agents)
    pending: list[dict[str, Any]] = []  # approvals waiting, oldest first
    answering = None
    if not json_out and sys.stdin.isatty():
        answering = asyncio.create_task(_answer_loop(pending, answer))
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


async def _answer_loop(pending: list[dict[str, Any]], answer: Any) -> None:
    decisions = {"y": "accept", "a": "acceptForSession", "n": "decline"}
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        choice = decisions.get(line.strip().lower()[:1])
        if choice is None or not pending:
            continue
        req = pending.pop(0)
        await answer(req["agent"], req["request_id"], choice, req.get("item_id"))
