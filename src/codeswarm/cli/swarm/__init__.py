"""The swarm commands: ``up``, ``send``, ``attach``, ``status``, ``logs``, ``interrupt``,
``approve``, ``down``, ``ls`` (``send`` is a fast command, parsed without Typer)."""
