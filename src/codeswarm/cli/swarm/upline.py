"""``up``'s ordinary command lines without Typer: :mod:`codeswarm.cli` serves them here, before
Typer, Click and the other commands load (≈ 60 ms of CPU, on the cores the swarm's own
processes are starting on).

An ordinary line is made of the options below, each written in full (``--name s``,
``--name=s``, ``-n 4``), every value one Typer would take as it is: a plain string, a decimal
number inside the option's range, a path as written. Anything else — ``--help``, an unknown or
abbreviated option, ``-n4``, ``--``, a word that is no option, a value that starts with ``-``
or that Typer would coerce another way, a single option given twice, no ``--name`` — goes to
the Typer command, which says what is wrong as ever. Both end in
:func:`codeswarm.cli.swarm.up.start` with the same values: ``tests/cli/test_upline.py`` pins
this table to the Typer command's options and compares the two on generated lines.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

REQUIRED = object()
"""The default of an option the line must give (else: Typer's message)."""

# flags (the first: its name in messages), parameter, kind, default, (min, max) for numbers.
# kind: as codeswarm.cli.typerfast.kind_of says (str, int, float, path, strs), or "flag" (True
# when given), or "switch" (the first flag True, the second False)
OPTIONS: tuple[tuple[tuple[str, ...], str, str, object, tuple[int, int] | None], ...] = (
    (("-n", "--agents"), "n", "int", None, (1, 512)),
    (("--name",), "name", "str", REQUIRED, None),
    (("--cwd", "-C", "--project"), "cwd", "path", None, None),
    (("--model-provider",), "model_provider", "str", None, None),
    (("--script",), "script", "path", None, None),
    (("--model", "-m"), "model", "str", None, None),
    (("--approval-policy",), "approval_policy", "str", None, None),
    (("--sandbox",), "sandbox", "str", None, None),
    (("--approvals",), "approvals", "str", "forward", None),
    (("--message-mode",), "message_mode", "str", "queue", None),
    (("--config", "-c"), "config", "strs", [], None),
    (("--timeout",), "timeout", "float", 120.0, None),
    (("--json",), "json_out", "flag", False, None),
    (("--coord", "--no-coord"), "coord", "switch", True, None),
    (("--roles",), "roles", "str", None, None),
    (("--auto-leases", "--no-auto-leases"), "leases_auto", "switch", True, None),
    (
        ("--resume-interrupted", "--no-resume-interrupted"),
        "resume_interrupted",
        "switch",
        True,
        None,
    ),
    (("--backend",), "backend", "str", "local", None),
    (("--nodes",), "nodes", "int", None, (1, 512)),
    (("--ntasks-per-node",), "ntasks_per_node", "int", None, (1, 512)),
    (("--partition",), "partition", "str", None, None),
    (("--account",), "account", "str", None, None),
    (("--qos",), "qos", "str", None, None),
    (("--time",), "time_limit", "str", None, None),
    (("--sbatch-arg",), "sbatch_args", "strs", [], None),
    (("--stop-grace",), "stop_grace", "int", 60, (1, 3600)),
    (("--replace",), "replace", "flag", False, None),
    (("--retry-deadline",), "retry_deadline", "float", None, None),
    (("--budget",), "budget", "int", None, None),
    (("--agent-budget",), "agent_budget", "int", None, None),
    (("--budget-warn",), "budget_warn", "float", 0.8, None),
    (("--report-chars",), "report_chars", "int", 2000, None),
    (("--watch-stall",), "watch_stall", "float", None, None),
    (("--watch-loop",), "watch_loop", "int", None, None),
    (("--watch-scope",), "watch_scope", "flag", False, None),
    (("--watch-action",), "watch_action", "strs", None, None),
    (("--watch-nudge",), "watch_nudge", "str", None, None),
    (("--isolation",), "isolation", "str", "shared", None),
    (("--base",), "base", "str", None, None),
    (("--into",), "into", "str", None, None),
    (("--check",), "check", "str", None, None),
    (("--worktree-leases", "--no-worktree-leases"), "worktree_leases", "switch", True, None),
    (("--runtime",), "runtime", "str", None, None),
)

_BY_FLAG = {flag: option for option in OPTIONS for flag in option[0]}


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The options of an ordinary ``up`` line (``argv``: after ``up``) by parameter name, every
    one present (defaults filled in) and coerced as Typer coerces it; ``None`` for any other
    line (see the module's text)."""
    from codeswarm.cli.typerfast import SLOW, fast

    given: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        word, eq, inline = argv[i].partition("=")
        option = _BY_FLAG.get(word) if word.startswith("-") else None
        if option is None:
            return None
        flags, name, kind, _default, bounds = option
        if kind in ("flag", "switch"):
            if eq or name in given:
                return None
            given[name] = word == flags[0]
            i += 1
            continue
        if eq and not word.startswith("--"):
            return None  # (`-n=4`: Click's value is "=4")
        if eq:
            text = inline
        elif i + 1 < len(argv):
            i += 1
            text = argv[i]
        else:
            return None
        if text.startswith("-") or (name in given and kind != "strs"):
            return None
        value = fast("str" if kind == "strs" else kind, text)
        if value is SLOW or (bounds and not bounds[0] <= value <= bounds[1]):
            return None
        if kind == "path" and not _readable_or_absent(value):
            return None  # (Typer's message: it is not readable)
        if kind == "strs":
            given.setdefault(name, []).append(value)
        else:
            given[name] = value
        i += 1
    options: dict[str, Any] = {}
    for _flags, name, _kind, default, _bounds in OPTIONS:
        if name in given:
            options[name] = given[name]
        elif default is REQUIRED:
            return None
        else:
            options[name] = list(default) if isinstance(default, list) else default
    return options


def _readable_or_absent(path: Path) -> bool:
    """Typer takes a path option's value as it is unless it exists and cannot be read."""
    import os

    try:
        os.stat(path)
    except OSError:
        return True
    return os.access(path, os.R_OK)


def main(argv: list[str]) -> int | None:
    """``up`` for an ordinary line: its exit code, one line for an error
    (:func:`codeswarm.core.errors.run_guarded`, as the Typer app does); ``None`` (nothing done)
    for a line the Typer command must see."""
    options = parse(argv)
    if options is None:
        return None
    from codeswarm.cli.swarm.up import start
    from codeswarm.core.errors import run_guarded

    def up() -> int:
        start(**options)
        return 0

    return run_guarded(up)
