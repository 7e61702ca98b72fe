"""The one token accumulator (core/usage.py): each thread's running total counted once, whatever
order, repetition or replay the reports come in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from codeswarm.core.usage import ThreadTotals, Tokens


def test_a_report_sent_again_adds_nothing() -> None:
    t = ThreadTotals()
    assert t.add("a", Tokens(30, 10, 3, 33)) == 33
    assert t.add("a", Tokens(30, 10, 3, 33)) == 0  # thread/resume sends the last one again
    assert t.add("a", Tokens(20, 0, 2, 22)) == 0  # out of order: older
    assert t.add("a", Tokens(60, 20, 6, 66)) == 33
    assert t.add("b", Tokens(5, 0, 1, 6)) == 6
    assert t.sum == Tokens(65, 20, 7, 72)


@given(st.lists(st.tuples(st.sampled_from("xyz"), st.integers(1, 50)), max_size=40), st.randoms())
def test_the_sum_is_each_threads_largest_total_whatever_the_order(
    steps: list[tuple[str, int]], rnd: object
) -> None:
    """Each thread's reports grow; delivered shuffled and with repeats (a replay), the sum is
    the last (largest) report of each thread, and the growth returned adds up to it."""
    running: dict[str, int] = {}
    reports: list[tuple[str, Tokens]] = []
    for thread, spent in steps:
        running[thread] = running.get(thread, 0) + spent
        n = running[thread]
        reports.append((thread, Tokens(n, 0, n, 2 * n)))
    delivered = reports + reports[: len(reports) // 2]
    rnd.shuffle(delivered)  # type: ignore[attr-defined]
    t = ThreadTotals()
    grown = sum(t.add(thread, tok) for thread, tok in delivered)
    assert t.sum.counted == grown == sum(2 * n for n in running.values())
