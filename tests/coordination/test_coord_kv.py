"""The versioned key-value space (every backend)."""

from __future__ import annotations

import pytest

from codeswarm.coordination import Coord, Limits
from codeswarm.core.errors import (
    CoordInputError,
    NotFoundError,
    TooLargeError,
    VersionMismatchError,
)


def test_set_get_versions_and_cas(coord: Coord) -> None:
    a = coord.register("a")
    assert coord.kv_get("cfg/mode") is None
    first = coord.kv_set("cfg/mode", "fast", by=a)
    assert (first.version, first.updated_by) == (1, "a#1")
    assert coord.kv_set("cfg/mode", "slow").version == 2
    with pytest.raises(VersionMismatchError, match="version 2, not 1"):
        coord.kv_set("cfg/mode", "x", expect_version=1)
    assert coord.kv_set("cfg/mode", "x", expect_version=2).version == 3
    with pytest.raises(VersionMismatchError):
        coord.kv_set("cfg/new", "x", expect_version=1)
    assert coord.kv_set("cfg/new", "x", expect_version=0).version == 1
    with pytest.raises(VersionMismatchError):
        coord.kv_set("cfg/new", "y", expect_version=0)
    entry = coord.kv_get("cfg/mode")
    assert entry is not None and (entry.value, entry.version) == ("x", 3)


def test_delete_and_prefix_listing(coord: Coord) -> None:
    for key in ("a/1", "a/2", "ab", "b/1", "a_"):
        coord.kv_set(key, key.upper())
    assert [e.key for e in coord.kv_list("a/")] == ["a/1", "a/2"]
    assert [e.key for e in coord.kv_list("a_")] == ["a_"]  # no LIKE wildcards
    assert len(coord.kv_list()) == 5
    with pytest.raises(VersionMismatchError):
        coord.kv_delete("a/1", expect_version=7)
    coord.kv_delete("a/1", expect_version=1)
    with pytest.raises(NotFoundError):
        coord.kv_delete("a/1")
    assert coord.kv_get("a/1") is None
    assert [e.kind for e in coord.events(kind="kv.")][-1] == "kv.deleted"


def test_limits(open_coord: object) -> None:
    coord = open_coord(limits=Limits(kv_value=8))  # type: ignore[operator]
    coord.kv_set("k", "12345678")
    with pytest.raises(TooLargeError, match="9 bytes; the limit is 8"):
        coord.kv_set("k", "123456789")
    with pytest.raises(TooLargeError):
        coord.kv_set("k", "é" * 5)  # 10 bytes of UTF-8
    with pytest.raises(CoordInputError):
        coord.kv_set("", "v")
    with pytest.raises(CoordInputError):
        coord.kv_set("two\nlines", "v")
    assert coord.kv_get("k").value == "12345678"
