"""The OpenAPI 3.1 document of the API (``GET /api/openapi.json``), written by hand next to the
routes it describes (docs/api.md says the same in prose). A test checks that every route of the
app is in it."""

from __future__ import annotations

from typing import Any

from codeswarm import __version__

JSON = "application/json"
SWARM = {"name": "swarm", "in": "path", "required": True, "schema": {"type": "string"}}
AGENT = {
    "name": "agent", "in": "path", "required": True, "schema": {"type": "string"},
    "description": "An agent id (`s_1`) or rank (`1`).",
}  # fmt: skip
TARGET = {
    "description": "'all', an agent id or rank, a comma list of those, or a list.",
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
OBJECT = {"type": "object"}
EVENT_ID = {
    "description": "Resume after this event id (the `Last-Event-ID` header takes precedence).",
    "name": "after", "in": "query", "required": False, "schema": {"type": "string"},
}  # fmt: skip
TYPES = {
    "description": "Only these event types, comma-separated (ids stay the same).",
    "name": "types", "in": "query", "required": False, "schema": {"type": "string"},
}  # fmt: skip


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required,
              "additionalProperties": False}  # fmt: skip
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _op(summary: str, ok: int = 200, *, params: list[Any] | None = None,
        body: dict[str, Any] | None = None, errors: tuple[int, ...] = (404,),
        stream: bool = False) -> dict[str, Any]:  # fmt: skip
    content = (
        {"text/event-stream": {"schema": {"type": "string"}}}
        if stream
        else {JSON: {"schema": OBJECT}}
    )
    responses: dict[str, Any] = {str(ok): {"description": "OK", "content": content}}
    for status in sorted({401, *errors}):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = body
    return op


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind},
            "description": description}  # fmt: skip


S = {"type": "string"}
UP = _body(
    {
        "name": S, "agents": {"type": "integer", "minimum": 1}, "cwd": S, "model_provider": S,
        "script": S, "model": S, "roles": TARGET, "approval_policy": S, "sandbox": S,
        "approvals": S, "message_mode": {"enum": ["queue", "steer"]}, "coord": {"type": "boolean"},
        "backend": {"enum": ["local", "slurm"]}, "budget": {"type": "integer"},
        "agent_budget": {"type": "integer"}, "timeout": {"type": "number"},
    },
    ["name", "agents"],
)  # fmt: skip
BODY_ERRORS = (400, 404, 413, 415)


def document() -> dict[str, Any]:
    """The OpenAPI document."""
    paths: dict[str, Any] = {
        "/api/swarms": {
            "get": _op("Every swarm of the project (the rows of `codeswarm ls --json`).",
                       errors=()),
            "post": _op("Bring a swarm up (`codeswarm up … --json`).", 201, body=UP,
                        errors=(400, 409, 413, 415, 500)),
        },
        "/api/swarms/{swarm}": {
            "get": _op("The swarm's status (`codeswarm status --json`).", params=[SWARM]),
            "delete": _op("Bring the swarm down (`codeswarm down`).", params=[
                SWARM, _query("grace", "number", "Seconds before workers are killed (0..3600)."),
                _query("purge", "boolean", "Also delete the run directory."),
            ], errors=(400, 404)),
        },
        "/api/swarms/{swarm}/agents": {
            "get": _op("Every agent's status view.", params=[SWARM]),
        },
        "/api/swarms/{swarm}/agents/{agent}": {
            "get": _op("One agent's status view.", params=[SWARM, AGENT]),
        },
        "/api/swarms/{swarm}/send": {
            "post": _op("Send a message to one agent, some or all.", 202, params=[SWARM],
                        body=_body({"to": TARGET, "text": S,
                                    "mode": {"enum": ["queue", "steer"]}}, ["to", "text"]),
                        errors=BODY_ERRORS),
        },
        "/api/swarms/{swarm}/interrupt": {
            "post": _op("Interrupt the running turns of these agents.", 202, params=[SWARM],
                        body=_body({"to": TARGET}, ["to"]), errors=(*BODY_ERRORS, 409)),
        },
        "/api/swarms/{swarm}/approvals": {
            "get": _op("The approval requests the agents wait on.", params=[SWARM]),
            "post": _op("Answer an approval request.", 202, params=[SWARM], body=_body(
                {"agent": S, "request_id": {"oneOf": [S, {"type": "integer"}]},
                 "decision": {"enum": ["accept", "acceptForSession", "decline"]}},
                ["agent", "request_id", "decision"]), errors=(*BODY_ERRORS, 409)),
        },
        "/api/swarms/{swarm}/leases": {"get": _op("The live leases.", params=[SWARM])},
        "/api/swarms/{swarm}/tasks": {"get": _op("The task board.", params=[SWARM])},
        "/api/swarms/{swarm}/messages": {
            "get": _op("Messages between the agents, oldest first.", params=[
                SWARM, _query("agent", "string", "Only those this agent sent or received."),
                _query("limit", "integer", "The last N (1..1000, default 100)."),
            ], errors=(400, 404)),
        },
        "/api/swarms/{swarm}/run": {
            "get": _op("Budgets, usage per agent, the orchestrator and the run's summary.",
                       params=[SWARM]),
        },
        "/api/swarms/{swarm}/events": {
            "get": _op("Every agent's events, as Server-Sent Events.", params=[SWARM, EVENT_ID,
                       TYPES], errors=(400, 404), stream=True),
        },
        "/api/swarms/{swarm}/agents/{agent}/events": {
            "get": _op("One agent's events, as Server-Sent Events.", params=[
                SWARM, AGENT, EVENT_ID, TYPES], errors=(400, 404), stream=True),
        },
        "/api/openapi.json": {"get": _op("This document.", errors=())},
    }  # fmt: skip
    responses = {
        f"E{status}": {"description": what, "content": {JSON: {"schema": ERROR}}}
        for status, what in {
            400: "Bad input (bad_json, bad_request, bad_event_id).",
            401: "No or wrong bearer token (no_token, bad_token).",
            404: "Unknown swarm or agent (unknown_swarm, unknown_agent).",
            409: "Conflict (already_running, not_pending, nothing_to_interrupt).",
            413: "The body is over the limit (body_too_large).",
            415: "The body is not application/json (unsupported_media_type).",
            500: "The operation failed (up_failed, failed).",
        }.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "codeswarm", "version": __version__,
                 "description": "The HTTP API of `codeswarm serve` (docs/api.md)."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": responses,
        },
    }  # fmt: skip
