"""Durations typed by a person (``90``, ``90s``, ``15m``, ``1h30m``, ``7d``, ``2w``): one parser
for every flag that takes one (``run --max-time``, ``sessions clean --older-than``)."""

from __future__ import annotations

import re

from codeswarm.core.errors import UsageError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PART = re.compile(r"(\d+(?:\.\d+)?)([a-z])")


def parse_duration(
    text: str, flag: str = "duration", *, units: str = "smhdw", positive: bool = False
) -> float:
    """Seconds in ``text``: a bare number (seconds) or number-unit parts (``units`` of s, m, h,
    d, w); ``positive``: 0 is refused too. :class:`UsageError` naming ``flag`` otherwise."""
    value = text.strip().lower()
    if _NUMBER.fullmatch(value):
        total = float(value)
    else:
        parts = list(_PART.finditer(value))
        if (
            not value
            or "".join(p.group(0) for p in parts) != value
            or any(p.group(2) not in units for p in parts)
        ):
            examples = "90s, 10m, 1h30m" + (", 7d" if "d" in units else "")
            raise UsageError(
                f"{flag} {text!r}: a duration like {examples} (that is not a duration)"
            )
        total = sum(float(p.group(1)) * UNITS[p.group(2)] for p in parts)
    if positive and total <= 0:
        raise UsageError(f"{flag} must be more than 0 seconds")
    return total
