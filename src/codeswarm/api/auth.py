"""The bearer token every API request carries, and the middleware that checks it.

The token is 32 random bytes, URL-safe base64, in ``user_state_home()/serve/token`` (directory
0700, file 0600, written atomically): one per user, made on first use, shown by ``codeswarm serve
--show-token``. :class:`BearerAuth` is pure ASGI (Starlette's ``BaseHTTPMiddleware`` buffers
and breaks streaming responses) and compares in constant time (:func:`hmac.compare_digest`).
Only the HTML shell and its vendored assets load without it: they hold no data.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from codeswarm.core.errors import UsageError
from codeswarm.core.paths import user_state_home

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_BYTES = 32
MIN_TOKEN_CHARS = 32
OPEN_PATHS = ("/", "/index.html")
"""``GET`` paths that load without a token (with everything under :data:`OPEN_PREFIX`)."""
OPEN_PREFIX = "/static/"


def token_path() -> Path:
    return user_state_home() / "serve" / "token"


def load_or_create_token() -> str:
    """The user's API token, made if there is none yet (written in full to a temp file, then
    linked into place: two first runs at once agree on one token). :class:`UsageError` when its
    file cannot be read or made, or is not a private regular file of this user."""
    path = token_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        if not path.exists() and not path.is_symlink():
            _create(path)
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or info.st_uid != os.getuid():
            raise UsageError(
                f"{path} is not a private file of yours (mode 0600): remove it, a new token is made"
            )
        token = path.read_text().strip()
    except OSError as exc:
        raise UsageError(f"cannot use the API token {path}: {exc.strerror or exc}") from exc
    if len(token) < MIN_TOKEN_CHARS:
        raise UsageError(f"{path} holds no usable token: remove it, a new token is made")
    return token


def _create(path: Path) -> None:
    from codeswarm.core.atomic import atomic_write

    token = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).decode().rstrip("=")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    atomic_write(tmp, token.encode() + b"\n", mode=0o600)
    try:
        os.link(tmp, path)  # never replaces: another process's token, made meanwhile, wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def bearer_of(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer" and credentials.strip():
                return credentials.strip()
            return None
    return None


def is_open(method: str, path: str) -> bool:
    """Whether this request may go without a token: the HTML shell and its static assets."""
    return method in ("GET", "HEAD") and (path in OPEN_PATHS or path.startswith(OPEN_PREFIX))


class BearerAuth:
    """ASGI middleware: every HTTP request but :func:`is_open` ones needs the token, else 401
    with ``WWW-Authenticate: Bearer`` and a JSON error (the app behind it never sees it)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or (
            scope["type"] == "http" and is_open(scope["method"], scope["path"])
        ):
            await self.app(scope, receive, send)  # lifespan; the HTML shell
            return
        given = bearer_of(scope["headers"])
        if given is not None and hmac.compare_digest(given, self._token):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # none are served; refused before anything else
            await send({"type": "websocket.close", "code": 1008})
            return
        code, message = (
            (
                "no_token",
                "this API needs 'Authorization: Bearer <token>' (codeswarm serve --show-token)",
            )
            if given is None
            else ("bad_token", "the bearer token is wrong (codeswarm serve --show-token)")
        )
        from codeswarm.api.errors import error_response

        response = error_response(401, code, message, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)
