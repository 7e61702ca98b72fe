"""Control: everything above the workers that runs the fleet.

- :mod:`.events` — raw outbox records translated into codeswarm events (pure functions);
- :mod:`.fleet` — the router (outboxes → events, per-agent seqs, named cursors) and the fleet
  state it reduces them into;
- :mod:`.steering` — messages, interrupts and approval answers appended to agents' inboxes;
- :mod:`.launch` — the launch backends (``local``: a supervisor process; ``slurm``: one job,
  one task per agent) behind one interface, and the keep-alive loop both use;
- :mod:`.proc` — process helpers (pid locks, process groups, waiting on a pid).
"""

from codeswarm.control.events.translate import EventStamper, translate

__all__ = ["EventStamper", "translate"]
