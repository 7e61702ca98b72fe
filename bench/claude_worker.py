"""A Claude Code agent's turn through a codeswarm worker, next to the same turn driving the real
``claude`` CLI directly, against the same scripted model, side by side in one run:

- ``direct``: one long-lived ``claude -p --input-format stream-json --output-format stream-json
  --verbose --include-partial-messages --replay-user-messages --permission-prompt-tool stdio
  --permission-mode acceptEdits`` process (the flags the worker gives it), a throwaway HOME,
  offline; a turn is one user line written to its stdin until its ``result`` line;
- ``worker``: ``codeswarm up --runtime claude -n 1`` on the scripted model; a turn is the inbox
  record ``codeswarm send`` appended until the outbox's ``turn/completed`` (both records' own
  clocks, milliseconds), and, beside it, ``codeswarm send --wait`` as a whole process; with the
  stages between (inbox -> ``turn.starting`` -> ``turn.accepted`` -> ``claude``'s ``result`` line
  -> ``turn/completed``);
- ``worker_no_coord``: the same with ``up --no-coord`` (no hooks, no coordination MCP mount: the
  worker and its Codex facade alone).

Two turns each round: ``quick`` (the answer at once: the fixed costs alone) and ``streamed``
(the same answer in six deltas 50 ms apart, as a model streams: the time to the first delta
shows). All sessions are warmed by one turn, then the turns alternate (the same load on all).
The first turn and the start-up are reported too (informational). Memory: ``VmRSS`` of the
worker beside its ``claude``, and of the direct ``claude``.
Target (issue 16): the worker's overhead over ``claude`` for one turn <= 10 %; the worker's
RSS within the per-agent budget (worker <= 40 MB, docs/benchmarks.md "Fleet").

    .venv/bin/python bench/claude_worker.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CS, ROOT, emit, jsonl, pct, wait_for

TEXT = "Here is a short answer, streamed in a few deltas so that latency can be measured."
USAGE = {"input_tokens": 100, "output_tokens": 20}
SCRIPT = {
    "agents": {
        "*": [
            {"when": "^streamed", "repeat": True, "text": TEXT, "delta_delay": 0.05,
             "usage": USAGE},
            {"when": ".", "repeat": True, "text": TEXT, "usage": USAGE},
        ]
    }
}  # fmt: skip
KINDS = ("quick", "streamed")
OFFLINE = {
    "ANTHROPIC_API_KEY": "sk-ant-codeswarm-scripted-model",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
TARGET = 0.10
WORKER_RSS_BUDGET_MB = 40.0
VARIANTS = {"worker": (), "worker_no_coord": ("--no-coord",)}
"""The worker as a swarm runs it (hooks on every turn, the coordination MCP mount), and without
coordination (``up --no-coord``: the worker and the facade alone)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def claude_bin() -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from codeswarm.codex.claude_toolchain import locate; "
         "print(locate().path)"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return done.stdout.strip()


class Turns:
    """What one side measured, by name (seconds), and ``claude``'s own ``duration_ms``."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.own_ms: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)

    def p50_ms(self, name: str) -> float:
        return round(pct(self.times.get(name, []), 50) * 1000, 1)

    def p90_ms(self, name: str) -> float:
        return round(pct(self.times.get(name, []), 90) * 1000, 1)


class Direct(Turns):
    """``claude`` driven as the worker drives it, by nothing but this script."""

    def __init__(self, binary: str, work: Path, port: int) -> None:
        super().__init__()
        home = work / "direct-home"
        self.cwd = work / "direct-repo"
        home.mkdir()
        self.cwd.mkdir()
        keep = ("PATH", "LANG", "TERM", "TMPDIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(OFFLINE, HOME=str(home), CLAUDE_CONFIG_DIR=str(home / ".claude"),
                   ANTHROPIC_BASE_URL=f"http://127.0.0.1:{port}/agents/direct_0")  # fmt: skip
        argv = [binary, "-p", "--input-format", "stream-json", "--output-format", "stream-json",
                "--verbose", "--include-partial-messages", "--replay-user-messages",
                "--permission-prompt-tool", "stdio", "--permission-mode", "acceptEdits",
                "--session-id", str(uuid.uuid4())]  # fmt: skip
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, cwd=self.cwd,
        )  # fmt: skip
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout

    def turn(self, kind: str, text: str, *, record: bool = True) -> None:
        """One turn: from writing the message to the first text delta and to ``result``."""
        line = {"type": "user", "message": {"role": "user", "content": text}}
        t0 = time.perf_counter()
        self.stdin.write(json.dumps(line).encode() + b"\n")
        self.stdin.flush()
        first = float("nan")
        for raw in self.stdout:
            event = json.loads(raw)
            delta = event["event"].get("delta") if event.get("type") == "stream_event" else None
            if first != first and (delta or {}).get("type") == "text_delta":
                first = time.perf_counter() - t0
            if event.get("type") == "result":
                if event.get("is_error") or event.get("result") != TEXT:
                    raise SystemExit(f"direct claude: unexpected result {event}")
                if record:
                    self.add(kind, time.perf_counter() - t0)
                    self.add(f"{kind}_first_delta", first)
                    self.own_ms.setdefault(kind, []).append(float(event["duration_ms"]))
                return
        raise SystemExit("direct claude ended before its result")

    def close(self) -> None:
        self.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Worker(Turns):
    """A one-agent Claude swarm brought up with ``codeswarm up --runtime claude -n 1``."""

    def __init__(self, binary: str, work: Path, script: Path, name: str, *up_args: str) -> None:
        super().__init__()
        self.name, self.agent = name, f"{name}_0"
        self.repo = work / f"{name}-repo"
        self.repo.mkdir()
        home = work / f"{name}-home"
        home.mkdir()
        self.env = {**os.environ, "CODESWARM_STATE_DIR": str(work / "state"), "HOME": str(home),
                    "CLAUDE_CONFIG_DIR": str(home / ".claude"), "CODESWARM_CLAUDE_BIN": binary}  # fmt: skip
        self.run_dir = work / "state" / "runs" / name
        t0 = time.perf_counter()
        self.cli("up", "-n", "1", "--runtime", "claude", "--name", name, "--cwd", str(self.repo),
                 "--model-provider", "mock", "--script", str(script), *up_args)  # fmt: skip
        self.up_s = time.perf_counter() - t0
        self.outbox = self.run_dir / "mailbox" / "outbox" / f"{self.agent}.jsonl"
        self.inbox = self.run_dir / "mailbox" / "inbox" / f"{self.agent}.jsonl"

    def cli(self, *args: str) -> str:
        done = subprocess.run([CS, *args], env=self.env, capture_output=True, text=True,
                              cwd=self.repo)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"codeswarm {' '.join(args[:2])} failed: {done.stderr.strip()}")
        return done.stdout

    def turn(self, kind: str, text: str, *, record: bool = True) -> None:
        """One turn: ``send --wait`` (whole process), and by the records' own clocks the inbox
        record to the first delta, to ``turn/completed``, and the stages between."""
        t0 = time.perf_counter()
        out = json.loads(self.cli("send", self.name, "0", text, "--wait", "--json"))
        wall = time.perf_counter() - t0
        answer = out[self.agent]
        if answer.get("status") != "completed" or answer.get("text") != TEXT:
            raise SystemExit(f"worker: unexpected answer {answer}")
        (sent,) = [r for r in jsonl(self.inbox) if r.get("text") == text]
        found = wait_for(lambda: self._turn_records(sent["id"]), timeout=30)
        if not record:
            return
        at = {k: (v - sent["ts"]) / 1000 for k, v in found.items()}
        self.add(kind, at["turn/completed"])
        self.add(f"{kind}_first_delta", at["delta"])
        self.add(f"{kind}_send_wait", wall)
        self.own_ms.setdefault(kind, []).append(found["duration_ms"])
        for stage, (a, b) in {
            "inbox_to_turn_starting": ("inbox", "turn.starting"),
            "turn_starting_to_accepted": ("turn.starting", "turn.accepted"),
            "accepted_to_claude_result": ("turn.accepted", "result"),
            "claude_result_to_turn_completed": ("result", "turn/completed"),
        }.items():
            self.add(f"{kind}_stage_{stage}", at.get(b, 0.0) - at.get(a, 0.0))

    def _turn_records(self, inbox_id: str) -> dict[str, float] | None:
        """The outbox clocks (ms) of the turn of ``inbox_id``, once it has ended."""
        records = jsonl(self.outbox)
        starts = [i for i, r in enumerate(records)
                  if r["kind"] == "turn.starting" and r.get("inbox_id") == inbox_id]  # fmt: skip
        if not starts:
            return None
        found: dict[str, float] = {}
        for r in records[starts[0] :]:
            msg = r.get("msg") or {}
            key = r["kind"]
            if key == "claude" and msg.get("type") == "result":
                key = "result"
                found["duration_ms"] = float(msg["duration_ms"])
            elif key == "codex":
                key = "delta" if msg.get("method") == "item/agentMessage/delta" else msg["method"]
            found.setdefault(key, float(r["ts"]))
            if key == "turn/completed":
                return found
        return None

    def pids(self) -> tuple[int, int | None]:
        """The worker and its ``claude``."""
        worker = int((self.run_dir / "agents" / self.agent / "worker.pid").read_text())
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == worker and b"claude" in cmd:
                return worker, int(entry.name)
        return worker, None

    def close(self) -> None:
        subprocess.run([CS, "down", self.name, "--purge"], env=self.env, capture_output=True,
                       cwd=self.repo)  # fmt: skip


def main() -> None:
    # bytecode caches as in any installation
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--direct-only", action="store_true", help="only the baseline")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-claude-"))
    script = work / "script.json"
    script.write_text(json.dumps(SCRIPT))
    port = free_port()
    server = subprocess.Popen(
        [CS, "mock-model", "serve", "--script", str(script), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    assert server.stdout is not None
    server.stdout.readline()  # serving…
    direct: Direct | None = None
    workers: dict[str, Worker] = {}
    result: dict[str, Any] = {"benchmark": "claude_worker", "rounds": args.rounds}
    first_turn: dict[str, float] = {}
    rss: dict[str, float | None] = {}
    try:
        binary = claude_bin()
        direct = Direct(binary, work, port)
        direct.turn("quick", "warm up", record=False)
        first_turn["direct_from_spawn"] = time.perf_counter() - direct.t0
        if not args.direct_only:
            for i, (variant, up_args) in enumerate(VARIANTS.items()):
                workers[variant] = w = Worker(binary, work, script, "bc"[i], *up_args)
                first_turn[f"{variant}_up"] = w.up_s
                t0 = time.perf_counter()
                w.turn("quick", "warm up", record=False)
                first_turn[f"{variant}_send_wait"] = time.perf_counter() - t0
        sides: dict[str, Direct | Worker] = {"direct": direct, **workers}
        for i in range(args.rounds):
            for kind in KINDS:
                for side in sides.values():
                    side.turn(kind, f"{kind} round {i}")
        rss["direct_claude"] = rss_mb(direct.proc.pid)
        for variant, w in workers.items():
            wpid, cpid = w.pids()
            rss[variant] = rss_mb(wpid)
            rss[f"{variant}_claude"] = rss_mb(cpid) if cpid else None
    finally:
        if direct is not None:
            direct.close()
        for w in workers.values():
            w.close()
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    for name, side in sides.items():
        result[name] = {
            key: {"p50_ms": side.p50_ms(key), "p90_ms": side.p90_ms(key)} for key in side.times
        }
        result[name]["claude_duration_ms_p50"] = {
            kind: pct(vals, 50) for kind, vals in side.own_ms.items()
        }  # the result line's own duration_ms
    for variant, w in workers.items():
        for kind in KINDS:
            ours, theirs = w.p50_ms(kind), direct.p50_ms(kind)
            result[f"{variant}_vs_direct_{kind}"] = round(ours / theirs, 3)
            result[f"{variant}_overhead_{kind}_ms"] = round(ours - theirs, 1)
        result[f"{variant}_first_delta_streamed_extra_ms"] = round(
            w.p50_ms("streamed_first_delta") - direct.p50_ms("streamed_first_delta"), 1
        )
    result["first_turn_ms"] = {k: round(v * 1000, 1) for k, v in first_turn.items()}
    result["rss_mb"] = rss
    if workers:
        result["target_overhead"] = TARGET
        result["meets_target"] = {
            kind: result[f"worker_vs_direct_{kind}"] - 1 <= TARGET for kind in KINDS
        }
        result["worker_rss_budget_mb"] = WORKER_RSS_BUDGET_MB
        result["worker_rss_within_budget"] = (rss["worker"] or 1e9) <= WORKER_RSS_BUDGET_MB
    emit(result)


if __name__ == "__main__":
    main()
