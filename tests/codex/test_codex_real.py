"""The app-server client driving the REAL Codex CLI against the scripted model."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from codeswarm.codex import AcceptAll, Decision, QueuePolicy
from codeswarm.control import EventStamper

pytestmark = pytest.mark.codex

TURN_TIMEOUT = 30


async def open_thread(
    rig: Any, codex: Any, *, approval: str = "never", sandbox: str = "read-only"
) -> Any:
    """A new thread of ``codex`` in the rig's workspace."""
    return await codex.thread_start(cwd=rig.workspace, approval_policy=approval, sandbox=sandbox)


async def events_of(turn: Any) -> list[dict[str, Any]]:
    """Every event of ``turn`` as the control plane stamps them (agent t_0), to the end."""
    stamper = EventStamper("t_0")
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(TURN_TIMEOUT):
        async for msg in turn:
            events += stamper.events(msg)
    return events


def user_texts(body: dict[str, Any]) -> list[str]:
    out = []
    for item in body.get("input", []):
        if item.get("type") == "message" and item.get("role") in ("user", "assistant"):
            for c in item.get("content", []):
                if isinstance(c, dict) and isinstance(c.get("text"), str):
                    out.append(c["text"])
    return out


async def test_streamed_message_deltas_and_declared_usage(rig) -> None:  # type: ignore[no-untyped-def]
    text = "Streaming works: these words arrive as deltas, in order, and add up."
    mm = await rig.model(
        {
            "agents": {
                "*": [
                    {"text": text, "chunk": 5, "usage": {"input_tokens": 120, "output_tokens": 30}}
                ]
            }
        }
    )
    codex = await rig.codex(mm)
    thread = await open_thread(rig, codex)
    turn = await codex.turn_start(thread.id, "say something")
    events = await events_of(turn)
    deltas = [e["delta"] for e in events if e["type"] == "message.delta"]
    assert len(deltas) > 3
    completed = [e for e in events if e["type"] == "message.completed"]
    assert "".join(deltas) == completed[-1]["text"] == text
    usage = [e for e in events if e["type"] == "usage.updated"][-1]
    assert usage["total"]["input_tokens"] == 120
    assert usage["total"]["output_tokens"] == 30
    assert usage["total"]["total_tokens"] == 150
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "turn.started" and events[-1]["type"] == "turn.completed"
    assert turn.result.status == "completed" and turn.result.text == text


@pytest.mark.parametrize("decision", [Decision.ACCEPT, Decision.DECLINE])
async def test_exec_command_approval_under_untrusted(rig, decision: Decision) -> None:  # type: ignore[no-untyped-def]
    mm = await rig.model({"agents": {"*": [{"exec": "echo hi > out.txt"}, {"text": "done"}]}})
    policy = QueuePolicy()
    codex = await rig.codex(mm, approval=policy)
    thread = await open_thread(rig, codex, approval="untrusted", sandbox="workspace-write")
    turn = await codex.turn_start(thread.id, "write the file")
    pending = await asyncio.wait_for(policy.queue.get(), TURN_TIMEOUT)
    assert pending.request.kind == "command"
    assert "echo hi > out.txt" in (pending.request.command or "")
    assert pending.request.turn_id == turn.turn_id
    pending.resolve(decision)
    result = await asyncio.wait_for(turn.wait(), TURN_TIMEOUT)
    assert result.status == "completed"
    commands = [i for i in result.items if i.get("type") == "commandExecution"]
    if decision is Decision.ACCEPT:
        assert (rig.workspace / "out.txt").read_text() == "hi\n"
        assert commands[-1]["status"] == "completed" and commands[-1]["exitCode"] == 0
    else:
        assert not (rig.workspace / "out.txt").exists()
        assert commands[-1]["status"] == "declined"


async def test_apply_patch_add_update_delete_rename(rig) -> None:  # type: ignore[no-untyped-def]
    patches = [
        "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n",
        "*** Begin Patch\n*** Update File: a.txt\n@@\n-hello\n+hello world\n*** End Patch\n",
        "*** Begin Patch\n*** Add File: b.txt\n+bee\n*** End Patch\n",
        "*** Begin Patch\n*** Update File: b.txt\n*** Move to: sub/c.txt\n@@\n-bee\n+sea\n*** End Patch\n",
        "*** Begin Patch\n*** Delete File: a.txt\n*** End Patch\n",
    ]
    mm = await rig.model({"agents": {"*": [*({"patch": p} for p in patches), {"text": "ok"}]}})
    codex = await rig.codex(mm, approval=AcceptAll())
    thread = await open_thread(rig, codex, sandbox="workspace-write")
    turn = await codex.turn_start(thread.id, "edit files")
    changes = [e for e in await events_of(turn) if e["type"] == "file.changed"]
    assert turn.result.status == "completed"
    kinds = [(c["changes"][0]["kind"], os.path.basename(c["changes"][0]["path"])) for c in changes]
    assert kinds == [
        ("add", "a.txt"),
        ("update", "a.txt"),
        ("add", "b.txt"),
        ("update", "b.txt"),
        ("delete", "a.txt"),
    ]
    assert changes[3]["changes"][0]["move_path"].endswith("sub/c.txt")
    assert all(c["status"] == "completed" for c in changes)
    assert not (rig.workspace / "a.txt").exists()
    assert not (rig.workspace / "b.txt").exists()
    assert (rig.workspace / "sub" / "c.txt").read_text() == "sea\n"


async def test_interrupt_a_delayed_turn(rig) -> None:  # type: ignore[no-untyped-def]
    mm = await rig.model({"agents": {"*": [{"delay": 60, "text": "too late"}, {"text": "next"}]}})
    codex = await rig.codex(mm)
    thread = await open_thread(rig, codex)
    turn = await codex.turn_start(thread.id, "take your time")
    await mm.wait_requests(1, timeout=TURN_TIMEOUT)  # the model is now "thinking"
    await turn.interrupt()
    result = await asyncio.wait_for(turn.wait(), 10)
    assert result.status == "interrupted"
    # and the thread goes on
    turn2 = await codex.turn_start(thread.id, "again")
    assert (await asyncio.wait_for(turn2.wait(), TURN_TIMEOUT)).text == "next"


async def test_three_turns_carry_the_history(rig) -> None:  # type: ignore[no-untyped-def]
    mm = await rig.model({"agents": {"*": [{"text": "one"}, {"text": "two"}, {"text": "three"}]}})
    codex = await rig.codex(mm)
    thread = await open_thread(rig, codex)
    answers = []
    for prompt in ("first question", "second question", "third question"):
        turn = await codex.turn_start(thread.id, prompt)
        answers.append((await asyncio.wait_for(turn.wait(), TURN_TIMEOUT)).text)
    assert answers == ["one", "two", "three"]
    third = mm.requests[2]["body"]
    texts = user_texts(third)
    for expected in ("first question", "one", "second question", "two", "third question"):
        assert expected in texts
    assert texts.index("first question") < texts.index("one") < texts.index("second question")


async def test_resume_after_killing_the_app_server(rig) -> None:  # type: ignore[no-untyped-def]
    mm = await rig.model({"agents": {"*": [{"text": "remember: blue"}, {"text": "it was blue"}]}})
    first = await rig.codex(mm)
    thread = await open_thread(rig, first)
    turn = await first.turn_start(thread.id, "what colour?")
    assert (await asyncio.wait_for(turn.wait(), TURN_TIMEOUT)).status == "completed"
    assert first.pid is not None
    os.killpg(first.pid, signal.SIGKILL)  # a crash, not a goodbye
    assert await asyncio.wait_for(first.rpc.wait_lost(), 10) is not None

    second = await rig.codex(mm)
    resumed = await second.thread_resume(thread.id, cwd=rig.workspace)
    assert resumed.id == thread.id
    turn = await second.turn_start(thread.id, "and now?")
    assert (await asyncio.wait_for(turn.wait(), TURN_TIMEOUT)).text == "it was blue"
    texts = user_texts(mm.requests[-1]["body"])
    assert "what colour?" in texts and "remember: blue" in texts and "and now?" in texts


@pytest.mark.parametrize(
    ("failure", "needle"),
    [
        ({"http_status": 500}, ""),
        ({"fail": "the model fell over"}, "the model fell over"),
        ({"cut": True, "text": "half an answ"}, "stream disconnected"),
    ],
)
async def test_model_failure_fails_the_turn_and_the_client_goes_on(rig, failure, needle) -> None:  # type: ignore[no-untyped-def]
    mm = await rig.model({"agents": {"*": [failure, {"text": "recovered"}]}})
    codex = await rig.codex(mm)
    thread = await open_thread(rig, codex)
    turn = await codex.turn_start(thread.id, "try")
    events = await events_of(turn)
    errors = [e for e in events if e["type"] == "error"]
    assert errors, events
    assert needle.lower() in errors[-1]["message"].lower()
    assert events[-1]["type"] == "turn.completed" and events[-1]["status"] == "failed"
    assert turn.result.status == "failed"
    turn2 = await codex.turn_start(thread.id, "again")
    assert (await asyncio.wait_for(turn2.wait(), TURN_TIMEOUT)).text == "recovered"


async def test_steer_adds_input_to_a_running_turn(rig) -> None:  # type: ignore[no-untyped-def]
    mm = await rig.model({"agents": {"*": [{"delay": 1.0, "exec": "true"}, {"text": "steered"}]}})
    codex = await rig.codex(mm)
    thread = await open_thread(rig, codex, sandbox="workspace-write")
    turn = await codex.turn_start(thread.id, "start")
    await mm.wait_requests(1, timeout=TURN_TIMEOUT)
    await codex.turn_steer(thread.id, turn.turn_id, "also mention the steering")
    result = await asyncio.wait_for(turn.wait(), TURN_TIMEOUT)
    assert result.status == "completed"
    assert "also mention the steering" in user_texts(mm.requests[-1]["body"])


async def test_hook_trust_through_the_app_server(rig) -> None:  # type: ignore[no-untyped-def]
    import json

    marker = rig.tmp_path / "hook-ran"
    rig.home.mkdir(exist_ok=True)
    (rig.home / "hooks.json").write_text(
        json.dumps(
            {
                "hooks": {
                    "UserPromptSubmit": [
                        {
                            "hooks": [
                                {"type": "command", "command": f"touch {marker}", "timeout": 10}
                            ]
                        }
                    ]
                }
            }
        )
    )
    mm = await rig.model({"agents": {"*": [{"text": "a"}, {"text": "b"}]}})
    codex = await rig.codex(mm)
    listed = await codex.hooks_list([rig.workspace])
    assert listed, "hooks/list returned nothing"
    trusted = await codex.trust_hooks([rig.workspace])
    assert len(trusted) == 1
    assert await codex.trust_hooks([rig.workspace]) == []  # idempotent
    thread = await open_thread(rig, codex)
    turn = await codex.turn_start(thread.id, "hi")
    assert (await asyncio.wait_for(turn.wait(), TURN_TIMEOUT)).status == "completed"
    assert marker.exists(), "the trusted hook did not run"


async def test_only_the_agents_own_hooks_are_trusted(rig) -> None:  # type: ignore[no-untyped-def]
    """``trust_hooks(within=CODEX_HOME)``: a hook in the project's ``.codex/hooks.json`` (which
    anyone who can write the project may change) is listed by Codex but never trusted, so it
    never runs; the agent's own hook does."""
    import json

    def hooks(marker: Path) -> str:
        command = {"type": "command", "command": f"touch {marker}", "timeout": 10}
        return json.dumps({"hooks": {"UserPromptSubmit": [{"hooks": [command]}]}})

    own, project = rig.tmp_path / "own-ran", rig.tmp_path / "project-ran"
    rig.home.mkdir(exist_ok=True)
    (rig.home / "hooks.json").write_text(hooks(own))
    (rig.workspace / ".codex").mkdir()
    (rig.workspace / ".codex" / "hooks.json").write_text(hooks(project))
    # a project the person trusts (their TUI asked them once; the agent's home is seeded with it)
    with (rig.home / "config.toml").open("a") as f:
        f.write(f'\n[projects.{json.dumps(str(rig.workspace))}]\ntrust_level = "trusted"\n')
    mm = await rig.model({"agents": {"*": [{"text": "a"}]}})
    codex = await rig.codex(mm)
    keys = [
        h.get("key")
        for entry in await codex.hooks_list([rig.workspace])
        for h in ([entry] if "key" in entry else entry.get("hooks") or entry.get("entries") or [])
    ]
    assert any(str(k).startswith(str(rig.workspace)) for k in keys), keys  # listed: a real case
    trusted = await codex.trust_hooks([rig.workspace], within=rig.home)
    assert trusted == [f'hooks.state."{rig.home}/hooks.json:user_prompt_submit:0:0"']
    thread = await open_thread(rig, codex)
    turn = await codex.turn_start(thread.id, "hi")
    assert (await asyncio.wait_for(turn.wait(), TURN_TIMEOUT)).status == "completed"
    assert own.exists(), "the agent's own hook did not run"
    assert not project.exists(), "the project's hook ran"


async def test_the_fleet_hooks_are_trusted_before_codex_starts(rig) -> None:  # type: ignore[no-untyped-def]
    """``install_hooks`` writes the fleet's hooks and their trust into the agent's home before
    Codex starts: Codex lists every one of them as trusted (the keys and hashes it computes are
    ours), so the worker's ``trust_hooks`` has nothing left to write (no ``config/batchWrite``,
    no config reload before the thread). The person's own config lines stay; a start over an
    older home (a stale table Codex wrote) still leaves one valid config."""
    from codeswarm.worker.wiring import install_hooks

    rig.home.mkdir(exist_ok=True)
    (rig.home / "config.toml").write_text(
        'model_reasoning_effort = "low"\n\n[hooks.state."'
        f'{rig.home}/hooks.json:stop:0:0"]\ntrusted_hash = "sha256:stale"\n'
    )
    install_hooks(rig.home)
    install_hooks(rig.home)  # each start rewrites the block: still one valid config
    text = (rig.home / "config.toml").read_text()
    assert text.startswith('model_reasoning_effort = "low"\n')
    assert "sha256:stale" not in text
    mm = await rig.model({"agents": {"*": [{"text": "a"}]}})
    codex = await rig.codex(mm)
    listed = [
        h
        for entry in await codex.hooks_list([rig.workspace])
        for h in ([entry] if "key" in entry else entry.get("hooks") or entry.get("entries") or [])
    ]
    ours = [h for h in listed if str(h.get("key", "")).startswith(f"{rig.home}/hooks.json:")]
    assert len(ours) == 5, listed  # SessionStart, PreToolUse, PostToolUse, Stop, SessionEnd
    assert all(h.get("trustStatus") == "trusted" for h in ours), ours
    assert await codex.trust_hooks([rig.workspace], within=rig.home) == []
    assert (rig.home / "config.toml").read_text() == text  # Codex wrote nothing
