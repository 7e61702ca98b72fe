"""Request bodies: JSON objects, at most ``max_body`` bytes, decoded into msgspec Structs that
refuse unknown fields. Every way a body can be wrong is a 4xx :class:`ApiError` naming it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from codeswarm.api.errors import ApiError

if TYPE_CHECKING:
    from starlette.requests import Request

T = TypeVar("T")

MAX_BODY = 1_048_576
"""The default body limit (1 MiB): ``ServeConfig.max_body``."""


def too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is larger than {limit} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) as soon as it is known to pass ``limit`` bytes: from its
    ``Content-Length`` before reading, else while reading."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ApiError(400, "bad_request", f"bad Content-Length {length!r}")
        if int(length) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def decode(request: Request, type_: type[T]) -> T:
    """The request's JSON body as ``type_`` (a msgspec Struct with ``forbid_unknown_fields``):
    415 unless it says ``application/json``, 413 over the limit, 400 ``bad_json`` when it is not
    JSON, 400 ``bad_request`` (naming the field) when it is not what ``type_`` takes."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(
            415, "unsupported_media_type", "send the body as JSON (Content-Type: application/json)"
        )
    raw = await read_body(request, request.app.state.config.max_body)
    if not raw.strip():
        raise ApiError(400, "bad_json", "the body is empty: send a JSON object")
    try:
        value: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "bad_json", f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
