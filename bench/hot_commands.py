"""The hot commands as whole processes, interpreter start included, side by side with
``python -c pass`` of the same interpreter in the same run (interleaved rounds, bytecode caches
written): ``send`` (returning), ``send --stream`` to its first delta, ``interrupt`` (an idle agent:
the whole decision, nothing to send), ``status --json`` (from checkpoints; and with every
checkpoint removed first: a full replay), plain ``status``, ``coord lease`` + ``release``; and,
for scale, the in-process inbox append those commands wrap (no interpreter start) and the
ordinary commands the hot path stands in front of (``status --json`` and ``interrupt`` through
Typer, ``send --stream`` through argparse): what they cost before. CPU time (user + system) is
reported beside wall time: on a shared machine, other work stretches wall time, not CPU time.
The turn ``send`` starts is waited out before the next case is timed (it would otherwise run
beside that case: two cores, four agents).

A real local swarm of N agents (supervisor, workers, Codex, the scripted model), with some
history in each outbox (``--history`` turns per agent). ``status --json`` is also timed on a
copy of that run directory grown to ``--wide`` agents (each agent's outbox a real one of the
swarm; no processes: every agent shows as failed, which costs the same to work out).

Target (issue 15): p50 <= 2x ``python -c pass`` (send, interrupt, status --json, coord).

    .venv/bin/python bench/hot_commands.py [--rounds 20] [--agents 4] [--history 5] [--wide 50]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CS, emit, pct, scripted_swarm, wait_for

PYTHON = str(Path(sys.executable).parent / "python")
TYPER = "import sys; from codeswarm.cli.app import main; main(sys.argv[1:])"
SEND = "import sys; from codeswarm.cli.swarm.send import main; sys.exit(main(sys.argv[1:]))"
"""The ordinary commands, without the hot path in front of them (what they cost before)."""


CPU: dict[str, list[float]] = {}
"""CPU time (user + system) of each case's processes: less at the mercy of the machine's load
than wall time (other work on a shared machine stretches wall time, not CPU time)."""


def timed(argv: list[str], env: dict[str, str], cwd: str, case: str = "") -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU.setdefault(case, []).append(cpu)
    return took


def first_output(argv: list[str], env: dict[str, str], cwd: str) -> float:
    """Seconds from start to the first byte on stdout (then the process is left to finish)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.read(1)
    took = time.perf_counter() - t0
    proc.stdout.read()
    proc.wait()
    return took


def row(xs: list[float], floor: float, cpu: list[float], cpu_floor: float) -> dict[str, Any]:
    out = {"p50_ms": round(pct(xs, 50) * 1000, 2), "p99_ms": round(pct(xs, 99) * 1000, 2),
           "ratio_p50_to_python": round(statistics.median(xs) / floor, 2), "n": len(xs)}  # fmt: skip
    if cpu:
        out["cpu_p50_ms"] = round(statistics.median(cpu) * 1000, 2)
        out["cpu_ratio_p50_to_python"] = round(statistics.median(cpu) / cpu_floor, 2)
    return out


def turns_of(run_dir: Path, name: str, agent: str) -> int:
    """``agent``'s finished turns, counted once it is idle again (-1 while it works)."""
    from codeswarm.control.status import hot_replay

    replay = hot_replay(str(run_dir), name, [agent], save=False)
    view = None if replay is None else replay.fleet.agents[agent]
    return -1 if view is None or view.state != "idle" else view.turns


def widen(run_dir: Path, agents: int, into: Path) -> Path:
    """A copy of ``run_dir`` with ``agents`` agents, agent i's outbox a copy of a real one."""
    import json

    spec = json.loads((run_dir / "swarm.json").read_text())
    real = sorted((run_dir / "mailbox" / "outbox").glob("*.jsonl"))
    root = into / "runs" / spec["name"]
    for d in ("mailbox/outbox", "mailbox/inbox", "agents"):
        (root / d).mkdir(parents=True, mode=0o700)
    os.chmod(into, 0o700)
    for base in (into / "runs", root, root / "mailbox"):
        os.chmod(base, 0o700)
    for rank in range(agents):
        agent = f"{spec['name']}_{rank}"
        (root / "agents" / agent).mkdir(mode=0o700)
        shutil.copyfile(real[rank % len(real)], root / "mailbox" / "outbox" / f"{agent}.jsonl")
    (root / "swarm.json").write_text(json.dumps({**spec, "size": agents, "coord": False}))
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--history", type=int, default=5, help="Turns per agent before timing.")
    ap.add_argument("--wide", type=int, default=50, help="Agents in the widened copy (0: none).")
    args = ap.parse_args()
    if args.agents < 4:
        raise SystemExit("--agents: at least 4 (idle, sent to, appended to, streamed)")
    answers = [{"text": "done, here is a longer answer of a few words"}] * (args.history + 1000)
    script = {"agents": {"*": answers}}
    result: dict[str, Any] = {"benchmark": "hot_commands", "rounds": args.rounds,
                              "agents": args.agents, "history_turns": args.history}  # fmt: skip
    with scripted_swarm("bench-hot-", script, args.agents, result=result) as sw:
        env = {k: v for k, v in sw.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cwd = str(sw.repo)
        name = sw.spec["name"]
        for _ in range(args.history):
            subprocess.run([CS, "send", name, "all", "go", "--wait"], env=env, cwd=cwd,
                           check=True, capture_output=True)  # fmt: skip
        status_env = env
        db = str(Path(env["CODESWARM_STATE_DIR"]) / "coord.db")
        hook_env = {**env, "CODESWARM_DB": db, "CODESWARM_SCOPE": cwd,
                    "CODESWARM_AGENT_ID": f"{name}_1"}  # fmt: skip
        wide_env = None
        if args.wide:
            wide_state = sw.work / "wide-state"
            widen(sw.run_dir, args.wide, wide_state)
            wide_env = {**env, "CODESWARM_STATE_DIR": str(wide_state)}
        agent1 = f"{name}_1"
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "python_c_pass": ([PYTHON, "-c", "pass"], env),
            "send": ([CS, "send", name, agent1, "hello"], env),
            "interrupt_idle": ([CS, "interrupt", name, f"{name}_0"], env),
            "status_json": ([CS, "status", name, "--json"], status_env),
            "status_plain": ([CS, "status", name], status_env),
            "coord_lease": ([CS, "coord", "lease", "src/app.py"], hook_env),
            "coord_release": ([CS, "coord", "release", "src/app.py"], hook_env),
            "status_json_ordinary": ([PYTHON, "-c", TYPER, "status", name, "--json"], env),
            "interrupt_idle_ordinary": ([PYTHON, "-c", TYPER, "interrupt", name, f"{name}_0"], env),
        }
        if wide_env is not None:
            cases[f"status_json_{args.wide}_agents"] = ([CS, "status", name, "--json"], wide_env)
        samples: dict[str, list[float]] = {k: [] for k in cases}
        samples["status_json_no_checkpoint"] = []
        samples["send_stream_first_delta"] = []
        samples["send_stream_first_delta_ordinary"] = []
        samples["inbox_append_in_process"] = []
        from codeswarm.mailbox import Layout, Writer

        inbox = Layout(sw.run_dir).inbox(f"{name}_2")
        for case, (argv, e) in cases.items():  # warm up (bytecode caches, checkpoints); check
            done = subprocess.run(argv, env=e, cwd=cwd, capture_output=True, text=True)
            if done.returncode != (1 if case.startswith("interrupt_idle") else 0):
                raise SystemExit(f"{case} failed ({done.returncode}): {done.stderr}")
        for _ in range(args.rounds):
            idle = wait_for(lambda: turns_of(sw.run_dir, name, agent1) + 1)  # (turns + 1)
            for case, (argv, e) in cases.items():
                samples[case].append(timed(argv, e, cwd, case))
                if case == "send":  # its turn runs now: over before the next case is timed
                    wait_for(lambda t=idle: turns_of(sw.run_dir, name, agent1) + 1 > t)
            for ckpt in sw.run_dir.glob("agents/*/status.ckpt"):
                ckpt.unlink()
            samples["status_json_no_checkpoint"].append(
                timed([CS, "status", name, "--json"], env, cwd, "status_json_no_checkpoint")
            )
            t0 = time.perf_counter()
            with Writer.open(inbox, lock=True) as w:
                w.append("noop")
            samples["inbox_append_in_process"].append(time.perf_counter() - t0)
            samples["send_stream_first_delta"].append(
                first_output([CS, "send", name, f"{name}_3", "go", "--stream"], env, cwd)
            )
            samples["send_stream_first_delta_ordinary"].append(
                first_output([PYTHON, "-c", SEND, name, f"{name}_3", "go", "--stream"], env, cwd)
            )
            wait_for(lambda: True)
        floor = statistics.median(samples["python_c_pass"])
        cpu_floor = statistics.median(CPU["python_c_pass"])
        result["results"] = {
            k: row(xs, floor, CPU.get(k, []), cpu_floor) for k, xs in samples.items()
        }
    result["target"] = {"ratio_p50_to_python": "<= 2 (send, interrupt, status --json, coord)"}
    result["loadavg"] = os.getloadavg()
    result["bytecode_cache"] = True
    emit(result)


if __name__ == "__main__":
    main()
