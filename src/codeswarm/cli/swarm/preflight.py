"""What ``up`` asks Codex itself before it launches a swarm on a real model: that Codex starts
with the swarm's settings, and that the provider has the login it needs (without one, every turn
would only retry, forever: notes codex-facts-more §8).

One short-lived ``codex app-server`` in a throwaway home seeded like an agent's (the person's
login and config.toml, :mod:`codeswarm.worker.home`); nothing reaches the network
(``account/read`` with ``refreshToken: false``).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from codeswarm.core.errors import CodeswarmError, ProcessExitedError

if TYPE_CHECKING:
    from codeswarm.core.swarm import SwarmSpec

CHECK_TIMEOUT = 30.0
"""How long the check may take (Codex starts in well under a second); past it, up goes on."""


def check_model_access(spec: SwarmSpec) -> None:
    """Raise :class:`CodeswarmError` (one line: the cause and the fix) when the swarm's agents
    could not use their model: Codex refuses the settings, or the provider needs a login and
    there is none. The scripted model needs neither: not checked."""
    if spec.model_provider == "mock":
        return
    problem = asyncio.run(_problem(spec))
    if problem is not None:
        raise CodeswarmError(problem)


async def _problem(spec: SwarmSpec) -> str | None:
    from codeswarm.codex.account import login_problem, start_failure
    from codeswarm.codex.client import AppServer
    from codeswarm.codex.toolchain import describe
    from codeswarm.worker.home import prepare_codex_home

    found = describe(Path(spec.codex_bin), "config")
    binary = found._replace(env={**found.env, **spec.codex_env})
    config: dict[str, object] = {"features.plugins": False}  # reach for no outside host
    if spec.model_provider is not None:
        config["model_provider"] = spec.model_provider
    args = [a for k, v in spec.config_overrides.items() for a in ("-c", f"{k}={v}")]
    seed = Path(spec.user_codex_home) if spec.user_codex_home else None
    with tempfile.TemporaryDirectory(prefix="codeswarm-check-") as tmp:
        home = Path(tmp)
        prepare_codex_home(home, seed)
        codex = await AppServer.spawn(
            binary, codex_home=home, cwd=Path(spec.cwd), config=config, args=args,
            initialize=False,
        )  # fmt: skip
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                try:
                    await codex.initialize()
                except ProcessExitedError:
                    why = start_failure(codex)
                    if why is None:
                        raise
                    return f"codex cannot start with the swarm's settings: {why}"
                return await login_problem(codex, spec.user_codex_home or "the Codex home")
        except TimeoutError:
            return None  # a slow machine: the agents will tell
        finally:
            await codex.aclose()


INOTIFY_PER_AGENT = 3
"""inotify instances an agent holds on its machine: its Codex 2, its worker 1 (measured with
Codex 0.169.0)."""
INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"


def inotify_shortfall(n: int) -> str | None:
    """A warning when ``n`` more agents on this machine would exhaust the user's inotify
    instances (``fs.inotify.max_user_instances``, 128 by default): a worker that gets none polls
    its inbox every 50 ms instead of sleeping (≈ 0.5 % of a core per agent, all the time).
    Counts what this user holds now only when the swarm could come near the limit."""
    try:
        with open(INOTIFY_LIMIT) as f:
            limit = int(f.read())
    except (OSError, ValueError):
        return None  # not Linux, or not readable: nothing to say
    need = n * INOTIFY_PER_AGENT
    if need * 2 < limit:
        return None
    free = limit - _inotify_in_use()
    if need <= free:
        return None
    return (
        f"{n} agents need about {need} inotify instances (Codex {INOTIFY_PER_AGENT - 1}, the "
        f"worker 1, each) and {max(free, 0)} of fs.inotify.max_user_instances={limit} are free: "
        "workers without one poll their inbox (about 0.5 % of a core each, idle or not); raise "
        "the limit, e.g. 'sudo sysctl fs.inotify.max_user_instances=1024'"
    )


def _inotify_in_use() -> int:
    """inotify instances held by the processes this user can see (their open descriptors)."""
    import os

    uid = os.getuid()
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            if os.stat(fd_dir).st_uid != uid:
                continue
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(f"{fd_dir}/{fd}") == "anon_inode:inotify":
                        count += 1
                except OSError:
                    continue
        except OSError:
            continue
    return count
