"""``codeswarm mock-model serve``: run the scripted Responses-API server until Ctrl-C."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from codeswarm.mockmodel import Script

app = typer.Typer(
    help="The scripted model: a Responses-, Messages- and Chat-Completions-API server for "
    "offline runs and tests.",
    no_args_is_help=True,
)


@app.command()
def serve(
    script: Annotated[
        Path, typer.Option("--script", "-s", help="Script file (.json, .yaml or .yml).")
    ],
    port: Annotated[
        int, typer.Option("--port", "-p", help="Port to listen on; 0 picks a free one.")
    ] = 0,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    log: Annotated[
        Path | None, typer.Option("--log", help="Append every request to this JSONL file.")
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", help="Print the flags for this agent id (default: the shared /v1)."
        ),
    ] = None,
) -> None:
    """Serve a script; print the base URL, the codex `-c` flags and Claude Code's environment.

    Every agent id gets its own base URL and script cursor: http://HOST:PORT/agents/<agent>/v1.
    """
    import asyncio

    from codeswarm.core.errors import UsageError
    from codeswarm.mockmodel import load_script

    if not 0 <= port <= 65535:
        raise UsageError(f"--port: {port} is not a port number (0-65535)")
    loaded = load_script(script)  # ScriptError (a UsageError) on a bad script: one line, exit 2
    try:
        asyncio.run(_serve(loaded, host, port, log, agent))
    except KeyboardInterrupt:
        print("scripted model stopped", file=sys.stderr)


async def _serve(script: Script, host: str, port: int, log: Path | None, agent: str | None) -> None:
    import asyncio
    import logging

    from codeswarm.mockmodel import MockModel, to_codex_flags

    logging.basicConfig(level=logging.WARNING, format="codeswarm: %(message)s")
    async with MockModel(script, host=host, port=port, log_path=log, keep_requests=False) as mm:
        flags = " ".join(shlex.quote(f) for f in to_codex_flags(mm.codex_config(agent)))
        agents = ", ".join(f'"{key}"' for key in script.agents) or "none"
        print(f"scripted model serving {script.source} (agents: {agents})")
        print(f"base URL:     {mm.base_url(agent)}")
        print(f"per agent:    {mm.url}/agents/<agent-id>/v1")
        if log is not None:
            print(f"request log:  {log}")
        print(f"codex flags:  {flags}")
        claude = " ".join(f"{k}={shlex.quote(v)}" for k, v in mm.claude_env(agent).items())
        print(f"claude env:   {claude}")
        print("press Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()  # until Ctrl-C cancels us
