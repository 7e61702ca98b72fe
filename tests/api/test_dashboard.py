"""The dashboard in a real browser: Playwright for Python driving Debian's Chromium (installed by
the set-up, never Playwright's own download) against a live ``codeswarm serve`` over a real
3-agent swarm (supervisor, workers, Codex, scripted model).

It opens the dashboard with the token in the fragment, sees the three agents, watches an answer
stream in token by token, approves a command an agent waits on, sees a lease and the task board;
without a token the page asks for one and its data answers 401; a dropped event stream resumes
from its last id with nothing lost or shown twice; the swarm picker switches swarms; the page's
SSE parser copes with frames split anywhere. The server is conftest's ``live_api``. Screenshots
are kept under the test's tmp directory (their paths are printed; run with ``-s`` to see them).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import chromium_local
from swarmkit import Swarm, need

pytestmark = [pytest.mark.codex, pytest.mark.slow]

SWARM = "dash"
STREAMED = (
    "The dashboard shows this answer while it streams: a few characters at a time, "
    "so you can watch it grow."
)
REPORT = "Rewriting the parser: I hold src/parser.py; its tests are queued as task #2."
SCRIPT: dict[str, Any] = {
    "agents": {
        "0": [
            {"when": "(?i)stream", "text": STREAMED, "chunk": 12, "delta_delay": 0.25,
             "usage": {"input_tokens": 1800, "output_tokens": 420}},
            {"when": ".", "repeat": True, "text": "ok",
             "usage": {"input_tokens": 900, "output_tokens": 10}},
        ],
        "*": [
            {"when": "(?i)write the file", "exec": "echo approved > f.txt",
             "usage": {"input_tokens": 1500, "output_tokens": 60}},
            {"when": "(?i)write the file", "text": "wrote it",
             "usage": {"input_tokens": 1700, "output_tokens": 20}},
            {"when": "(?i)your status", "repeat": True, "text": REPORT,
             "usage": {"input_tokens": 1300, "output_tokens": 90}},
            {"when": ".", "repeat": True, "text": "ok",
             "usage": {"input_tokens": 900, "output_tokens": 10}},
        ],
    }
}  # fmt: skip
AGENT_BUDGET = 100_000
WAIT_MS = 60_000  # generous: a loaded 2-core machine runs three Codex processes here


@dataclass
class Served:
    """The dashboard's server (conftest's ``live_api``) and the swarm it shows."""

    swarm: Swarm
    api: Any  # conftest.Served
    shots: Path

    @property
    def url(self) -> str:
        return str(self.api.url)

    @property
    def token(self) -> str:
        return str(self.api.token)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium (apt-get installs it, and a font, when missing and we are root)."""
    try:
        return chromium_local.ensure_chromium()
    except chromium_local.Unavailable as exc:
        need(str(exc))
        raise


@pytest.fixture(scope="module")
def served(
    chromium: Path, api_project: Any, live_api: Any, tmp_path_factory: pytest.TempPathFactory
) -> Served:
    swarm = api_project.make(SWARM)
    swarm.up(3, SCRIPT, "--approval-policy", "untrusted", "--approvals", "forward",
             "--sandbox", "workspace-write", "--agent-budget", str(AGENT_BUDGET))  # fmt: skip
    return Served(swarm, live_api, tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium))
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; the test fails if the page's code threw (an uncaught error or rejection)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    thrown: list[str] = []
    page.on("pageerror", lambda exc: thrown.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not thrown, thrown


def shot(page: Any, served: Served, name: str) -> Path:
    path = served.shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def coord(served: Served, *args: str) -> str:
    scope = str(served.swarm.workdir.resolve())
    return served.swarm.cli("coord", "--scope", scope, *args).stdout


STATIC = ["app.js", "app.css", "api.js", "sse.js", "agent.js", "panels.js", "ui.js"]
DATA_PATHS = [
    "/api/swarms",
    f"/api/swarms/{SWARM}",
    f"/api/swarms/{SWARM}/agents",
    f"/api/swarms/{SWARM}/approvals",
    f"/api/swarms/{SWARM}/leases",
    f"/api/swarms/{SWARM}/tasks",
    f"/api/swarms/{SWARM}/run",
    f"/api/swarms/{SWARM}/events",
    "/api/openapi.json",
]


def test_without_a_token_the_page_asks_for_one_and_its_data_is_refused(
    served: Served, page: Any
) -> None:
    from playwright.sync_api import expect

    # the shell and its assets load without a token; every data call is 401
    with served.api.client(token=None) as anonymous, served.api.client(token="wrong") as wrong:
        for path in ("/", *(f"/static/{f}" for f in STATIC)):
            assert anonymous.get(path).status_code == 200, path
        for path in DATA_PATHS:
            res = anonymous.get(path)
            assert res.status_code == 401, path
            assert res.headers["WWW-Authenticate"].startswith("Bearer"), path
            assert res.json()["error"]["code"] == "no_token", path
            assert wrong.get(path).status_code == 401, path

    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(served.url + "/")
    expect(page.locator("#token-form")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()
    assert not [u for u in asked if "/api/" in u], asked  # no data asked for without a token
    # from the page itself (same origin), without the header: refused
    statuses = page.evaluate(
        "paths => Promise.all(paths.map(p => fetch(p).then(r => r.status)))", DATA_PATHS
    )
    assert statuses == [401] * len(DATA_PATHS)

    # a wrong token: refused, asked again
    page.fill("#token-input", "not-the-token")
    page.click("#token-form button")
    expect(page.locator("#login-error")).to_contain_text("refused")
    expect(page.locator("#token-form")).to_be_visible()
    shot(page, served, "login")

    # the right one: the swarm's agents
    page.fill("#token-input", served.token)
    page.click("#token-form button")
    expect(page.locator("#agents .agent")).to_have_count(3)
    assert page.evaluate("sessionStorage.getItem('codeswarm.token')") == served.token


def test_dashboard_streams_approves_and_shows_leases_and_tasks(served: Served, page: Any) -> None:
    from playwright.sync_api import expect

    swarm = served.swarm
    a0, a1, a2 = (f'#agents .agent[data-agent="{swarm.agent(r)}"]' for r in range(3))
    page.goto(f"{served.url}/?swarm={SWARM}#token={served.token}")
    expect(page.locator("#agents .agent")).to_have_count(3)
    assert "token=" not in page.url  # the fragment left the address bar
    expect(page.locator("#swarm-select")).to_have_value(SWARM)
    expect(page.locator("#conn")).to_have_text("live")
    for card in (a0, a1, a2):
        expect(page.locator(f"{card} .agent-state")).to_have_text("idle")
        expect(page.locator(f"{card} .agent-budget")).to_contain_text("100,000")

    # a lease and two tasks, the second depending on the first, made by agent 2
    coord(served, "--as", swarm.agent(2), "lease", "src/parser.py", "--note", "rewriting")
    coord(served, "--as", swarm.agent(2), "task", "add", "Write the parser")
    coord(served, "--as", swarm.agent(2), "task", "add", "Test the parser", "--depends-on", "1")
    lease = page.locator('#leases .lease[data-path="src/parser.py"]')
    expect(lease).to_contain_text(swarm.agent(2))
    expect(lease).to_contain_text("rewriting")
    expect(page.locator('#tasks .task[data-task="1"]')).to_contain_text("Write the parser")
    second = page.locator('#tasks .task[data-task="2"]')
    expect(second).to_contain_text("Test the parser")
    expect(second.locator(".task-deps")).to_contain_text("#1")

    # a streamed answer, watched as it grows (every text the card showed is recorded)
    page.evaluate(
        """sel => {
             const el = document.querySelector(sel);
             window.seen = [];
             new MutationObserver(() => window.seen.push(el.textContent))
               .observe(el, {childList: true, characterData: true, subtree: true});
           }""",
        f"{a0} .agent-text",
    )
    page.fill(f"{a0} .agent-send input", "please stream your answer")
    page.click(f"{a0} .agent-send button")
    expect(page.locator(f"{a0} .agent-state")).to_have_text("busy")
    expect(page.locator(f"{a0} .agent-text")).to_have_text(STREAMED)
    seen: list[str] = page.evaluate("window.seen")
    partial = {t for t in seen if t and t != STREAMED}
    assert all(STREAMED.startswith(t) for t in partial), partial
    assert len(partial) >= 2, f"saw only {sorted(partial, key=len)} before the whole answer"
    expect(page.locator(f"{a0} .agent-state")).to_have_text("idle")
    tokens = page.locator(f"{a0} .agent-tokens")
    expect(tokens).to_have_attribute("data-tokens", re.compile(r"^[1-9]\d*$"))
    expect(page.locator(f"{a0} .agent-budget")).to_contain_text("/ 100,000")

    page.fill(f"{a2} .agent-send input", "what is your status?")
    page.click(f"{a2} .agent-send button")
    expect(page.locator(f"{a2} .agent-text")).to_have_text(REPORT)

    # a command waits for approval: shown, approved from the page, run
    page.fill(f"{a1} .agent-send input", "write the file")
    page.click(f"{a1} .agent-send button")
    approval = page.locator(f'#approvals .approval[data-agent="{swarm.agent(1)}"]')
    expect(approval).to_contain_text("echo approved")
    expect(page.locator(f"{a1} .agent-state")).to_have_text("waiting approval")
    request = approval.get_attribute("data-request")
    (pending,) = swarm.status()["agents"][1]["pending_approvals"]
    assert str(pending["request_id"]) == request
    assert not (swarm.workdir / "f.txt").exists()
    shot(page, served, "dashboard")
    page.emulate_media(color_scheme="dark")
    shot(page, served, "dashboard-dark")
    page.emulate_media(color_scheme="light")
    approval.locator("button.approve").click()
    expect(page.locator(f"{a1} .agent-text")).to_have_text("wrote it")
    expect(page.locator("#approvals .approval")).to_have_count(0)
    assert (swarm.workdir / "f.txt").read_text() == "approved\n"

    # one message to every agent
    page.fill("#send-all input", "hello everyone")
    page.click("#send-all button")
    for card in (a0, a1, a2):
        expect(page.locator(f"{card} .agent-text")).to_have_text("ok")
        expect(page.locator(f"{card} .agent-state")).to_have_text("idle")
    log = page.locator("#events .ev")
    expect(log.filter(has_text="turn.completed")).not_to_have_count(0)
    expect(page.locator('#events .ev[data-type="approval.requested"]')).to_have_count(1)
    shot(page, served, "after")

    # what the page showed is what the swarm did
    status = swarm.status()
    assert [a["last_message"] for a in status["agents"]] == ["ok", "ok", "ok"]
    for rank, agent in enumerate(status["agents"]):
        total = agent["tokens"]["total"]
        assert total > 0
        shown = page.locator(f'#agents .agent[data-agent="{swarm.agent(rank)}"] .agent-tokens')
        expect(shown).to_have_attribute("data-tokens", str(total))
    assert os.path.getsize(served.shots / "dashboard.png") > 10_000  # not a blank page


def test_a_dropped_stream_resumes_from_its_last_id_with_nothing_lost_or_repeated(
    served: Served, page: Any
) -> None:
    from playwright.sync_api import expect

    swarm = served.swarm
    agent = swarm.agent(2)
    card = f'#agents .agent[data-agent="{agent}"]'
    page.goto(f"{served.url}/?swarm={SWARM}#token={served.token}")
    expect(page.locator("#conn")).to_have_text("live")
    expect(page.locator(f"{card} .agent-state")).to_have_text("idle")
    page.evaluate(f"document.querySelector('{card} .agent-text').textContent = ''")

    def away_while_the_agent_answers() -> str:
        """Drop the stream, hold its reconnection until the agent answered a message sent
        meanwhile; returns the Last-Event-ID it reconnects with."""
        held: list[Any] = []
        page.route(f"**/api/swarms/{SWARM}/events", lambda route: held.append(route))
        page.evaluate("window.codeswarm.view.stream.controller.abort()")
        expect(page.locator("#conn")).to_have_text("reconnecting…")
        swarm.cli("send", SWARM, "2", "what is your status?", "--wait")
        for _ in range(WAIT_MS // 50):
            if held:
                break
            page.wait_for_timeout(50)
        (route,) = held
        route.continue_()
        page.unroute(f"**/api/swarms/{SWARM}/events")
        expect(page.locator("#conn")).to_have_text("live")
        return str(route.request.headers.get("last-event-id", ""))

    mine = page.locator(f'#events .ev:has(.ev-agent:text-is("{agent}"))')
    kinds = ("message.accepted", "turn.started", "message.completed", "turn.completed")

    # no event seen yet, but the stream said where it starts (an id, no data): the page resumes
    # from there, and what the agent did meanwhile arrives as events, once
    first = away_while_the_agent_answers()
    assert re.fullmatch(r"\d+\.\d+\.\d+", first), first  # one seq per agent
    expect(page.locator(f"{card} .agent-text")).to_have_text(REPORT)
    for kind in kinds:
        expect(mine.and_(page.locator(f'[data-type="{kind}"]'))).to_have_count(1)
    turns = swarm.status()["agents"][2]["turns"]

    # a turn seen live moves the page's position ...
    page.fill(f"{card} .agent-send input", "what is your status?")
    page.click(f"{card} .agent-send button")
    expect(mine.and_(page.locator('[data-type="turn.completed"]'))).to_have_count(2)

    # ... from which it resumes: what the agent did while the page was away arrives, once
    resume = away_while_the_agent_answers()
    assert re.fullmatch(r"\d+\.\d+\.\d+", resume) and resume != first, resume
    for kind in kinds:
        expect(mine.and_(page.locator(f'[data-type="{kind}"]'))).to_have_count(3)
    expect(page.locator(f"{card} .agent-state")).to_have_text("idle")
    assert swarm.status()["agents"][2]["turns"] == turns + 2


def test_the_sse_parser_handles_split_chunks_crlf_comments_and_multiline_data(
    served: Served, page: Any
) -> None:
    page.goto(served.url + "/")  # the login page: the module is served without a token
    got = page.evaluate(
        r"""async () => {
             const { SseParser } = await import("/static/sse.js");
             const run = (chunks) => {
               const out = [], retries = [];
               const p = new SseParser((d, id) => out.push([d, id]), (ms) => retries.push(ms));
               chunks.forEach((c) => p.push(c));
               return { out, retries };
             };
             return {
               basic: run(["retry: 1000\n\n", 'id: 1.0.2\ndata: {"a":1}\n\n']),
               split: run(["id: 4", "2\nda", "ta: x\r", "\n\r\n", ": ping\n\n",
                           "data: y\n", "data:z\n\n"]),
               cr: run(["data: a\rdata: b\r\r"]),
               open: run(["data: never ended\n"]),
               bad: run(["retry: soon\nid: a\0b\ndata\n\n"]),
             };
           }"""
    )
    assert got["basic"] == {"out": [['{"a":1}', "1.0.2"]], "retries": [1000]}
    assert got["split"] == {"out": [["x", "42"], ["y\nz", "42"]], "retries": []}
    assert got["cr"] == {"out": [["a\nb", None]], "retries": []}
    assert got["open"] == {"out": [], "retries": []}
    assert got["bad"] == {"out": [["", None]], "retries": []}


def test_the_swarm_picker_switches_between_swarms(
    served: Served, api_project: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    other = api_project.make("other")
    other.up(1, {"agents": {"*": [{"when": ".", "repeat": True, "text": "other ok"}]}})
    page.goto(f"{served.url}/?swarm={SWARM}#token={served.token}")
    expect(page.locator("#agents .agent")).to_have_count(3)
    options = page.locator("#swarm-select option")
    expect(options).to_have_count(2)
    assert sorted(options.evaluate_all("os => os.map(o => o.value)")) == [SWARM, "other"]

    page.select_option("#swarm-select", "other")
    card = page.locator('#agents .agent[data-agent="other_0"]')
    expect(page.locator("#agents .agent")).to_have_count(1)
    assert page.url.endswith("/?swarm=other")
    expect(page.locator("#conn")).to_have_text("live")
    card.locator(".agent-send input").fill("hello")
    card.locator(".agent-send button").click()
    expect(card.locator(".agent-text")).to_have_text("other ok")
    expect(page.locator("#events .ev-agent").filter(has_text=f"{SWARM}_")).to_have_count(0)

    page.select_option("#swarm-select", SWARM)
    expect(page.locator("#agents .agent")).to_have_count(3)
    expect(page.locator('#agents .agent[data-agent="other_0"]')).to_have_count(0)
