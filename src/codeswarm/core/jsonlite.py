"""JSON for the hot commands (``send``, ``interrupt``, ``status --json``) without ``json`` or
``orjson``: ``json`` imports ``re`` and ``orjson`` imports ``dataclasses``, ``uuid``, ``datetime``
and ``enum`` at start (about 10 ms together, as much as the interpreter's own start). Only the C
scanner of ``_json`` is used.

- :func:`loads` accepts what ``orjson.loads`` accepts (UTF-8, no NaN or Infinity, no lone
  surrogates) and returns the same values (an integer past 64 bits is a float, as there).
- :func:`dumps` writes what ``orjson.dumps`` writes for dicts (string keys), lists, tuples,
  strings, ints, floats, bools and None: compact, UTF-8, the same escapes and float forms.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # not `typing` at run time: hot paths import this
if TYPE_CHECKING:
    from typing import Any

_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1


def _parse_int(text: str) -> int | float:
    value = int(text)
    if not _I64_MIN <= value <= _U64_MAX:
        return _parse_float(text)  # as orjson reads it
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        raise ValueError(f"number is infinity when parsed as double: {text}")
    return value


_INF = float("inf")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = staticmethod(_parse_float)
    parse_int = staticmethod(_parse_int)
    parse_constant = staticmethod(_no_constant)


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # (the stub wants a scanner)
_SPACE = " \t\n\r"


def loads(data: bytes | str) -> Any:
    """One JSON value; :class:`ValueError` for anything ``orjson.loads`` refuses."""
    text = data.decode() if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration:
        raise ValueError("not JSON") from None
    if text[end:].strip(_SPACE):
        raise ValueError("extra data after the JSON value")
    if "\\ud" in text or "\\uD" in text:  # a lone surrogate, escaped: refused, as orjson does
        _check_surrogates(value)
    return value


def _check_surrogates(value: Any) -> None:
    if isinstance(value, str):
        value.encode()
    elif isinstance(value, dict):
        for k, v in value.items():
            k.encode()
            _check_surrogates(v)
    elif isinstance(value, list):
        for v in value:
            _check_surrogates(v)


_str = _json.encode_basestring


def _float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return "null"
    text = repr(value)
    mantissa, e, exp = text.partition("e")
    if not e or exp[0] != "-":
        return text
    power = int(exp)
    if power == -5:  # orjson writes 1e-05 as 0.00001
        sign = "-" if mantissa.startswith("-") else ""
        digits = mantissa.lstrip("-").replace(".", "")
        return f"{sign}0.0000{digits}"
    return f"{mantissa}e{power}"


def _encode(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_str(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        if not _I64_MIN <= value <= _U64_MAX:
            raise TypeError("Integer exceeds 64-bit range")
        out.append(str(value))
    elif kind is float:
        out.append(_float(value))
    elif kind is dict:
        out.append("{")
        first = True
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"dict key must be str, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(_str(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif kind is list or kind is tuple:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"type is not JSON serializable: {kind.__name__}")


def dumps(value: Any) -> str:
    """Compact JSON, as ``orjson.dumps(value).decode()`` gives it (:class:`TypeError` for what
    it cannot write; :class:`UnicodeEncodeError` for a lone surrogate)."""
    out: list[str] = []
    _encode(value, out)
    text = "".join(out)
    text.encode()
    return text
