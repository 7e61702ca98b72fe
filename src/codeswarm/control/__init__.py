"""Control: everything above the workers that runs the fleet.

- :mod:`.events` — raw outbox records translated into codeswarm events (pure functions);
- :mod:`.fleet` — the router (outboxes → events, per-agent seqs, named cursors) and the fleet
  state it reduces them into;
- :mod:`.steering` — messages, interrupts and approval answers appended to agents' inboxes;
- :mod:`.launch` — the launch backends (``local``: a supervisor process; ``slurm``: one job,
  one task per agent) behind one interface, and the keep-alive loop both use;
- :mod:`.proc` — process helpers (pid locks, process groups, waiting on a pid).
"""

from codeswarm.core.lazy import lazy_names

TYPE_CHECKING = False  # names load on first use: `status` and `interrupt` import parts of control
if TYPE_CHECKING:
    from codeswarm.control.events.translate import EventStamper, translate

__all__ = ["EventStamper", "translate"]
__getattr__ = lazy_names(
    __name__,
    {"EventStamper": "control.events.translate", "translate": "control.events.translate"},
    globals(),
)
