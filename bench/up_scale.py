"""A local swarm of N agents (real Codex, scripted model) from `up` to `down`, side by side with
Codex's own cost in the same run, for each N asked (default 4, 16, 50):

- ``baseline``: N bare ``codex app-server`` processes started in parallel (one stdlib-only
  Python process drives them all), each doing ``initialize`` + ``thread/start`` against a
  scripted model that is already running: what bringing up N agents costs Codex itself.
- ``baseline_seeded``: the same, each Codex home holding the databases Codex makes at its first
  start (copied from the binary's template, as every agent's home gets them): Codex's own
  start with that work done, the stricter baseline (``up_over_seeded_baseline``).
- ``up``: ``codeswarm up -n N --model-provider mock`` as a whole process, until it returns
  (every agent ready). ``overhead_pct`` = (up - baseline) / baseline. Next to it, where `up`'s
  time went (``up_phases``, seconds after `up` started): the supervisor's and the hub's process
  start, the first and last worker process start, worker imports done (``worker.started``),
  the first and last agent ready (process start times and outbox records, CLOCK_REALTIME).
- ``up_cpu``: CPU seconds used until `up` returned, by `up` itself, by each kind of codeswarm
  process and by Codex (with its children), and in all; beside it ``baseline_cpu_s``, the bare
  Codex processes' CPU until their threads started. On a machine whose cores are all busy during
  start-up, ``total_s / cores`` is the shortest `up` those processes allow.
- ``memory``: codeswarm's own processes only (supervisor, workers, the coordination hub, any
  MCP server; not Codex, not the scripted model), summed: RSS (``VmRSS``) and PSS
  (``smaps_rollup``), total and per agent; Codex and the model are reported beside it.
- ``idle_cpu``: CPU of codeswarm's processes (and of Codex's, beside it) over a window while
  every agent is idle (45 s: every agent's coordination heartbeat falls in it), in % of one core.
- ``send_all``: ``codeswarm send S all … --wait`` as a whole process, until every agent answered.
- ``down``: ``codeswarm down`` as a whole process; ``clean`` = no process of the swarm is left
  when it returns.

Bytecode caches are written (as in an installation); the first `up` of a run warms them. The
agents' login shells start from an empty HOME on both sides (``--real-home``: this machine's).
``--external-model``: the swarm's agents use a scripted model that runs already (started
before the clock, as the baseline's), not one that `up` starts: a real model API costs `up`
nothing, while the scripted model's start (≈ 0.2 s of CPU) otherwise falls inside `up`. One
model serves the whole run, so its provider is the same from one `up` to the next, as a
person's is: `up`'s model check passed in the warm-up and is remembered (docs/fleet.md).
``--unforked``: each swarm again with its workers started as processes of their own
(``CODESWARM_FORK_WORKERS=0``) instead of forked by the swarm's zygote, in the same round.
Targets (issue 15): up -n 4 <= 2 s and overhead <= 30 %; codeswarm's RSS per agent <= 30 MB;
idle CPU of 50 agents < 1 % of a core.

    .venv/bin/python bench/up_scale.py [--sizes 4,16,50] [--rounds 1] [--idle-seconds 45]
    PYTHONPATH=/elsewhere/src .venv/bin/python bench/up_scale.py    # another checkout's code
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ANSWER_OK, emit, jsonl, wait_for

ROOT = Path(__file__).resolve().parent.parent
CS = str(Path(sys.executable).parent / "codeswarm")
TICKS = os.sysconf("SC_CLK_TCK")
SCRIPT = ANSWER_OK

BARE = r"""
import json, os, selectors, subprocess, sys, time
codex, cwd, port, n, homes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def flags(i):
    provider = ('{name="bench", base_url="http://127.0.0.1:%s/agents/bare_%d/v1", '
                'wire_api="responses", supports_websockets=false, request_max_retries=0, '
                'stream_max_retries=0}' % (port, i))
    return ["-c", 'model_provider="bench"', "-c", "model_providers.bench=" + provider,
            "-c", 'model="gpt-5.5"', "-c", "features.plugins=false"]
t0 = time.monotonic()
procs = []
for i in range(n):
    home = os.path.join(homes, str(i)); os.makedirs(home, exist_ok=True)
    p = subprocess.Popen([codex, *flags(i), "app-server"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd,
                         env={**os.environ, "CODEX_HOME": home})
    procs.append(p)
def send(p, m):
    p.stdin.write((json.dumps(m) + "\n").encode()); p.stdin.flush()
sel = selectors.DefaultSelector()
for i, p in enumerate(procs):
    send(p, {"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "bare", "title": "bare", "version": "0"}, "capabilities": None}})
    os.set_blocking(p.stdout.fileno(), False)
    sel.register(p.stdout, selectors.EVENT_READ, (i, p, bytearray()))
ready = 0
while ready < n:
    for key, _ in sel.select():
        i, p, buf = key.data
        buf += os.read(p.stdout.fileno(), 1 << 16)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n"); buf[:] = rest
            m = json.loads(line)
            if m.get("id") == 1:
                send(p, {"method": "initialized"})
                send(p, {"id": 2, "method": "thread/start", "params": {"cwd": cwd, "approvalPolicy": "never", "sandbox": "workspace-write"}})
            elif m.get("id") == 2:
                ready += 1
print("READY", time.monotonic() - t0, flush=True)
ticks = 0
for p in procs:  # Codex's CPU until every thread started: its own and its children's (shells)
    f = open("/proc/%d/stat" % p.pid).read().rsplit(")", 1)[1].split()
    ticks += sum(int(x) for x in f[11:15])
print("CPU", ticks / os.sysconf("SC_CLK_TCK"), flush=True)
for p in procs:
    p.stdin.close()
for p in procs:
    p.wait()
"""


REAL_HOME = False
EXTERNAL_MODEL = 0
"""``--external-model``: the port of the scripted model every swarm of the run uses (one model,
one provider table: as a person's provider, the same from one `up` to the next)."""
"""``--real-home``: the agents' login shells read this machine's ~/.bashrc."""


def home_env(work: Path) -> dict[str, str]:
    """An empty home for Codex's login-shell snapshot (both sides alike), unless --real-home:
    Codex snapshots the login shell of every new thread, and a ~/.bashrc that runs ``pyenv
    rehash`` makes N shells at once queue on one lock (up to 60 s each)."""
    if REAL_HOME:
        return {}
    home = work / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seeded_homes(codex: str, homes: Path, n: int) -> None:
    """N Codex homes holding the databases Codex makes at its first start, copied from the
    binary's template, as each agent's home gets them (``codex/toolchain.py`` ``seed_home``)."""
    from codeswarm.codex.toolchain import build_home_template, describe, seed_home

    binary = describe(Path(codex), "config")
    template = build_home_template(binary)
    assert template is not None, "no template home could be made"
    for i in range(n):
        (homes / str(i)).mkdir(parents=True)
        assert seed_home(binary, homes / str(i))


def baseline(n: int, codex: str, work: Path, seeded: bool = False) -> tuple[float, float]:
    """Seconds for N bare app-servers to answer ``thread/start`` (a model already running): from
    the driver's start until this process reads its ``READY`` line (not until it exits: ending
    the Codex processes is no part of bringing them up), and the CPU seconds their processes
    (and their children) used until then. ``seeded``: their
    homes hold the databases Codex makes at a first start, as the agents' homes do."""
    base = work / f"bare-{n}"
    (base / "ws").mkdir(parents=True)
    if seeded:
        seeded_homes(codex, base / "homes", n)
    (base / "script.json").write_text(json.dumps(SCRIPT))
    (base / "bare.py").write_text(BARE)
    model, port = serve_model(base / "script.json")
    try:
        t0 = time.monotonic()
        driver = subprocess.Popen(
            [sys.executable, str(base / "bare.py"), codex, str(base / "ws"), str(port), str(n),
             str(base / "homes")],
            stdout=subprocess.PIPE, text=True, env={**os.environ, **home_env(work)},
        )  # fmt: skip
        assert driver.stdout is not None
        ready = driver.stdout.readline()  # every thread started: as `up` returns then
        wall = time.monotonic() - t0
        rest = driver.stdout.read()  # (then the CPU line, and the Codex processes end)
        assert driver.wait() == 0 and ready.startswith("READY"), (ready, rest)
        cpu = float(rest.split("CPU", 1)[1].split()[0])
        return wall, cpu
    finally:
        model.terminate()
        model.wait()
        shutil.rmtree(base, ignore_errors=True)


# -- processes ----------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _cmd(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def swarm_processes(run_dir: Path) -> dict[int, str]:
    """pid -> kind (``codeswarm``, ``codex``, ``model``) of every process of the swarm: the
    supervisor and everything below it (workers, their Codex, whatever Codex spawns), and any
    other process naming the run directory (the coordination hub, which outlives the process
    that started it) with everything below it."""
    sup = int((run_dir / "supervisor.pid").read_text().split()[0])
    kids = _children()
    out: dict[int, str] = {}
    named = [p for ps in kids.values() for p in ps if str(run_dir) in _cmd(p)]
    todo = [sup, *named]
    while todo:
        pid = todo.pop()
        cmd = _cmd(pid)
        if not cmd or pid in out:
            continue
        exe = cmd.split(" ", 1)[0]
        if exe.endswith("/codex") or " app-server" in cmd:
            kind = "codex"
        elif "mock-model" in cmd:
            kind = "model"
        else:
            kind = "codeswarm"
        out[pid] = kind
        todo.extend(kids.get(pid, []))
    return out


def _kb(path: str, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def memory(procs: dict[int, str], n: int) -> dict[str, Any]:
    sums: dict[str, dict[str, float]] = {}
    for pid, kind in procs.items():
        s = sums.setdefault(kind, {"processes": 0, "rss_mb": 0.0, "pss_mb": 0.0})
        s["processes"] += 1
        s["rss_mb"] += _kb(f"/proc/{pid}/status", "VmRSS:") / 1024
        s["pss_mb"] += _kb(f"/proc/{pid}/smaps_rollup", "Pss:") / 1024
    out: dict[str, Any] = {}
    for kind, s in sums.items():
        out[kind] = {
            "processes": int(s["processes"]),
            "rss_mb": round(s["rss_mb"], 1),
            "pss_mb": round(s["pss_mb"], 1),
            "rss_mb_per_agent": round(s["rss_mb"] / n, 1),
            "pss_mb_per_agent": round(s["pss_mb"] / n, 1),
        }
    out["codeswarm_by_command"] = _by_command(procs)
    return out


def _by_command(procs: dict[int, str]) -> dict[str, dict[str, float]]:
    """codeswarm's processes grouped by what they run (worker, supervisor, MCP server, …)."""
    groups: dict[str, dict[str, float]] = {}
    for pid, kind in procs.items():
        if kind != "codeswarm":
            continue
        cmd = _cmd(pid)
        words = cmd.split()
        name = next((w for w in words if w.startswith("codeswarm.")), None)
        if name is None:
            name = " ".join(w.rsplit("/", 1)[-1] for w in words[:3])
        g = groups.setdefault(name, {"processes": 0, "rss_mb": 0.0})
        g["processes"] += 1
        g["rss_mb"] = round(g["rss_mb"] + _kb(f"/proc/{pid}/status", "VmRSS:") / 1024, 1)
    return groups


def _ticks(pid: int, children: bool = False) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(f) for f in fields[11 : 15 if children else 13])


def up_cpu(procs: dict[int, str], cli_s: float) -> dict[str, Any]:
    """CPU seconds used until `up` returned: by `up` itself (the CLI, with anything it waited
    for), by each kind of codeswarm process, by Codex (its own and its children's: the login
    shell snapshot and the like) and in all (``total_s``: divided by the cores, the shortest
    `up` these processes allow)."""
    by: dict[str, float] = {"cli": cli_s}
    for pid, kind in procs.items():
        name = kind
        if kind == "codeswarm":
            words = _cmd(pid).split()
            name = next((w for w in words if w.startswith("codeswarm.")), "codeswarm")
        by[name] = by.get(name, 0.0) + _ticks(pid, children=True) / TICKS
    out: dict[str, Any] = {k: round(v, 3) for k, v in sorted(by.items())}
    out["total_s"] = round(sum(by.values()), 3)
    out["cores"] = os.cpu_count()
    return out


def idle_cpu(procs: dict[int, str], seconds: float) -> dict[str, float]:
    before = {p: _ticks(p) for p in procs}
    time.sleep(seconds)
    after = {p: _ticks(p) for p in procs}
    out: dict[str, float] = {}
    for pid, kind in procs.items():
        if after[pid] >= before[pid] > 0:  # gone meanwhile: not counted
            out[kind] = out.get(kind, 0.0) + (after[pid] - before[pid]) / TICKS
    return {f"{k}_pct_core": round(100 * v / seconds, 2) for k, v in out.items()}


# -- where up's time went -------------------------------------------------------------------------
def _started_wall(pid: int) -> float | None:
    """When process ``pid`` started (wall clock, 1/CLK_TCK resolution)."""
    try:
        since_boot = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - since_boot / TICKS)


def phases(run_dir: Path, procs: dict[int, str], t0_wall: float, t_end: float) -> dict[str, float]:
    """Seconds from `up`'s start to: the supervisor's process start, the first and last worker
    process start, the first and last worker done importing (`worker.started`), the first and
    last agent ready (`agent.ready`); from process start times and the records' wall clocks."""
    out: dict[str, float] = {}
    marks: dict[str, list[float]] = {"worker.started": [], "agent.ready": []}
    for box in (run_dir / "mailbox" / "outbox").glob("*.jsonl"):
        for r in jsonl(box):
            if r.get("kind") in marks and isinstance(r.get("ts"), (int, float)):
                marks[r["kind"]].append(r["ts"] / 1000)
    with contextlib.suppress(OSError, ValueError):
        sup = _started_wall(int((run_dir / "supervisor.pid").read_text().split()[0]))
        if sup is not None:
            out["supervisor_process_s"] = round(sup - t0_wall, 3)
    hubs = [w for p in procs if "codeswarm.mcp.hub" in _cmd(p) and (w := _started_wall(p))]
    if hubs:  # the swarm's coordination hub (one per node)
        out["hub_process_s"] = round(min(hubs) - t0_wall, 3)
    zygotes = [w for p in procs if "codeswarm.worker.zygote" in _cmd(p) and (w := _started_wall(p))]
    if zygotes:  # forks the workers (control/launch/forks.py)
        out["zygote_process_s"] = round(min(zygotes) - t0_wall, 3)
    workers = [
        w for p in procs if "codeswarm.worker " in _cmd(p) and (w := _started_wall(p)) is not None
    ]
    if workers:
        out["first_worker_process_s"] = round(min(workers) - t0_wall, 3)
        out["last_worker_process_s"] = round(max(workers) - t0_wall, 3)
    for kind, name in (("worker.started", "worker_imported"), ("agent.ready", "ready")):
        if marks[kind]:
            out[f"first_{name}_s"] = round(min(marks[kind]) - t0_wall, 3)
            out[f"last_{name}_s"] = round(max(marks[kind]) - t0_wall, 3)
    out["up_returned_s"] = round(t_end - t0_wall, 3)
    return out


def serve_model(script: Path) -> tuple[subprocess.Popen[str], int]:
    """A scripted model of its own (a model API already there, as the baseline's)."""
    port = free_port()
    model = subprocess.Popen(
        [CS, "mock-model", "serve", "--script", str(script), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    assert model.stdout is not None
    model.stdout.readline()  # serving…
    return model, port


def one_swarm(n: int, codex: str, work: Path, idle_s: float, fork: bool = True) -> dict[str, Any]:
    base = work / f"swarm-{n}"
    (base / "repo").mkdir(parents=True)
    (base / "script.json").write_text(json.dumps(SCRIPT))
    env = {**os.environ, "CODESWARM_STATE_DIR": str(base / "state"), "CODESWARM_CODEX_BIN": codex}
    env["CODESWARM_FORK_WORKERS"] = "1" if fork else "0"
    env.update(home_env(work))
    run_dir = base / "state" / "runs" / "s"
    out: dict[str, Any] = {}
    model_args = ["--model-provider", "mock", "--script", str(base / "script.json")]
    if EXTERNAL_MODEL:  # the model runs already, as a real API does: `up` does not start it
        port = EXTERNAL_MODEL
        provider = (f'{{name="bench", base_url="http://127.0.0.1:{port}/v1", '
                    'wire_api="responses", supports_websockets=false, request_max_retries=0, '
                    'stream_max_retries=0}')  # fmt: skip
        model_args = ["--model-provider", "bench", "-c", f"model_providers.bench={provider}"]
    t0_wall, t0 = time.time(), time.monotonic()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    up = subprocess.run(
        [CS, "up", "-n", str(n), "--name", "s", "--cwd", str(base / "repo"), *model_args,
         "--timeout", "600"],
        env=env, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    out["up_s"] = round(time.monotonic() - t0, 3)
    t_end_wall = time.time()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_s = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    if up.returncode != 0:
        out["up_error"] = (up.stderr or up.stdout).strip().splitlines()[-3:]
    try:
        if up.returncode == 0:
            procs = swarm_processes(run_dir)
            out["up_cpu"] = up_cpu(procs, cli_s)
            out["up_phases"] = phases(run_dir, procs, t0_wall, t_end_wall)
            time.sleep(2 + n / 10)  # let start-up work settle (first heartbeats, snapshots)
            out["memory"] = memory(procs, n)
            out["idle_cpu"] = idle_cpu(procs, idle_s)
            t1 = time.monotonic()
            sent = subprocess.run(
                [CS, "send", "s", "all", "hello", "--wait", "--json", "--timeout", "600"],
                env=env, capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            out["send_all"] = {"s": round(time.monotonic() - t1, 3), "exit": sent.returncode}
            answered = 0
            with contextlib.suppress(ValueError):
                for line in sent.stdout.splitlines():
                    rec = json.loads(line)
                    answered += sum(
                        1 for v in (rec.values() if isinstance(rec, dict) else [])
                        if isinstance(v, dict) and v.get("status") == "completed"
                    )  # fmt: skip
            out["send_all"]["answered"] = answered
    finally:
        procs = swarm_processes(run_dir) if (run_dir / "supervisor.pid").exists() else {}
        t2 = time.monotonic()
        down = subprocess.run([CS, "down", "s"], env=env, capture_output=True, text=True, cwd=ROOT)
        out["down"] = {"s": round(time.monotonic() - t2, 3), "exit": down.returncode}
        left = [p for p in procs if _cmd(p)]  # when `down` returned
        out["down"]["clean"] = not left
        out["down"]["left"] = [_cmd(p)[:80] for p in left]
        if left:  # and whether they end by themselves
            with contextlib.suppress(SystemExit):
                wait_for(lambda: not any(_cmd(p) for p in procs), timeout=15)
            out["down"]["left_after_15s"] = [_cmd(p)[:80] for p in procs if _cmd(p)]
        subprocess.run([CS, "down", "s", "--purge"], env=env, capture_output=True, cwd=ROOT)
        shutil.rmtree(base, ignore_errors=True)
    return out


def main() -> None:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # caches written, as in an installation
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,16,50")
    ap.add_argument("--rounds", type=int, default=1)
    # a window with every agent's coordination heartbeat in it (one every 40 s)
    ap.add_argument("--idle-seconds", type=float, default=45.0)
    ap.add_argument("--real-home", action="store_true", help="keep HOME (see home_env)")
    ap.add_argument("--external-model", action="store_true",
                    help="the swarm's agents use a scripted model already running (as the "
                         "baseline's), not one `up` starts: a real model API costs `up` nothing")  # fmt: skip
    ap.add_argument("--unforked", action="store_true",
                    help="also each swarm with CODESWARM_FORK_WORKERS=0 (workers started, not forked)")  # fmt: skip
    args = ap.parse_args()
    global REAL_HOME, EXTERNAL_MODEL
    REAL_HOME = args.real_home
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    work = Path(tempfile.mkdtemp(prefix="bench-upscale-"))
    codex = subprocess.run(
        [CS, "toolchain", "path"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    result: dict[str, Any] = {"benchmark": "up_scale", "real_home": REAL_HOME,
                              "external_model": args.external_model, "sizes": {}}  # fmt: skip
    model = None
    try:
        if args.external_model:
            (work / "script.json").write_text(json.dumps(SCRIPT))
            model, EXTERNAL_MODEL = serve_model(work / "script.json")
        one_swarm(2, codex, work, 0.1)  # warm-up: bytecode caches, the version probe's cache
        for n in sizes:
            rows = []
            for _ in range(args.rounds):
                bare, bare_cpu = baseline(n, codex, work)
                swarm = one_swarm(n, codex, work, args.idle_seconds)
                swarm["baseline_s"] = round(bare, 3)
                swarm["baseline_cpu_s"] = round(bare_cpu, 3)
                # Codex's own start with its first-start databases made, as the agents' are
                seeded, seeded_cpu = baseline(n, codex, work, seeded=True)
                swarm["baseline_seeded_s"] = round(seeded, 3)
                swarm["baseline_seeded_cpu_s"] = round(seeded_cpu, 3)
                if "up_error" not in swarm:
                    swarm["up_over_seeded_baseline"] = round(swarm["up_s"] / seeded, 2)
                if "up_error" not in swarm:
                    swarm["up_over_baseline"] = round(swarm["up_s"] / bare, 2)
                    swarm["overhead_pct"] = round(100 * (swarm["up_s"] - bare) / bare, 1)
                if args.unforked:
                    plain = one_swarm(n, codex, work, min(args.idle_seconds, 5.0), fork=False)
                    swarm["unforked"] = {
                        "up_s": plain.get("up_s"),
                        "up_over_baseline": round(plain["up_s"] / bare, 2),
                        "up_phases": plain.get("up_phases"),
                        "memory": {k: plain.get("memory", {}).get("codeswarm")
                                   for k in ("codeswarm",)},
                        "down": plain.get("down"),
                    }  # fmt: skip
                rows.append(swarm)
            result["sizes"][str(n)] = rows[0] if len(rows) == 1 else rows
    finally:
        if model is not None:
            model.terminate()
            model.wait()
        shutil.rmtree(work, ignore_errors=True)
    emit(result)


if __name__ == "__main__":
    main()
