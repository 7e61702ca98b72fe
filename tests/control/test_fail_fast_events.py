"""The events of a model that cannot be reached, and the deadline on a turn that only retries
(docs/events.md; codeswarm.codex.retries). Pure: no Codex, a fake clock."""

from __future__ import annotations

from typing import Any

from codeswarm.codex.account import login_missing
from codeswarm.codex.retries import RetryWatch, error_text
from codeswarm.control.events.records import record_events
from codeswarm.control.events.translate import translate

RETRY = {
    "method": "error",
    "params": {
        "error": {
            "message": "Reconnecting... 2/5",
            "codexErrorInfo": {"responseStreamDisconnected": {"httpStatusCode": None}},
            "additionalDetails": "stream disconnected before completion: Connection refused",
        },
        "willRetry": True,
        "threadId": "th",
        "turnId": "tu",
    },
}
HTTP_401 = {
    "method": "error",
    "params": {
        "error": {
            "message": "unexpected status 401 Unauthorized",
            "codexErrorInfo": {"httpConnectionFailed": {"httpStatusCode": 401}},
        },
        "willRetry": False,
        "threadId": "th",
        "turnId": "tu",
    },
}


def test_a_retry_is_an_error_event_with_its_cause() -> None:
    (event,) = translate(RETRY, agent="s_0", now_ms=5)
    assert event["type"] == "error" and event["will_retry"] is True
    assert event["message"] == "Reconnecting... 2/5"
    assert event["details"] == "stream disconnected before completion: Connection refused"
    assert "http_status" not in event and event["turn_id"] == "tu"


def test_an_http_error_carries_its_status() -> None:
    (event,) = translate(HTTP_401, agent="s_0", now_ms=5)
    assert event["will_retry"] is False and event["http_status"] == 401
    assert "details" not in event


def test_the_workers_give_up_and_a_missing_login_are_error_events() -> None:
    (gave_up,) = record_events("s_0", {"kind": "turn.gave_up", "turn_id": "tu", "ts": 7,
                                       "reason": "the model could not be reached for 60s"})  # fmt: skip
    assert gave_up == {
        "agent": "s_0", "ts": 7, "type": "error", "turn_id": "tu", "will_retry": False,
        "message": "the model could not be reached for 60s", "gave_up": True,
    }  # fmt: skip
    (login,) = record_events("s_0", {"kind": "error", "message": "no Codex login: …",
                                     "login_missing": True, "ts": 8})  # fmt: skip
    assert login["login_missing"] is True and login["message"] == "no Codex login: …"


def test_account_read_without_a_login() -> None:
    assert login_missing({"account": None, "requiresOpenaiAuth": True})
    assert not login_missing({"account": {"type": "apiKey"}, "requiresOpenaiAuth": True})
    assert not login_missing({"account": None, "requiresOpenaiAuth": False})  # a custom provider
    assert not login_missing(None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def item(kind: str) -> dict[str, Any]:
    return {"method": "item/started", "params": {"item": {"type": kind, "id": "i"}}}


def test_the_deadline_counts_from_the_first_retry_and_resets_when_the_model_answers() -> None:
    clock = Clock()
    watch = RetryWatch(60.0, clock)
    watch.observe({"method": "turn/started", "params": {}})
    watch.observe(item("userMessage"))  # the person's own message is no answer
    assert watch.remaining() is None and not watch.retrying
    watch.observe(RETRY)
    clock.now += 45
    watch.observe(RETRY)  # later retries do not move the start
    watch.observe({"method": "warning", "params": {"message": "Falling back"}})
    watch.observe(item("userMessage"))
    assert watch.remaining() == 15.0
    clock.now += 20
    assert watch.remaining() == 0.0
    assert watch.reason() == (
        "the model could not be reached for 60s (2 retries; last: Reconnecting... 2/5 (stream "
        "disconnected before completion: Connection refused)); gave up the turn"
    )
    watch.observe(item("agentMessage"))  # the model answered after all
    assert watch.remaining() is None
    watch.observe(RETRY)
    assert watch.remaining() == 60.0


def test_a_tool_call_or_usage_is_an_answer_a_final_error_is_not_a_retry() -> None:
    clock = Clock()
    for answer in (
        {"id": 0, "method": "item/commandExecution/requestApproval", "params": {}},
        {"method": "thread/tokenUsage/updated", "params": {}},
        {"method": "item/agentMessage/delta", "params": {"delta": "x"}},
    ):
        watch = RetryWatch(10.0, clock)
        watch.observe(RETRY)
        watch.observe(answer)
        assert watch.remaining() is None, answer
    watch = RetryWatch(10.0, clock)
    watch.observe(HTTP_401)
    assert watch.remaining() is None


def test_error_text_is_one_line_with_the_cause_once() -> None:
    assert error_text({"error": {"message": "a\nb", "additionalDetails": "c"}}) == "a b (c)"
    assert error_text({"error": {"message": "boom: c", "additionalDetails": "c"}}) == "boom: c"
    assert error_text({}) == "unknown error"
