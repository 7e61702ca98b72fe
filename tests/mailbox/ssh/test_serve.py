"""The far end alone: ``python -m codeswarm.mailbox.serve`` driven over its stdin/stdout (no ssh),
for what a client cannot easily provoke: malformed requests, a re-sent append, shutdown on EOF."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from codeswarm.mailbox import Layout, Reader, Writer
from codeswarm.mailbox.serve import LINE_LIMIT

TIMEOUT = 30.0


class Serve:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, run_dir: Path, *args: str) -> Serve:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "codeswarm.mailbox.serve", "--run-dir", str(run_dir), *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
        )  # fmt: skip
        return cls(proc)

    def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(obj if isinstance(obj, bytes) else orjson.dumps(obj) + b"\n")

    async def recv(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            line = await self.proc.stdout.readline()
        assert line, "serve closed its stdout"
        msg: dict[str, Any] = orjson.loads(line)
        return msg

    async def call(self, **req: Any) -> dict[str, Any]:
        self.send(req)
        return await self.recv()

    async def finish(self) -> tuple[int, str]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        async with asyncio.timeout(TIMEOUT):
            _, err = await self.proc.communicate()
        assert self.proc.returncode is not None
        return self.proc.returncode, err.decode()


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    s = await Serve.start(tmp_path / "run", "--no-cursor-fsync")
    yield s
    if s.proc.returncode is None:
        s.proc.kill()
        await s.proc.wait()


async def test_hello_requests_and_a_clean_exit_on_eof(serve: Serve, tmp_path: Path) -> None:
    hello = (await serve.recv())["hello"]
    assert hello["protocol"] == 1 and hello["run_dir"] == str(tmp_path / "run")
    assert hello["pid"] == serve.proc.pid
    r = await serve.call(id=1, op="append", box="inbox", agent="a_0", record={"kind": "k"})
    assert r["id"] == 1 and r["ok"]["seq"] == 1 and r["ok"]["kind"] == "k"
    assert await serve.call(id=2, op="agents", box="inbox") == {"id": 2, "ok": ["a_0"]}
    r = await serve.call(
        id=3, op="save_cursor", consumer="c", box="inbox", agent="a_0", position=[0, 7]
    )
    assert r == {"id": 3, "ok": None}
    r = await serve.call(id=4, op="load_cursor", consumer="c", box="inbox", agent="a_0")
    assert r == {"id": 4, "ok": [0, 7]}
    assert await serve.call(id=5, op="ping") == {"id": 5, "ok": None}
    assert await serve.finish() == (0, "")


async def test_bad_requests_get_errors_and_the_server_carries_on(serve: Serve) -> None:
    await serve.recv()
    serve.send(b"this is not json\n")
    serve.send(b"[1, 2]\n")
    serve.send({"op": "ping"})  # no id: nobody to answer
    r = await serve.call(id=1, op="launch")
    assert r["error"] == {"type": "MailboxError", "message": "bad request: unknown op 'launch'"}
    r = await serve.call(id=2, op="append", box="attic", agent="a_0", record={"kind": "k"})
    assert "box must be inbox or outbox" in r["error"]["message"]
    r = await serve.call(id=3, op="append", box="inbox", agent="../etc", record={"kind": "k"})
    assert r["error"]["type"] == "MailboxNameError"
    r = await serve.call(
        id=4, op="append", box="inbox", agent="a_0", record={"kind": "k", "seq": 9}
    )
    assert r["error"]["type"] == "InvalidRecordError"
    r = await serve.call(id=5, op="follow", box="inbox", agent="a_0", positions={"a_0": "x"})
    assert "not a position" in r["error"]["message"]
    assert await serve.call(id=6, op="ping") == {"id": 6, "ok": None}
    code, err = await serve.finish()
    assert (
        code == 0
        and "not JSON" in err
        and "not an object" in err
        and "without an integer id" in err
    )


async def test_a_resent_append_is_written_once(serve: Serve, tmp_path: Path) -> None:
    await serve.recv()
    rec = {"kind": "prompt", "id": "client-1", "text": "x" * 300_000}  # spilled, too
    first = (await serve.call(id=1, op="append", box="inbox", agent="a_0", record=rec))["ok"]
    other = {"kind": "prompt", "id": "client-2"}
    await serve.call(id=2, op="append", box="inbox", agent="a_0", record=other)
    again = await serve.call(id=3, op="append", box="inbox", agent="a_0", record=rec, resent=True)
    assert again["ok"] == first
    fresh = {"kind": "prompt", "id": "client-3"}
    r = await serve.call(id=4, op="append", box="inbox", agent="a_0", record=fresh, resent=True)
    assert r["ok"]["seq"] == 3
    await serve.finish()
    got = Reader(Layout(tmp_path / "run").inbox("a_0")).read()
    assert [rec["id"] for rec, _ in got] == ["client-1", "client-2", "client-3"]


async def test_a_resent_append_whose_spill_file_is_gone_is_a_mailbox_error(
    serve: Serve, tmp_path: Path
) -> None:
    await serve.recv()
    rec = {"kind": "prompt", "id": "client-1", "text": "x" * 300_000}  # spilled
    await serve.call(id=1, op="append", box="inbox", agent="a_0", record=rec)
    inbox = Layout(tmp_path / "run").inbox("a_0")
    [side] = (inbox.parent / f"{inbox.name}.spill").iterdir()
    side.unlink()
    r = await serve.call(id=2, op="append", box="inbox", agent="a_0", record=rec, resent=True)
    assert r["error"]["type"] == "SpillError" and "is missing" in r["error"]["message"]
    code, err = await serve.finish()
    assert code == 0 and "Traceback" not in err  # ours, said in one line: not a bug


async def test_a_resent_append_to_an_outbox_waits_for_the_previous_writer(
    serve: Serve, tmp_path: Path
) -> None:
    await serve.recv()
    path = Layout(tmp_path / "run").outbox("a_0")
    with Writer.open(path) as w:  # the previous server, still exiting
        w.append_record({"kind": "k", "id": "client-1"})
        serve.send(
            {"id": 1, "op": "append", "box": "outbox", "agent": "a_0", "resent": True,
             "record": {"kind": "k", "id": "client-1"}}
        )  # fmt: skip
        await asyncio.sleep(0.2)  # the server is waiting for the lock (nothing to wait on here)
    r = await serve.recv()
    assert r["ok"]["seq"] == 1 and r["ok"]["id"] == "client-1"
    await serve.finish()
    assert len(Reader(path).read()) == 1


async def test_follow_credit_and_cancel(serve: Serve, tmp_path: Path) -> None:
    await serve.recv()
    for i in range(50):
        await serve.call(id=100 + i, op="append", box="outbox", agent="a_0", record={"kind": "k"})
    serve.send({"id": 1, "op": "follow", "box": "outbox", "agent": None, "window": 1000})
    got: list[dict[str, Any]] = []
    rounds = 0
    while len(got) < 50:  # each window stops the stream after about 1000 bytes ...
        size = 0
        while size < 1000 and len(got) < 50:
            got.append(await serve.recv())
            size += len(orjson.dumps(got[-1])) + 1
        rounds += 1
        if len(got) < 50:
            assert await serve.call(id=1000 + rounds, op="ping") == {
                "id": 1000 + rounds,
                "ok": None,
            }
        serve.send({"op": "credit", "id": 1, "bytes": size})  # ... until the client consumed it
    assert rounds >= 3
    assert [m["record"]["seq"] for m in got] == list(range(1, 51))
    assert all(m["agent"] == "a_0" and len(m["position"]) == 2 for m in got)
    assert await serve.call(op="cancel", id=1) == {"id": 1, "end": True}
    await serve.call(id=3, op="append", box="outbox", agent="a_0", record={"kind": "k"})
    assert await serve.call(id=4, op="ping") == {"id": 4, "ok": None}  # the stream is gone
    await serve.finish()


async def test_an_unsafe_run_directory_is_fatal(tmp_path: Path) -> None:
    run = Layout(tmp_path / "run").create()
    os.chmod(run.inbox_dir, 0o777)
    s = await Serve.start(tmp_path / "run")
    msg = await s.recv()
    assert msg["fatal"]["type"] == "MailboxPermissionError"
    assert "writable by group and others" in msg["fatal"]["message"]
    code, _ = await s.finish()
    assert code == 2
