"""Claude Code agents in the fleet (issue 16's acceptance): one mixed swarm, two Codex agents and
one Claude Code agent (``up --runtime codex:2,claude:1``), real supervisor, workers, ``codex``,
``claude`` and the coordination hub, against the scripted model; driven only through the CLI.

The checks share the swarm (CI time: each ``claude`` is ~300 MB and a second or two of CPU to
start) and run in this file's order: a message to all, the tokens, leases both ways, an
approval, an interrupt, then the Claude agent's worker and its ``claude`` killed mid-turn.
Ranks 0 and 1 are Codex, rank 2 is Claude. The orchestrator's delegation to both runtimes is a
``codeswarm run`` of its own (its swarm ends with the run).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeswarm.mockmodel.script import latest_user_text as script_user_text
from swarmkit import Swarm, open_swarms, plain_home, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

NAME = "m"
CODEX_A, CODEX_B, CLAUDE = f"{NAME}_0", f"{NAME}_1", f"{NAME}_2"
_DROPPED = ("ANTHROPIC_", "CLAUDE", "DISABLE_", "IS_SANDBOX")


def usage(i: int, cached: int, o: int) -> dict[str, int]:
    return {"input_tokens": i, "cached_input_tokens": cached, "output_tokens": o}


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool": name, "arguments": arguments}


def patch_update(path: str, old: str, new: str) -> str:
    return f"*** Begin Patch\n*** Update File: {path}\n@@\n-{old}\n+{new}\n*** End Patch\n"


HELLO = {
    CODEX_A: "Rank zero here, a Codex agent, answering everyone.",
    CODEX_B: "Rank one here, also Codex, answering everyone.",
    CLAUDE: "Rank two here, the Claude Code agent, answering everyone.",
}
SLOW = {"delay": 120, "text": "never finished"}  # cut short by a kill: no usage reported
APPROVED = "python3 -c \"open('approved.txt', 'w').write('yes')\""


def on(when: str, spent: tuple[int, int, int], **entry: Any) -> dict[str, Any]:
    """An entry answering prompts that match ``when``, reporting ``spent`` (in, cached, out)."""
    return {"when": when, **entry, "usage": usage(*spent)}


def script() -> dict[str, Any]:
    """Every entry is picked by its prompt (``when``), so the checks can run in any subset."""
    codex_a = [on("hello all", (120, 20, 12), text=HELLO[CODEX_A])]
    codex_b = [
        on("hello all", (130, 30, 13), text=HELLO[CODEX_B]),
        on("edit a", (20, 0, 3), patch=patch_update("src/a.py", "a", "b")),
        on("edit a", (21, 0, 2), text="a edited"),
        on("take b", (22, 0, 3), patch=patch_update("src/b.py", "y", "z")),
        on("take b", (23, 0, 2), text="b is held"),
    ]  # fmt: skip
    claude = [
        on("hello all", (140, 40, 14), text=HELLO[CLAUDE]),
        on("take a", (31, 0, 3), read="src/a.py"),
        on("take a", (32, 2, 3), edit={"file_path": "src/a.py", "old_string": "b",
                                       "new_string": "c"}),
        on("take a", (33, 3, 2), text="a is held"),
        on("edit b", (34, 0, 3), read="src/b.py"),
        on("edit b", (35, 0, 3), edit={"file_path": "src/b.py", "old_string": "a",
                                       "new_string": "y"}),
        on("edit b", (36, 6, 2), text="b edited"),
        on("need approval", (37, 0, 4), exec=APPROVED),
        on("need approval", (38, 8, 2), text="wrote approved.txt"),
        # the kills: the continuation first (its text names the crash), then the queue
        on("interrupted by a crash", (42, 2, 2), text="carrying on"),
        on("interrupted by a crash", (43, 3, 2), text="carrying on again"),
        {"when": "slow zero", **SLOW},
        on("after the interrupt", (47, 7, 3), text="still here"),
        {"when": "slow one", **SLOW},
        {"when": "slow two", **SLOW},
        on("queued one", (44, 4, 1), text="one"),
        on("queued two", (45, 5, 1), text="two"),
        on("queued three", (46, 6, 1), text="three"),
    ]  # fmt: skip
    return {"agents": {"0": codex_a, "1": codex_b, "2": claude}}


@pytest.fixture(scope="module")
def mixed(
    tmp_path_factory: pytest.TempPathFactory, codex_binary: Any, claude_binary: Path
) -> Iterator[Swarm]:
    root = tmp_path_factory.mktemp("claude-fleet")
    with open_swarms(Swarm, root, codex_binary.path) as make:
        s = prepared(make(NAME), root, claude_binary)
        (s.workdir / "src").mkdir()
        for name in ("a.py", "b.py"):
            (s.workdir / "src" / name).write_text("a\n")
        s.up(3, script(), "--runtime", "codex:2,claude:1",
             "--approval-policy", "never", "--sandbox", "workspace-write")  # fmt: skip
        yield s


def prepared(s: Swarm, root: Path, claude_binary: Path) -> Swarm:
    """``s`` with an empty home, nobody's Claude login or settings (the agent's Claude home is
    seeded from an empty one), the pinned ``claude``, and a git project of its own (the store's
    scope is its root, whatever a parent holds)."""
    plain_home(s, root)
    s.env = {k: v for k, v in s.env.items() if not k.startswith(_DROPPED)}
    s.env["CLAUDE_CONFIG_DIR"] = str(root / "user-claude")
    s.env["CODESWARM_CLAUDE_BIN"] = str(claude_binary)  # HOME moved: not found by default
    subprocess.run(["git", "init", "-q", str(s.workdir)], check=True)
    return s


# -- helpers ------------------------------------------------------------------------------------
def agent_of(s: Swarm, agent: str) -> dict[str, Any]:
    (found,) = [a for a in s.status()["agents"] if a["id"] == agent]
    return dict(found)


def requests_of(s: Swarm, agent: str) -> list[dict[str, Any]]:
    return [r for r in s.model_requests() if r["agent"] == agent]


def claude_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    content = block.get("content", block.get("text", ""))
    if isinstance(content, str):
        return content
    return "\n".join(claude_text(c) for c in content or ())


def latest_user_text(request: dict[str, Any]) -> str:
    """The newest message the person (or the worker) wrote, in either API's request: what the
    scripted model's ``when`` patterns see."""
    return script_user_text(request["body"])


def last_tool_results(request: dict[str, Any]) -> str:
    """What the request's newest message carries back from the client's tools (both APIs)."""
    body = request["body"]
    if request["api"] == "messages":
        last = body["messages"][-1]["content"]
        return "\n".join(
            claude_text(b) for b in last if isinstance(b, dict) and b.get("type") == "tool_result"
        )
    return json.dumps(body["input"][-1])


def expected_tokens(s: Swarm, agent: str) -> dict[str, int]:
    """What the scripted model reported to ``agent``: the sum of every answered request's
    declared usage (a request cut short by a kill reported nothing)."""
    total = {"input": 0, "cached_input": 0, "output": 0}
    for r in requests_of(s, agent):
        entry = r["entry"]
        assert entry is not None, f"{agent}'s script ran out: {latest_user_text(r)!r}"
        if "usage" not in entry:
            assert entry.get("delay") == SLOW["delay"], entry
            continue
        total["input"] += entry["usage"]["input_tokens"]
        total["cached_input"] += entry["usage"].get("cached_input_tokens", 0)
        total["output"] += entry["usage"]["output_tokens"]
    return {**total, "total": total["input"] + total["output"]}


def assert_tokens_exact(s: Swarm) -> None:
    st = s.status()
    agents = {a["id"]: a for a in st["agents"]}
    for agent in (CODEX_A, CODEX_B, CLAUDE):
        assert agents[agent]["tokens"] == expected_tokens(s, agent), agent
    for key in ("input", "cached_input", "output", "total"):
        assert st["tokens"][key] == sum(a["tokens"][key] for a in agents.values()), key


def coord(s: Swarm, *args: str) -> Any:
    proc = s.cli("coord", *args, "--json")
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def ask(s: Swarm, agent: str, text: str) -> dict[str, Any]:
    out = json.loads(s.cli("send", NAME, agent, text, "--wait", "--json").stdout)
    return dict(out[agent])


def accepted(s: Swarm, rank: int) -> list[dict[str, Any]]:
    return [r for r in s.outbox(rank) if r["kind"] == "turn.accepted"]


def inbox_ids(s: Swarm, agent: str) -> dict[str, str]:
    path = s.run_dir / "mailbox" / "inbox" / f"{agent}.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["text"]: r["id"] for r in records if r.get("kind") == "message"}


def worker_pid(s: Swarm, agent: str) -> int:
    return int((s.run_dir / "agents" / agent / "worker.pid").read_text())


def claude_pid(s: Swarm, agent: str) -> int | None:
    """The live ``claude`` under the agent's worker."""
    worker = worker_pid(s, agent)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == worker and b"claude" in argv0:
            return int(entry.name)
    return None


def background_send(s: Swarm, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "codeswarm", "send", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=s.env, cwd=s.workdir,
    )  # fmt: skip


def slow_request_arrived(s: Swarm, prompt: str) -> bool:
    return any(prompt in latest_user_text(r) for r in requests_of(s, CLAUDE))


# -- the checks ---------------------------------------------------------------------------------
def test_a_message_to_all_is_answered_by_each_streamed_and_tokens_are_exact(mixed: Swarm) -> None:
    s = mixed
    st = s.status()
    runtimes = {a["id"]: a.get("runtime") for a in st["agents"]}
    assert runtimes == {CODEX_A: "codex", CODEX_B: "codex", CLAUDE: "claude"}
    assert all(a["state"] == "idle" for a in st["agents"]), st["agents"]

    proc = s.cli("send", NAME, "all", "hello all, who are you?", "--wait", "--stream")
    shown = {}
    for line in proc.stdout.splitlines():
        agent, bar, text = line.partition("│")
        if bar:
            shown.setdefault(agent.strip(), []).append(text.strip())
    for agent, text in HELLO.items():
        assert " ".join(shown.get(agent, [])) == text, (agent, proc.stdout)

    # streamed: each answer reached the outbox as several deltas, the Claude agent's
    # synthesized in Codex's vocabulary (tagged with its runtime), its raw lines kept beside
    for rank, agent in enumerate((CODEX_A, CODEX_B, CLAUDE)):
        records = s.outbox(rank)
        (turn,) = [r["turn_id"] for r in records if r["kind"] == "turn.accepted"]
        deltas = [
            r for r in records
            if r["kind"] == "codex" and r["msg"].get("method") == "item/agentMessage/delta"
            and r["msg"]["params"].get("turnId") == turn
        ]  # fmt: skip
        assert len(deltas) >= 3, agent
        assert "".join(r["msg"]["params"]["delta"] for r in deltas) == HELLO[agent]
        if agent == CLAUDE:
            assert all(r.get("runtime") == "claude" for r in deltas)
            raw = [r["msg"] for r in records if r["kind"] == "claude"]
            assert any(m.get("type") == "result" and m.get("result") == HELLO[CLAUDE] for m in raw)
            assert not any(m.get("type") == "stream_event" for m in raw)
        else:
            assert not any(r["kind"] == "claude" for r in records)

    st = s.status()
    for a in st["agents"]:
        assert a["state"] == "idle" and a["turns"] == 1 and a["last_message"] == HELLO[a["id"]]
    assert_tokens_exact(s)
    claude = agent_of(s, CLAUDE)["tokens"]
    assert claude == {"input": 140, "cached_input": 40, "output": 14, "total": 154}


def test_leases_hold_across_runtimes_naming_the_holder(mixed: Swarm) -> None:
    s = mixed
    src = s.workdir / "src"
    # a Codex agent edits a.py: it holds it now
    assert ask(s, CODEX_B, "edit a please")["text"] == "a edited"
    assert (src / "a.py").read_text() == "b\n"
    leases = {le["path"]: le["holder"] for le in coord(s, "leases")}
    codex_ref = leases["src/a.py"]
    assert codex_ref.startswith(f"{CODEX_B}#")

    # the Claude agent is denied it, naming the holder
    assert ask(s, CLAUDE, "take a over")["text"] == "a is held"
    assert (src / "a.py").read_text() == "b\n"
    mine = [r for r in requests_of(s, CLAUDE) if "take a" in latest_user_text(r)]
    assert len(mine) == 3  # Read, Edit (denied), the answer
    denial = last_tool_results(mine[2])
    assert "src/a.py" in denial and f"held (exclusive) by {codex_ref}" in denial, denial

    # and the reverse: the Claude agent edits b.py, a Codex agent is denied it
    assert ask(s, CLAUDE, "edit b please")["text"] == "b edited"
    assert (src / "b.py").read_text() == "y\n"
    leases = {le["path"]: le["holder"] for le in coord(s, "leases")}
    claude_ref = leases["src/b.py"]
    assert claude_ref.startswith(f"{CLAUDE}#")
    assert ask(s, CODEX_B, "take b over")["text"] == "b is held"
    assert (src / "b.py").read_text() == "y\n"
    mine = [r for r in requests_of(s, CODEX_B) if "take b" in latest_user_text(r)]
    assert len(mine) == 2
    denial = last_tool_results(mine[1])
    assert "src/b.py" in denial and claude_ref in denial, denial

    denied = coord(s, "events", "--kind", "lease.denied")
    assert [(e["subject"], e["agent"]) for e in denied] == [
        ("src/a.py", claude_ref),
        ("src/b.py", codex_ref),
    ]
    held = {a["id"]: [le["path"] for le in a["leases"]] for a in s.status()["agents"]}
    assert held == {CODEX_A: [], CODEX_B: ["src/a.py"], CLAUDE: ["src/b.py"]}


def test_sessions_show_the_claude_agents_turns_items_and_tokens(mixed: Swarm) -> None:
    """A Claude agent leaves no Codex rollout: `codeswarm sessions` reads its turns from its
    outbox, with the same items and the same tokens as `status` (the turns so far: the hello,
    "take a over" (denied), "edit b please")."""
    s = mixed
    listed = json.loads(s.cli("sessions", "list", "--json").stdout)
    (row,) = [r for r in listed if r["agent"] == CLAUDE]
    assert row["state"] == "live" and row["current"]
    assert row["turns"] == 3
    assert row["tokens"] == agent_of(s, CLAUDE)["tokens"]
    shown = json.loads(s.cli("sessions", "show", row["thread_id"][:8], "--json").stdout)
    turns = shown["turns"]
    assert [t["status"] for t in turns] == ["completed"] * 3
    assert sum(t["tokens"]["total"] for t in turns) == row["tokens"]["total"]
    first, _, last = turns
    assert first["items"][0] == {"type": "user_message", "text": "hello all, who are you?"}
    assert first["items"][-1] == {"type": "agent_message", "text": HELLO[CLAUDE]}
    assert last["items"][0] == {"type": "user_message", "text": "edit b please"}
    changes = [i for i in last["items"] if i["type"] == "file_change"]
    assert changes and changes[0]["changes"][0]["path"].endswith("b.py"), last["items"]
    assert last["items"][-1] == {"type": "agent_message", "text": "b edited"}
    text = s.cli("sessions", "show", NAME, CLAUDE).stdout
    assert "3 turns" in text and "b edited" in text


def test_an_approval_the_claude_agent_asks_is_answered_from_the_cli(mixed: Swarm) -> None:
    s = mixed
    s.cli("send", NAME, CLAUDE, "need approval for a script")

    def pending() -> list[dict[str, Any]]:
        a = agent_of(s, CLAUDE)
        return list(a["pending_approvals"]) if a["state"] == "waiting_approval" else []

    (request,) = wait_until(pending, timeout=90, what="the Claude agent's approval request")
    assert "approved.txt" in str(request.get("command")), request
    assert not (s.workdir / "approved.txt").exists()
    s.cli("approve", NAME, CLAUDE, str(request["request_id"]))
    wait_until(lambda: agent_of(s, CLAUDE)["last_message"] == "wrote approved.txt"
               and agent_of(s, CLAUDE)["state"] == "idle",
               timeout=90, what="the turn to continue and end")  # fmt: skip
    assert (s.workdir / "approved.txt").read_text() == "yes"
    # answered: a second answer is refused, nothing sent
    again = s.cli("approve", NAME, CLAUDE, str(request["request_id"]), check=False)
    assert again.returncode == 2 and "already answered" in again.stderr


def run_script() -> dict[str, Any]:
    """``codeswarm run -n 2 --runtime codex:1,claude:1``: the orchestrator (rank 0, Codex)
    delegates part c to the Claude agent (rank 2) and part d to the Codex agent (rank 1); woken
    by each completion (in whichever order), it ends both tasks and finishes at the second."""
    done = r"task #\d+ done"
    orchestrator = [
        on("the goal", (50, 0, 5), **tool("delegate", title="part c",
                                          instructions="write part c", agent="r_2")),
        on("the goal", (60, 10, 5), **tool("delegate", title="part d",
                                           instructions="write part d", agent="r_1")),
        on("the goal", (70, 10, 4), text="Delegated both parts."),
        on(done, (30, 0, 2), text="One is done; waiting for the other."),
        on(done, (31, 1, 3), **tool("end", task=1, verdict="accepted", summary="c ok")),
        on(done, (32, 2, 3), **tool("end", task=2, verdict="accepted", summary="d ok")),
        on(done, (40, 0, 6), **tool("finish", summary="c by claude, d by codex")),
        on(done, (45, 0, 2), text="Finished."),
    ]  # fmt: skip

    def worker(task: int, result: str) -> list[dict[str, Any]]:
        wake = f"Task #{task}:"
        return [on(wake, (24 + task, task, 3),
                   **tool("task_update", id=task, status="done", result=result)),
                on(wake, (26 + task, task, 2), text=f"Task {task} is done.")]  # fmt: skip

    return {"agents": {"0": orchestrator, "1": worker(2, "did d in codex"),
                       "2": worker(1, "did c in claude")}}  # fmt: skip


def test_the_orchestrator_delegates_to_a_claude_and_a_codex_agent(
    tmp_path: Path, codex_binary: Any, claude_binary: Path
) -> None:
    with open_swarms(Swarm, tmp_path, codex_binary.path) as make:
        s = prepared(make("r"), tmp_path, claude_binary)
        summary_path = tmp_path / "summary.json"
        done = subprocess.run(
            [sys.executable, "-P", "-m", "codeswarm", "run", "the goal: parts c and d", "-n",
             "2", "--runtime", "codex:1,claude:1", "--name", "r", "--cwd", str(s.workdir),
             "--model-provider", "mock", "--script", str(s.write_script(run_script())),
             "--summary-json", str(summary_path)],
            capture_output=True, text=True, env=s.env, cwd=s.workdir, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert s.processes() == []  # the run brought its swarm down
        summary = json.loads(summary_path.read_text())
        assert summary["outcome"] == "finished"
        assert summary["orchestrator_summary"] == "c by claude, d by codex"
        tasks = {t["id"]: t for t in summary["tasks"]}
        assert {i: (t["status"], t["verdict"], t["result"], t["assignee"])
                for i, t in tasks.items()} == {
            1: ("done", "accepted", "did c in claude", "r_2"),
            2: ("done", "accepted", "did d in codex", "r_1"),
        }  # fmt: skip
        # tokens exact for every agent, whichever runtime drives it
        for agent, row in summary["tokens"]["agents"].items():
            got = {k: row[k] for k in ("input", "cached_input", "output", "total")}
            assert got == expected_tokens(s, agent), agent
        # the orchestrator was woken by each completion, carrying its result
        woken = [t for t in dict.fromkeys(latest_user_text(r) for r in requests_of(s, "r_0"))
                 if re.search(r"task #\d+ done", t)]  # fmt: skip
        assert len(woken) == 2, woken
        joined = "\n".join(woken)
        assert "did c in claude" in joined and "did d in codex" in joined
        # the Claude agent reported through the codeswarm MCP server: a tool call in its stream
        calls = [
            r["msg"]["params"]["item"] for r in s.outbox(2)
            if r["kind"] == "codex" and r["msg"].get("method") == "item/completed"
            and r["msg"]["params"]["item"].get("type") == "mcpToolCall"
        ]  # fmt: skip
        assert [(c["server"], c["tool"], c["status"]) for c in calls] == [
            ("codeswarm", "task_update", "completed")
        ]


def test_the_claude_agents_turn_interrupted_from_the_cli(mixed: Swarm) -> None:
    s = mixed
    before = len(accepted(s, 2))
    claude = claude_pid(s, CLAUDE)
    waiter = background_send(s, NAME, CLAUDE, "slow zero", "--wait", "--json", "--timeout", "300")
    try:
        wait_until(lambda: slow_request_arrived(s, "slow zero"), timeout=60, what="the request")
        wait_until(lambda: len(accepted(s, 2)) > before, timeout=30, what="the turn accepted")
        s.cli("interrupt", NAME, CLAUDE)
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode == 1, err
    result = json.loads(out)[CLAUDE]
    assert result["status"] == "interrupted", result
    # the same claude, the same session, ready for the next message
    assert claude_pid(s, CLAUDE) == claude
    assert ask(s, CLAUDE, "after the interrupt")["text"] == "still here"
    assert agent_of(s, CLAUDE)["restarts"] == 0


def _kill_mid_turn(s: Swarm, slow: str, kill: Any, queued: list[str]) -> dict[str, Any]:
    """Start a slow turn on the Claude agent, queue ``queued`` behind it, ``kill()`` mid-turn;
    returns the waiter's result for the slow turn (once the queue has run)."""
    before = len(accepted(s, 2))
    waiter = background_send(s, NAME, CLAUDE, slow, "--wait", "--json", "--timeout", "300")
    try:
        wait_until(lambda: slow_request_arrived(s, slow), timeout=60, what="the slow request")
        # mid-turn: Claude Code has taken the message (the model is at work on it) and the
        # worker has said so (a kill before that is the crash window: nothing was accepted)
        wait_until(lambda: len(accepted(s, 2)) > before, timeout=30, what="the turn accepted")
        for text in queued:
            s.cli("send", NAME, CLAUDE, text)
        kill()
        out, err = waiter.communicate(timeout=120)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode == 1, err
    result = dict(json.loads(out)[CLAUDE])
    first = accepted(s, 2)[before]
    assert result["status"] == "failed" and result["turn_id"] == first["turn_id"], result
    seen: list[dict[str, Any]] = []

    def settled() -> bool:
        seen[:] = [agent_of(s, CLAUDE)]
        answer = queued[-1].removeprefix("queued ")  # the script answers "queued two" with "two"
        return bool(seen[0]["last_message"] == answer and seen[0]["state"] == "idle")

    try:
        wait_until(settled, timeout=120, what="the queued messages to run")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the agent: {seen}") from None
    records = s.outbox(2)
    (aborted,) = [r for r in records if r["kind"] == "turn.aborted"
                  and r["turn_id"] == first["turn_id"]]  # fmt: skip
    result["reason"] = aborted["reason"]
    # the continuation first, then each queued message once, in order
    ids = inbox_ids(s, CLAUDE)
    after = [r["inbox_id"] for r in accepted(s, 2)[before + 1 :]]
    assert after == [f"continue:{first['turn_id']}", *(ids[t] for t in queued)]
    asked = [latest_user_text(r) for r in requests_of(s, CLAUDE)]
    for text in queued:
        assert sum(text in a for a in asked) == 1, text
    assert sum(slow in a for a in asked) == 1  # the cut-short turn was not run again
    return result


def test_the_claude_agents_worker_killed_mid_turn(mixed: Swarm) -> None:
    s = mixed
    (thread,) = set(s.ready_threads(2))

    def kill() -> None:
        worker = worker_pid(s, CLAUDE)
        claude = claude_pid(s, CLAUDE)
        assert claude is not None
        os.kill(worker, signal.SIGKILL)
        # claude does not outlive its worker (and finish the turn behind its back)
        wait_until(lambda: not Path(f"/proc/{claude}").exists()
                   or ") Z " in Path(f"/proc/{claude}/stat").read_text(),
                   timeout=30, what="the worker's claude to die with it")  # fmt: skip

    result = _kill_mid_turn(s, "slow one", kill, ["queued one", "queued two"])
    assert "turn aborted: worker restarted mid-turn: worker killed by SIGKILL" in result["error"]
    assert "SIGKILL" in result["reason"]
    records = s.outbox(2)
    kinds = [r["kind"] for r in records]
    assert "worker.exited" in kinds and "agent.restarted" in kinds
    ready = [r for r in records if r["kind"] == "agent.ready"]
    assert ready[-1]["resumed"] and {r["thread_id"] for r in ready} == {thread}
    # the resumed session carried the history to the model
    last = requests_of(s, CLAUDE)[-1]
    assert "hello all" in json.dumps(last["body"]["messages"])
    assert agent_of(s, CLAUDE)["restarts"] >= 1


def test_claude_itself_killed_mid_turn(mixed: Swarm) -> None:
    s = mixed
    (thread,) = set(s.ready_threads(2))
    worker = worker_pid(s, CLAUDE)

    def kill() -> None:
        claude = claude_pid(s, CLAUDE)
        assert claude is not None
        os.kill(claude, signal.SIGKILL)

    result = _kill_mid_turn(s, "slow two", kill, ["queued three"])
    assert "turn aborted" in result["error"], result
    assert worker_pid(s, CLAUDE) == worker  # the same worker restarted claude
    ready = [r for r in s.outbox(2) if r["kind"] == "agent.ready"]
    assert ready[-1]["resumed"] and {r["thread_id"] for r in ready} == {thread}
    # nothing was counted twice, nothing lost, across both kills
    assert_tokens_exact(s)
    with contextlib.suppress(FileNotFoundError):
        assert "Traceback" not in (s.run_dir / "agents" / CLAUDE / "worker.log").read_text()
