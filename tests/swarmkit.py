"""The helpers the test suites share (fixtures live in conftest.py and backends.py).

- :func:`need`: skip for a missing component, fail instead in CI.
- :func:`wait_until` (:func:`wait_until_async` in asyncio tests): wait on a condition,
  never a fixed sleep.
- :func:`python_env` / :data:`PYTHON`: a child Python that imports codeswarm from this tree.
- :class:`Swarm` / :class:`SlurmSwarm` and :func:`open_swarms`: swarms launched through the real
  CLI (real supervisor, workers and Codex, scripted model). Every test gets its own state
  directory; whatever a test leaves running is stopped (and, if it must be, killed) at teardown,
  and the test fails if a process (or Slurm job) of its swarm survived that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PYTHON = sys.executable

REQUIRE_ALL = os.environ.get("CODESWARM_REQUIRE_ALL") == "1"


def need(reason: str) -> None:
    """Skip for a missing component, or fail under CODESWARM_REQUIRE_ALL=1 (CI sets it): a test
    skipped in CI is a test that does not exist."""
    if REQUIRE_ALL:
        pytest.fail(f"required component missing (CODESWARM_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (these are other processes: there is
    nothing to block on but their files)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


async def wait_until_async(
    predicate: Callable[[], Any], within: float = 10.0, what: str = "condition"
) -> Any:
    """:func:`wait_until` for asyncio tests: polls ``predicate`` without blocking the loop, for
    state that has no event to wait on."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python process that imports codeswarm from this tree, with
    none of the caller's ``CODESWARM_*`` settings; ``extra`` is added last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESWARM_")}
    env["PYTHONPATH"] = str(SRC)
    env.update(extra)
    return env


def json_values(
    *, max_size: int | None = 8, max_leaves: int = 12, finite: bool = False
) -> SearchStrategy[Any]:
    """A hypothesis strategy for any JSON-shaped value: null, booleans, integers, floats (never
    NaN; no infinities if ``finite``), strings, and lists and objects of them, nested. Strings
    and collections hold at most ``max_size`` items (``None``: no bound)."""
    from hypothesis import strategies as st

    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=not finite)
        | st.text(max_size=max_size)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=max_size)
            | st.dictionaries(st.text(max_size=max_size), inner, max_size=max_size)
        ),
        max_leaves=max_leaves,
    )


def machine_home_kept_out(home: Path) -> dict[str, str]:
    """The environment that gives a swarm's processes the empty home ``home`` (made here) while
    the machine's tools (``~/.cache``: the pinned CLIs, the version probe's cache) and git identity
    stay: Codex snapshots the login shell of every new thread, and this machine's ~/.bashrc runs
    ``pyenv rehash``, whose lock, left by a shell killed at ``down``, makes every later shell wait
    for it (and outlive its swarm)."""
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home)}
    env["XDG_CACHE_HOME"] = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    gitconfig = Path.home() / ".gitconfig"
    if "GIT_CONFIG_GLOBAL" not in os.environ and gitconfig.is_file():
        env["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    return env


def plain_home(s: Swarm, tmp_path: Path) -> None:
    """The agents' login shells start from an empty home: Codex snapshots the login shell of
    every new thread, and this machine's ~/.bashrc runs ``pyenv rehash``, which n shells at
    once queue for on one lock (up to 60 s each, outliving their Codex)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    s.env = {**s.env, "HOME": str(home)}


def survivors(pids: list[int]) -> list[str]:
    """What the processes left behind run (for the failure message)."""
    out = []
    for pid in pids:
        try:
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            out.append(f"{pid} (gone since)")
    return out


def hub_post(
    port: int,
    token: str | None,
    method: str = "tools/list",
    params: Any = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """One JSON-RPC request to the hub as an outsider would send it: the status and the body."""
    msg = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        msg["params"] = params
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/mcp", json.dumps(msg).encode(), headers, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def pids_of(needle: str) -> list[int]:
    """Live processes whose command line or environment contains ``needle`` (Codex has the
    agent's CODEX_HOME, under the run directory, in its environment)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if (needle in cmd or f"={needle}" in environ) and ") Z " not in stat:
            out.append(int(entry.name))
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def turns_completed(events_path: Path) -> int:
    """How many ``turn.completed`` events a JSON-lines event file holds so far."""
    return sum(e["type"] == "turn.completed" for e in read_jsonl(events_path))


def assert_delivered_once(events: list[dict[str, Any]], answers: dict[str, list[str]]) -> None:
    """What an attached router printed: every event at most once, each agent's events without a
    gap, and each agent's answers exactly ``answers[agent]``, in order."""
    keys = [(e["agent"], e["seq"]) for e in events]
    assert len(keys) == len(set(keys)), "an event arrived twice"
    for agent, texts in answers.items():
        seqs = [e["seq"] for e in events if e["agent"] == agent]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"a gap for {agent}"
        said = [
            e["text"] for e in events if e["agent"] == agent and e["type"] == "message.completed"
        ]
        assert said == texts, agent


class Swarm:
    """A swarm launched with ``codeswarm up`` on the local backend."""

    backend_args: tuple[str, ...] = ()
    cli_timeout = 120.0

    def __init__(self, name: str, state: Path, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.state = state
        self.env = env
        self.workdir = workdir
        self.run_dir = state / "runs" / name

    def cli(
        self, *args: str, check: bool = True, timeout: float | None = None, input: str = ""
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [
                sys.executable,
                "-P",
                "-m",
                "codeswarm",
                *args,
            ],  # -P: a test may plant modules in the repo
            capture_output=True,
            text=True,
            timeout=timeout or self.cli_timeout,
            env=self.env,
            cwd=self.workdir,
            input=input,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"codeswarm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc

    def write_script(self, script: dict[str, Any]) -> Path:
        path = self.state.parent / f"{self.name}-script.json"
        path.write_text(json.dumps(script))
        return path

    def up_args(self, n: int, script: dict[str, Any], *extra: str) -> list[str]:
        return [
            "up", "-n", str(n), "--name", self.name, "--cwd", str(self.workdir),
            "--model-provider", "mock", "--script", str(self.write_script(script)),
            *self.backend_args, "--json", *extra,
        ]  # fmt: skip

    def up(self, n: int, script: dict[str, Any], *extra: str) -> dict[str, Any]:
        return json.loads(self.cli(*self.up_args(n, script, *extra)).stdout)

    def status(self) -> dict[str, Any]:
        return json.loads(self.cli("status", self.name, "--json").stdout)

    def agent(self, rank: int) -> str:
        return f"{self.name}_{rank}"

    def outbox(self, rank: int) -> list[dict[str, Any]]:
        """The records of agent ``rank``'s outbox (a line still being written is left out)."""
        path = self.run_dir / "mailbox" / "outbox" / f"{self.agent(rank)}.jsonl"
        out = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def ready_threads(self, rank: int) -> list[str]:
        """The thread of each ``agent.ready`` of agent ``rank``, oldest first."""
        return [r["thread_id"] for r in self.outbox(rank) if r["kind"] == "agent.ready"]

    def model_requests(self) -> list[dict[str, Any]]:
        path = self.run_dir / "model-requests.jsonl"
        return read_jsonl(path) if path.exists() else []

    @contextlib.contextmanager
    def attached(
        self,
        out: Path,
        *args: str,
        stop: signal.Signals = signal.SIGTERM,
        env: dict[str, str] | None = None,
    ) -> Iterator[subprocess.Popen[bytes]]:
        """``codeswarm attach <name> --json <args>`` appending its events to ``out`` while the
        block runs; then sent ``stop`` (SIGKILL: a crash, its cursor as last saved)."""
        with out.open("ab") as sink:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "codeswarm", "attach", self.name, "--json", *args],
                stdout=sink, stderr=subprocess.DEVNULL, env=env or self.env, cwd=self.workdir,
            )  # fmt: skip
        try:
            yield proc
        finally:
            proc.send_signal(stop)
            proc.wait()

    def processes(self) -> list[int]:
        return pids_of(str(self.run_dir))

    def was_up(self) -> bool:
        return self.run_dir.exists()

    def reap(self) -> list[str]:
        """Bring the swarm down (if it was started) and kill whatever of it survived; returns
        what had to be killed, one line each (a test fails on any)."""
        if self.was_up():
            self.cli("down", self.name, "--grace", "5", check=False)
        failures = self.cancel_jobs()
        survivors = self.processes()
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        if survivors:
            failures.append(f"processes of swarm {self.name} survived down: {survivors}")
        return failures

    def cancel_jobs(self) -> list[str]:
        """Cancel the batch jobs of this swarm that outlived down; one line for each (none on
        the local backend)."""
        return []


class SlurmSwarm(Swarm):
    """A swarm launched with ``codeswarm up --backend slurm`` (tests/control/slurm)."""

    backend_args = ("--backend", "slurm")
    cli_timeout = 300.0  # Slurm schedules in seconds

    def was_up(self) -> bool:
        return (self.run_dir / "swarm.json").exists()

    def job_id(self) -> str:
        record = json.loads((self.run_dir / "slurm.json").read_text())
        return str(record["job_id"])

    def jobs(self) -> list[dict[str, str]]:
        """The jobs named ``codeswarm-<name>`` that Slurm still lists as pending or running."""
        done = subprocess.run(
            ["squeue", "-h", "-n", f"codeswarm-{self.name}", "-o", "%i %T %R"],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        rows = []
        for line in done.stdout.splitlines():
            job, state, reason = [*line.split(maxsplit=2), "", "", ""][:3]
            rows.append({"job": job, "state": state, "reason": reason})
        return rows

    def cancel_jobs(self) -> list[str]:
        jobs = self.jobs()
        for job in jobs:
            subprocess.run(["scancel", job["job"]], check=False, timeout=60)
        return [f"jobs of swarm {self.name} survived down: {jobs}"] if jobs else []


S = TypeVar("S", bound=Swarm)


@contextlib.contextmanager
def open_swarms(
    kind: type[S], tmp_path: Path, codex_path: Path, state: Path | None = None
) -> Iterator[Callable[[str], S]]:
    """``make(name)``: a swarm of ``kind`` in the state directory ``state`` (default
    ``tmp_path/state``), working in ``tmp_path/<name>-repo``, running the Codex CLI at
    ``codex_path``. On exit every swarm made is reaped, and the test fails if anything of one
    survived."""
    made: list[S] = []
    state = state or tmp_path / "state"
    env = {
        **os.environ,
        "CODESWARM_STATE_DIR": str(state),
        "CODESWARM_CODEX_BIN": str(codex_path),
        "CODEX_HOME": str(tmp_path / "user-codex-home"),
        **machine_home_kept_out(tmp_path / "swarm-home"),
    }

    def make(name: str) -> S:
        workdir = tmp_path / f"{name}-repo"
        workdir.mkdir()
        s = kind(name, state, env, workdir)
        made.append(s)
        return s

    try:
        yield make
    finally:
        failures = [line for s in made for line in s.reap()]
    assert not failures, "\n".join(failures)
