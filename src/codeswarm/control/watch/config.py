"""The watchers' options from command-line flags (``up``, ``run``): bad input is one
:class:`UsageError` line, before anything starts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from codeswarm.core.errors import UsageError
from codeswarm.core.swarm import WatchAction, WatchOptions

RULE_NAMES = ("stall", "loop", "scope")
ACTION_NAMES = ("report", "nudge", "interrupt", "stop")
MAX_STALL_S = 7 * 24 * 3600.0
MAX_LOOP_K = 1000


def parse_actions(text: str) -> list[WatchAction]:
    """``nudge,interrupt`` → the escalation list; an unknown action raises UsageError."""
    out: list[WatchAction] = []
    for part in text.split(","):
        name = part.strip()
        if name not in ACTION_NAMES:
            raise UsageError(
                f"--watch-action: unknown action {name!r} (one of {', '.join(ACTION_NAMES)}, "
                "comma-separated to escalate: nudge,interrupt; scope=deny denies up front)"
            )
        out.append(cast(WatchAction, name))
    return out


def watch_options(
    *,
    stall_s: float | None = None,
    loop_k: int | None = None,
    scope: bool = False,
    actions: Sequence[str] = (),
    nudge_text: str | None = None,
) -> WatchOptions | None:
    """The options the flags ask for, or None when they turn no rule on. ``actions``: items
    ``RULE=A[,A…]`` (one rule) or ``A[,A…]`` (every rule)."""
    if stall_s is not None and not 0 < stall_s <= MAX_STALL_S:
        raise UsageError(
            f"--watch-stall must be seconds, more than 0 and at most {MAX_STALL_S:.0f}"
        )
    if loop_k is not None and not 2 <= loop_k <= MAX_LOOP_K:
        raise UsageError(f"--watch-loop must be a count from 2 to {MAX_LOOP_K}")
    if nudge_text is not None and not nudge_text.strip():
        raise UsageError("--watch-nudge: the message is empty")
    per_rule: dict[str, list[WatchAction]] = {}
    scope_deny = False
    for item in actions:
        rule, sep, rest = item.partition("=")
        if sep:
            rule = rule.strip()
            if rule not in RULE_NAMES:
                raise UsageError(
                    f"--watch-action {item!r}: unknown rule {rule!r} (one of "
                    f"{', '.join(RULE_NAMES)})"
                )
            deny = rule == "scope" and "deny" in [a.strip() for a in rest.split(",")]
            if deny:
                rest = ",".join(a for a in rest.split(",") if a.strip() != "deny") or "report"
                scope_deny = True
            per_rule[rule] = parse_actions(rest)
        else:
            for r in RULE_NAMES:
                per_rule[r] = parse_actions(item)
    if stall_s is None and loop_k is None and not scope:
        if actions or nudge_text is not None:
            raise UsageError(
                "--watch-action and --watch-nudge need a rule: --watch-stall, --watch-loop or "
                "--watch-scope"
            )
        return None
    if scope_deny and not scope:
        raise UsageError("--watch-action scope=deny needs --watch-scope")
    opts = WatchOptions(
        stall_s=stall_s, loop_k=loop_k, scope=scope, nudge_text=nudge_text, scope_deny=scope_deny
    )
    if "stall" in per_rule:
        opts.stall_actions = per_rule["stall"]
    if "loop" in per_rule:
        opts.loop_actions = per_rule["loop"]
    if "scope" in per_rule:
        opts.scope_actions = per_rule["scope"]
    return opts
