"""Who is calling a hook, and the settings hooks read (environment only: they run per tool call).

| variable | meaning |
|---|---|
| ``CODESWARM_AGENT_ID`` | set by a fleet worker: the agent's name (the worker registered it) |
| ``CODESWARM_AGENT_NAME`` | a personal session's name (default: ``<client>-<session id prefix>``) |
| ``CODESWARM_ROLE`` | the agent's role (else the file ``.codeswarm/role`` or ``.codeswarm-role`` at the scope root) |
| ``CODESWARM_LEASES_AUTO`` | ``1``: a first edit of a free file leases it (default in fleets), ``0``: never |
| ``CODESWARM_HOOKS_FAIL`` | ``open`` (default): an unreachable coordinator allows the call, with a warning; ``closed``: denies it |
| ``CODESWARM_DB``, ``CODESWARM_SCOPE`` | which coordination store and which scope root (see codeswarm.coordination) |
| ``CODESWARM_RUN_DIR`` | set by a fleet worker: the hooks' scratch directory is ``<run dir>/hooks`` (else a private per-user one, see codeswarm.hooks.scratch) |
"""

from __future__ import annotations

import os
from typing import Any

PERSONAL_LEASE_S = 4 * 3600.0
"""A personal session's registration lasts this long without a heartbeat (each turn beats)."""


class HookContext:
    def __init__(
        self, client: str, payload: dict[str, Any], env: os._Environ[str] | dict[str, str]
    ) -> None:
        self.client = client
        self.payload = payload
        self.env = env
        self.session_id = str(payload.get("session_id") or "")
        self.cwd = str(payload.get("cwd") or os.getcwd())
        fleet = env.get("CODESWARM_AGENT_ID")
        self.fleet = bool(fleet)
        if fleet:
            self.name = fleet
        else:
            self.name = (
                env.get("CODESWARM_AGENT_NAME") or f"{client}-{self.session_id[:8] or os.getpid()}"
            )
        auto = env.get("CODESWARM_LEASES_AUTO")
        self.auto_lease = (auto == "1") if auto in ("0", "1") else self.fleet
        self.fail_closed = env.get("CODESWARM_HOOKS_FAIL", "open").lower() == "closed"

    def role(self, root: str) -> str:
        role = self.env.get("CODESWARM_ROLE")
        if role:
            return role
        for name in (".codeswarm/role", ".codeswarm-role"):
            try:
                with open(os.path.join(root, name)) as f:
                    text = f.read().strip()
            except OSError:
                continue
            if text:
                return text.splitlines()[0][:100]
        from codeswarm.core.defaults import ROLE

        return ROLE if self.fleet else "person"
