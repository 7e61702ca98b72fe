"""The watchers: rules over a swarm's event stream (stall, loop, scope) and a runner that acts on
them (nudge, interrupt, stop) and records each action (docs/watch.md)."""
