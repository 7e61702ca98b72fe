"""``codeswarm send``: a fast command (argparse, no Typer): people, scripts and other agents call
it often, and Typer's import alone costs more than the whole send."""

from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        from codeswarm.core.errors import UsageError

        raise UsageError(f"{message} (see 'codeswarm send --help')")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
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
    p.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits")
    p.add_argument("--json", action="store_true", dest="json_out", help="JSON output")
    p.add_argument(
        "--remote", help="ssh://[user@]host[:port]/path/to/workspace of a swarm elsewhere"
    )
    return p


def main(argv: list[str]) -> int:
    from codeswarm.cli.errors import run_guarded

    return run_guarded(lambda: _run(argv))


def _run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    text: str = args.text
    if text == "-":
        text = sys.stdin.read()
    from codeswarm.cli.swarm.send import run_send

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
    )
