"""Steering a swarm from another machine: its mailbox over one ssh connection.

``--remote ssh://user@host/path/to/workspace`` names the workspace (the state directory holding
``runs/<swarm>``) on the cluster. Events are read and messages appended through
:class:`codeswarm.mailbox.SshTransport`; what a remote consumer has seen (``attach --cursor``) is
kept on this machine under ``<state>/remote/<host>/<swarm>/``. Extra ``ssh`` arguments (a key,
a known_hosts file) come from ``CODESWARM_SSH_ARGS``; your ``~/.ssh/config`` applies as usual.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from codeswarm.core.errors import UsageError
from codeswarm.core.paths import state_dir
from codeswarm.core.swarm import RunDir, SwarmSpec, agent_rank, check_swarm_name


def ssh_options() -> list[str]:
    raw = os.environ.get("CODESWARM_SSH_ARGS", "")
    try:
        return shlex.split(raw)
    except ValueError as exc:
        raise UsageError(f"CODESWARM_SSH_ARGS: {exc}") from exc


def open_remote(url: str, swarm: str) -> Any:
    """An (unconnected) transport to ``swarm``'s mailbox at ``url``."""
    from codeswarm.mailbox import open_transport
    from codeswarm.mailbox.ssh import is_ssh_url

    check_swarm_name(swarm)
    if not is_ssh_url(url):
        raise UsageError(f"--remote wants ssh://[user@]host[:port]/path/to/workspace, got {url!r}")
    return open_transport(url, swarm=swarm, ssh_options=ssh_options())


async def remote_spec(transport: Any, swarm: str) -> SwarmSpec:
    """What the agents' outboxes say about the swarm (its size), for routing and targets."""
    agents = [a for a in await transport.agents("outbox") if agent_rank(a) is not None]
    if not agents:
        raise UsageError(f"no agents of swarm {swarm!r} at the remote workspace (is it up?)")
    size = max(int(agent_rank(a) or 0) for a in agents) + 1
    return SwarmSpec(name=swarm, size=size, cwd="", codex_bin="")


def mirror(url: str, swarm: str) -> RunDir:
    """Where this machine keeps its cursors for a remote swarm."""
    from codeswarm.mailbox.sshurl import SshUrl

    u = SshUrl.parse(url)
    host = f"{u.host}_{u.port}" if getattr(u, "port", None) else str(u.host)
    root = state_dir() / "remote" / host.replace("/", "_") / swarm
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return RunDir(root)


FORWARDED = ("up", "status", "down", "logs", "interrupt", "approve", "ls")
"""Commands that run on the far host as one-shot `codeswarm` processes over ssh (nothing is left
running there); `send` and `attach` use the persistent mailbox connection instead."""


def remote_argv(url: str, args: list[str], *, tty: bool = False) -> list[str]:
    """The ssh command line that runs ``codeswarm ARGS`` in the workspace ``url`` names."""
    from codeswarm.mailbox.sshurl import SshUrl, remote_python, shell_path, ssh_argv

    u = SshUrl.parse(url)
    workspace = shell_path(u.path)
    cmd = "-m codeswarm " + " ".join(shlex.quote(a) for a in args)
    env = {"CODESWARM_STATE_DIR": workspace}
    return ssh_argv(
        u, remote_python(u.python, workspace, cmd, env=env), options=ssh_options(), tty=tty
    )


def run_forwarded(args: list[str]) -> int:
    """``codeswarm CMD … --remote URL …``: run ``codeswarm CMD …`` on the far host; its output
    and exit code are this command's."""
    import subprocess
    import sys

    i = args.index("--remote")
    if i + 1 >= len(args):
        raise UsageError("--remote wants ssh://[user@]host[:port]/path/to/workspace")
    url = args[i + 1]
    from codeswarm.mailbox.ssh import is_ssh_url

    if not is_ssh_url(url):
        raise UsageError(f"--remote wants ssh://[user@]host[:port]/path/to/workspace, got {url!r}")
    rest = args[:i] + args[i + 2 :]
    argv = remote_argv(url, rest, tty=sys.stdout.isatty() and sys.stdin.isatty())
    try:
        return subprocess.run(argv, check=False).returncode
    except FileNotFoundError:
        raise UsageError("no ssh client on PATH (install openssh-client)") from None
