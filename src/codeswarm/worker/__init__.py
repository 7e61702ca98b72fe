"""The per-agent worker process: Codex, its mailbox, and its place in the coordination store."""

from codeswarm.worker.agent import Worker

__all__ = ["Worker"]
