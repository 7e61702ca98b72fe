"""Status from checkpoints and tails (control/status.py) gives exactly what a full replay of every
outbox from the start gives: every agent's view, the totals, and the history ``interrupt`` and
``approve`` consult, whatever the records, wherever the cuts fall (a checkpoint written at one
cut, the tail read at the next), with repeated seqs, corrupt and empty lines, a line still being
written, and a checkpoint that no longer fits its file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeswarm.codex.approval import APPROVAL_METHODS
from codeswarm.control import status
from codeswarm.control.events.translate import APPROVAL_METHODS as COPIED_METHODS
from codeswarm.control.fleet.router import Router
from codeswarm.control.status import CHECKPOINT, _replay, hot_replay
from codeswarm.control.steering import History
from codeswarm.core.swarm import RunDir, SwarmSpec

AGENTS = ("c_0", "c_1")

TURNS = st.sampled_from(["t1", "t2", "t3"])
THREADS = st.sampled_from(["th1", "th2"])
TEXT = st.text(max_size=6)
SMALL = st.integers(min_value=0, max_value=500)


def codex(method: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"kind": "codex", "msg": {"method": method, "params": params, **extra}}


RECORDS = st.one_of(
    st.builds(lambda p: {"kind": "worker.started", "pid": p, "host": "h", "rank": 0}, SMALL),
    st.builds(lambda t: {"kind": "agent.ready", "thread_id": t}, THREADS),
    st.builds(
        lambda i, t: {"kind": "turn.accepted", "inbox_id": i, "turn_id": t},
        st.sampled_from(["m-1", "m-2", "m-3"]),
        TURNS,
    ),
    st.builds(lambda t: codex("turn/started", {"turn": {"id": t}}), TURNS),
    st.builds(
        lambda t, s: codex("turn/completed", {"turn": {"id": t, "status": s}}),
        TURNS,
        st.sampled_from(["completed", "failed", "interrupted"]),
    ),
    st.builds(
        lambda x: codex("item/completed", {"item": {"type": "agentMessage", "id": "i", "text": x}}),
        TEXT,
    ),
    st.builds(lambda x: codex("item/agentMessage/delta", {"itemId": "i", "delta": x}), TEXT),
    st.builds(
        lambda th, a, b: codex(
            "thread/tokenUsage/updated",
            {
                "threadId": th,
                "turnId": "t1",
                "tokenUsage": {
                    "total": {
                        "inputTokens": a,
                        "cachedInputTokens": a // 2,
                        "outputTokens": b,
                        "totalTokens": a + b,
                    },
                    "last": {"inputTokens": 1},
                },
            },
        ),
        THREADS,
        SMALL,
        SMALL,
    ),
    st.builds(
        lambda rid, m: codex(m, {"itemId": "i", "command": ["ls", "-l"], "cwd": "/x"}, id=rid),
        st.integers(0, 3),
        st.sampled_from(sorted(APPROVAL_METHODS)),
    ),
    st.builds(lambda rid: codex("serverRequest/resolved", {"requestId": rid}), st.integers(0, 3)),
    st.builds(
        lambda r: codex(
            "error", {"error": {"message": "boom", "additionalDetails": r}, "willRetry": True}
        ),
        TEXT,
    ),
    st.builds(
        lambda i: {"kind": "inbox.rejected", "inbox_id": i, "reason": "no"},
        st.sampled_from(["m-1", "m-4"]),
    ),
    st.builds(
        lambda s: {"kind": s, "scope": "agent", "limit": 100, "spent": 120},
        st.sampled_from(["budget.warning", "budget.exceeded"]),
    ),
    st.just({"kind": "turn.gave_up", "turn_id": "t1", "reason": "unreachable"}),
    st.just({"kind": "agent.stopped", "reason": "asked"}),
    st.builds(lambda f: {"kind": "worker.exited", "code": 1, "final": f}, st.booleans()),
    st.just({"kind": "agent.restarted", "reason": "crash"}),
    st.just({"kind": "turn.recovered", "turn_id": "t1", "text": "done", "status": "completed"}),
)

LINES = st.one_of(
    RECORDS.map(lambda r: ("record", r)),
    st.just(("again", None)),  # a record written again with its old seq (a restarted writer)
    st.sampled_from(
        [("raw", b"not json"), ("raw", b"[1, 2]"), ("raw", b'{"no": "seq"}'), ("raw", b"")]
    ),
)


def outbox_lines(steps: list[tuple[str, Any]]) -> list[bytes]:
    out: list[bytes] = []
    seq = 0
    last: dict[str, Any] | None = None
    for what, value in steps:
        if what == "record":
            seq += 1
            last = {"seq": seq, "id": f"n-{seq}", "ts": 1000 + seq, **value}
            out.append(orjson.dumps(last))
        elif what == "again" and last is not None:
            out.append(orjson.dumps(last))
        elif what == "raw":
            out.append(value)
    return out


def make_run(tmp: Path) -> tuple[RunDir, SwarmSpec]:
    root = tmp / "run"
    for d in ("mailbox/outbox", "mailbox/inbox", *(f"agents/{a}" for a in AGENTS)):
        (root / d).mkdir(parents=True, mode=0o700, exist_ok=True)
    os.chmod(root / "mailbox", 0o700)
    spec = SwarmSpec(name="c", size=len(AGENTS), cwd=str(tmp), codex_bin="codex")
    (root / "swarm.json").write_bytes(msgspec.json.encode(spec))
    return RunDir(root), spec


def full(run: RunDir, spec: SwarmSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The router's replay from the start of every outbox, no checkpoint."""
    router = Router(run, start="begin", spec=spec)
    history = History()
    router.replay(history)
    return router.fleet.as_json(), _sets(history.taken, history.requested)


def _sets(taken: dict[str, set[str]], requested: dict[str, set[str]]) -> dict[str, Any]:
    return {a: (sorted(taken.get(a, ())), sorted(requested.get(a, ()))) for a in AGENTS}


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    steps=st.lists(st.tuples(st.sampled_from(AGENTS), LINES), max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=4),
    partial=st.booleans(),
    use_hot=st.booleans(),
    plain=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_checkpointed_replay_is_a_full_replay(
    tmp_path_factory: Any, monkeypatch: Any, steps: list[tuple[str, Any]], cuts: list[int],
    partial: bool, use_hot: bool, plain: list[bool],
) -> None:  # fmt: skip
    monkeypatch.setattr(status, "SAVE_AFTER_BYTES", 0)  # a checkpoint at every cut
    run, spec = make_run(tmp_path_factory.mktemp("ckpt"))
    lines = {a: outbox_lines([s for agent, s in steps if agent == a]) for a in AGENTS}
    written = dict.fromkeys(AGENTS, 0)
    for i, cut in enumerate([*sorted(cuts), 40]):
        for a in AGENTS:
            path = run.root / "mailbox" / "outbox" / f"{a}.jsonl"
            with path.open("ab") as f:
                for line in lines[a][written[a] : cut]:
                    f.write(line + b"\n")
            os.chmod(path, 0o600)
            written[a] = max(written[a], min(cut, len(lines[a])))
        if partial and cut == 40:  # a line still being written: not a record yet
            with (run.root / "mailbox" / "outbox" / "c_0.jsonl").open("ab") as f:
                f.write(b'{"seq": 999, "kind": "agent.ready"')
        expected = full(run, spec)
        if plain[i]:  # a status (no history asked for) writes the checkpoints this time
            assert _replay(run, spec, None).fleet.as_json() == expected[0]
        history = History()
        router = _replay(run, spec, history)
        assert (router.fleet.as_json(), _sets(history.taken, history.requested)) == expected
        if use_hot:
            hot = hot_replay(str(run.root), spec.name, list(AGENTS))
            if hot is not None:  # None: a corrupt line, left to the router
                assert (hot.fleet.as_json(), _sets(hot.taken, hot.requested)) == expected


def test_a_replay_reads_only_the_tail_after_a_checkpoint(tmp_path: Path) -> None:
    run, spec = make_run(tmp_path)
    path = run.root / "mailbox" / "outbox" / "c_0.jsonl"
    turns = [("record", codex("turn/completed", {"turn": {"id": "t", "status": "completed"}}))]
    path.write_bytes(b"".join(line + b"\n" for line in outbox_lines(turns * 50)))
    os.chmod(path, 0o600)
    assert _replay(run, spec, None).fleet.agents["c_0"].turns == 50
    # the early records changed behind the checkpoint's back: not read again (the bytes just
    # before its offset are the same, so the checkpoint still fits)
    path.write_bytes(b"#" + path.read_bytes()[1:])  # the first line is no JSON any more
    assert _replay(run, spec, None).fleet.agents["c_0"].turns == 50
    hot = hot_replay(str(run.root), spec.name, list(AGENTS))
    assert hot is not None and hot.fleet.agents["c_0"].turns == 50
    assert full(run, spec)[0]["agents"][0]["turns"] == 49  # from the start: one line is corrupt


def test_a_checkpoint_that_no_longer_fits_is_not_used(tmp_path: Path) -> None:
    run, spec = make_run(tmp_path)
    path = run.root / "mailbox" / "outbox" / "c_0.jsonl"
    first = outbox_lines([("record", {"kind": "agent.ready", "thread_id": "a"})] * 40)
    path.write_bytes(b"".join(line + b"\n" for line in first))
    os.chmod(path, 0o600)
    _replay(run, spec, None)
    assert (run.root / "agents" / "c_0" / CHECKPOINT).exists()
    # another outbox at that name (say, a swarm made anew): longer, other bytes before the offset
    other = outbox_lines([("record", {"kind": "worker.started", "pid": 7, "host": "x"})] * 60)
    path.unlink()
    path.write_bytes(b"".join(line + b"\n" for line in other))
    os.chmod(path, 0o600)
    expected = full(run, spec)
    assert _replay(run, spec, History()).fleet.as_json() == expected[0]
    hot = hot_replay(str(run.root), spec.name, list(AGENTS))
    assert hot is not None and hot.fleet.as_json() == expected[0]
    # a checkpoint holding garbage is ignored, not believed
    (run.root / "agents" / "c_0" / CHECKPOINT).write_text('{"v": 1, "segment": 0, "offset": 0}')
    assert _replay(run, spec, History()).fleet.as_json() == expected[0]


def test_the_copied_approval_methods_are_codexs() -> None:
    assert COPIED_METHODS == APPROVAL_METHODS
