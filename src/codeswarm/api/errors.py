"""Errors the API answers with: one JSON shape for every one,
``{"error": {"code": "...", "message": "one line"}}``.

Route code raises :class:`ApiError`; the app turns it (and a :class:`UsageError` from the layers
below, a 400) into :func:`error_response`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codeswarm.core.errors import ApiError as ApiError  # defined with every other error

if TYPE_CHECKING:
    from starlette.responses import JSONResponse


def one_line(text: str) -> str:
    """``text`` on one line (a message may quote a path or a command with newlines in it)."""
    return " ".join(text.split())


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": one_line(message)}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON response for an error (``headers``: e.g. ``WWW-Authenticate`` on a 401)."""
    from starlette.responses import JSONResponse

    return JSONResponse(error_body(code, message), status_code=status, headers=headers)
