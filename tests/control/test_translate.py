"""The pure translation of raw Codex messages into codeswarm events."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from codeswarm.control.events.translate import EventStamper, translate
from codeswarm.core.events import EVENT_TYPES

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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
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
        "id": json_values,
        "text": json_values,
        "changes": json_values,
        "summary": json_values,
        "exitCode": json_values,
        "error": json_values,
    },
)


@given(
    method=methods,
    params=st.dictionaries(
        st.sampled_from(["threadId", "turnId", "turn", "item", "delta", "error", "tokenUsage"]),
        json_values | items,
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


@given(st.lists(json_values, max_size=5))
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
