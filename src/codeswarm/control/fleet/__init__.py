"""The fleet as control sees it: the :mod:`.router` follows every agent's outbox, stamps events
with stable per-agent seqs and keeps named consumer cursors; :mod:`.state` is the pure reducer
from events to each agent's state, turns and tokens."""
