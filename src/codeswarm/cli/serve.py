"""``codeswarm serve``: the HTTP/SSE API and the dashboard over every swarm of a project
(docs/api.md; the server is :mod:`codeswarm.api.server`). Loopback unless ``--allow-remote``;
every request but the HTML shell needs the user's bearer token (``--show-token``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from codeswarm.cli.args import PROJECT_HELP, project_dir
from codeswarm.core.errors import CodeswarmError, UsageError

if TYPE_CHECKING:
    import socket

DEFAULT_PORT = 8765
SERVE_FILE = "serve.json"
"""In the project's state directory while ``serve`` runs: ``{url, pid, host, port}``."""


def is_loopback(host: str) -> bool:
    """``localhost``, or an address in 127.0.0.0/8 or ``::1``."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: any free one), bound before the server
    starts so its port is known. :class:`CodeswarmError` when it cannot be had."""
    import errno
    import socket

    address = "127.0.0.1" if host == "localhost" else host.strip("[]")
    try:
        family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from exc
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it small event-stream writes wait for the client's delayed ACK (up to 40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        hint = " (--port 0 takes any free port)" if exc.errno == errno.EADDRINUSE else ""
        raise CodeswarmError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}"
        ) from exc
    return sock


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on."),
    port: int = typer.Option(
        DEFAULT_PORT, "--port", min=0, max=65535, help="The port (0: any free one)."
    ),
    swarms: list[str] = typer.Option(
        [], "--swarm", help="Serve only this swarm; repeatable (default: every swarm)."
    ),
    allow_remote: bool = typer.Option(
        False,
        "--allow-remote",
        help="Allow a non-loopback --host (whoever reaches it with the token runs the swarms).",
    ),
    show_token: bool = typer.Option(
        False, "--show-token", help="Print the API token (made on first use) and exit."
    ),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Serve the HTTP API, the event streams and the dashboard for the swarms of this project.

    Prints the dashboard's URL (the token in its fragment) and runs until SIGINT or SIGTERM."""
    import asyncio

    from codeswarm.api.auth import load_or_create_token
    from codeswarm.core.paths import ensure_state_dir, project_root
    from codeswarm.core.swarm import check_swarm_name

    if show_token:
        print(load_or_create_token())
        return
    if not is_loopback(host) and not allow_remote:
        raise UsageError(
            f"--host {host} is not a loopback address; add --allow-remote to listen there "
            f"(anyone who reaches it with the token controls the swarms)"
        )
    for name in swarms:
        check_swarm_name(name)
    token = load_or_create_token()
    root = project_root(project_dir(project))
    record = ensure_state_dir(root) / SERVE_FILE
    sock = listen(host, port)
    from codeswarm.api.app import ServeConfig
    from codeswarm.api.server import serve as run_server

    config = ServeConfig(project=root, swarms=list(dict.fromkeys(swarms)) or None, token=token)
    try:
        code = asyncio.run(run_server(sock, config, record))
    finally:
        sock.close()
    raise typer.Exit(code)
