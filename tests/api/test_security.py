"""The API's security: no token or a wrong one is 401 on every route (the event streams and the
OpenAPI document included) while the HTML shell loads; the token is compared in constant time,
kept 0600; a non-loopback bind is refused without ``--allow-remote``; bad bodies, oversized
bodies, unknown swarms and agents are 4xx with a JSON error and change nothing; no CORS; an agent
in its sandbox cannot reach the API even with the token; a signal stops ``serve`` cleanly while
a client streams. A live server over one real swarm (supervisor, worker, Codex, scripted
model)."""

from __future__ import annotations

import hmac
import json
import shlex
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apikit import Project, Served, error_of, read_inbox
from codeswarm.api.app import ServeConfig, create_app
from codeswarm.api.body import MAX_BODY
from codeswarm.api.openapi import document
from swarmkit import Swarm, python_env, wait_until

SWARM = "sec"


def reach(served: Served, token_file: Path) -> str:
    """A command an agent runs to call the API with the user's token (reads are not enforced):
    what it got goes to ``reach.txt`` in its working directory."""
    code = (
        "import urllib.request as u; "
        f"t = open({str(token_file)!r}).read().strip(); "
        f"r = u.Request({served.url + '/api/swarms'!r}, headers={{'Authorization': 'Bearer ' + t}}); "
        "print('status', u.urlopen(r, timeout=10).status)"
    )
    return f"python3 -c {shlex.quote(code)} > reach.txt 2>&1"


@pytest.fixture(scope="module")
def swarm(api_project: Project, live_api: Served) -> Swarm:
    s = api_project.make(SWARM)
    attack = reach(live_api, api_project.token_file)
    s.up(1, {"agents": {"*": [
        {"when": "(?i)reach the api", "exec": attack},
        {"when": "(?i)reach the api", "text": "tried"},
        {"when": ".", "repeat": True, "text": "ok"},
    ]}})  # fmt: skip
    return s


@pytest.fixture(scope="module")
def api(live_api: Served, swarm: Swarm) -> Iterator[httpx.Client]:
    with live_api.client() as client:
        yield client


def every_route() -> list[tuple[str, str]]:
    """``(method, path)`` of every operation the OpenAPI document lists, placeholders filled."""
    out = []
    for path, ops in document()["paths"].items():
        concrete = path.replace("{swarm}", SWARM).replace("{agent}", "0")
        out += [(method.upper(), concrete) for method in ops]
    return out


def test_the_document_lists_every_route_of_the_app(tmp_path: Path) -> None:
    from starlette.routing import Route

    app = create_app(ServeConfig(project=tmp_path, swarms=None, token="t" * 43))
    served = {
        (m, r.path)
        for r in app.routes
        if isinstance(r, Route)
        for m in r.methods or ()
        if m != "HEAD"
    }
    documented = {(m.upper(), p) for p, ops in document()["paths"].items() for m in ops}
    assert served - {("GET", "/"), ("GET", "/index.html")} == documented


@pytest.mark.codex
@pytest.mark.slow
def test_no_token_or_a_wrong_one_is_401_everywhere_but_the_shell(
    live_api: Served, swarm: Swarm
) -> None:
    routes = every_route()
    assert ("GET", f"/api/swarms/{SWARM}/events") in routes  # the streams are in the document
    assert ("GET", "/api/openapi.json") in routes
    before = read_inbox(swarm, 0)
    for token in (None, "wrong-" + live_api.token[6:], live_api.token[:-1]):
        with live_api.client(token=token) as client:
            for method, path in [
                *routes,
                ("GET", "/api/nowhere"),
                ("GET", "/static/../api/swarms"),
            ]:
                body = {"to": "all", "text": "hi"} if method == "POST" else None
                response = client.request(method, path, json=body)
                assert error_of(response)[0] == 401, (method, path, token, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
            # Basic credentials, or the token without its scheme: refused too
            for header in (f"Basic {live_api.token}", live_api.token, "Bearer"):
                response = client.get("/api/swarms", headers={"Authorization": header})
                assert error_of(response)[0] == 401
    assert read_inbox(swarm, 0) == before
    with live_api.client(token=None) as client:
        shell = client.get("/")
        assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
        assert live_api.token not in shell.text
        assert client.get("/index.html").status_code == 200
    with live_api.client() as client:
        assert client.get("/api/openapi.json").json()["openapi"] == "3.1.0"


async def test_the_token_is_compared_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODESWARM_STATE_DIR", str(tmp_path / "state"))
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    token = "k" * 43
    app = create_app(ServeConfig(project=tmp_path, swarms=None, token=token))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        wrong = await client.get("/api/swarms", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert calls == [(b"nope", token.encode())]
        ok = await client.get("/api/swarms", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json() == {"swarms": []}
        assert calls[-1] == (token.encode(), token.encode())


@pytest.mark.codex
@pytest.mark.slow
def test_the_token_file_is_private_and_show_token_prints_it(
    live_api: Served, api_project: Project
) -> None:
    path = api_project.token_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().strip() == live_api.token
    assert len(live_api.token) >= 43  # 32 random bytes, base64
    shown = subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm", "serve", "--show-token"],
        capture_output=True, text=True, timeout=60, env=api_project.env, cwd=api_project.workdir,
    )  # fmt: skip
    assert shown.returncode == 0 and shown.stdout == live_api.token + "\n"
    assert json.loads(live_api.serve_json.read_text())["url"] == live_api.url + "/"
    assert stat.S_IMODE(live_api.serve_json.stat().st_mode) == 0o600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "example.org", "::"])
def test_a_non_loopback_bind_is_refused_without_allow_remote(tmp_path: Path, host: str) -> None:
    env = python_env(CODESWARM_STATE_DIR=str(tmp_path / "state"),
                     XDG_STATE_HOME=str(tmp_path / "xdg"))  # fmt: skip
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm", "serve", "--host", host, "--port", str(port)],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "--allow-remote" in line and host in line
    assert not (tmp_path / "state" / "serve.json").exists()
    assert not (tmp_path / "xdg").exists()  # not even a token was made
    with socket.socket() as s:  # nothing was bound
        s.bind(("127.0.0.1", port))


@pytest.mark.codex
@pytest.mark.slow
def test_bad_bodies_unknown_swarms_and_agents_are_4xx_json_and_change_nothing(
    api: httpx.Client, swarm: Swarm
) -> None:
    before = read_inbox(swarm, 0)
    send = f"/api/swarms/{SWARM}/send"

    def post(path: str, content: bytes, ctype: str = "application/json") -> tuple[int, str]:
        return error_of(api.post(path, content=content, headers={"Content-Type": ctype}))

    assert post(send, b'{"to": "all", "text": ') == (400, "bad_json")
    assert post(send, b"") == (400, "bad_json")
    assert post(send, b'["all", "hi"]') == (400, "bad_request")
    unknown = api.post(send, json={"to": "all", "text": "hi", "urgent": True})
    assert (
        error_of(unknown) == (400, "bad_request") and "urgent" in unknown.json()["error"]["message"]
    )
    assert error_of(api.post(send, json={"to": "all"})) == (400, "bad_request")  # no text
    assert error_of(api.post(send, json={"to": "all", "text": 5})) == (400, "bad_request")
    assert error_of(api.post(send, json={"to": "all", "text": "  "})) == (400, "bad_request")
    assert error_of(api.post(send, json={"to": "all", "text": "hi", "mode": "now"}))[0] == 400
    assert error_of(api.post(send, json={"to": "0,,1", "text": "hi"})) == (400, "bad_request")
    assert post(send, b'{"to": "all", "text": "hi"}', "text/plain") == (
        415,
        "unsupported_media_type",
    )

    # over the limit (1 MiB): 413, by its Content-Length, and while reading a chunked body
    big = json.dumps({"to": "all", "text": "x" * MAX_BODY}).encode()
    assert post(send, big) == (413, "body_too_large")
    chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
    chunked = api.post(send, content=chunks, headers={"Content-Type": "application/json"})
    assert error_of(chunked) == (413, "body_too_large")

    # unknown swarms and agents
    assert error_of(api.get("/api/swarms/nosuch")) == (404, "unknown_swarm")
    assert error_of(api.get("/api/swarms/..%2F.."))[0] == 404
    assert error_of(api.post("/api/swarms/nosuch/send", json={"to": "all", "text": "hi"})) == (
        404,
        "unknown_swarm",
    )
    for name in ("9", f"{SWARM}_9", "other_0", "all"):
        assert error_of(api.get(f"/api/swarms/{SWARM}/agents/{name}")) == (404, "unknown_agent")
    assert error_of(api.post(send, json={"to": ["0", "7"], "text": "hi"})) == (404, "unknown_agent")
    approve = {"agent": "0", "request_id": 1, "decision": "accept"}
    assert error_of(api.post(f"/api/swarms/{SWARM}/approvals", json=approve)) == (
        409,
        "not_pending",
    )
    assert error_of(api.post(f"/api/swarms/{SWARM}/approvals",
                             json={**approve, "decision": "maybe"}))[0] == 400  # fmt: skip
    assert error_of(api.get("/api/nowhere")) == (404, "not_found")
    assert error_of(api.put("/api/swarms", json={})) == (405, "method_not_allowed")
    bad_up = api.post("/api/swarms", json={"name": "x y", "agents": 1})
    assert error_of(bad_up) == (400, "bad_request")
    assert (
        error_of(api.post("/api/swarms", json={"name": "new", "agents": 1, "cwd": "repo"}))[0]
        == 400
    )
    assert read_inbox(swarm, 0) == before  # nothing was sent
    assert sorted(p.name for p in swarm.run_dir.parent.iterdir()) == [SWARM]


@pytest.mark.codex
@pytest.mark.slow
def test_no_cors_headers_even_for_an_origin(live_api: Served, api: httpx.Client) -> None:
    origin = {"Origin": "http://evil.example"}
    for response in (
        api.get("/api/swarms", headers=origin),
        api.options("/api/swarms", headers={**origin, "Access-Control-Request-Method": "POST"}),
        httpx.options(
            live_api.url + "/api/swarms", headers={**origin, "Access-Control-Request-Method": "GET"}
        ),
    ):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert api.options("/api/swarms", headers=origin).status_code in (401, 405)


@pytest.mark.codex
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_serve_cleanly_even_while_a_client_streams(
    api_project: Project, swarm: Swarm, sig: signal.Signals
) -> None:
    served = Served.start(api_project, "--swarm", SWARM, "--swarm", "other")
    assert served.line.startswith("serving 1 swarm(s) of ")
    with served.client(timeout=60) as client:
        assert [r["swarm"] for r in client.get("/api/swarms").json()["swarms"]] == [SWARM]
        assert error_of(client.get("/api/swarms/other")) == (404, "unknown_swarm")
        with client.stream("GET", f"/api/swarms/{SWARM}/events", params={"after": "0"}) as events:
            assert events.status_code == 200
            lines = events.iter_lines()
            assert next(lines).startswith("retry:")
            served.proc.send_signal(sig)
            for _ in lines:  # the server ends the stream (a read timeout fails the test)
                pass
    served.proc.wait(timeout=30)
    assert served.stop() == 0, served.stderr()  # stopped already: closes its pipe
    assert not served.serve_json.exists()
    assert served.stderr() == ""


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    env = python_env(CODESWARM_STATE_DIR=str(tmp_path / "state"),
                     XDG_STATE_HOME=str(tmp_path / "xdg"))  # fmt: skip

    def show() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-P", "-m", "codeswarm", "serve", "--show-token"],
            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
        )  # fmt: skip

    first = show()
    assert first.returncode == 0 and len(first.stdout.strip()) >= 43
    assert show().stdout == first.stdout  # made once, then the same
    token = tmp_path / "xdg" / "codeswarm" / "serve" / "token"
    assert [p.name for p in token.parent.iterdir()] == ["token"]  # no temp file left
    token.chmod(0o644)
    refused = show()
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert str(token) in line and "0600" in line


def test_the_cli_loads_no_web_stack_until_serve_runs() -> None:
    code = (
        "import sys, codeswarm.cli.app\n"
        "print(sorted(m for m in ('starlette', 'uvicorn', 'httpx', 'codeswarm.api') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                          timeout=60, check=True, env=python_env())  # fmt: skip
    assert done.stdout.strip() == "[]"


@pytest.mark.codex
@pytest.mark.slow
def test_an_agent_in_its_sandbox_cannot_reach_the_api(
    api: httpx.Client, swarm: Swarm, live_api: Served, api_project: Project
) -> None:
    before = api.get(f"/api/swarms/{SWARM}/agents/0").json()["turns"]
    api.post(f"/api/swarms/{SWARM}/send", json={"to": "0", "text": "reach the api"})
    wait_until(
        lambda: api.get(f"/api/swarms/{SWARM}/agents/0").json()["turns"] == before + 1,
        timeout=120, what="the agent's turn",
    )  # fmt: skip
    got = (swarm.workdir / "reach.txt").read_text()
    # the token was readable (reads are not enforced); the network was not
    assert "status" not in got and "Operation not permitted" in got, got
    # the same command outside the sandbox does reach it: the sandbox is what stopped it
    done = subprocess.run(reach(live_api, api_project.token_file), shell=True,
                          cwd=swarm.workdir, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and (swarm.workdir / "reach.txt").read_text() == "status 200\n"
