"""The HTTP/SSE surface of ``codeswarm serve`` (docs/api.md): a bearer-token REST API over every
swarm of a project, their events as Server-Sent Events, and the dashboard. Starlette and uvicorn
are imported only here and in ``cli/serve.py``, never on the CLI's hot paths."""
