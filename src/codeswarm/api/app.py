"""The Starlette app of ``codeswarm serve``: the REST routes, the event streams (``stream``),
the OpenAPI document, the dashboard's files; the bearer token in front of everything but the
HTML shell; JSON errors; no CORS (closed: a page of another origin cannot read any answer)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codeswarm.api.body import MAX_BODY
from codeswarm.api.errors import ApiError, error_response
from codeswarm.api.swarms import SwarmIndex

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute


@dataclass
class ServeConfig:
    project: Path
    """Any directory of the project whose swarms are served."""
    swarms: list[str] | None
    """Only these swarms (``--swarm``), or every swarm of the project."""
    token: str
    max_body: int = MAX_BODY
    """The largest request body, in bytes (larger: 413 ``body_too_large``)."""


def static_dir() -> Path:
    """The dashboard's files (package data ``codeswarm/api/static/``)."""
    from importlib.resources import files

    return Path(str(files("codeswarm.api") / "static"))


async def _shell(request: Request) -> Response:
    """The dashboard's HTML shell (no data: it loads without a token)."""
    from starlette.responses import FileResponse

    page = static_dir() / "index.html"
    if not page.is_file():
        return error_response(404, "not_found", "the dashboard is not installed")
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


async def _openapi(request: Request) -> Response:
    from starlette.responses import JSONResponse

    from codeswarm.api.openapi import document

    return JSONResponse(document())


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message)


async def _usage_error(request: Request, exc: Exception) -> Response:
    return error_response(400, "bad_request", str(exc))


async def _codeswarm_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "failed", str(exc))


async def _bug(request: Request, exc: Exception) -> Response:
    return error_response(
        500, "internal", f"internal error: {type(exc).__name__} (see serve's log)"
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), exc.detail)


def create_app(config: ServeConfig) -> Starlette:
    """The app for ``config``; its lifespan starts and stops the event hub."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from codeswarm.api.auth import BearerAuth
    from codeswarm.api.routes import rest_routes
    from codeswarm.api.stream import EventHub
    from codeswarm.core.errors import CodeswarmError, UsageError

    index = SwarmIndex(config.project, config.swarms)
    hub = EventHub(index)
    routes: list[BaseRoute] = [
        *rest_routes(),
        Route("/api/openapi.json", _openapi, methods=["GET"]),
        *hub.routes(),
        Route("/", _shell, methods=["GET"]),
        Route("/index.html", _shell, methods=["GET"]),
        Mount("/static", StaticFiles(directory=static_dir(), check_dir=False), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.aclose()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(BearerAuth, token=config.token)],
        exception_handlers={
            ApiError: _api_error,
            UsageError: _usage_error,
            CodeswarmError: _codeswarm_error,
            HTTPException: _http_error,
            Exception: _bug,  # a bug: its traceback goes to serve's log, the client gets JSON
        },
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.index = index
    app.state.hub = hub
    return app
