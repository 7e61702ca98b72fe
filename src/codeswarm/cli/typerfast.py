"""Typer's option coercion for plain values without loading Pydantic.

Typer (0.29) coerces each option of the command being run through a Pydantic ``TypeAdapter``:
the first one loads Pydantic (≈ 75 ms of CPU) and each costs ≈ 0.5 ms more, ≈ 0.1 s before
`up` (38 options) does anything. Most values are plain: a ``str``, a decimal integer, a
``Path``, a list of ``str``, a default of the right type. For those, what Typer's adapter
returns is known exactly (``typer/_adapters.py`` ``build_leaf_adapter``: the string itself;
``int(text)``, inside the option's range if it has one; Typer's own ``coerce_cli_path`` on
``Path(text)``); they are coerced here.
Anything else (another type, a constraint, a custom parser, a value in any other form: `` 7``,
``1_000``, ``1e3``, ``""``) goes to Typer's own coercion, built on first need: the same values
and the same messages, Pydantic loaded only then.

:func:`install` replaces ``typer.core.build_runtime_param`` only under the Typer version this
was checked against (:data:`CHECKED`); under another it does nothing.
``tests/cli/test_typerfast.py`` compares both coercions on every option of every command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHECKED = "0.29.2"
"""The Typer version whose coercion this reproduces."""
SLOW = object()
"""A value the fast path does not take."""
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})\Z")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?\Z")


def kind_of(descriptor: Any) -> str | None:
    """Which plain kind an option is (``str``, ``bool``, ``int``, ``float``, ``path``, ``strs``), or
    ``None`` when Typer's own coercion must do it."""
    from typer._param_types import lenient_issubclass, routes_to_path

    info = descriptor.parameter_info
    annotation = descriptor.annotation
    if descriptor.file_annotation is not None or info.parser is not None:
        return None
    if annotation in (str, bool):  # (a bool option's None: no value, coerced all the same)
        return annotation.__name__  # type: ignore[no-any-return]
    if annotation in (int, float):  # a value out of a range goes to Typer (its message)
        return annotation.__name__  # type: ignore[no-any-return]
    if annotation == list[str]:
        return "strs"
    if routes_to_path(annotation, info) and lenient_issubclass(annotation, Path):
        path_type = info.path_type or annotation
        return "path" if path_type in (Path, type(Path())) else None
    return None


def fast(kind: str, value: Any) -> Any:
    """``value`` coerced as Typer's adapter would, for a plain one; :data:`SLOW` otherwise (a
    path is finished by :meth:`Fast._coerce_value`)."""
    if kind == "str":
        return value if type(value) is str else SLOW
    if kind == "bool":
        return value if type(value) is bool else SLOW
    if kind == "int":
        if type(value) is int:
            return value
        return int(value) if type(value) is str and _INT.match(value) else SLOW
    if kind == "float":
        if type(value) is float:
            return value
        return float(value) if type(value) is str and _FLOAT.match(value) else SLOW
    if kind == "strs":
        if not isinstance(value, (list, tuple)) or any(type(v) is not str for v in value):
            return SLOW
        return list(value)
    if kind == "path":  # a path as written (its messages quote it): "a//b" goes the slow way
        if isinstance(value, Path):
            return value
        if type(value) is not str or not value or "\0" in value:
            return SLOW
        path = Path(value)
        return path if str(path) == value else SLOW
    return SLOW


def install() -> bool:
    """Coerce plain options here from now on (see the module's text); ``False`` when Typer is
    not the checked version, or it is done already."""
    import typer

    if typer.__version__ != CHECKED:
        return False
    from typer import _coercion, core
    from typer._param_types import coerce_cli_path

    if getattr(core.build_runtime_param, "plain_values_here", False):  # type: ignore[attr-defined]
        return False
    typers_own = _coercion.build_runtime_param

    @dataclass(frozen=True)
    class Fast(_coercion.RuntimeParam):
        kind: str = ""
        descriptor: Any = None
        _slow: list[Any] = field(default_factory=list, compare=False, repr=False)

        def within(self, number: float) -> bool:
            low, high = self.parameter_info.min, self.parameter_info.max
            return (low is None or number >= low) and (high is None or number <= high)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            got = fast(self.kind, value)
            if self.kind in ("int", "float") and got is not SLOW and not self.within(got):
                got = SLOW
            if got is SLOW:
                if not self._slow:
                    self._slow.append(typers_own(self.descriptor))
                return self._slow[0]._coerce_value(value, param=param, ctx=ctx)
            if self.kind == "path":
                info = self.parameter_info
                return coerce_cli_path(got, info, path_type=info.path_type or self.annotation,
                                       param=param, ctx=ctx)  # fmt: skip
            return got

    def build_runtime_param(descriptor: Any) -> Any:
        kind = kind_of(descriptor)
        if kind is None:
            return typers_own(descriptor)
        return Fast(annotation=descriptor.annotation, parameter_info=descriptor.parameter_info,
                    kind=kind, descriptor=descriptor)  # fmt: skip

    build_runtime_param.plain_values_here = True  # type: ignore[attr-defined]
    core.build_runtime_param = build_runtime_param  # type: ignore[attr-defined]
    return True
