"""The ``with`` / ``async with`` plumbing of things that are closed (trio's ``AsyncResource``):
writers, readers, followers, transports, connections, servers. A subclass says how it closes;
the context manager closes it on the way out, whatever happened inside."""

from __future__ import annotations

TYPE_CHECKING = False  # no `typing` at run time: the mailbox's hot paths use this
if TYPE_CHECKING:
    from typing import Self


class Resource:
    """Something with a synchronous :meth:`close`, safe to call twice; ``with`` closes it."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncResource:
    """Something with an :meth:`aclose`, safe to call twice; ``async with`` closes it."""

    __slots__ = ()

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
