"""``up``'s ordinary lines served without Typer (``codeswarm.cli.swarm.upline``) give the very
options the Typer command gives: its table is the Typer command's options (names, flags, kinds,
defaults, ranges, path checks), a line drawn from it yields the same values both ways, and any
other line is left to Typer (its messages, unchanged)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.main import get_command

from codeswarm.cli import typerfast
from codeswarm.cli.app import app
from codeswarm.cli.app import main as typer_main
from codeswarm.cli.swarm import up as up_module
from codeswarm.cli.swarm.upline import OPTIONS, REQUIRED, parse
from swarmkit import python_env


def _up_params() -> list[Any]:
    typerfast.install()
    return list(get_command(app).commands["up"].params)  # type: ignore[attr-defined]


def test_the_table_is_the_typer_command_s_options() -> None:
    params = {p.name: p for p in _up_params()}
    assert [o[1] for o in OPTIONS] == list(params)  # every option, in the command's order
    for flags, name, kind, default, bounds in OPTIONS:
        p = params[name]
        assert list(flags) == [*p.opts, *p.secondary_opts], name
        assert p.envvar is None and p.nargs == 1 and not p.count and p.callback is None, name
        if default is REQUIRED:
            assert p.required, name
        else:
            assert not p.required and p.default == default, name
        assert (p.min, p.max) == (bounds or (None, None)), name
        if kind in ("flag", "switch"):
            assert p.is_flag and bool(p.secondary_opts) == (kind == "switch"), name
            continue
        assert not p.is_flag and p.multiple == (kind == "strs"), name
        assert typerfast.kind_of(p.type_descriptor) == kind, name
        if kind == "path":  # what upline assumes of a path: taken as written, if readable
            info = p.type_descriptor.parameter_info
            assert (info.exists, info.resolve_path, info.writable, info.allow_dash) == (
                False, False, False, False)  # fmt: skip
            assert (info.readable, info.file_okay, info.dir_okay) == (True, True, True)
            assert info.path_type is None, name


def typer_options(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The options the Typer command hands to ``up``'s start for ``argv``."""
    got: list[dict[str, Any]] = []
    monkeypatch.setattr(up_module, "start", lambda **options: got.append(options))
    with pytest.raises(SystemExit) as info:
        typer_main(["up", *argv])
    assert info.value.code == 0 and len(got) == 1, (argv, info.value.code)
    return got[0]


WORD = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1
).filter(lambda s: not s.startswith("-"))
NUMBER = st.integers(-(10**6), 10**6)


def _value(kind: str, bounds: tuple[int, int] | None) -> st.SearchStrategy[str]:
    if kind == "int":
        return st.integers(*(bounds or (0, 10**9))).map(str)
    if kind == "float":
        return st.builds(lambda a, b: f"{a}.{b}" if b else str(a),
                         st.integers(0, 10**6), st.integers(0, 999))  # fmt: skip
    if kind == "path":
        return st.from_regex(r"\A(/nonexistent/)?[a-z]{1,8}(/[a-z]{1,8}){0,2}\Z")
    return WORD


@st.composite
def ordinary_line(draw: st.DrawFn) -> list[str]:
    chosen = draw(st.lists(st.sampled_from(OPTIONS), unique_by=lambda o: o[1]))
    if not any(o[1] == "name" for o in chosen):
        chosen.append(next(o for o in OPTIONS if o[1] == "name"))
    chosen = draw(st.permutations(chosen))
    line: list[str] = []
    for flags, _name, kind, _default, bounds in chosen:
        if kind in ("flag", "switch"):
            line.append(draw(st.sampled_from(flags)))
            continue
        for _ in range(draw(st.integers(1, 3)) if kind == "strs" else 1):
            flag, value = draw(st.sampled_from(flags)), draw(_value(kind, bounds))
            if flag.startswith("--") and draw(st.booleans()):
                line.append(f"{flag}={value}")
            else:
                line += [flag, value]
    return line


@settings(max_examples=150, deadline=None)
@given(line=ordinary_line())
def test_an_ordinary_line_gives_what_typer_gives(
    line: list[str], monkeypatch_module: pytest.MonkeyPatch
) -> None:
    fast = parse(line)
    assert fast is not None, line
    with monkeypatch_module.context() as patch:
        assert fast == typer_options(line, patch), line
    assert {k: type(v) for k, v in fast.items()} == {
        k: type(v) for k, v in typer_options(line, monkeypatch_module).items()
    }


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.parametrize(
    "line",
    [
        ["--help"], ["-h"], ["--name", "s", "--help"], [], ["-n", "4"],  # no --name
        ["-n4", "--name", "s"], ["-n=4", "--name", "s"], ["--nam", "s"], ["--name"],
        ["--name", "s", "extra"], ["--", "--name", "s"], ["--name", "-s"],
        ["--name", "s", "--name", "t"], ["--name", "s", "--json", "--json"],
        ["--name", "s", "--json=1"], ["--name", "s", "-n", "0"], ["--name", "s", "-n", "513"],
        ["--name", "s", "-n", " 4"], ["--name", "s", "--budget", "1_000"],
        ["--name", "s", "--timeout", "1e3"], ["--name", "s", "--timeout", "inf"],
        ["--name", "s", "--cwd", ""], ["--name", "s", "--cwd", "a//b"],
        ["--name", "s", "--stop-grace", "0"], ["--name", "s", "--remote", "ssh://h/x"],
        ["--name", "s", "--debug"],
    ],
)  # fmt: skip
def test_any_other_line_is_left_to_typer(line: list[str]) -> None:
    assert parse(line) is None


def test_an_unreadable_path_is_left_to_typer(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    assert parse(["--name", "s", "--script", str(secret)]) is not None
    if os.geteuid() == 0:
        return  # (root reads it anyway: so does Typer)
    secret.chmod(0)
    assert parse(["--name", "s", "--script", str(secret)]) is None


def _imports(*argv: str) -> tuple[int, str, bool]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "codeswarm", *argv], capture_output=True,
        text=True, timeout=60, env={**os.environ, **python_env()},
    )  # fmt: skip
    said = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    typer = any(line.startswith("import time:") and line.split("|")[-1].strip() == "typer"
                for line in done.stderr.splitlines())  # fmt: skip
    return done.returncode, "\n".join(said), typer


def test_the_command_serves_an_ordinary_line_without_typer(tmp_path: Path) -> None:
    code, said, typer = _imports("up", "-n", "1", "--name", "bad name", "--cwd", str(tmp_path))
    assert (code, typer) == (2, False)
    assert said == "codeswarm: error: bad swarm name 'bad name': a letter, then letters, " \
                   "digits or '-', at most 40"  # fmt: skip
    # the same mistake through Typer (a line it must parse): the same line
    code, said_too, typer = _imports("up", "-n1", "--name", "bad name", "--cwd", str(tmp_path))
    assert (code, said_too, typer) == (2, said, True)
    code, said, typer = _imports("up", "-n", "0", "--name", "s")
    assert (code, typer) == (2, True) and "Invalid value for '-n' / '--agents'" in said
