"""Wall time from start to the first streamed delta and to turn completion, against the scripted
model, side by side in one run:

- ``bare``: a minimal stdlib-only Python script that starts ``codex app-server``, does the
  handshake, ``thread/start`` and one ``turn/start``, and reads stdout until ``turn/completed``;
- ``codeswarm_exec``: ``codeswarm exec --json`` against the same model server (``-c`` overrides);
- ``codeswarm_exec_inproc``: ``codeswarm exec --model-provider mock --script`` (starts the
  scripted model itself; informational).

All three run the same native Codex binary with a fresh CODEX_HOME, interpreter start included.
Target (issue "Codex runtime"): our overhead <= 10% of Codex's own (bare) time.

    .venv/bin/python bench/exec_latency.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, pct

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SCRIPT = """\
agents:
  "*":
    - when: "."
      repeat: true
      text: "Here is a short answer, streamed in a few deltas so that latency can be measured."
      usage: {input_tokens: 100, output_tokens: 20}
"""

BARE = r"""
import json, os, subprocess, sys
codex, cwd, *flags = sys.argv[1:]
p = subprocess.Popen([codex, *flags, "app-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, cwd=cwd)
def send(m):
    p.stdin.write((json.dumps(m) + "\n").encode()); p.stdin.flush()
def until(pred):
    for line in p.stdout:
        m = json.loads(line)
        if pred(m):
            return m
send({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "bare", "title": "bare", "version": "0"}, "capabilities": None}})
until(lambda m: m.get("id") == 1)
send({"method": "initialized"})
send({"id": 2, "method": "thread/start", "params": {"cwd": cwd, "approvalPolicy": "never", "sandbox": "read-only"}})
tid = until(lambda m: m.get("id") == 2)["result"]["thread"]["id"]
send({"id": 3, "method": "turn/start", "params": {"threadId": tid, "input": [{"type": "text", "text": "hi", "text_elements": []}]}})
until(lambda m: m.get("method") == "item/agentMessage/delta")
print("FIRST", flush=True)
until(lambda m: m.get("method") == "turn/completed")
print("DONE", flush=True)
p.stdin.close(); p.wait()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(argv: list[str], env: dict[str, str], first: str, done: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    assert proc.stdout is not None
    t_first = t_done = float("nan")
    for line in proc.stdout:
        now = time.perf_counter() - t0
        if t_first != t_first and first in line:
            t_first = now
        if done in line:
            t_done = now
            break
    proc.stdout.close()
    if proc.wait(timeout=30) != 0:
        raise SystemExit(f"{argv[:3]} failed")
    return t_first, t_done


def main() -> None:
    # bytecode caches as in any installation (a development shell may set this; then every
    # start recompiles codeswarm, which the bare script does not have to)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-exec-"))
    (work / "script.yaml").write_text(SCRIPT)
    (work / "bare.py").write_text(BARE)
    ws = work / "ws"
    ws.mkdir()
    codeswarm = str(VENV_BIN / "codeswarm")
    codex = subprocess.run(
        [codeswarm, "toolchain", "path"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [codeswarm, "mock-model", "serve", "--script", str(work / "script.yaml"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    assert server.stdout is not None
    server.stdout.readline()  # serving…
    provider = (
        f'{{name="bench", base_url="http://127.0.0.1:{port}/agents/bench_0/v1", '
        'wire_api="responses", supports_websockets=false, request_max_retries=0, '
        "stream_max_retries=0}"
    )
    flags = [
        "-c", 'model_provider="bench"', "-c", f"model_providers.bench={provider}",
        "-c", 'model="gpt-5.5"', "-c", "features.plugins=false",
    ]  # fmt: skip
    results: dict[str, list[tuple[float, float]]] = {
        "bare": [],
        "codeswarm_exec": [],
        "codeswarm_exec_inproc": [],
    }
    try:
        for _ in range(args.rounds):
            for name in results:
                home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
                env = {
                    **os.environ,
                    "CODEX_HOME": str(home),
                    "CODESWARM_STATE_DIR": str(work / "state"),
                    "CODESWARM_CODEX_BIN": codex,
                }
                if name == "bare":
                    argv = [sys.executable, str(work / "bare.py"), codex, str(ws), *flags]
                    results[name].append(timed(argv, env, "FIRST", "DONE"))
                elif name == "codeswarm_exec":
                    argv = [codeswarm, "exec", "hi", "--json", "--cwd", str(ws), "--sandbox", "read-only",
                            "--approval-policy", "never", *flags]  # fmt: skip
                    results[name].append(timed(argv, env, '"message.delta"', '"turn.completed"'))
                else:
                    argv = [codeswarm, "exec", "hi", "--json", "--cwd", str(ws), "--sandbox", "read-only",
                            "--approval-policy", "never", "--model-provider", "mock",
                            "--script", str(work / "script.yaml")]  # fmt: skip
                    results[name].append(timed(argv, env, '"message.delta"', '"turn.completed"'))
    finally:
        server.terminate()
        server.wait()

    def stats(name: str) -> dict[str, float]:
        firsts = [r[0] for r in results[name]]
        dones = [r[1] for r in results[name]]
        return {
            "first_delta_p50_ms": round(pct(firsts, 50) * 1000, 1),
            "turn_completed_p50_ms": round(pct(dones, 50) * 1000, 1),
            "turn_completed_p90_ms": round(pct(dones, 90) * 1000, 1),
        }

    out = {name: stats(name) for name in results}
    bare = out["bare"]["turn_completed_p50_ms"]
    ours = out["codeswarm_exec"]["turn_completed_p50_ms"]
    overhead = (ours - bare) / bare
    emit(
        {
            "benchmark": "exec_latency",
            "rounds": args.rounds,
            **out,
            "overhead_vs_bare_turn_completed": round(overhead, 3),
            "overhead_vs_bare_first_delta": round(
                (out["codeswarm_exec"]["first_delta_p50_ms"] - out["bare"]["first_delta_p50_ms"])
                / out["bare"]["first_delta_p50_ms"],
                3,
            ),
            "target_overhead": 0.10,
            "meets_target": overhead <= 0.10,
        }
    )


if __name__ == "__main__":
    main()
