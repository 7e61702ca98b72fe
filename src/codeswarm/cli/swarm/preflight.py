"""What ``up`` asks Codex itself before it launches a swarm on a real model: that Codex starts
with the swarm's settings, and that the provider has the login it needs (without one, every turn
would only retry, forever: notes codex-facts-more §8).

One short-lived ``codex app-server`` in a throwaway home seeded like an agent's (the person's
login and config.toml, :mod:`codeswarm.worker.home`); nothing reaches the network
(``account/read`` with ``refreshToken: false``). It is asked once per set of inputs, not per
``up`` (≈ 0.15 s, before anything starts): a check that passed is remembered
(:data:`CHECKS_CACHE`) under a digest of everything that decides it (:func:`check_key`); any
change to one of them (the binary, the settings, the person's login or config, a config file
Codex reads, a ``CODEX_*``/``OPENAI_*`` variable) asks again, and a failure is never remembered.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
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
    key = check_key(spec)
    if key is not None and _passed(key):
        return
    problem = asyncio.run(_problem(spec))
    if problem is not None:
        raise CodeswarmError(problem)
    if key is not None:
        _remember(key)


CHECKS_CACHE = "model-checks.json"
"""Under :func:`~codeswarm.core.paths.user_cache_home`: digest -> when a check passed."""
CHECK_TTL_S = 24 * 3600.0
"""How long a passed check is trusted (its inputs unchanged): a day."""
CHECKS_KEPT = 32
"""How many passed checks are remembered (the newest)."""
SYSTEM_CONFIG = ("/etc/codex/config.toml", "/etc/codex/managed_config.toml",
                 "/etc/codex/requirements.toml")  # fmt: skip
"""Configuration Codex reads beside the person's own."""


def check_key(spec: SwarmSpec) -> str | None:
    """A digest of everything the check's answer depends on; ``None`` when the binary cannot
    be looked at (then it is asked)."""
    import hashlib

    from codeswarm.core.paths import file_identity

    binary = os.path.realpath(spec.codex_bin or "")
    identity = file_identity(binary)
    if identity is None:
        return None
    home = Path(spec.user_codex_home) if spec.user_codex_home else None
    projects = [Path(spec.cwd), *Path(spec.cwd).parents]
    parts = {
        "binary": [binary, identity],
        "provider": spec.model_provider,
        "model": spec.model,
        "overrides": sorted(spec.config_overrides.items()),
        "codex_env": sorted(spec.codex_env.items()),
        "home": [str(home), *(file_identity(home / f) for f in ("auth.json", "config.toml"))]
        if home is not None
        else None,
        "system": [file_identity(f) for f in SYSTEM_CONFIG],
        "projects": [file_identity(d / ".codex" / "config.toml") for d in projects],
        "env": sorted((k, v) for k, v in os.environ.items() if k.startswith(("CODEX_", "OPENAI_"))),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _cache_path() -> Path:
    from codeswarm.core.paths import user_cache_home

    return user_cache_home() / CHECKS_CACHE


def _read_checks() -> dict[str, float]:
    try:
        data = json.loads(_cache_path().read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}


def _passed(key: str) -> bool:
    when = _read_checks().get(key)
    return when is not None and 0 <= time.time() - when < CHECK_TTL_S


def _remember(key: str) -> None:
    """Note that the check with ``key`` passed (a cache: a failure to write it is ignored)."""
    from codeswarm.core.atomic import atomic_write

    checks = _read_checks()
    checks[key] = time.time()
    newest = dict(sorted(checks.items(), key=lambda kv: kv[1])[-CHECKS_KEPT:])
    path = _cache_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, json.dumps(newest, indent=1).encode() + b"\n", durable=False)
    except OSError:
        pass


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
            initialize=False, seed_home=True,  # a throwaway home: Codex's databases copied in
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
"""inotify instances a Codex agent holds on its machine: its Codex 2, its worker 1 (measured with
Codex 0.169.0)."""
INOTIFY_PER_CLAUDE_AGENT = 2
"""A Claude Code agent's: its ``claude`` 1, its worker 1 (measured with Claude Code 2.1.197,
after a turn)."""
INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"


def inotify_shortfall(n: int, claude: int = 0) -> str | None:
    """A warning when ``n`` more agents on this machine (``claude`` of them Claude Code agents)
    would exhaust the user's inotify instances (``fs.inotify.max_user_instances``, 128 by
    default): a worker that gets none polls its inbox every 50 ms instead of sleeping (≈ 0.5 % of
    a core per agent, all the time). Counts what this user holds now only when the swarm could
    come near the limit."""
    try:
        with open(INOTIFY_LIMIT) as f:
            limit = int(f.read())
    except (OSError, ValueError):
        return None  # not Linux, or not readable: nothing to say
    need = (n - claude) * INOTIFY_PER_AGENT + claude * INOTIFY_PER_CLAUDE_AGENT
    if need * 2 < limit:
        return None
    free = limit - _inotify_in_use()
    if need <= free:
        return None
    return (
        f"{n} agents need about {need} inotify instances (each: the worker 1, its Codex "
        f"{INOTIFY_PER_AGENT - 1} or its Claude Code {INOTIFY_PER_CLAUDE_AGENT - 1}) and "
        f"{max(free, 0)} of fs.inotify.max_user_instances={limit} are free: "
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
