""":mod:`codeswarm.core.errors`, loaded on the way to the first error raised or caught: its ~50
classes cost ~0.7 ms to import, a tenth of a ``codeswarm coord lease`` or ``status`` that raises
none. A module on those paths imports ``errors`` from here at run time and the real module for
the type checker::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from codeswarm.core import errors
    else:
        from codeswarm.coordination._errors import errors

and says ``errors.CoordInputError(...)``, ``except errors.LeaseConflictError``: an ``except``
clause's class is looked up only when an exception reaches it.
"""

from __future__ import annotations


class _Errors:
    __slots__ = ()

    def __getattr__(self, name: str) -> object:
        from codeswarm.core import errors

        return getattr(errors, name)


errors = _Errors()
