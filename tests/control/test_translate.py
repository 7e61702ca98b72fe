"""The pure translation of raw Codex messages into codeswarm events."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from codeswarm.control.events.translate import EventStamper, translate
from codeswarm.core.events import EVENT_TYPES
from swarmkit import json_values

T = {"threadId": "th", "turnId": "tu"}


def one(msg: dict[str, Any]) -> dict[str, Any]:
    out = translate(msg, agent="a_0", now_ms=5)
    assert len(out) == 1, out
    return out[0]


def test_delta_and_completed_message() -> None:
    e = one({"method": "item/agentMessage/delta", "params": {**T, "itemId": "m", "delta": "He"}})
    assert e == {
        "type": "message.delta",
        "agent": "a_0",
        "ts": 5,
        "thread_id": "th",
        "turn_id": "tu",
        "item_id": "m",
        "delta": "He",
    }
    e = one(
        {
            "method": "item/completed",
            "params": {**T, "item": {"type": "agentMessage", "id": "m", "text": "Hello"}},
            "emittedAtMs": 99,
        }
    )
    assert e["type"] == "message.completed" and e["text"] == "Hello" and e["ts"] == 99


def test_command_lifecycle() -> None:
    item = {"type": "commandExecution", "id": "c", "command": "ls", "cwd": "/w"}
    e = one({"method": "item/started", "params": {**T, "item": {**item, "status": "inProgress"}}})
    assert (e["type"], e["command"], e["cwd"]) == ("command.started", "ls", "/w")
    e = one(
        {
            "method": "item/completed",
            "params": {
                **T,
                "item": {**item, "status": "completed", "exitCode": 0, "aggregatedOutput": "x\n"},
            },
        }
    )
    assert (e["type"], e["exit_code"], e["status"], e["output"]) == (
        "command.completed",
        0,
        "completed",
        "x\n",
    )
    e = one(
        {
            "method": "item/commandExecution/outputDelta",
            "params": {**T, "itemId": "c", "delta": "x"},
        }
    )
    assert e["type"] == "command.output" and e["delta"] == "x"


def test_file_change_with_rename() -> None:
    e = one(
        {
            "method": "item/completed",
            "params": {
                **T,
                "item": {
                    "type": "fileChange",
                    "id": "f",
                    "status": "completed",
                    "changes": [
                        {"path": "a", "kind": {"type": "add"}, "diff": ""},
                        {"path": "b", "kind": {"type": "update", "move_path": "c"}, "diff": ""},
                    ],
                },
            },
        }
    )
    assert e["type"] == "file.changed"
    assert e["changes"] == [
        {"path": "a", "kind": "add"},
        {"path": "b", "kind": "update", "move_path": "c"},
    ]


def test_turns_usage_errors_approvals() -> None:
    e = one({"method": "turn/started", "params": {"threadId": "th", "turn": {"id": "tu"}}})
    assert (e["type"], e["turn_id"]) == ("turn.started", "tu")
    e = one(
        {
            "method": "turn/completed",
            "params": {
                "threadId": "th",
                "turn": {"id": "tu", "status": "failed", "error": {"message": "boom"}},
            },
        }
    )
    assert (e["type"], e["status"], e["error"]) == ("turn.completed", "failed", "boom")
    e = one(
        {
            "method": "thread/tokenUsage/updated",
            "params": {
                **T,
                "tokenUsage": {
                    "total": {"inputTokens": 120, "outputTokens": 30, "totalTokens": 150},
                    "last": {"inputTokens": 20, "outputTokens": 3, "totalTokens": 23},
                    "modelContextWindow": 1000,
                },
            },
        }
    )
    assert e["type"] == "usage.updated"
    assert e["total"]["input_tokens"] == 120 and e["total"]["total_tokens"] == 150
    assert e["last"]["output_tokens"] == 3 and e["context_window"] == 1000
    e = one({"method": "error", "params": {**T, "error": {"message": "x"}, "willRetry": True}})
    assert (e["type"], e["message"], e["will_retry"]) == ("error", "x", True)
    e = one(
        {
            "id": 0,
            "method": "item/commandExecution/requestApproval",
            "params": {**T, "itemId": "c", "command": "rm x", "cwd": "/w"},
        }
    )
    assert (e["type"], e["kind"], e["request_id"], e["command"]) == (
        "approval.requested",
        "command",
        0,
        "rm x",
    )
    e = one({"method": "serverRequest/resolved", "params": {"threadId": "th", "requestId": 0}})
    assert (e["type"], e["request_id"]) == ("approval.resolved", 0)
    e = one({"method": "turn/diff/updated", "params": {**T, "diff": "--- a"}})
    assert e["type"] == "diff.updated" and e["diff"] == "--- a"


def test_unknown_methods_give_nothing() -> None:
    assert translate({"method": "thread/status/changed", "params": {}}, agent="a") == []
    assert translate({"id": 3, "result": {}}, agent="a") == []


ANY_JSON = json_values()
methods = st.sampled_from(
    [
        "item/agentMessage/delta",
        "item/started",
        "item/completed",
        "turn/started",
        "turn/completed",
        "thread/tokenUsage/updated",
        "error",
        "turn/diff/updated",
        "serverRequest/resolved",
        "item/commandExecution/requestApproval",
        "mcpServer/elicitation/request",
        "item/commandExecution/outputDelta",
    ]
)
items = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["agentMessage", "commandExecution", "fileChange", "mcpToolCall", "reasoning", "x"]
        )
    },
    optional={
        "id": ANY_JSON,
        "text": ANY_JSON,
        "changes": ANY_JSON,
        "summary": ANY_JSON,
        "exitCode": ANY_JSON,
        "error": ANY_JSON,
    },
)


@given(
    method=methods,
    params=st.dictionaries(
        st.sampled_from(["threadId", "turnId", "turn", "item", "delta", "error", "tokenUsage"]),
        ANY_JSON | items,
    ),
    msg_id=st.none() | st.integers(),
)
def test_translate_never_raises_and_events_are_well_formed(method, params, msg_id) -> None:  # type: ignore[no-untyped-def]
    msg: dict[str, Any] = {"method": method, "params": params}
    if msg_id is not None:
        msg["id"] = msg_id
    stamper = EventStamper("a_1", swarm="s", clock=lambda: 1.0)
    for e in stamper.events(msg):
        assert e["type"] in EVENT_TYPES
        assert e["agent"] == "a_1" and e["swarm"] == "s"
        assert isinstance(e["seq"], int) and isinstance(e["ts"], int)


@given(st.lists(ANY_JSON, max_size=5))
def test_translate_accepts_any_json(values: list[Any]) -> None:
    for v in values:
        translate(v, agent="a")  # type: ignore[arg-type]
        translate({"method": "item/completed", "params": v}, agent="a")


def test_stamper_numbers_per_agent() -> None:
    s = EventStamper("a_0", clock=lambda: 2.5)
    msgs = [{"method": "item/agentMessage/delta", "params": {"delta": str(i)}} for i in range(5)]
    seqs = [e["seq"] for m in msgs for e in s.events(m)]
    assert seqs == [1, 2, 3, 4, 5]
    assert s.events(msgs[0])[0]["ts"] == 2500


def test_reasoning_and_tool_calls() -> None:
    summary = {"type": "reasoning", "id": "r", "summary": ["first", 3, "second"]}
    e = one({"method": "item/completed", "params": {**T, "item": summary}})
    assert (e["type"], e["text"]) == ("reasoning", "first\nsecond")
    empty = {"type": "reasoning", "id": "r", "summary": []}
    assert translate({"method": "item/completed", "params": {**T, "item": empty}}, agent="a") == []
    call = {"type": "mcpToolCall", "id": "k", "server": "coord", "tool": "lease", "arguments": {}}
    e = one({"method": "item/started", "params": {**T, "item": call}})
    assert (e["type"], e["server"], e["tool"], e["arguments"]) == (
        "tool.started",
        "coord",
        "lease",
        {},
    )
    failed = {**call, "status": "failed", "error": {"message": "held by b"}, "durationMs": 4}
    e = one({"method": "item/completed", "params": {**T, "item": failed}})
    assert (e["type"], e["status"], e["error"], e["duration_ms"]) == (
        "tool.completed",
        "failed",
        "held by b",
        4,
    )
    e = one({"method": "item/completed", "params": {**T, "item": {**failed, "error": "plain"}}})
    assert e["error"] == "plain"
    other = {"type": "webSearch", "id": "w"}
    assert translate({"method": "item/started", "params": {**T, "item": other}}, agent="a") == []


def test_approval_kinds() -> None:
    elicitation = {"_meta": {"codex_approval_kind": "mcp_tool_call"}, "message": "run lease?"}
    e = one({"id": "q", "method": "mcpServer/elicitation/request", "params": {**T, **elicitation}})
    assert (e["kind"], e["reason"], e["request_id"]) == ("mcp_tool_call", "run lease?", "q")
    e = one({"id": 1, "method": "mcpServer/elicitation/request", "params": T})
    assert e["kind"] == "mcp_elicitation"
    legacy = {"command": ["rm", "-rf", "x"], "cwd": "/w", "reason": "cleanup"}
    e = one({"id": 2, "method": "execCommandApproval", "params": legacy})
    assert (e["kind"], e["command"], e["reason"]) == ("legacy_exec", "rm -rf x", "cleanup")
    # a request is only an approval when it can be answered: without an id it is nothing
    assert translate({"method": "item/fileChange/requestApproval", "params": T}, agent="a") == []


def test_time_thread_and_turn_come_from_the_message() -> None:
    msg = {"method": "turn/diff/updated", "params": {"diff": "d"}}
    (e,) = translate(msg, agent="a", now_ms=7)
    assert e["ts"] == 7 and "thread_id" not in e and "turn_id" not in e
    (e,) = translate(msg, agent="a")
    assert e["ts"] == 0
    (e,) = translate({**msg, "emittedAtMs": "late"}, agent="a", now_ms=7)
    assert e["ts"] == 7
    turn = {"threadId": "th", "turn": {"id": "from-turn"}}
    (e,) = translate({"method": "turn/diff/updated", "params": {**turn, "diff": ""}}, agent="a")
    assert (e["thread_id"], e["turn_id"]) == ("th", "from-turn")


def test_stamper_fills_missing_times_and_names_the_swarm() -> None:
    s = EventStamper("a_0", swarm="s", clock=lambda: 3.0)
    e = s.stamp({"type": "error", "agent": "someone else", "ts": 0})
    assert (e["seq"], e["agent"], e["swarm"], e["ts"]) == (1, "a_0", "s", 3000)
    e = s.stamp({"type": "error", "ts": 17})
    assert (e["seq"], e["ts"]) == (2, 17)


def test_a_field_of_the_wrong_shape_is_read_as_empty() -> None:
    for summary in (True, 1.5, "text"):
        item = {"type": "reasoning", "id": "r", "summary": summary}
        assert translate({"method": "item/completed", "params": {"item": item}}, agent="a") == []
    for changes in (True, 5, "ab"):
        item = {"type": "fileChange", "id": "f", "changes": changes}
        e = one({"method": "item/completed", "params": {"item": item}})
        assert e["changes"] == []
