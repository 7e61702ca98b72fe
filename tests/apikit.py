"""A live ``codeswarm serve`` over real local swarms, for every API test (REST, security, events,
dashboard). Reuse it like this:

- :class:`Served` (``served = Served.start(project, *args)``): ``python -P -m codeswarm serve
  --port 0 *args`` as a real subprocess in ``project.workdir``; waits (generously) for its one
  line and reads ``url`` (``http://127.0.0.1:PORT``, no slash), ``token`` and ``line`` from it;
  ``serve_json`` is the ``serve.json`` it wrote. ``served.client()`` is an ``httpx.Client`` on
  that URL sending the bearer token (``client(token=None)``: no token; ``client(token="x")``: a
  wrong one). ``served.stop()`` sends SIGTERM and returns the exit code (AssertionError when it
  does not stop within 30 s); ``served.kill()`` is ``kill -9``. ``Served.start`` again on the
  same project is a restart.
- :class:`Project`: a state directory (``CODESWARM_STATE_DIR``), the token's
  ``XDG_STATE_HOME``, the Codex CLI; ``project.make(name)`` is a :class:`swarmkit.Swarm` in it
  (``swarm.up(n, script, *flags)``, or bring it up through the API with
  ``project.up_body(name, n, script)``): every swarm made is reaped when the fixture ends, and
  the test fails if anything of one survived.
- Fixtures in ``tests/api/conftest.py``, module-scoped (one server and its swarms per test
  module): ``api_project`` (a :class:`Project`) and ``live_api`` (a :class:`Served` over it,
  started with no swarm yet; swarms brought up later are served too). At the end ``live_api``
  asserts that ``serve`` stopped on SIGTERM with exit 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from swarmkit import Swarm

SERVE_START_S = 60.0
STOP_S = 30.0
HTTP_TIMEOUT_S = 300.0  # POST /api/swarms waits for `up` (every agent ready) on a loaded machine
LINE = re.compile(r"^serving (\d+) swarm\(s\) of (.+) at (http://127\.0\.0\.1:\d+)/#token=(\S+)$")


@dataclass
class Project:
    """Where the API tests' swarms live: one state directory, one token home."""

    root: Path
    env: dict[str, str]
    make_swarm: Callable[[str], Swarm]
    made: dict[str, Swarm] = field(default_factory=dict)

    @property
    def workdir(self) -> Path:
        """The directory ``serve`` runs in (a git repository: a project of its own)."""
        return self.root / "project"

    @property
    def state(self) -> Path:
        return Path(self.env["CODESWARM_STATE_DIR"])

    @property
    def token_file(self) -> Path:
        return Path(self.env["XDG_STATE_HOME"]) / "codeswarm" / "serve" / "token"

    def make(self, name: str) -> Swarm:
        """A swarm of this project (not yet up), reaped at the end."""
        swarm = self.make_swarm(name)
        swarm.env = self.env
        self.made[name] = swarm
        return swarm

    def up_body(self, name: str, n: int, script: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """The ``POST /api/swarms`` body for swarm ``name`` (made here) of ``n`` agents on the
        scripted model playing ``script``."""
        swarm = self.made.get(name) or self.make(name)
        return {
            "name": name, "agents": n, "cwd": str(swarm.workdir), "model_provider": "mock",
            "script": str(swarm.write_script(script)), **extra,
        }  # fmt: skip


@dataclass
class Served:
    """A running ``codeswarm serve`` process."""

    proc: subprocess.Popen[str]
    line: str
    url: str
    token: str
    serve_json: Path
    log: Path

    @classmethod
    def start(cls, project: Project, *args: str) -> Served:
        log = project.root / f"serve-{os.urandom(3).hex()}.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "codeswarm", "serve", "--port", "0", *args],
                stdout=subprocess.PIPE, stderr=err, text=True, env=project.env,
                cwd=project.workdir,
            )  # fmt: skip
        first: list[str] = []
        reader = threading.Thread(
            target=lambda: first.append(proc.stdout.readline() if proc.stdout else ""),
            daemon=True,
        )
        reader.start()
        reader.join(SERVE_START_S)
        line = first[0].strip() if first else ""
        match = LINE.match(line)
        if not match:
            proc.kill()
            proc.wait()
            raise AssertionError(f"serve printed {line!r}; stderr:\n{log.read_text()[-2000:]}")
        return cls(proc, line, match[3], match[4], project.state / "serve.json", log)

    def client(self, token: str | bool | None = True, **kw: Any) -> httpx.Client:
        """An HTTP client on the server: with its token (default), none (``None``) or ``token``."""
        headers = {}
        if token is not None and token is not False:
            headers["Authorization"] = f"Bearer {self.token if token is True else token}"
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        return httpx.Client(base_url=self.url, headers=headers, **kw)

    def stop(self) -> int:
        """SIGTERM; the exit code once it stopped (AssertionError after 30 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"serve did not stop on SIGTERM within {STOP_S:g}s") from None
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()

    def kill(self) -> None:
        """``kill -9``."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()

    def stderr(self) -> str:
        return self.log.read_text()


def error_of(response: httpx.Response) -> tuple[int, str]:
    """``(status, code)`` of a JSON error response; asserts its shape (one line of message)."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"] and "\n" not in body["error"]["message"]
    return response.status_code, body["error"]["code"]


def read_inbox(swarm: Swarm, rank: int) -> list[dict[str, Any]]:
    path = swarm.run_dir / "mailbox" / "inbox" / f"{swarm.agent(rank)}.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
