"""The coordination hub's CPU per agent for what every agent's Codex asks when it mounts the hub
(``initialize``, ``notifications/initialized``, ``tools/list``, header for header as Codex
0.169.0 sends them), in process (the hub's ASGI app, no sockets, no uvicorn), N agents one
after another:

- ``hub``: as the hub answers (once per shape of server through the SDK, then from memory);
- ``baseline``: the same requests answered by each agent's own server through the SDK (the
  agent's server built first), as the hub did before, in the same run, on a hub of its own.

    .venv/bin/python bench/hub_mount.py [--agents 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit

HEADERS = [(b"user-agent", b"codex-mcp-client/0.169.0"),
           (b"accept", b"text/event-stream, application/json"),
           (b"content-type", b"application/json")]  # fmt: skip
MOUNT = [
    {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {"elicitation": {"form": {}, "url": {}}},
        "clientInfo": {"name": "codex-mcp-client", "title": "Codex", "version": "0.169.0"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {"progressToken": 0}}},
]  # fmt: skip


async def mount_all(hub: Any, tokens: list[str], direct: bool) -> float:
    """CPU seconds for every agent's mount; ``direct``: each straight to the agent's server."""
    start = time.process_time()
    for token in tokens:
        for message in MOUNT:
            body = json.dumps(message, separators=(",", ":")).encode()
            version = [] if message["method"] == "initialize" else [
                (b"mcp-protocol-version", b"2025-06-18")]  # fmt: skip
            scope = {"type": "http", "method": "POST", "path": "/mcp", "query_string": b"",
                     "headers": [*HEADERS, *version, (b"authorization", f"Bearer {token}".encode()),
                                 (b"content-length", str(len(body)).encode())]}  # fmt: skip
            pending = [{"type": "http.request", "body": body, "more_body": False}]
            sent: list[dict[str, Any]] = []

            async def receive(pending: list[dict[str, Any]] = pending) -> dict[str, Any]:
                if pending:
                    return pending.pop(0)
                await asyncio.Event().wait()
                raise AssertionError("unreachable")

            async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
                sent.append(message)

            if direct:
                await hub._serve(hub.agent(scope["headers"]), scope, receive, send)
            else:
                await hub(scope, receive, send)
            assert sent[0]["status"] in (200, 202), sent
    return time.process_time() - start


async def one_round(agents: int) -> dict[str, float]:
    from codeswarm.mcp.hub import Hub
    from codeswarm.worker.mcphub import grant

    out = {}
    for side in ("baseline", "hub"):
        tmp = Path(tempfile.mkdtemp(prefix="hub-mount-"))
        (tmp / "run" / "mcp").mkdir(parents=True)
        env = {"CODESWARM_DB": str(tmp / "coord.db"), "CODESWARM_SCOPE": str(tmp),
               "CODESWARM_AGENT_ROLE": "worker"}  # fmt: skip
        tokens = [
            grant(tmp / "run" / "mcp", f"b_{i}", {**env, "CODESWARM_AGENT_ID": f"b_{i}"}, str(tmp))[
                0
            ]
            for i in range(agents)
        ]
        hub = Hub(tmp / "run")
        steps: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        said: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await steps.put({"type": "lifespan.startup"})
        life = asyncio.create_task(hub({"type": "lifespan"}, steps.get, said.put))
        await said.get()
        spent = await mount_all(hub, tokens, direct=side == "baseline")
        await steps.put({"type": "lifespan.shutdown"})
        await life
        out[f"{side}_ms_per_agent"] = round(spent * 1000 / agents, 3)
    out["ratio"] = round(out["hub_ms_per_agent"] / out["baseline_ms_per_agent"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)  # as the hub process (the SDK logs at INFO)
    rounds = [asyncio.run(one_round(args.agents)) for _ in range(args.rounds)]
    emit({"benchmark": "hub_mount", "agents": args.agents, "rounds": rounds})


if __name__ == "__main__":
    main()
