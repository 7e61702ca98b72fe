"""``ssh://`` URLs of remote workspaces, and the one way codeswarm builds an ``ssh`` command line
to one (the mailbox's :class:`~codeswarm.mailbox.SshTransport` and the CLI's ``--remote``)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from codeswarm.core.errors import UsageError


@dataclass(frozen=True, slots=True)
class SshUrl:
    """``ssh://[user@]host[:port]/path[?python=/remote/python]``.

    ``path`` is absolute on the remote host, or ``~/...`` (written ``ssh://host/~/ws``) for one
    under the remote home. ``python`` is the remote interpreter that has codeswarm installed.
    """

    host: str
    path: str
    user: str | None = None
    port: int | None = None
    python: str | None = None

    @classmethod
    def parse(cls, url: str) -> SshUrl:
        """Raises :class:`UsageError` (one line) for anything that is not such a URL."""
        shape = "expected ssh://[user@]host[:port]/path"
        if not url.startswith("ssh://"):
            raise UsageError(f"not an ssh URL: {url!r} ({shape})")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UsageError(f"bad ssh URL {url!r}: {exc}") from None
        if parts.password is not None:
            raise UsageError(f"bad ssh URL {url!r}: no passwords in URLs (use keys or an agent)")
        host = parts.hostname
        if not host or host.startswith("-"):
            raise UsageError(f"bad ssh URL {url!r}: no host ({shape})")
        if parts.fragment:
            raise UsageError(f"bad ssh URL {url!r}: unexpected #{parts.fragment}")
        path = unquote(parts.path)
        if path.startswith("/~"):
            path = path[1:]
        if path in ("", "/") or not (path.startswith("/") or path == "~" or path[:2] == "~/"):
            raise UsageError(f"bad ssh URL {url!r}: no remote path ({shape})")
        try:
            query = parse_qs(parts.query, strict_parsing=bool(parts.query))
        except ValueError:
            raise UsageError(f"bad ssh URL {url!r}: bad query {parts.query!r}") from None
        unknown = sorted(set(query) - {"python"})
        if unknown or any(len(v) != 1 for v in query.values()):
            raise UsageError(f"bad ssh URL {url!r}: the only query parameter is python=PATH")
        python = query["python"][0] if "python" in query else None
        user = unquote(parts.username) if parts.username else None
        return cls(host=host, path=path.rstrip("/") or "/", user=user, port=port, python=python)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        path = self.path if self.path.startswith("/") else "/" + self.path
        query = f"?python={self.python}" if self.python else ""
        return f"ssh://{user}{host}{port}{path}{query}"


def is_ssh_url(target: object) -> bool:
    """Whether ``target`` is an ``ssh://`` URL (rather than a local path)."""
    return isinstance(target, str) and target.startswith("ssh://")


def shell_path(path: str) -> str:
    """``path`` quoted for a POSIX shell; a leading ``~/`` becomes ``"$HOME"/``."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def remote_python(
    python: str | None, workspace: str, args: str, *, env: Mapping[str, str] | None = None
) -> str:
    """The command for the far host's login shell that runs ``<python> ARGS``.

    ``python`` (a command line, the URL's ``?python=``) when given; else the workspace's
    ``.venv/bin/python`` when it is executable there, else ``python3``. ``workspace`` and the
    values of ``env`` (variables exported first) are shell words already (see
    :func:`shell_path`); ``args`` is quoted already too. Anything beyond one plain command runs
    under ``sh -c``, whatever the login shell is.
    """
    exports = "".join(f"export {k}={v}; " for k, v in (env or {}).items())
    if python:
        py = " ".join(shlex.quote(w) for w in shlex.split(python))
        if not exports:
            return f"{py} {args}"
        script = f"{exports}exec {py} {args}"
    else:
        venv = f"{workspace}/.venv/bin/python"
        script = f"{exports}if [ -x {venv} ]; then exec {venv} {args}; else exec python3 {args}; fi"
    return "exec sh -c " + shlex.quote(script)


def ssh_argv(
    url: SshUrl,
    command: str,
    *,
    ssh: Sequence[str] = ("ssh",),
    options: Sequence[str] = (),
    tty: bool = False,
    batch: bool = True,
    settings: Sequence[str] = (),
) -> list[str]:
    """``ssh OPTIONS -T|-t -o LogLevel=ERROR [-o BatchMode=yes] SETTINGS [-p PORT] [-l USER] --
    HOST COMMAND``: the person's ``options`` come first, so that they win (ssh keeps the first
    value of a setting); ``batch`` (no password or host-key prompts) unless they may answer one;
    ``settings``: the caller's own ``-o``/``-i`` arguments."""
    argv = [*ssh, *options, "-t" if tty else "-T", "-o", "LogLevel=ERROR"]
    if batch:
        argv += ["-o", "BatchMode=yes"]
    argv += settings
    if url.port:
        argv += ["-p", str(url.port)]
    if url.user:
        argv += ["-l", url.user]
    return [*argv, "--", url.host, command]
