"""The per-agent worker process: Codex, its mailbox, and its place in the coordination store."""

from codeswarm.core.lazy import lazy_names

TYPE_CHECKING = False  # names load on first use: `python -m codeswarm.worker` imports asyncio
if TYPE_CHECKING:  # its own way first (worker/__main__.py), and the hub's parts need no Worker
    from codeswarm.worker.agent import Worker

__all__ = ["Worker"]
__getattr__ = lazy_names(__name__, {"Worker": "worker.agent"}, globals())
