"""The coordination store as an MCP server holds it: opened at first use (:class:`StoreLater`);
light, for the hub (:mod:`codeswarm.mcp.hub`) to hold one per swarm before it loads the SDK."""

from __future__ import annotations

import os
import threading
from typing import Any

from codeswarm.coordination import Coord
from codeswarm.core.errors import CodeswarmError


class StoreLater:
    """The store, opened on first use, and tried again on each use until it opens: a server
    whose store is unreachable (PostgreSQL down, a bad path) still starts, and each tool call
    says why. (A person's Codex mounts this server as ``required``: a server that failed to
    start would stop their whole session.)"""

    def __init__(
        self,
        url: str | None,
        root: str | None,
        scope: str | None = None,
        *,
        report: str | None = None,
    ) -> None:
        """``report``: the swarm's ``report_chars`` (default: ``CODESWARM_REPORT_CHARS`` of
        this process's environment)."""
        from codeswarm.coordination.target import resolve_root

        self._url, self._root = url, root
        self._report = report
        # a worktree agent: paths relative to its worktree (root), leases keyed by the project
        self._scope = os.path.abspath(scope) if scope else None
        try:
            self.root = resolve_root(root)
        except CodeswarmError:  # said at the first use, as the store's own error
            self.root = os.path.abspath(root or os.curdir)
        self._coord: Coord | None = None
        self._lock = threading.Lock()

    def get(self) -> Coord:
        with self._lock:
            if self._coord is None:
                from codeswarm.coordination.delegation import REPORT_ENV, report_limits

                chars = self._report if self._report is not None else os.environ.get(REPORT_ENV)
                limits = report_limits(chars)
                self._coord = Coord.open(
                    self._url, root=self._root, scope=self._scope, limits=limits
                )
            return self._coord

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)

    def close(self) -> None:
        with self._lock:
            if self._coord is not None:
                self._coord.close()
                self._coord = None
