"""Fail fast, say why (issue 11): no login, an unreachable model, an HTTP error, a swarm name
reused with other settings. Real Codex; nothing leaves 127.0.0.1 (the OpenAI base URL points at
a port of ours that only listens, so a request that got out would be seen)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmkit import Swarm, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

SECONDS = 15.0
""""Within seconds": the most a refusal may take (Codex starts in well under one)."""


@contextlib.contextmanager
def trap() -> Iterator[socket.socket]:
    """A port on 127.0.0.1 that listens and never answers: anything that connects is queued
    and can be seen (:func:`reached`)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def reached(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def provider_at(port: int) -> list[str]:
    """``-c`` flags for a provider ``x`` (no auth) whose model is at ``port``."""
    table = (
        f'{{name="x",base_url="http://127.0.0.1:{port}/v1",wire_api="responses",'
        "supports_websockets=false,request_max_retries=0,stream_max_retries=0}"
    )
    return ["-c", f"model_providers.x={table}", "-c", "features.plugins=false"]


def timed(swarm: Swarm, *args: str, timeout: float = 120.0) -> tuple[subprocess.CompletedProcess[str], float]:  # fmt: skip
    start = time.monotonic()
    done = swarm.cli(*args, check=False, timeout=timeout)
    return done, time.monotonic() - start


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("codeswarm: error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def fresh_home(swarm: Swarm) -> Swarm:
    """The swarm's person has a Codex home with no login in it."""
    Path(swarm.env["CODEX_HOME"]).mkdir(parents=True, exist_ok=True)
    assert not (Path(swarm.env["CODEX_HOME"]) / "auth.json").exists()
    return swarm


# -- no login -------------------------------------------------------------------------------------
def test_exec_without_a_login_exits_at_once_naming_the_cause(fresh_home: Swarm) -> None:
    with trap() as model:
        base = f'openai_base_url="http://127.0.0.1:{model.getsockname()[1]}/v1"'
        done, took = timed(fresh_home, "exec", "say hi", "-c", base, "-c", "features.plugins=false")
        assert done.returncode == 1, done.stderr
        assert took < SECONDS
        line = one_error_line(done.stderr)
        assert "no Codex login" in line and "codex login" in line
        assert fresh_home.env["CODEX_HOME"] in line  # where it looked
        assert not reached(model)


def test_up_without_a_login_refuses_and_starts_nothing(fresh_home: Swarm) -> None:
    swarm = fresh_home
    with trap() as model:
        base = f'openai_base_url="http://127.0.0.1:{model.getsockname()[1]}/v1"'
        done, took = timed(swarm, "up", "-n", "2", "--name", swarm.name, "--cwd",
                           str(swarm.workdir), "-c", base)  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert took < SECONDS
        line = one_error_line(done.stderr)
        assert "no Codex login" in line and "codex login" in line
        assert "ready" not in done.stdout + done.stderr
        assert not swarm.run_dir.exists()  # nothing written, nothing launched
        assert not reached(model)


def test_a_provider_codex_does_not_know_is_refused_by_up_and_exec(fresh_home: Swarm) -> None:
    swarm = fresh_home
    done, _ = timed(swarm, "up", "-n", "1", "--name", swarm.name, "--cwd", str(swarm.workdir),
                    "--model-provider", "nope")  # fmt: skip
    assert done.returncode == 1
    assert "codex cannot start with the swarm's settings: Model provider `nope` not found" in (
        one_error_line(done.stderr)
    )
    assert not swarm.run_dir.exists()
    done, _ = timed(swarm, "exec", "hi", "--model-provider", "nope")
    assert done.returncode == 1
    assert "codex cannot start: Model provider `nope` not found" in one_error_line(done.stderr)


def test_an_agent_whose_login_is_gone_says_so_in_status(fresh_home: Swarm) -> None:
    swarm = fresh_home
    home = Path(swarm.env["CODEX_HOME"])
    codex = swarm.env["CODESWARM_CODEX_BIN"]
    login = subprocess.run([codex, "login", "--with-api-key"], input="sk-not-a-key", text=True,
                           capture_output=True, env=swarm.env, timeout=60)  # fmt: skip
    assert login.returncode == 0 and (home / "auth.json").exists(), login.stderr
    with trap() as model:  # (with a login Codex asks the base URL for its models: kept local)
        base = f'openai_base_url="http://127.0.0.1:{model.getsockname()[1]}/v1"'
        swarm.cli("up", "-n", "1", "--name", swarm.name, "--cwd", str(swarm.workdir), "-c", base,
                  "-c", "features.plugins=false", "--no-coord", "--json")  # fmt: skip
        assert swarm.status()["agents"][0]["error"] is None
        # the login goes (the person logged out), then the agent's Codex restarts
        (home / "auth.json").unlink()
        agent_dir = swarm.run_dir / "agents" / swarm.agent(0)
        (agent_dir / "codex-home" / "auth.json").unlink()
        os.kill(int((agent_dir / "codex.pid").read_text()), signal.SIGKILL)

        def said() -> str | None:
            error = swarm.status()["agents"][0]["error"]
            return error if error and "no Codex login" in error else None

        assert "run 'codex login'" in wait_until(said, what="the report")
        (said,) = [r for r in swarm.outbox(0) if r.get("login_missing")]
        assert said["kind"] == "error"
        # a message now fails at once, naming the cause: the turn could only retry
        done, took = timed(swarm, "send", swarm.name, "0", "hello", "--wait")
        assert done.returncode == 1 and took < SECONDS, done.stderr
        assert "no Codex login" in done.stdout + done.stderr


# -- an unreachable model -------------------------------------------------------------------------
def test_exec_gives_up_a_turn_that_only_retries(fresh_home: Swarm) -> None:
    port = free_port()  # closed: connections are refused
    done, took = timed(fresh_home, "exec", "hi", "--model-provider", "x", *provider_at(port),
                       "--retry-deadline", "2")  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert took < SECONDS
    lines = done.stdout.splitlines()
    assert any(line.startswith("error: Reconnecting") and "(retrying)" in line for line in lines)
    (failed,) = [line for line in lines if line.startswith("turn failed: ")]
    assert "the model could not be reached for 2s" in failed
    assert "Connection failed" in failed  # Codex's cause, from additionalDetails


@contextlib.contextmanager
def model_at(swarm: Swarm, port: int, script: dict[str, object]) -> Iterator[None]:
    """The scripted model serving ``script`` on ``port`` (a process of its own)."""
    path = swarm.state.parent / "back-script.json"
    path.write_text(json.dumps(script))
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "codeswarm", "mock-model", "serve", "--script", str(path),
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=swarm.env,
    )  # fmt: skip

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, 30, "the scripted model to listen")
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def test_send_wait_fails_after_the_deadline_and_the_agent_serves_once_the_model_is_back(
    swarm: Swarm,
) -> None:
    port = free_port()
    swarm.cli("up", "-n", "1", "--name", swarm.name, "--cwd", str(swarm.workdir),
              "--model-provider", "x", *provider_at(port), "--retry-deadline", "2", "--json")  # fmt: skip
    done, took = timed(swarm, "send", swarm.name, "0", "hello", "--wait", "--timeout", "120")
    assert done.returncode == 1, done.stderr
    assert took < 30  # the deadline (2 s) and Codex's first backoff, not send's own timeout
    agent = swarm.agent(0)
    errors = done.stderr.splitlines()
    assert any(e.startswith(f"{agent}: error: Reconnecting") and e.endswith("(retrying)")
               for e in errors), done.stderr  # fmt: skip
    assert any("could not be reached for 2s" in e for e in errors)
    (answer,) = done.stdout.splitlines()
    assert answer.startswith(f"{agent} [failed: the model could not be reached for 2s")
    assert "Connection failed" in answer
    status = swarm.status()
    (view,) = status["agents"]
    assert view["state"] == "idle" and "could not be reached" in view["error"]
    with model_at(swarm, port, {"agents": {"*": [{"when": ".", "text": "back", "repeat": True}]}}):
        again = swarm.cli("send", swarm.name, "0", "hello again", "--wait", "--timeout", "60")
        assert again.stdout.strip() == f"{agent}: back"


def test_a_swarm_is_ready_once_its_scripted_model_listens(swarm: Swarm) -> None:
    """`up` returns once the agents can take a turn: their scripted model (started by the
    supervisor beside the first workers) takes connections at once (before, a first turn
    could meet a refused connection and print a reconnect error)."""
    import socket

    swarm.up(1, {"agents": {"*": ["hi"]}})
    port = json.loads((swarm.run_dir / "swarm.json").read_text())["mock_port"]
    socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_an_http_error_fails_the_turn_at_once_with_its_cause(swarm: Swarm) -> None:
    answers = [{"when": "hello", "http_status": 401}, {"when": "again", "text": "ok"}]
    script = {"agents": {"*": answers}}
    swarm.up(1, script)
    done, took = timed(swarm, "send", swarm.name, "0", "hello", "--wait", "--timeout", "60")
    assert done.returncode == 1 and took < SECONDS, done.stderr
    agent = swarm.agent(0)
    (answer,) = done.stdout.splitlines()
    assert answer.startswith(f"{agent} [failed: ") and "401" in answer
    (said,) = [e for e in done.stderr.splitlines() if e.startswith(f"{agent}: error: ")]
    assert "401 Unauthorized" in said and "(retrying)" not in said
    # the agent is idle again and takes the next message
    assert swarm.cli("send", swarm.name, "0", "again", "--wait").stdout.strip() == f"{agent}: ok"


def test_exec_prints_an_http_error_once_and_exits_1(swarm: Swarm) -> None:
    path = swarm.write_script({"agents": {"*": [{"http_status": 429}]}})
    done, took = timed(swarm, "exec", "hi", "--model-provider", "mock", "--script", str(path))
    assert done.returncode == 1 and took < SECONDS, done.stderr
    lines = done.stdout.splitlines()
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert "429" in error
    assert "turn failed (the error above)" in lines


# -- a swarm name reused with other settings ------------------------------------------------------
HELLO = {"agents": {"*": [{"when": ".", "text": "hi", "repeat": True}]}}


def test_up_refuses_other_settings_for_an_existing_swarm_and_replace_applies_them(
    swarm: Swarm,
) -> None:
    swarm.up(1, HELLO)
    (old_thread,) = swarm.ready_threads(0)
    swarm.cli("down", swarm.name)
    spec_before = (swarm.run_dir / "swarm.json").read_text()
    elsewhere = swarm.workdir.parent / "elsewhere"
    elsewhere.mkdir()

    def relaunch(*extra: str) -> subprocess.CompletedProcess[str]:
        args = swarm.up_args(1, HELLO, *extra)
        return swarm.cli(*args, check=False)

    moved = relaunch("--cwd", str(elsewhere))  # the later --cwd wins
    assert moved.returncode == 2
    line = one_error_line(moved.stderr)
    assert f"directory {swarm.workdir.resolve()} -> {elsewhere.resolve()}" in line
    assert f"'codeswarm down {swarm.name} --purge'" in line and "--replace" in line
    other_model = relaunch("--model", "gpt-5.4")
    assert other_model.returncode == 2
    assert "model gpt-5.5 -> gpt-5.4" in one_error_line(other_model.stderr)
    # a provider change: to a real provider, from the scripted model
    port = free_port()
    args = ["up", "-n", "1", "--name", swarm.name, "--cwd", str(swarm.workdir),
            "--model-provider", "x", *provider_at(port)]  # fmt: skip
    provider = swarm.cli(*args, check=False)
    assert provider.returncode == 2
    assert "model provider mock -> x" in one_error_line(provider.stderr)
    # refused: nothing changed
    assert (swarm.run_dir / "swarm.json").read_text() == spec_before
    assert swarm.ready_threads(0) == [old_thread]

    replaced = relaunch("--cwd", str(elsewhere), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "replaced swarm" in replaced.stderr
    spec = json.loads((swarm.run_dir / "swarm.json").read_text())
    assert spec["cwd"] == str(elsewhere.resolve())
    (new_thread,) = swarm.ready_threads(0)  # the old run (and its thread) is gone
    assert new_thread != old_thread
    answer = swarm.cli("send", swarm.name, "0", "hello", "--wait").stdout.strip()
    assert answer == f"{swarm.agent(0)}: hi"


@pytest.mark.parametrize("command", ["exec", "up"])
@pytest.mark.parametrize("value", ["0", "nan", "-5"])
def test_a_bad_retry_deadline_is_one_line_and_changes_nothing(
    swarm: Swarm, command: str, value: str
) -> None:
    args = ["hi"] if command == "exec" else swarm.up_args(1, HELLO)[1:]
    done = swarm.cli(command, *args, "--retry-deadline", value, check=False)
    assert done.returncode == 2
    assert "--retry-deadline must be between 1 and 604800 seconds" in one_error_line(done.stderr)
    assert not swarm.run_dir.exists()
