"""``codeswarm send``: append to inboxes; with ``--wait``, follow until those turns complete.

A fast command (argparse, no Typer): people, scripts and other agents call it often, and Typer's
import alone costs more than the whole send. What it needs beyond parsing loads only once the line
is parsed.
"""

from __future__ import annotations

import sys

from codeswarm.cli.args import PROJECT_HELP, WEEK, Parser, find_run, project_dir, seconds

TYPE_CHECKING = False  # not `typing` at run time: `send --help` and bad input stay cheap
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


def parser() -> Parser:
    p = Parser(
        prog="codeswarm send",
        description="Send a message to one agent, some, or all.",
        epilog="Exit codes: 0 ok, 1 a turn did not complete (with --wait), 2 bad input.",
    )
    p.add_argument("swarm", help="the swarm")
    p.add_argument("target", help="an agent id, a rank, a comma list, or 'all'")
    p.add_argument("text", help="the message ('-' reads standard input)")
    p.add_argument("--wait", action="store_true", help="wait for the turns and print their answers")
    p.add_argument("--stream", action="store_true", help="with --wait: show the turns as they run")
    p.add_argument("--mode", choices=("queue", "steer"), help="when a turn is running")
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds --wait waits (1 to 604800)"
    )
    p.add_argument("--json", action="store_true", dest="json_out", help="JSON output")
    p.add_argument(
        "--remote", help="ssh://[user@]host[:port]/path/to/workspace of a swarm elsewhere"
    )
    p.add_argument("--project", metavar="DIR", help=PROJECT_HELP)
    return p


def main(argv: list[str]) -> int:
    """Run one ``codeswarm send`` command line; returns the exit code."""
    from codeswarm.core.errors import run_guarded

    return run_guarded(lambda: _run(argv))


def _run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    seconds("--timeout", args.timeout, 1.0, WEEK)
    text: str = args.text
    if text == "-":
        text = sys.stdin.read()
    return run_send(
        args.swarm,
        args.target,
        text,
        wait=args.wait or args.stream,
        stream=args.stream,
        mode=args.mode,
        timeout=args.timeout,
        json_out=args.json_out,
        remote=args.remote,
        project=project_dir(args.project),
    )


def run_send(
    swarm: str,
    target: str,
    text: str,
    *,
    wait: bool,
    stream: bool,
    mode: str | None,
    timeout: float,
    json_out: bool,
    remote: str | None = None,
    project: Path | None = None,
) -> int:
    import asyncio

    from codeswarm.control.steering import resolve_targets, send
    from codeswarm.core.errors import CodeswarmError

    if remote is not None:
        return asyncio.run(_remote_send(remote, swarm, target, text, wait=wait, stream=stream,
                                        mode=mode, deadline_s=timeout, json_out=json_out))  # fmt: skip
    run = find_run(swarm, project)
    spec = run.load_spec()
    agents = resolve_targets(spec, target)
    router = None
    if wait:
        from codeswarm.control.fleet.router import Router

        router = Router(run, start="end", spec=spec)  # before sending: nothing can be missed
    records = send(run, agents, text, mode=mode)
    if router is None:
        _print_sent(records, json_out)
        return 0
    try:
        results = asyncio.run(_wait(router, records, stream=stream, deadline_s=timeout))
    except TimeoutError:
        raise CodeswarmError(f"the turns did not complete within {timeout:.0f}s") from None
    return _report(results, stream=stream, json_out=json_out)


def follow_sent(
    root: str,
    records: dict[str, dict[str, Any]],
    ends: dict[str, tuple[int, int]],
    *,
    stream: bool,
    timeout: float,
    json_out: bool,
) -> int:
    """``send --wait`` after :mod:`codeswarm.cli.hot` sent (the model is already at work): follow
    the outboxes from ``ends`` (each agent's outbox end before the message was sent: nothing can
    be missed) until those turns complete, as :func:`run_send` does."""
    import asyncio
    from pathlib import Path

    from codeswarm.control.fleet.router import AgentCursor, Router
    from codeswarm.core.errors import CodeswarmError
    from codeswarm.core.swarm import RunDir
    from codeswarm.mailbox import Position

    run = RunDir(Path(root))
    router = Router(run, start="begin", spec=run.load_spec())
    for agent, (segment, offset) in ends.items():
        router.cursors[agent] = AgentCursor(Position(segment, offset))
    try:
        results = asyncio.run(_wait(router, records, stream=stream, deadline_s=timeout))
    except TimeoutError:
        raise CodeswarmError(f"the turns did not complete within {timeout:.0f}s") from None
    return _report(results, stream=stream, json_out=json_out)


async def _remote_send(
    remote: str, swarm: str, target: str, text: str, *, wait: bool, stream: bool,
    mode: str | None, deadline_s: float, json_out: bool,
) -> int:  # fmt: skip
    """`send --remote`: the same, through one ssh connection to the workspace."""
    from codeswarm.cli.remote import mirror, open_remote, remote_spec
    from codeswarm.control.fleet.router import Router
    from codeswarm.control.steering import message_fields, resolve_targets
    from codeswarm.core.errors import CodeswarmError

    fields = message_fields(text, mode)
    transport = open_remote(remote, swarm)
    try:
        spec = await remote_spec(transport, swarm)
        agents = resolve_targets(spec, target)
        router = None
        if wait:
            router = Router(mirror(remote, swarm), start="end", spec=spec, transport=transport)
            await router.start_at_end()  # before sending: nothing can be missed
        records = {
            a: await transport.append("inbox", a, {"kind": "message", **fields}) for a in agents
        }
        if router is None:
            _print_sent(records, json_out)
            return 0
        try:
            results = await _wait(router, records, stream=stream, deadline_s=deadline_s)
        except TimeoutError:
            raise CodeswarmError(f"the turns did not complete within {deadline_s:.0f}s") from None
        return _report(results, stream=stream, json_out=json_out)
    finally:
        await transport.aclose()


def _print_sent(records: dict[str, dict[str, Any]], json_out: bool) -> None:
    if json_out:
        import orjson

        sys.stdout.write(orjson.dumps({a: r["id"] for a, r in records.items()}).decode() + "\n")
    else:
        print(f"sent to {', '.join(records)}")


def _report(results: dict[str, dict[str, Any]], *, stream: bool, json_out: bool) -> int:
    if json_out:
        import orjson

        sys.stdout.write(orjson.dumps(results).decode() + "\n")
    elif not stream:
        for agent, res in results.items():
            status = "" if res["status"] == "completed" else f" [{res['status']}: {res['error']}]"
            print(f"{agent}{status}: {res['text']}")
    return 0 if all(r["status"] == "completed" for r in results.values()) else 1


async def _wait(
    router: Any, records: dict[str, dict[str, Any]], *, stream: bool, deadline_s: float
) -> dict[str, dict[str, Any]]:
    import asyncio

    from codeswarm.core import events as ev

    renderer = None
    if stream:
        from codeswarm.cli.swarm.render import FleetRenderer

        renderer = FleetRenderer(agents=list(records))
    want = {agent: str(r["id"]) for agent, r in records.items()}
    turn_of: dict[str, str] = {}
    text_of: dict[str, str] = {}
    done: dict[str, dict[str, Any]] = {}
    gave_up: dict[str, str] = {}  # the worker gave the turn up (only retries): why
    last_error: dict[str, str] = {}

    async def follow() -> None:
        async for batch in router.follow():
            for event in batch:
                agent = event.get("agent")
                if agent not in want or agent in done:
                    continue
                kind = event["type"]
                if kind == ev.AGENT_FAILED and event.get("final"):  # given up: nothing will come
                    done[agent] = {"status": "failed", "text": "", "turn_id": turn_of.get(agent),
                                   "error": f"agent given up: {event.get('reason')}"}  # fmt: skip
                    continue
                if kind == ev.MESSAGE_ACCEPTED and event.get("inbox_id") == want[agent]:
                    if event.get("turn_id"):
                        turn_of[agent] = event["turn_id"]
                    else:  # recovered after a crash: its turn's end is already behind us
                        done[agent] = {"status": "completed", "text": "", "error": None}
                turn = turn_of.get(agent)
                if kind == ev.ERROR and _concerns(event, want[agent], turn):
                    if renderer is None or event.get("turn_id") is None:
                        _say_error(agent, event)  # as it comes: a retry, a missing login, ...
                    last_error[agent] = _error_line(event)
                    if event.get("inbox_id") == want[agent]:  # refused: no turn will come
                        done[agent] = {"status": "failed", "text": "", "turn_id": None,
                                       "error": last_error[agent]}  # fmt: skip
                        continue
                    if event.get("gave_up"):
                        gave_up[agent] = str(event.get("message"))
                if kind == ev.APPROVAL_REQUESTED and turn and event.get("turn_id") in (None, turn):
                    _say_waiting(router.spec.name, agent, event)
                if turn is None or event.get("turn_id") != turn:
                    continue
                if renderer is not None:
                    renderer(event)
                if kind == ev.MESSAGE_COMPLETED:
                    text_of[agent] = str(event.get("text") or "")
                elif kind == ev.TURN_COMPLETED:
                    status, error = event.get("status"), event.get("error")
                    if status == "interrupted" and agent in gave_up:  # interrupted by its worker
                        status, error = "failed", gave_up[agent]
                    elif status == "failed" and not error:
                        error = last_error.get(agent)
                    done[agent] = {
                        "status": status,
                        "text": text_of.get(agent, ""),
                        "error": error,
                        "turn_id": turn,
                    }
            if len(done) == len(want):
                return

    try:
        await asyncio.wait_for(follow(), deadline_s)
    finally:
        router.close()
    return {a: done[a] for a in records}


def _say_waiting(swarm: str, agent: str, event: dict[str, Any]) -> None:
    """The turn waits for a person: say so (on stderr: stdout stays the answers), with the
    request id and the command that answers it."""
    rid = event.get("request_id")
    what = event.get("command") or event.get("kind") or "a request"
    print(f"{agent} waits for approval #{rid} ({what}): codeswarm approve {swarm} {agent} {rid} "
          "[--decline]", file=sys.stderr, flush=True)  # fmt: skip


def _concerns(event: dict[str, Any], inbox_id: str, turn: str | None) -> bool:
    """Whether an error event is about the message being waited for: its refusal, its turn,
    or the agent itself (no turn named: Codex cannot start, there is no login, ...)."""
    if event.get("inbox_id") is not None:
        return event.get("inbox_id") == inbox_id
    named = event.get("turn_id")
    return named is None or (turn is not None and named == turn)


def _error_line(event: dict[str, Any]) -> str:
    """An error event as one line: the message, its cause, whether Codex retries."""
    text = str(event.get("message") or "error")
    details = event.get("details")
    if isinstance(details, str) and details and details not in text:
        text += f" ({details})"
    return " ".join(text.split())


def _say_error(agent: str, event: dict[str, Any]) -> None:
    retry = " (retrying)" if event.get("will_retry") else ""
    print(f"{agent}: error: {_error_line(event)}{retry}", file=sys.stderr, flush=True)
