"""``codeswarm mock-model``: run the scripted Responses-API server (placeholder until written)."""

import typer

app = typer.Typer(help="The scripted model: a Responses-API server for offline runs and tests.")
