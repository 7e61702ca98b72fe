"""What a hook costs per tool call, process start included, side by side in one run:

- baseline: `python -c pass` with the same (virtualenv) interpreter;
- PreToolUse on a tool the hooks ignore (a read);
- PreToolUse on an apply_patch (parse, agent heartbeat, lease check by real path and file
  identity, the content snapshot of every file peers lease) with a populated coordinator: 100
  agents holding 1,000 leases (the issue's setting), in a 500-file tree;
- the same on a peer's file: denied (with its `lease.denied` audit row);
- PreToolUse on a shell command (write detection, the check, the content snapshot);
- PostToolUse after it (the leased files compared again; no tree walk).

Each hook case twice: ``service_*`` (a fleet agent's hook asking its decision service over the
agent's unix socket; the service runs in this process, which stands for the agent's Codex and
worker) and ``inprocess_*`` (no service to ask: the hook decides by itself, as before).
``service_lease_reads``: how many service calls read the live leases from the store instead of
using those it kept (the in-hook cases commit through connections of their own, so the first
service call of each round reads them again, as a peer's commit makes it in a busy swarm).

    .venv/bin/python bench/hooks_latency.py [--rounds 40] [--peers 100 --leases-each 10]
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
from codeswarm.hooks.service import HookService


def run(argv: list[str], stdin: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, input=stdin, text=True, env=env, capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--peers", type=int, default=100, help="agents holding leases (100)")
    ap.add_argument("--leases-each", type=int, default=10, help="leases per peer (10)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-hooks-"))
    repo = root / "repo"
    for i in range(500):
        d = repo / f"pkg{i % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"m{i}.py").write_text("x = 1\n")
    db = str(root / "coord.db")
    with Coord.open(db, root=str(repo)) as c:
        for a in range(args.peers):  # by default 100 agents, 10 leases each: 1,000 leases
            peer = c.register(f"peer{a}", lease_s=3600)
            for j in range(args.leases_each):
                c.lease(peer, f"area{a}/f{j}.py", note="bench")
    # bytecode caches as in any installation (a development shell may set this)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    env = {**os.environ, "CODESWARM_DB": db, "CODESWARM_SCOPE": str(repo), "CODESWARM_AGENT_ID": "me",
           "CODESWARM_LEASES_AUTO": "0", "CODESWARM_RUN_DIR": str(root / "run")}  # fmt: skip
    (root / "run" / "agents" / "me").mkdir(parents=True, mode=0o700)  # scratch, the socket
    # the worker's store, shared by its service (opened once in this process, as in a worker)
    store = Coord.open(db, root=str(repo)).store
    service = HookService(
        str(root / "run" / "agents" / "me"), lambda: env, os.getpid, lambda: store
    )
    service.start()
    # no service there: the hook decides by itself
    alone = {**env, "CODESWARM_RUN_DIR": str(root / "run-alone")}
    (root / "run-alone").mkdir(mode=0o700)
    from codeswarm.hooks import ENTRY

    hook = [sys.executable, ENTRY, "codex"]
    base = {"session_id": "bench-0001", "cwd": str(repo), "tool_use_id": "t"}
    patch = "*** Begin Patch\n*** Update File: pkg1/m101.py\n@@\n-x = 1\n+x = 2\n*** End Patch\n"
    denied = "*** Begin Patch\n*** Update File: area0/f0.py\n@@\n-x = 1\n+x = 2\n*** End Patch\n"
    cases = {
        "baseline_python_c_pass": ([sys.executable, "-c", "pass"], ""),
        "pre_tool_use_ignored_tool": ([*hook, "pre-tool-use"], json.dumps({**base, "tool_name": "read_file", "tool_input": {}})),
        "pre_tool_use_apply_patch": ([*hook, "pre-tool-use"], json.dumps({**base, "tool_name": "apply_patch", "tool_input": {"command": patch}})),
        "pre_tool_use_apply_patch_denied": ([*hook, "pre-tool-use"], json.dumps({**base, "tool_name": "apply_patch", "tool_input": {"command": denied}})),
        "pre_tool_use_shell_500_files": ([*hook, "pre-tool-use"], json.dumps({**base, "tool_name": "Bash", "tool_input": {"command": "make test > out.log"}})),
        "post_tool_use_shell_500_files": ([*hook, "post-tool-use"], json.dumps({**base, "tool_name": "Bash", "tool_input": {"command": "make test"}, "tool_response": ""})),
    }  # fmt: skip
    # round after round, every case once (a PostToolUse right after the PreToolUse whose
    # picture it compares): noise from the rest of the machine falls on all cases alike
    plan = [("baseline_python_c_pass", *cases.pop("baseline_python_c_pass"), env)]
    for path, hook_env in (("service", env), ("inprocess", alone)):
        plan += [(f"{path}_{name}", argv, stdin, hook_env) for name, (argv, stdin) in cases.items()]
    for _, argv, stdin, case_env in plan:  # warm: bytecode caches, the service's store
        run(argv, stdin, case_env)
    runs: dict[str, list[float]] = {name: [] for name, *_ in plan}
    for _ in range(args.rounds):
        for name, argv, stdin, case_env in plan:
            runs[name].append(run(argv, stdin, case_env))
    results = {name: summary(values) for name, values in runs.items()}
    served, lease_reads = service.served, service.lease_reads
    service.close()
    store.close()
    floor = results["baseline_python_c_pass"]["p50_ms"]
    emit(
        {
            "benchmark": "hooks_latency",
            "rounds": args.rounds,
            "leases": args.peers * args.leases_each,
            "service_calls_served": served,
            "service_lease_reads": lease_reads,
            **results,
            "ratios_to_python_c_pass": {
                name: round(r["p50_ms"] / floor, 2)
                for name, r in results.items()
                if name != "baseline_python_c_pass"
            },
            "ratio_patch_check_to_python_c_pass": round(
                results["service_pre_tool_use_apply_patch"]["p50_ms"] / floor, 2
            ),
            "ratio_patch_check_in_process_to_python_c_pass": round(
                results["inprocess_pre_tool_use_apply_patch"]["p50_ms"] / floor, 2
            ),
        }
    )


if __name__ == "__main__":
    main()
