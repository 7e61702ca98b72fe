"""Control: the translation of raw Codex messages into events (the router and launch backends
arrive with the fleet)."""

from codeswarm.control.translate import EventStamper, translate

__all__ = ["EventStamper", "translate"]
