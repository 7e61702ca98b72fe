"""The per-agent worker process: Codex + mailbox (+ coordination, later)."""

from codeswarm.worker.agent import Worker

__all__ = ["Worker"]
