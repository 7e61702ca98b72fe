"""What a hook costs per tool call, process start included, side by side in one run:

- baseline: `python -c pass` with the same (virtualenv) interpreter;
- PreToolUse on a tool the hooks ignore (a read);
- PreToolUse on an apply_patch (parse, agent heartbeat, lease check by real path and file
  identity, the content snapshot of every file peers lease) with a populated coordinator: 100
  agents holding 1,000 leases (the issue's setting), in a 500-file tree;
- the same on a peer's file: denied (with its `lease.denied` audit row);
- PreToolUse on a shell command (write detection, the check, the content snapshot);
- PostToolUse after it (the leased files compared again; no tree walk).

    .venv/bin/python bench/hooks_latency.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, summary
from codeswarm.coordination import Coord


def timed(argv: list[str], stdin: str, env: dict[str, str], rounds: int) -> list[float]:
    subprocess.run(argv, input=stdin, text=True, env=env, capture_output=True, check=True)  # warm
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run(argv, input=stdin, text=True, env=env, capture_output=True, check=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-hooks-"))
    repo = root / "repo"
    for i in range(500):
        d = repo / f"pkg{i % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"m{i}.py").write_text("x = 1\n")
    db = str(root / "coord.db")
    with Coord.open(db, root=str(repo)) as c:
        for a in range(100):  # 100 agents, 10 leases each: 1,000 leases
            peer = c.register(f"peer{a}", lease_s=3600)
            for j in range(10):
                c.lease(peer, f"area{a}/f{j}.py", note="bench")
    # bytecode caches as in any installation (a development shell may set this)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    env = {**os.environ, "CODESWARM_DB": db, "CODESWARM_SCOPE": str(repo), "CODESWARM_AGENT_ID": "me",
           "CODESWARM_LEASES_AUTO": "0", "CODESWARM_RUN_DIR": str(root / "run")}  # fmt: skip
    (root / "run").mkdir(mode=0o700)  # the hooks' scratch directory goes in the run directory
    from codeswarm.hooks import ENTRY

    hook = [sys.executable, ENTRY, "codex"]
    base = {"session_id": "bench-0001", "cwd": str(repo), "tool_use_id": "t"}
    patch = "*** Begin Patch\n*** Update File: pkg1/m101.py\n@@\n-x = 1\n+x = 2\n*** End Patch\n"
    denied = "*** Begin Patch\n*** Update File: area7/f3.py\n@@\n-x = 1\n+x = 2\n*** End Patch\n"
    cases = {
        "baseline_python_c_pass": ([sys.executable, "-c", "pass"], ""),
        "pre_tool_use_ignored_tool": ([*hook, "pre-tool-use"], json.dumps({**base, "tool_name": "read_file", "tool_input": {}})),
        "pre_tool_use_apply_patch": ([*hook, "pre-tool-use"], json.dumps({**base, "tool_name": "apply_patch", "tool_input": {"command": patch}})),
        "pre_tool_use_apply_patch_denied": ([*hook, "pre-tool-use"], json.dumps({**base, "tool_name": "apply_patch", "tool_input": {"command": denied}})),
        "pre_tool_use_shell_500_files": ([*hook, "pre-tool-use"], json.dumps({**base, "tool_name": "Bash", "tool_input": {"command": "make test > out.log"}})),
        "post_tool_use_shell_500_files": ([*hook, "post-tool-use"], json.dumps({**base, "tool_name": "Bash", "tool_input": {"command": "make test"}, "tool_response": ""})),
    }  # fmt: skip
    results = {}
    for name, (argv, stdin) in cases.items():
        if name == "post_tool_use_shell_500_files":
            runs = []
            for _ in range(args.rounds):  # each PostToolUse needs the picture its PreToolUse took
                subprocess.run([*hook, "pre-tool-use"], input=cases["pre_tool_use_shell_500_files"][1],
                               text=True, env=env, capture_output=True, check=True)  # fmt: skip
                runs += timed(argv, stdin, env, 1)
            results[name] = summary(runs)
        else:
            results[name] = summary(timed(argv, stdin, env, args.rounds))
    floor = results["baseline_python_c_pass"]["p50_ms"]
    emit(
        {
            "benchmark": "hooks_latency",
            "rounds": args.rounds,
            **results,
            "ratio_patch_check_to_python_c_pass": round(
                results["pre_tool_use_apply_patch"]["p50_ms"] / floor, 2
            ),
        }
    )


if __name__ == "__main__":
    main()
