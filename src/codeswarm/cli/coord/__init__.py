"""``codeswarm coord``: the coordination store from the shell (a fast command, no Typer)."""
