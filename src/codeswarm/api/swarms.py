"""Which swarms ``serve`` answers for: the run directories of one project (optionally only the
ones named with ``--swarm``), found afresh on every request so a swarm brought up later shows."""

from __future__ import annotations

from pathlib import Path

from codeswarm.api.errors import ApiError
from codeswarm.core.errors import UsageError
from codeswarm.core.swarm import SWARM_NAME, RunDir, SwarmSpec, runs_root


class SwarmIndex:
    """The swarms of ``project`` (its state directory's ``runs/``), filtered by ``only``."""

    def __init__(self, project: Path, only: list[str] | None = None) -> None:
        self.project = project
        self.only = list(only) if only else None
        self.runs_root: Path = runs_root(project)

    def allows(self, name: str) -> bool:
        """Whether ``name`` is one this server may answer for (``--swarm``)."""
        return self.only is None or name in self.only

    def names(self) -> list[str]:
        """Every run directory with a readable spec, sorted, filtered by ``only``."""
        root = self.runs_root
        out = []
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if not self.allows(path.name) or not SWARM_NAME.match(path.name):
                continue
            try:
                RunDir(path).load_spec()
            except (UsageError, OSError):
                continue
            out.append(path.name)
        return out

    def run(self, name: str) -> RunDir:
        """The run directory of swarm ``name`` (it may not exist yet: ``up`` makes it).
        :class:`ApiError` 404 for a name this server does not answer for or cannot be a swarm."""
        if not SWARM_NAME.match(name) or not self.allows(name):
            raise ApiError(404, "unknown_swarm", f"no swarm {name!r} here")
        return RunDir(self.runs_root / name)

    def get(self, name: str) -> tuple[RunDir, SwarmSpec]:
        """The run directory and spec of swarm ``name``; :class:`ApiError` 404 ``unknown_swarm``
        when there is none (or it is not one of ``only``)."""
        run = self.run(name)
        try:
            return run, run.load_spec()
        except (UsageError, OSError):
            raise ApiError(404, "unknown_swarm", f"no swarm {name!r} here") from None
