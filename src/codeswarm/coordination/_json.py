"""JSON for the hot path, without importing ``json`` (whose ``re`` import alone costs ~4 ms).

:func:`dumps` encodes the plain data the store writes (dict, list, tuple, str, int, float, bool,
None) with CPython's C string escaper; :func:`loads` imports the ``json`` module on first use,
which only reads (events, ``--json`` input) need.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_quote: Callable[[str], str] | None = None


def _quoter() -> Callable[[str], str]:
    global _quote
    try:
        from _json import encode_basestring as quote
    except ImportError:  # pragma: no cover - CPython always has _json
        from json.encoder import py_encode_basestring as quote
    _quote = quote
    return quote


def dumps(obj: object) -> str:
    """Compact JSON text (``ensure_ascii=False``, no spaces), like ``json.dumps(obj,
    separators=(",", ":"), ensure_ascii=False)``. Raises TypeError for anything else, and
    ValueError for NaN and infinities (not JSON)."""
    out: list[str] = []
    _encode(obj, out, _quote or _lazy_quote)
    return "".join(out)


def _lazy_quote(s: str) -> str:
    return _quoter()(s)


def _plain(s: str) -> bool:
    """Whether ``s`` is its own JSON string body: printable ASCII without ``"`` or ``\\`` (most
    paths, names and kinds), so that a short-lived process does not load ``_json`` for it."""
    return s.isascii() and s.isprintable() and '"' not in s and "\\" not in s


def _encode(obj: object, out: list[str], quote: Callable[[str], str]) -> None:
    if isinstance(obj, str):
        out.append(f'"{obj}"' if _plain(obj) else quote(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise ValueError(f"{obj!r} is not JSON")
        out.append(float.__repr__(obj))
    elif isinstance(obj, dict):
        out.append("{")
        first = True
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(f'"{key}"' if _plain(key) else quote(key))
            out.append(":")
            _encode(value, out, quote)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(",")
            _encode(value, out, quote)
        out.append("]")
    else:
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def loads(text: str | bytes) -> Any:
    """Parse JSON text (imports ``json`` on first use)."""
    import json

    return json.loads(text)
