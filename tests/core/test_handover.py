"""A process handed its work later (core/handover.py): what it is handed, and nothing it should
not keep when the message is not one."""

from __future__ import annotations

import json
import os
import socket

import pytest

from codeswarm.core.handover import receive


def hand(body: bytes, nfds: int) -> tuple[int, list[int]]:
    """A socket pair whose one end (a plain descriptor, as a waiting process's stdin) got
    ``body`` and ``nfds`` fresh descriptors; returns that end and the descriptors' inodes."""
    ours, theirs = socket.socketpair()
    pipes = [os.pipe() for _ in range(nfds)]
    sent = [r for r, _ in pipes]
    if body or sent:
        socket.send_fds(ours, [body or b" "], sent)
    ours.close()
    inodes = [os.fstat(fd).st_ino for fd in sent]
    for r, w in pipes:
        os.close(r)
        os.close(w)
    return theirs.detach(), inodes


def open_inodes() -> set[int]:
    out = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            out.add(os.fstat(int(name)).st_ino)
        except OSError:
            continue
    return out


def test_what_was_handed_and_its_descriptors() -> None:
    fd, inodes = hand(json.dumps({"run_dir": "/r"}).encode(), 2)
    got = receive(2, fd)
    assert got is not None
    what, fds = got
    assert what == {"run_dir": "/r"} and [os.fstat(f).st_ino for f in fds] == inodes
    for f in fds:
        os.close(f)


@pytest.mark.parametrize(
    ("body", "sent", "expected"),
    [(b"", 0, 1), (b"not json", 1, 1), (b"[1, 2]", 1, 1), (json.dumps({"a": "b"}).encode(), 2, 3)],
    ids=["starter-gone", "not-json", "not-an-object", "not-the-descriptors-expected"],
)
def test_anything_else_is_nothing_and_leaves_no_descriptor_open(
    body: bytes, sent: int, expected: int
) -> None:
    fd, inodes = hand(body, sent)
    assert receive(expected, fd) is None
    assert not set(inodes) & open_inodes()
