"""``codeswarm exec``: one agent, one thread, streamed to the terminal (or as JSONL events)."""

from __future__ import annotations

import enum
from pathlib import Path

import typer


class ApprovalPolicyOpt(enum.StrEnum):
    untrusted = "untrusted"
    on_request = "on-request"
    never = "never"


class SandboxOpt(enum.StrEnum):
    read_only = "read-only"
    workspace_write = "workspace-write"
    danger_full_access = "danger-full-access"


class ApproveOpt(enum.StrEnum):
    ask = "ask"
    workspace = "workspace"
    all = "all"
    decline = "decline"


def exec_command(
    prompt: str = typer.Argument(..., help="What to ask the agent ('-' reads standard input)."),
    model_provider: str | None = typer.Option(
        None,
        "--model-provider",
        help="'mock' for the scripted model (needs --script), or a provider configured in Codex.",
    ),
    script: Path | None = typer.Option(
        None, "--script", help="Scripted-model script (JSON or YAML), with --model-provider mock."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Model slug."),
    cwd: Path | None = typer.Option(
        None, "--cwd", "-C", help="The agent's working directory (default: here)."
    ),
    approval_policy: ApprovalPolicyOpt | None = typer.Option(
        None, "--approval-policy", help="When Codex asks before acting."
    ),
    sandbox: SandboxOpt | None = typer.Option(None, "--sandbox", help="What commands may touch."),
    approve: ApproveOpt | None = typer.Option(
        None,
        "--approve",
        help="How requests for approval are answered: ask (on a terminal), workspace "
        "(accept what stays inside --cwd; the default without a terminal), all, decline.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print events as JSONL on stdout."),
    interactive: bool = typer.Option(
        False, "--interactive", "-i", help="Keep the thread and read more prompts."
    ),
    config: list[str] = typer.Option(
        [], "--config", "-c", help="A Codex config override KEY=VALUE (TOML value); repeatable."
    ),
    model_log: Path | None = typer.Option(
        None, "--model-log", help="With the scripted model: write its request log (JSONL) here."
    ),
) -> None:
    """Run one Codex agent on a prompt; stream its answer, commands and file changes."""
    import asyncio
    import sys

    from codeswarm.cli.exec_session import ExecOptions, run_exec
    from codeswarm.core.errors import UsageError

    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    if model_provider == "mock" and script is None:
        raise UsageError("--model-provider mock needs --script FILE (see docs/scripted-model.md)")
    if script is not None and model_provider not in (None, "mock"):
        raise UsageError("--script only works with --model-provider mock")
    if model_log is not None and script is None:
        raise UsageError("--model-log only works with the scripted model (--script)")
    overrides: dict[str, str] = {}
    for item in config:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--config wants KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    workdir = (cwd or Path.cwd()).expanduser()
    if not workdir.is_dir():
        raise UsageError(f"--cwd {workdir}: not a directory")
    interactive_tty = sys.stdin.isatty() and not json_out
    opts = ExecOptions(
        prompt=prompt,
        script=script,
        model_provider=None if script is not None else model_provider,
        model=model,
        cwd=workdir.resolve(),
        approval_policy=approval_policy.value if approval_policy else None,
        sandbox=sandbox.value if sandbox else None,
        approve=(approve.value if approve else ("ask" if interactive_tty else "workspace")),
        json_out=json_out,
        interactive=interactive,
        raw_overrides=overrides,
        model_log=model_log,
    )
    rc = asyncio.run(run_exec(opts))
    if rc:
        raise typer.Exit(rc)
