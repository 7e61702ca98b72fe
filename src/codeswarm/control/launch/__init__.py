"""Launch backends behind one interface (:class:`~.base.Backend`): ``local`` (a supervisor
process on this machine, :mod:`.local`, :mod:`.supervisor`) and ``slurm`` (one job, one task per
agent: :mod:`.slurm`, the Slurm commands in :mod:`.slurm_jobs`, the task in :mod:`.slurm_task`).
Both keep workers alive with the same loop, :mod:`.keepalive`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from codeswarm.core.errors import UsageError

if TYPE_CHECKING:
    from codeswarm.control.launch.base import Backend

BACKENDS = ("local", "slurm")


def backend_for(name: str) -> Backend:
    """The launch backend called ``name`` (UsageError for an unknown one)."""
    if name == "local":
        from codeswarm.control.launch.local import LocalBackend

        return LocalBackend()
    if name == "slurm":
        from codeswarm.control.launch.slurm import SlurmBackend

        return SlurmBackend()
    raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {name!r}")


__all__ = ["BACKENDS", "backend_for"]
