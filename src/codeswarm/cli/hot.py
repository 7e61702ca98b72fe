"""The hot commands as whole processes near ``python -c pass``: ``send`` (returning),
``interrupt`` and ``status`` (``--json`` or not), served by :mod:`codeswarm.cli` before anything
else loads.

Each takes the command line only when it is an ordinary one it can serve with the standard
library (no Typer, Click, Rich, argparse, asyncio, msgspec, orjson, pathlib: each costs a few
to tens of milliseconds to import, as much as the whole command): it parses it by hand, reads
``swarm.json`` and the mailbox files directly (:mod:`codeswarm.core.jsonlite`), appends to
inboxes as :class:`codeswarm.mailbox.Writer` does (the same lock, seq, record and line), and
replays status from checkpoints (:func:`codeswarm.control.status.hot_replay`). Anything else —
``--help``, a flag it does not know, bad input, ``--wait``, ``--remote``, a swarm found in
another project, a spec it cannot vouch for, a Slurm swarm, an outbox with a corrupt line, a
rotated or spilled record, a busy lock — goes, before anything was done, to the ordinary command,
which prints the same help, output and errors as ever (tests/cli pin them, tests/perf pins what
this module may import).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not `typing` at run time: this is the point of the module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from codeswarm.control.status import HotSpec

WEEK = 7 * 86400.0
MAX_MESSAGE_CHARS = 200_000
""":data:`codeswarm.control.steering.MAX_MESSAGE_CHARS` (tests/perf pins them equal)."""
MAX_LINE = 256 * 1024
ROTATE_BYTES = 64 * 1024 * 1024
""":data:`codeswarm.mailbox.writer.MAX_LINE` and ``ROTATE_BYTES`` (pinned equal too): a record
that would spill, or an append that would rotate, is left to the writer."""
_TAIL_WINDOW = 64 * 1024


def main(args: list[str]) -> int | None:
    """Serve ``args`` (the command first) and end the process with its exit code (:func:`end`;
    the code is returned only when that cannot flush), or return None when the line is not one
    for the hot path (nothing was done: dispatch it the ordinary way)."""
    serve = {"send": _send, "status": _status, "interrupt": _interrupt}.get(args[0])
    if serve is None:
        return None
    try:
        code = serve(args[1:])
    except KeyboardInterrupt:  # (reading standard input, say): as everywhere
        code = _guarded(_interrupted)
    if code is not None:
        from codeswarm.cli import end

        end(code, args)
    return code


def _interrupted() -> int:
    raise KeyboardInterrupt


# -- parsing ------------------------------------------------------------------------------------
def _parse(
    argv: list[str], flags: tuple[str, ...], valued: tuple[str, ...]
) -> tuple[list[str], dict[str, Any]] | None:
    """Positionals and options of an ordinary line: ``--flag``, ``--opt VALUE``, ``--opt=VALUE``,
    in any order; None for anything else (an unknown or abbreviated option, ``-h``, ``--``, a
    positional or value that starts with ``-``)."""
    words: list[str] = []
    opts: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if arg in flags:
            opts[arg] = True
        elif name in valued and eq:
            opts[name] = value
        elif arg in valued:
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                return None
            opts[arg] = argv[i + 1]
            i += 1
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            words.append(arg)
        i += 1
    return words, opts


def _run_root(swarm: str, project: str | None) -> str | None:
    """The run directory :func:`codeswarm.cli.args.find_run` gives, when it is the plain case
    (a valid name; this project's swarm, or ``--project``'s); else None."""
    if not 1 <= len(swarm) <= 40 or not swarm.isascii() or not swarm[0].isalpha():
        return None
    if not all(c.isalnum() or c == "-" for c in swarm):
        return None
    from codeswarm.core.paths import state_dir_str

    start = None
    if project is not None:
        if not project:
            return None
        start = os.path.expanduser(project)
        if not os.path.isdir(start):
            return None
        start = os.path.realpath(start)
    root = os.path.join(state_dir_str(start), "runs", swarm)
    elsewhere = project is None and not os.environ.get("CODESWARM_STATE_DIR")
    if elsewhere and not os.path.exists(os.path.join(root, "swarm.json")):
        return None  # perhaps a swarm of another project: RunDir.find looks
    return root


def _spec(root: str) -> HotSpec | None:
    from codeswarm.control.status import HotSpec

    return HotSpec.load(root)


def _targets(spec: HotSpec, target: str) -> list[str] | None:
    """:func:`codeswarm.control.steering.resolve_targets`; None where it would refuse."""
    agents = spec.agents()
    if target.strip() == "all":
        return agents
    out: list[str] = []
    for part in target.split(","):
        name = part.strip()
        if not name or not name.isascii():  # ("²".isdigit(): the ordinary path has its say)
            return None
        if name.isdigit():
            name = f"{spec.name}_{int(name)}"
        if name not in agents:
            return None
        if name not in out:
            out.append(name)
    return out


def _guarded(fn: Callable[[], int]) -> int:
    """Run the part with effects; an error on the way becomes what it is everywhere else (one
    line, its exit code: :func:`codeswarm.core.errors.run_guarded`)."""
    try:
        return fn()
    except (Exception, KeyboardInterrupt) as exc:
        from codeswarm.core.errors import run_guarded

        error = exc

        def again() -> int:
            raise error

        return run_guarded(again)


# -- appending to an inbox ------------------------------------------------------------------------
def _private(st: os.stat_result, directory: bool) -> bool:
    from codeswarm.control.status import _private

    return _private(st, directory)


def _last_seq(fd: int, size: int) -> int | None:
    """The seq of the last complete, valid record among the first ``size`` bytes of ``fd``
    (``codeswarm.mailbox.writer._last_record``)."""
    from codeswarm.core.jsonlite import loads

    window = _TAIL_WINDOW
    while size > 0:
        start = max(0, size - window)
        lines = os.pread(fd, size - start, start).split(b"\n")
        lines.pop()
        if start > 0 and lines:
            lines.pop(0)
        for line in reversed(lines):
            if not line:
                continue
            try:
                rec = loads(line)
            except ValueError:
                continue
            if type(rec) is dict and type(rec.get("seq")) is int:
                return int(rec["seq"])
        if start == 0:
            return None
        window *= 4
    return None


def _append(path: str, kind: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """Append one record to the inbox ``path`` as a shared-append :class:`Writer` does; None
    when this is not the plain case (nothing written: the writer does it)."""
    import fcntl

    from codeswarm.control.status import _live_segment
    from codeswarm.core.jsonlite import dumps

    try:
        if not _private(os.stat(os.path.dirname(path)), True):
            return None
        lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        if not _private(os.fstat(lock), False):
            return None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # busy (the writer waits its turn) or not supported
            return None
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o600)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            size = st.st_size
            if not _private(st, False) or (size and os.pread(fd, 1, size - 1) != b"\n"):
                return None
            seq = _last_seq(fd, size)
            if seq is None:
                if _live_segment(path):
                    return None  # the seq continues from a rotated segment
                seq = 0
            seq += 1
            record = {"seq": seq, "id": f"{os.urandom(8).hex()}-{seq}",
                      "ts": _now_ms(), "kind": kind, **fields}  # fmt: skip
            try:
                line = (dumps(record) + "\n").encode()
            except (TypeError, UnicodeEncodeError):
                return None
            if len(line) > MAX_LINE or size + len(line) >= ROTATE_BYTES:
                return None
            _write_all(path, fd, line)
            return record
        finally:
            os.close(fd)
    finally:
        os.close(lock)  # lets go of the lock


def _now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


def _write_all(path: str, fd: int, line: bytes) -> None:
    view = memoryview(line)
    written = 0
    try:
        while written < len(line):
            written += os.write(fd, view[written:])
    except OSError as exc:
        from codeswarm.core.errors import MailboxError

        raise MailboxError(f"{path}: write failed: {exc.strerror or exc}") from exc


def _append_each(root: str, agents: list[str], kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Each agent's record; an agent whose inbox is not the plain case gets it through the
    writer (:func:`codeswarm.control.steering._append`)."""
    records = {}
    for agent in agents:
        path = os.path.join(root, "mailbox", "inbox", agent + ".jsonl")
        record = _append(path, kind, fields)
        if record is None:
            from pathlib import Path

            from codeswarm.control.steering import _append as append
            from codeswarm.core.swarm import RunDir

            record = append(RunDir(Path(root)), agent, kind, **fields)
        records[agent] = record
    return records


# -- send ----------------------------------------------------------------------------------------
def _send(argv: list[str]) -> int | None:
    parsed = _parse(argv, ("--json", "--wait", "--stream"), ("--mode", "--timeout", "--project"))
    if parsed is None:
        return None
    words, opts = parsed
    if len(words) != 3:
        return None
    swarm, target, text = words
    mode = opts.get("--mode")
    if mode not in (None, "queue", "steer"):
        return None
    try:
        timeout = float(opts.get("--timeout", 600.0))
    except ValueError:
        return None
    if not 1.0 <= timeout <= WEEK:
        return None
    project = opts.get("--project")
    json_out = bool(opts.get("--json"))
    stream = bool(opts.get("--stream"))
    wait = stream or bool(opts.get("--wait"))
    root = _run_root(swarm, project)
    spec = None if root is None else _spec(root)
    agents = None if spec is None else _targets(spec, target)
    ends = None
    if wait and root is not None and spec is not None:
        ends = _ends(root, spec.agents())  # before sending: nothing can be missed
        if ends is None:
            return None
    if text == "-":
        text = sys.stdin.read()
    if root is None or agents is None or not text.strip() or len(text) > MAX_MESSAGE_CHARS:
        # the ordinary path from here on (standard input is read: it gets the text)
        return _guarded(lambda: _send_slow(swarm, target, text, mode, timeout, json_out, project,
                                           wait=wait, stream=stream))  # fmt: skip
    fields: dict[str, Any] = {"text": text}
    if mode:
        fields["mode"] = mode

    def act() -> int:
        assert root is not None and agents is not None
        records = _append_each(root, agents, "message", fields)
        if ends is not None:  # sent: the model is at work while the waiting part loads
            from codeswarm.cli.swarm.send import follow_sent

            return follow_sent(root, records, ends, stream=stream, timeout=timeout,
                               json_out=json_out)  # fmt: skip
        if json_out:
            from codeswarm.core.jsonlite import dumps

            sys.stdout.write(dumps({a: r["id"] for a, r in records.items()}) + "\n")
        else:
            print(f"sent to {', '.join(records)}")
        return 0

    return _guarded(act)


def _send_slow(swarm: str, target: str, text: str, mode: str | None, timeout: float,
               json_out: bool, project: str | None, *, wait: bool, stream: bool) -> int:  # fmt: skip
    from codeswarm.cli.args import project_dir
    from codeswarm.cli.swarm.send import run_send

    return run_send(swarm, target, text, wait=wait, stream=stream, mode=mode, timeout=timeout,
                    json_out=json_out, project=project_dir(project))  # fmt: skip


def _ends(root: str, agents: list[str]) -> dict[str, tuple[int, int]] | None:
    """Where each agent's outbox ends now (after its last complete line: what
    ``Router(start="end")`` finds), as (segment, offset); None when one is not private."""
    from codeswarm.control.status import _live_segment

    ends = {}
    for agent in agents:
        path = os.path.join(root, "mailbox", "outbox", agent + ".jsonl")
        segment = _live_segment(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            ends[agent] = (segment, 0)
            continue
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not _private(st, False) or not _private(os.stat(os.path.dirname(path)), True):
                return None
            end, window = st.st_size, 4096
            while end > 0:
                start = max(0, end - window)
                cut = os.pread(fd, end - start, start).rfind(b"\n")
                if cut >= 0:
                    end = start + cut + 1
                    break
                if start == 0:
                    end = 0
                window *= 4
            ends[agent] = (segment, end)
        finally:
            os.close(fd)
    return ends


# -- status --------------------------------------------------------------------------------------
def _status(argv: list[str]) -> int | None:
    parsed = _parse(argv, ("--json",), ("--project",))
    if parsed is None or len(parsed[0]) != 1:
        return None
    (swarm,), opts = parsed
    root = _run_root(swarm, opts.get("--project"))
    spec = None if root is None else _spec(root)
    if root is None or spec is None or spec.backend != "local":
        return None
    from codeswarm.control.status import hot_overlay, hot_replay

    replay = hot_replay(root, spec.name, spec.agents())
    if replay is None:
        return None
    json_out = bool(opts.get("--json"))

    def act() -> int:
        from codeswarm.control.status import _with_leases, status_json

        assert root is not None and spec is not None and replay is not None
        status = _with_leases(status_json(replay.fleet, spec, hot_overlay(root, replay.fleet)),
                              spec)  # fmt: skip
        if json_out:
            from codeswarm.core.jsonlite import dumps

            sys.stdout.write(dumps(status) + "\n")
        else:
            from codeswarm.cli.swarm.status import render_status

            render_status(status)
        return 0

    return _guarded(act)


# -- interrupt -----------------------------------------------------------------------------------
def _interrupt(argv: list[str]) -> int | None:
    parsed = _parse(argv, (), ("--project",))
    if parsed is None or len(parsed[0]) != 2:
        return None
    (swarm, target), opts = parsed
    root = _run_root(swarm, opts.get("--project"))
    spec = None if root is None else _spec(root)
    agents = None if spec is None else _targets(spec, target)
    if root is None or spec is None or agents is None or spec.backend != "local":
        return None
    from codeswarm.control.status import hot_overlay, hot_replay

    replay = hot_replay(root, spec.name, spec.agents())
    if replay is None:
        return None
    hot_overlay(root, replay.fleet)
    chosen: list[str] = []
    idle: list[str] = []
    for agent in agents:  # codeswarm.control.steering.interrupt_checked
        state = replay.fleet.agents[agent].state or "starting"
        if state in ("busy", "waiting_approval"):
            chosen.append(agent)
            continue
        if state in ("idle", "starting"):
            waiting = _waiting(root, agent, replay.taken.get(agent, set()))
            if waiting is None:
                return None
            if waiting:
                chosen.append(agent)
                continue
        idle.append(f"nothing to interrupt: {agent} is {state.replace('_', ' ')}")

    def act() -> int:
        assert root is not None
        if not chosen:
            from codeswarm.core.errors import CodeswarmError

            raise CodeswarmError("; ".join(idle))
        _append_each(root, chosen, "interrupt", {})
        print(f"interrupt sent to {', '.join(chosen)}")
        for line in idle:
            print(line)
        return 0

    return _guarded(act)


def _waiting(root: str, agent: str, taken: set[str]) -> int | None:
    """:func:`codeswarm.control.steering.waiting_messages`; None when the inbox is not plain
    (rotated, a corrupt line, a spilled record, not private)."""
    from codeswarm.control.status import _live_segment
    from codeswarm.core.jsonlite import loads

    path = os.path.join(root, "mailbox", "inbox", agent + ".jsonl")
    if _live_segment(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not _private(st, False) or not _private(os.stat(os.path.dirname(path)), True):
            return None
        data = os.pread(fd, st.st_size, 0)
    finally:
        os.close(fd)
    lines = data.split(b"\n")
    lines.pop()
    count = 0
    for line in lines:
        if not line:
            continue
        try:
            rec = loads(line)
        except ValueError:
            return None
        if type(rec) is not dict or type(rec.get("seq")) is not int or "spill" in rec:
            return None
        if rec.get("kind") == "message" and str(rec["id"]) not in taken:
            count += 1
    return count
