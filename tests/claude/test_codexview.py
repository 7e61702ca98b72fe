"""``codeswarm.claude.codexview`` (pure): Claude Code's stream-json lines as Codex notifications,
read back by the same code that reads Codex's (``control/events/translate``,
``worker/budget.usage_of``, ``codex.approval.build_request``, ``worker/recovery.find_turn``);
and ``ClaudeLaunch``'s command line. The lines are trimmed captures of the real CLI 2.1.197
against the scripted model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeswarm.claude import ClaudeLaunch, View, project_dir_name, turns_from_transcript
from codeswarm.codex.approval import build_request
from codeswarm.control.events.translate import translate
from codeswarm.core.usage import Tokens
from codeswarm.worker import recovery
from codeswarm.worker.budget import usage_of

SID = "1e599a24-efd4-4b6c-861a-affb26d93423"
TURN = "2aed0d11-ca74-541e-ab84-a4733191e208"
CWD = "/tmp/proj"


def se(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "stream_event", "event": event, "session_id": SID, "parent_tool_use_id": None}


def assistant(msg_id: str, *blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    message = {"id": msg_id, "type": "message", "role": "assistant", "model": "claude-opus-4-8",
               "content": list(blocks), "stop_reason": None, **extra}  # fmt: skip
    return {"type": "assistant", "message": message, "parent_tool_use_id": None,
            "session_id": SID}  # fmt: skip


def tool_result(
    tool_id: str, content: Any, *, is_error: bool = False, detail: Any = None
) -> dict[str, Any]:
    block = {
        "tool_use_id": tool_id,
        "type": "tool_result",
        "content": content,
        "is_error": is_error,
    }
    line = {"type": "user", "message": {"role": "user", "content": [block]},
            "parent_tool_use_id": None, "session_id": SID}  # fmt: skip
    if detail is not None:
        line["tool_use_result"] = detail
    return line


def result(**over: Any) -> dict[str, Any]:
    line = {
        "type": "result", "subtype": "success", "is_error": False, "api_error_status": None,
        "num_turns": 1, "result": "hello", "stop_reason": "end_turn", "session_id": SID,
        "usage": {"input_tokens": 60, "cache_creation_input_tokens": 5,
                  "cache_read_input_tokens": 40, "output_tokens": 7},
        "modelUsage": {"claude-opus-4-8[1m]": {"contextWindow": 1000000}},
        "terminal_reason": "completed",
    }  # fmt: skip
    line.update(over)
    return line


ZERO_USAGE = {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
              "output_tokens": 0}  # fmt: skip


def feed(view: View, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [msg for line in lines for msg in view.events(line)]


def methods(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["method"] for m in msgs]


def events(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for m in msgs for e in translate(m, agent="s_1", now_ms=1)]


def test_a_streamed_text_turn_gives_deltas_the_message_usage_and_completion() -> None:
    view = View(SID, Tokens(1000, 10, 100, 1100), CWD)
    started = view.begin(TURN)
    assert started == [{"method": "turn/started", "params": {"threadId": SID, "turn": {
        "id": TURN, "status": "inProgress", "items": [], "error": None}}}]  # fmt: skip
    msgs = feed(view, [
        {"type": "system", "subtype": "init", "cwd": CWD, "session_id": SID},
        se({"type": "message_start", "message": {"id": "msg_1", "usage": {
            "input_tokens": 60, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 40,
            "output_tokens": 1}}}),
        se({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        se({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hel"}}),
        se({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
        {"type": "user", "message": {"role": "user", "content": "hi"}, "uuid": TURN,
         "isReplay": True, "session_id": SID, "parent_tool_use_id": None},
        assistant("msg_1", {"type": "text", "text": "hello"}),
        se({"type": "content_block_stop", "index": 0}),
        se({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 7}}),
        se({"type": "message_stop"}),
        result(),
    ])  # fmt: skip
    assert methods(msgs) == ["item/agentMessage/delta"] * 2 + [
        "item/completed", "thread/tokenUsage/updated", "turn/completed"]  # fmt: skip
    kinds = [e["type"] for e in events(started + msgs)]
    assert kinds == ["turn.started", "message.delta", "message.delta", "message.completed",
                     "usage.updated", "turn.completed"]  # fmt: skip
    deltas = [m["params"] for m in msgs[:2]]
    done = msgs[2]["params"]["item"]
    assert {d["itemId"] for d in deltas} == {done["id"]} and done["text"] == "hello"
    assert all((d["threadId"], d["turnId"]) == (SID, TURN) for d in deltas)
    last = {"inputTokens": 105, "cachedInputTokens": 40, "outputTokens": 7,
            "reasoningOutputTokens": 0, "totalTokens": 112}  # fmt: skip
    usage = msgs[3]["params"]["tokenUsage"]
    assert usage["last"] == last and usage["modelContextWindow"] == 1000000
    assert usage["total"]["inputTokens"] == 1105 and usage["total"]["totalTokens"] == 1212
    counted = usage_of(msgs[3])
    assert counted is not None and counted.thread_id == SID and counted.turn_id == TURN
    assert view.totals == Tokens(1105, 50, 107, 1212)
    assert (counted.total.input, counted.total.cached_input, counted.total.output) == (
        1105,
        50,
        107,
    )
    assert msgs[4]["params"] == {"threadId": SID, "turn": {"id": TURN, "status": "completed",
                                                           "items": [], "error": None}}  # fmt: skip
    assert view.turn_id is None


def test_tools_become_commands_file_changes_and_tool_calls() -> None:
    view = View(SID, cwd=CWD)
    view.begin(TURN)
    bash = {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}
    failing = {"type": "tool_use", "id": "t2", "name": "Bash", "input": {"command": "false"}}
    write = {"type": "tool_use", "id": "t3", "name": "Write",
             "input": {"file_path": "/tmp/proj/new.txt", "content": "x\n"}}  # fmt: skip
    edit = {"type": "tool_use", "id": "t4", "name": "Edit",
            "input": {"file_path": "/tmp/proj/a.txt", "old_string": "a", "new_string": "b"}}  # fmt: skip
    mcp = {"type": "tool_use", "id": "t5", "name": "mcp__codeswarm__lease_acquire",
           "input": {"path": "a.txt"}}  # fmt: skip
    read = {"type": "tool_use", "id": "t6", "name": "Read", "input": {"file_path": "a.txt"}}
    msgs = feed(view, [
        assistant("m1", bash), tool_result("t1", "a.txt\nb.txt", detail={"stdout": "a.txt"}),
        assistant("m2", failing), tool_result("t2", "Exit code 1", is_error=True),
        assistant("m3", write), tool_result("t3", "File created", detail={"type": "create"}),
        assistant("m4", edit), tool_result("t4", "The file has been updated", detail={"type": "update"}),
        assistant("m5", mcp), tool_result("t5", [{"type": "text", "text": "held"}]),
        assistant("m6", read), tool_result("t6", "no such file", is_error=True),
    ])  # fmt: skip
    assert methods(msgs) == ["item/started", "item/completed"] * 6
    done = [m["params"]["item"] for m in msgs[1::2]]
    assert done[0] == {"type": "commandExecution", "id": "t1", "command": "ls", "cwd": CWD,
                       "status": "completed", "exitCode": 0, "aggregatedOutput": "a.txt\nb.txt"}  # fmt: skip
    assert (done[1]["status"], done[1]["exitCode"]) == ("failed", 1)
    assert done[2]["changes"] == [{"path": "/tmp/proj/new.txt", "kind": {"type": "add"}}]
    assert done[3]["changes"] == [{"path": "/tmp/proj/a.txt", "kind": {"type": "update"}}]
    assert (done[4]["server"], done[4]["tool"], done[4]["arguments"]) == (
        "codeswarm", "lease_acquire", {"path": "a.txt"})  # fmt: skip
    assert done[4]["status"] == "completed" and done[4]["error"] is None
    assert (done[5]["server"], done[5]["tool"], done[5]["status"]) == ("claude", "Read", "failed")
    assert done[5]["error"] == {"message": "no such file"}
    kinds = [e["type"] for e in events(msgs)]
    assert kinds == ["command.started", "command.completed"] * 2 + ["file.changed"] * 2 + [
        "tool.started", "tool.completed"] * 2  # fmt: skip
    assert view.items == {}


def test_an_interrupt_ends_the_turn_interrupted_with_the_streamed_usage() -> None:
    view = View(SID, cwd=CWD)
    view.begin(TURN)
    msgs = feed(view, [
        se({"type": "message_start", "message": {"id": "m1", "usage": {
            "input_tokens": 300, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        se({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 4}}),
        assistant("m1", {"type": "tool_use", "id": "t1", "name": "Bash",
                         "input": {"command": "sleep 30"}}),
        {"type": "user", "message": {"role": "user", "content": [
            {"type": "text", "text": "[Request interrupted by user for tool use]"}]},
         "parent_tool_use_id": None},
        result(subtype="error_during_execution", is_error=True, usage=ZERO_USAGE,
               terminal_reason="aborted_tools", result=None),
    ])  # fmt: skip
    assert methods(msgs) == ["item/started", "thread/tokenUsage/updated", "item/completed",
                             "turn/completed"]  # fmt: skip
    assert msgs[1]["params"]["tokenUsage"]["last"]["inputTokens"] == 300
    assert msgs[1]["params"]["tokenUsage"]["last"]["outputTokens"] == 4
    assert msgs[2]["params"]["item"]["status"] == "failed"  # the tool the turn left open
    assert msgs[3]["params"]["turn"]["status"] == "interrupted"
    assert msgs[3]["params"]["turn"]["error"] is None


def test_an_api_error_fails_the_turn_and_a_retry_is_an_error_that_will_retry() -> None:
    view = View(SID, cwd=CWD)
    view.begin(TURN)
    msgs = feed(view, [
        {"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10,
         "retry_delay_ms": 585.3, "error_status": 529, "error": "overloaded", "session_id": SID},
        assistant("b9cc", {"type": "text", "text": "API Error: 400 fake bad"}, model="<synthetic>"),
        result(subtype="success", is_error=True, api_error_status=400,
               result="API Error: 400 fake bad", usage=ZERO_USAGE, stop_reason="stop_sequence"),
    ])  # fmt: skip
    assert methods(msgs) == ["error", "thread/tokenUsage/updated", "turn/completed"]
    (err,) = [e for e in events(msgs[:1])]
    assert err["type"] == "error" and err["will_retry"] is True and err["http_status"] == 529
    assert "overloaded" in err["message"] and err["turn_id"] == TURN
    turn = msgs[2]["params"]["turn"]
    assert (turn["status"], turn["error"]) == ("failed", {"message": "API Error: 400 fake bad"})
    assert msgs[1]["params"]["tokenUsage"]["last"]["totalTokens"] == 0


def test_a_subagents_lines_map_to_nothing() -> None:
    view = View(SID, cwd=CWD)
    view.begin(TURN)
    line = assistant("m9", {"type": "text", "text": "inner"})
    line["parent_tool_use_id"] = "toolu_agent"
    assert view.events(line) == []


def test_approvals_are_codex_approval_requests() -> None:
    view = View(SID, cwd=CWD)
    view.begin(TURN)
    edit = {"type": "tool_use", "id": "t4", "name": "Edit",
            "input": {"file_path": "/tmp/proj/a.txt", "old_string": "a", "new_string": "b"}}  # fmt: skip
    view.events(assistant("m1", edit))
    cases = [
        ("r1", {"subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": "python3 x.py"},
                "description": "python3 x.py", "tool_use_id": "t1"}),
        ("r2", {"subtype": "can_use_tool", "tool_name": "Edit", "input": edit["input"],
                "decision_reason": "outside the project", "tool_use_id": "t4"}),
        ("r3", {"subtype": "can_use_tool", "tool_name": "mcp__codeswarm__lease_acquire",
                "input": {"path": "a"}, "tool_use_id": "t5"}),
        ("r4", {"subtype": "can_use_tool", "tool_name": "WebFetch", "input": {"url": "u"},
                "tool_use_id": "t6"}),
    ]  # fmt: skip
    built = []
    for rid, request in cases:
        msgs = view.approval(rid, request)
        started = [m for m in msgs if m["method"] == "item/started"]
        assert len(started) == (0 if rid == "r2" else 1)  # r2's tool was seen already
        server_request = msgs[-1]
        assert server_request["id"] == rid
        approval = build_request(server_request, view.items)
        assert approval is not None
        built.append(approval)
        (event,) = translate(server_request, agent="s_1", now_ms=1)
        assert event["type"] == "approval.requested" and event["request_id"] == rid
    bash, change, mcp, other = built
    assert (bash.kind, bash.command, bash.cwd, bash.item_id) == (
        "command",
        "python3 x.py",
        CWD,
        "t1",
    )
    assert (bash.thread_id, bash.turn_id, bash.reason) == (SID, TURN, "python3 x.py")
    assert (change.kind, change.paths, change.reason) == (
        "file_change", ("/tmp/proj/a.txt",), "outside the project")  # fmt: skip
    assert (mcp.kind, mcp.tool) == ("mcp_tool_call", "codeswarm/lease_acquire")
    assert (other.kind, other.tool) == ("mcp_tool_call", "claude/WebFetch")
    resolved = view.resolved("r1")
    assert translate(resolved, agent="s_1", now_ms=1)[0]["type"] == "approval.resolved"


def entry(kind: str, uid: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "uuid": uid, "isSidechain": False,
            "message": {"role": kind, "content": content, **extra}}  # fmt: skip


def test_the_transcript_read_as_thread_turns_list() -> None:
    text = [{"type": "text", "text": "done"}]
    entries = [
        {"type": "queue-operation", "operation": "enqueue", "content": "A"},
        entry("user", "uA", "A please"),
        {"type": "attachment", "uuid": "x1"},
        entry("assistant", "a1", text, stop_reason="end_turn"),
        entry("user", "uB", "B please"),
        entry("assistant", "a2", [{"type": "tool_use", "id": "t", "name": "Bash"}],
              stop_reason="tool_use"),
        entry("user", "r2", [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]),
        entry("user", "uC", "C please"),
        entry("assistant", "a3", [{"type": "text", "text": "slo"}], stop_reason=None),
        entry("user", "i3", [{"type": "text", "text": "[Request interrupted by user]"}]),
        entry("user", "uD", "D please"),
        {**entry("assistant", "a4", [{"type": "text", "text": "API Error: 400 bad"}],
                 model="<synthetic>"), "isApiErrorMessage": True},
        entry("user", "not-ours", "someone else's prompt"),
        entry("user", "uE", "E please"),
        entry("assistant", "a5", [{"type": "text", "text": "No response requested."}],
              model="<synthetic>"),
        entry("assistant", "a6", text, stop_reason="end_turn"),
        {**entry("assistant", "side", text, stop_reason="end_turn"), "isSidechain": True},
    ]  # fmt: skip
    ids = {u: f"rec-{u[1]}" for u in ("uA", "uB", "uC", "uD", "uE")}
    turns = turns_from_transcript(entries, ids)
    assert [(t["id"], t["status"]) for t in turns] == [
        ("uE", "completed"), ("uD", "failed"), ("uC", "interrupted"), ("uB", "inProgress"),
        ("uA", "completed")]  # fmt: skip
    assert turns[1]["error"] == {"message": "API Error: 400 bad"}
    assert turns[-1]["items"] == [{"type": "userMessage", "id": "uA", "clientId": "rec-A"},
                                  {"type": "agentMessage", "id": "a1", "text": "done"}]  # fmt: skip
    assert [i["text"] for i in turns[0]["items"][1:]] == ["done"]  # "No response requested." is not
    # what the worker's recovery does with it
    listed = {"data": turns}
    cut = recovery.Unfinished("rec-B", None, "crash", stopped=False)
    found = recovery.find_turn(listed, cut)
    assert found is not None and found["id"] == "uB" and not recovery.really_ended(found)
    by_id = recovery.find_turn(listed, recovery.Unfinished("rec-A", "uA", "crash", False))
    assert by_id is not None and recovery.really_ended(by_id)
    assert recovery.final_text(by_id) == "done"


def test_the_command_line_new_then_resumed(tmp_path: Path) -> None:
    cwd = tmp_path / "my_proj.v1"
    launch = ClaudeLaunch(
        binary=Path("/opt/claude"), cwd=cwd, config_dir=tmp_path / "home",
        env={"PATH": "/bin", "DISABLE_TELEMETRY": "0"}, session_id=SID,
        settings=tmp_path / "settings.json", mcp_config=tmp_path / "mcp.json",
        allowed_tools=("mcp__codeswarm", "Bash(git status:*)"), model="opus",
        extra_args=("--debug",),
    )  # fmt: skip
    assert project_dir_name("/tmp/a/my_proj.v1") == "-tmp-a-my-proj-v1"
    expected = tmp_path / "home" / "projects" / project_dir_name(cwd) / f"{SID}.jsonl"
    assert launch.transcript_path() == expected and not launch.resuming()
    argv = launch.argv()
    assert argv[:2] == ["/opt/claude", "-p"]
    joined = " ".join(argv)
    for flags in ("--input-format stream-json", "--output-format stream-json --verbose",
                  "--include-partial-messages --replay-user-messages",
                  "--permission-prompt-tool stdio", "--permission-mode acceptEdits",
                  f"--session-id {SID}", "--setting-sources user", "--strict-mcp-config",
                  "--model opus"):  # fmt: skip
        assert flags in joined, flags
    at = argv.index("--allowedTools")
    assert argv[at + 1 : at + 3] == ["mcp__codeswarm", "Bash(git status:*)"]
    assert argv[-1] == "--debug"
    env = launch.process_env()
    assert env["CLAUDE_CONFIG_DIR"] == str(tmp_path / "home")
    assert env["DISABLE_TELEMETRY"] == "0"  # the caller's word wins
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    expected.parent.mkdir(parents=True)
    expected.write_text("{}\n")
    assert launch.resuming() and f"--resume {SID}" in " ".join(launch.argv())
    # a directory name Claude Code shortened its own way: found by the session id
    expected.unlink()
    other = tmp_path / "home" / "projects" / "-shortened-abc123"
    other.mkdir()
    (other / f"{SID}.jsonl").write_text("{}\n")
    assert launch.transcript_path() == other / f"{SID}.jsonl" and launch.resuming()


def test_the_package_surface() -> None:
    import codeswarm.claude

    assert set(codeswarm.claude.__all__) == {
        "ClaudeLaunch", "ClaudeSession", "View", "project_dir_name", "turn_id_for",
        "turns_from_transcript",
    }  # fmt: skip
    for name in codeswarm.claude.__all__:
        assert hasattr(codeswarm.claude, name), name
