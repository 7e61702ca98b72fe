"""``codeswarm exec``: one agent, one thread, streamed to the terminal (or as JSONL events).

A fast command: dispatched before Typer is imported, parsed with argparse, so that Codex is
started within milliseconds and boots while the rest of codeswarm loads (see
:mod:`codeswarm.cli.exec.session`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from codeswarm.cli.args import WEEK, Parser, seconds
from codeswarm.core.defaults import APPROVAL_POLICIES, SANDBOXES

APPROVE = ("ask", "workspace", "all", "decline")


def parser() -> Parser:
    p = Parser(
        prog="codeswarm exec",
        description="Run one Codex agent on a prompt; stream its answer, commands and file changes.",
        epilog="Exit codes: 0 the turn completed, 1 it failed, 2 bad input, 130 interrupted.",
    )
    p.add_argument("prompt", help="what to ask the agent ('-' reads standard input)")
    p.add_argument(
        "--model-provider",
        help="'mock' for the scripted model (needs --script), or a provider configured in Codex",
    )
    p.add_argument("--script", type=Path, help="scripted-model script (JSON or YAML)")
    p.add_argument("--model", "-m", help="model slug")
    p.add_argument("--cwd", "-C", type=Path, help="the agent's working directory (default: here)")
    p.add_argument("--approval-policy", choices=APPROVAL_POLICIES, help="when Codex asks first")
    p.add_argument("--sandbox", choices=SANDBOXES, help="what commands may touch")
    p.add_argument(
        "--approve",
        choices=APPROVE,
        help="how requests for approval are answered: ask (on a terminal), workspace (accept what "
        "stays inside --cwd; the default without a terminal), all, decline",
    )
    p.add_argument("--json", action="store_true", dest="json_out", help="print events as JSONL")
    p.add_argument(
        "--interactive", "-i", action="store_true", help="keep the thread and read more prompts"
    )
    p.add_argument(
        "--config",
        "-c",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Codex config override (TOML value); repeatable",
    )
    p.add_argument(
        "--model-log", type=Path, help="with --script: write the model's request log here"
    )
    p.add_argument(
        "--retry-deadline",
        type=float,
        metavar="SECONDS",
        help="give a turn up when it has only retried an unreachable model this long "
        "(default: [codex] retry_deadline in the configuration, else 60)",
    )
    return p


def main(argv: list[str]) -> int:
    """Parse, validate, run; returns the exit code (one line for an error a person can fix)."""
    from codeswarm.core.errors import run_guarded

    return run_guarded(lambda: _run(argv))


def _run(argv: list[str]) -> int:
    from codeswarm.core.errors import UsageError
    from codeswarm.core.tomlfmt import parse_overrides

    args = parser().parse_args(argv)
    prompt: str = args.prompt
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    if args.model_provider == "mock" and args.script is None:
        raise UsageError("--model-provider mock needs --script FILE (see docs/scripted-model.md)")
    if args.script is not None and args.model_provider not in (None, "mock"):
        raise UsageError("--script only works with --model-provider mock")
    if args.model_log is not None and args.script is None:
        raise UsageError("--model-log only works with the scripted model (--script)")
    if args.retry_deadline is not None:
        seconds("--retry-deadline", args.retry_deadline, 1.0, WEEK)
    overrides = parse_overrides(args.config)
    workdir = (args.cwd or Path.cwd()).expanduser()
    if not workdir.is_dir():
        raise UsageError(f"--cwd {workdir}: not a directory")
    tty = sys.stdin.isatty() and not args.json_out

    from codeswarm.cli.exec.launch import ExecOptions, prelaunch

    opts = ExecOptions(
        prompt=prompt,
        script=args.script,
        model_provider=None if args.script is not None else args.model_provider,
        model=args.model,
        cwd=Path(os.path.abspath(workdir)),
        approval_policy=args.approval_policy,
        sandbox=args.sandbox,
        approve=args.approve or ("ask" if tty else "workspace"),
        json_out=args.json_out,
        interactive=args.interactive,
        raw_overrides=overrides,
        model_log=args.model_log,
        retry_deadline=args.retry_deadline,
    )
    launched = prelaunch(opts)  # Codex boots while the rest loads
    try:
        import asyncio

        from codeswarm.cli.exec.session import run_exec
    except BaseException:
        launched.cleanup()
        raise
    return asyncio.run(run_exec(opts, launched))
