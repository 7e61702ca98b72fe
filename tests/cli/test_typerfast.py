"""Plain option values coerced without Pydantic (``codeswarm.cli.typerfast``) give what Typer's
own coercion gives: the same value and type, or the same error message, for every option of
every command of the CLI, on edge cases and on whatever hypothesis draws."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer import _coercion
from typer.main import get_command

from codeswarm.cli import typerfast
from codeswarm.cli.app import app

EDGES: list[Any] = [
    "", " ", "7", " 7", "7 ", "+7", "-7", "007", "0", "-0", "1_000", "1e3", "1.0", "1.5", "-1.5",
    ".5", "5.", "inf", "nan", "9" * 30, "\u0663", "x", "-", "a//b", "a/", "/tmp", ".", "..",
    "x\0y", "~/x", True, False, 5, 0, -3, 5.0, 2.5, Path("p/q"), None,
]  # fmt: skip


def _params() -> list[tuple[Any, Any]]:
    """(command, parameter) for every option and argument of every command."""
    out: list[tuple[Any, Any]] = []

    def walk(command: Any) -> None:
        for sub in (getattr(command, "commands", None) or {}).values():
            walk(sub)
        out.extend((command, p) for p in command.params if hasattr(p, "type_descriptor"))

    walk(get_command(app))
    return out


PARAMS = _params()


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    if typer.__version__ != typerfast.CHECKED:
        pytest.fail(
            f"Typer is {typer.__version__}, typerfast was checked against {typerfast.CHECKED}: "
            "check typer/_adapters.py build_leaf_adapter and typer/_param_types.py "
            "coerce_cli_path again, then update CHECKED"
        )
    typerfast.install()


def outcome(build: Any, command: Any, param: Any, value: Any) -> tuple[Any, ...]:
    ctx = typer._click.Context(command)
    try:
        got = build(param.type_descriptor).coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # what Typer would say
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return ("error", type(exc).__name__, message)
    return ("value", type(got), repr(got))  # (nan is not nan)


def ours(descriptor: Any) -> Any:
    return typer.core.build_runtime_param(descriptor)  # type: ignore[attr-defined]


def same(command: Any, param: Any, value: Any) -> None:
    theirs = outcome(_coercion.build_runtime_param, command, param, value)
    mine = outcome(ours, command, param, value)
    assert mine == theirs, (param.name, value)


def test_the_fast_path_is_taken_for_most_options() -> None:
    kinds = [typerfast.kind_of(p.type_descriptor) for _, p in PARAMS]
    assert len(PARAMS) > 100
    assert sum(k is not None for k in kinds) > 0.8 * sum(
        p.type_descriptor.annotation is not bool for _, p in PARAMS
    )
    assert {"str", "int", "float", "path", "strs"} <= set(kinds)


@pytest.mark.parametrize("value", EDGES, ids=repr)
def test_every_option_coerces_as_typer_does(value: Any) -> None:
    for command, param in PARAMS:
        multi = param.multiple or param.nargs == -1
        same(command, param, (value,) if multi and value is not None else value)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(range(len(PARAMS))),
    st.one_of(
        st.text(max_size=12),
        st.from_regex(r"\A[-+]?[0-9_]{0,20}(\.[0-9]{0,5})?\Z"),
        st.lists(st.text(max_size=6), max_size=3).map(tuple),
        st.integers(),
        st.floats(allow_nan=False),
    ),
)
def test_drawn_values_coerce_as_typer_does(index: int, value: Any) -> None:
    command, param = PARAMS[index]
    multi = param.multiple or param.nargs == -1
    if multi and not isinstance(value, tuple):
        value = (value,)
    same(command, param, value)


def test_up_parses_without_loading_pydantic(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.main import get_command\n"
        "from codeswarm.cli.app import app\n"
        "from codeswarm.cli import typerfast\n"
        "assert typerfast.install()\n"
        "up = get_command(app).commands['up']\n"
        f"ctx = up.make_context('up', ['-n', '4', '--name', 's', '--cwd', {str(tmp_path)!r},"
        " '--timeout', '600', '-c', 'a=1', '--model-provider', 'x'])\n"
        "assert ctx.params['n'] == 4 and ctx.params['timeout'] == 600.0, ctx.params\n"
        "print('pydantic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
