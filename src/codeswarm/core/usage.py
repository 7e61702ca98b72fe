"""Token usage, counted once per thread: the one accumulator behind ``status``, budgets and run
summaries.

Codex's ``thread/tokenUsage/updated`` carries each thread's running ``total``, kept by Codex
across restarts and resumes and sent again right after ``thread/resume``; so what an agent spent
is the sum over its threads of the largest total each reported, and an update sent again (or
replayed, or out of order) adds nothing. ``last`` (the latest model request) is never added up.
"""

from __future__ import annotations


class Tokens:
    """Token counts: ``cached_input`` is part of ``input``; ``total`` is what Codex reported as
    ``total_tokens`` (input + output), kept as given. Immutable, compared by value. (A plain
    class, not a dataclass: ``status`` replays through this, and ``dataclasses`` costs a hot
    command a few milliseconds to import.)"""

    __slots__ = ("cached_input", "input", "output", "total")

    input: int
    cached_input: int
    output: int
    total: int

    def __init__(self, input: int = 0, cached_input: int = 0, output: int = 0, total: int = 0):
        set_ = object.__setattr__
        set_(self, "input", input)
        set_(self, "cached_input", cached_input)
        set_(self, "output", output)
        set_(self, "total", total)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: Tokens is immutable")

    def _key(self) -> tuple[int, int, int, int]:
        return (self.input, self.cached_input, self.output, self.total)

    def __eq__(self, other: object) -> bool:
        return type(other) is Tokens and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Tokens(input={self.input}, cached_input={self.cached_input}, "
                f"output={self.output}, total={self.total})")  # fmt: skip

    @property
    def counted(self) -> int:
        """What budgets count: input + output."""
        return self.input + self.output

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            self.input + other.input,
            self.cached_input + other.cached_input,
            self.output + other.output,
            self.total + other.total,
        )


class ThreadTotals:
    """Each thread's running totals (the largest seen), and their sum."""

    def __init__(self) -> None:
        self.by_thread: dict[str, Tokens] = {}
        self._sum = Tokens()

    def add(self, thread: str, total: Tokens) -> int:
        """Take one report of ``thread``'s running ``total``; returns how much it grew (what
        was spent since the last report; 0 for one sent again or out of order)."""
        seen = self.by_thread.get(thread)
        grown = total.counted - (0 if seen is None else seen.counted)
        if seen is not None and grown <= 0:
            return 0
        self.by_thread[thread] = total
        self._sum = sum(self.by_thread.values(), Tokens())
        return max(grown, 0)

    @property
    def sum(self) -> Tokens:
        return self._sum
