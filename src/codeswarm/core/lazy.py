"""Package faces whose names load on first use (PEP 562), so that importing one submodule (a
hook importing ``codeswarm.coordination``, ``exec`` importing ``codeswarm.codex.launch``) does not pay
for the rest of its package."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # no `typing` at run time: codeswarm.core's own face uses this
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def lazy_names(
    package: str, where: dict[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps each public name to the module
    (relative to ``codeswarm``) that defines it; a loaded name is kept in ``namespace``."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        full = f"codeswarm.{module}"
        __import__(full)  # not importlib.import_module: `import importlib` costs hot paths ~1 ms
        value = getattr(sys.modules[full], name)
        namespace[name] = value
        return value

    return __getattr__
