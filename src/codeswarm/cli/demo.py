"""``codeswarm demo``: ``codeswarm run`` end to end, offline, with the real Codex CLI and the
scripted model (``codeswarm/demo/script.yaml``, shipped in the package).

A tiny Python package whose tests fail is written to a temporary directory; an orchestrator and
three workers fix it: two fix tasks, then "run the tests" depending on both. The orchestrator and
workers 1 and 2 are Codex agents, worker 3 is a Claude Code agent (the real ``claude``,
docs/runtimes.md). Worker 2 needs a
change in a file worker 1 holds: its patch is denied by the hook (naming the holder), it asks the
holder with the MCP ``send`` tool, and the holder makes the change. Worker 3 runs the tests; the
demo runs them too. Exit 0 when the sample's tests pass at the end, 1 otherwise (docs/run.md)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import typer

from codeswarm.core.errors import say

NAME = "demo"
WORKERS = 3
RUNTIME = "codex:2,claude:1"
"""What drives the workers: two Codex agents, and the one that runs the tests is Claude Code."""
MAX_TIME = "120s"
GOAL = "Make the tests of mathlib pass (python3 -m unittest)."
SCRIPT = "demo/script.yaml"
"""The scripted model's script, relative to the ``codeswarm`` package."""
TESTS = [sys.executable, "-m", "unittest"]

SAMPLE: dict[str, str] = {
    ".gitignore": "__pycache__/\n",
    "README.md": "# mathlib\n\nA tiny package for the codeswarm demo. `python3 -m unittest`.\n",
    "mathlib/__init__.py": "",
    "mathlib/arith.py": "def add(a, b):\n    return a - b\n",
    "mathlib/stats.py": (
        "from mathlib.arith import add\n\n\n"
        "def mean(xs):\n"
        "    total = 0\n"
        "    for x in xs:\n"
        "        total = add(total, x)\n"
        "    return total / (len(xs) + 1)\n"
    ),
    "tests/__init__.py": "",
    "tests/test_mathlib.py": (
        "import unittest\n\n"
        "from mathlib.arith import add\n"
        "from mathlib.stats import mean\n\n\n"
        "class MathlibTest(unittest.TestCase):\n"
        "    def test_add(self):\n"
        "        self.assertEqual(add(2, 3), 5)\n\n"
        "    def test_mean(self):\n"
        "        self.assertEqual(mean([1, 2, 3]), 2)\n\n"
        "    def test_mean_of_one(self):\n"
        "        self.assertEqual(mean([4]), 4)\n"
    ),
}
"""The sample repository: ``add`` subtracts, ``mean`` divides by one too many."""


def demo(
    keep_dir: bool = typer.Option(
        False, "--keep-dir", help="Keep the sample repository (its path is printed)."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the result as JSON on stdout (the progress on stderr)."
    ),
) -> None:
    """A run end to end, offline: an orchestrator and three scripted workers (the real Codex
    and Claude Code) fix a small repository whose tests fail. Exit 0 when its tests pass at the
    end."""
    raise typer.Exit(run_demo(keep_dir=keep_dir, json_out=json_out))


def script_text(name: str) -> str:
    """The demo's script for a swarm named ``name``."""
    from importlib.resources import files

    return files("codeswarm").joinpath(SCRIPT).read_text().replace("@SWARM@", name)


def write_sample(root: Path) -> None:
    """The sample repository, committed (when git is there) so that the summary shows the diff."""
    for rel, text in SAMPLE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if shutil.which("git"):
        git = ["git", "-C", str(root), "-c", "user.name=demo", "-c", "user.email=demo@localhost"]
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the sample"]):
            subprocess.run([*git, *args], check=True, capture_output=True)


def run_tests(root: Path) -> dict[str, Any]:
    """The sample's tests: ``{"passed": bool, "output": last lines}``."""
    done = subprocess.run(
        TESTS, cwd=root, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    lines = (done.stdout + done.stderr).strip().splitlines()
    return {"passed": done.returncode == 0, "output": lines[-1] if lines else ""}


def run_demo(*, keep_dir: bool = False, json_out: bool = False) -> int:
    """The whole demo; returns its exit code."""
    from codeswarm.cli.run import run_goal
    from codeswarm.core.paths import user_state_home

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="codeswarm-demo."))
    sample = tmp / "mathlib"
    sample.mkdir()
    saved = {k: os.environ.get(k) for k in ("CODESWARM_STATE_DIR", "CODESWARM_DB")}
    # the swarm's own store and run directory, removed at the end; not in the temporary
    # directory, which the agents' workspace-write sandbox can write
    home = user_state_home()
    home.mkdir(parents=True, exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix="demo.", dir=home))
    os.environ["CODESWARM_STATE_DIR"] = str(state)
    os.environ.pop("CODESWARM_DB", None)
    out = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr if json_out else sys.stdout):
            write_sample(sample)
            before = run_tests(sample)
            say(f"demo: sample repository {sample}; its tests before: "
                f"{'pass' if before['passed'] else 'FAIL'} ({before['output']})")  # fmt: skip
            script = tmp / "script.yaml"
            script.write_text(script_text(NAME))
            summary_path = tmp / "summary.json"
            print(f"$ codeswarm run {GOAL!r} --runtime {RUNTIME} --model-provider mock "
                  "--script codeswarm/demo/script.yaml", file=sys.stderr)  # fmt: skip
            code = run_goal(
                GOAL, runtime=RUNTIME, name=NAME, cwd=sample, model_provider="mock", script=script,
                sandbox="workspace-write", max_time=MAX_TIME, summary_json=summary_path,
            )  # fmt: skip
            summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
            story = _story(sample)
            for line in story["lines"]:
                say(f"demo: {line}")
            after = run_tests(sample)
            say(f"demo: the sample's tests after: {'pass' if after['passed'] else 'FAIL'} "
                f"({after['output']}); run exit code {code}; "
                f"{time.monotonic() - started:.1f}s")  # fmt: skip
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if not keep_dir:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(state, ignore_errors=True)
    if keep_dir:
        say(f"demo: kept {sample} (and the swarm's state in {state})")
    ok = after["passed"] and not before["passed"]
    if json_out:
        result = {
            "ok": ok, "run_exit_code": code, "tests_before": before, "tests_after": after,
            "audit": story["audit"], "messages": story["messages"], "summary": summary,
            "runtimes": story["runtimes"],
            "sample_dir": str(sample) if keep_dir else None,
            "duration_s": round(time.monotonic() - started, 2),
        }  # fmt: skip
        print(json.dumps(result, indent=2), file=out)
    return 0 if ok else 1


def _story(sample: Path) -> dict[str, Any]:
    """What happened, from the store: the leases (taken, denied, released) and the messages
    between workers."""
    from codeswarm.coordination import Coord, rows
    from codeswarm.core.swarm import RunDir, agent_runtime, swarm_scope

    run = RunDir.of(NAME, sample)
    if not run.spec_path.exists():
        return {"lines": [], "audit": [], "messages": [], "runtimes": {}}
    spec = run.load_spec()
    runtimes = {f"{NAME}_{r}": agent_runtime(spec, f"{NAME}_{r}") for r in range(spec.size)}
    coord = Coord.open(spec.coord_db, root=swarm_scope(spec))
    try:
        events = coord.events(kind="lease.")
        with coord.store.read() as tx:
            found = tx.query(
                f"SELECT {rows.MESSAGE_COLS} FROM messages m WHERE m.scope = ? ORDER BY m.id",
                (coord.scope,),
            )
        messages = [rows.message(r) for r in found]
    finally:
        coord.close()
    orchestrator = f"{NAME}_0"
    audit = [
        {"seq": e.seq, "kind": e.kind, "agent": e.agent, "subject": e.subject, "data": e.data}
        for e in events
    ]
    between = [
        {"id": m.id, "from": (m.sender or "").partition("#")[0], "to": m.to, "text": m.text,
         "sent_at": m.sent_at}
        for m in messages
        if m.sender and m.sender.partition("#")[0] != orchestrator and m.to != orchestrator
        and m.task_id is None
    ]  # fmt: skip
    lines: list[tuple[float, str]] = []
    for e in events:
        who = (e.agent or "").partition("#")[0]
        data = e.data or {}
        if e.kind == "lease.denied":
            reasons = data.get("reasons") or ["held by a peer"]
            lines.append(
                (e.ts, f"{who}: {data.get('tool', 'a write')} DENIED by the hook: {reasons[0]}")
            )
        elif e.kind == "lease.acquired":
            lines.append((e.ts, f"{who}: took the lease on {e.subject}"))
        elif e.kind == "lease.released":
            holder = str(data.get("holder", "")).partition("#")[0]
            why = f" ({data['reason']})" if data.get("reason") else ""
            lines.append((e.ts, f"{holder}: its lease on {e.subject} released{why}"))
    for m in between:
        lines.append((float(str(m["sent_at"])), f"message {m['from']} -> {m['to']}: {m['text']}"))
    lines.sort(key=lambda line: line[0])
    names = {"codex": "Codex", "claude": "Claude Code"}
    drivers = ", ".join(f"{agent} {names.get(r, r)}" for agent, r in runtimes.items())
    return {"lines": [f"the agents: {drivers}", *(text for _, text in lines)], "audit": audit,
            "messages": between, "runtimes": runtimes}  # fmt: skip
