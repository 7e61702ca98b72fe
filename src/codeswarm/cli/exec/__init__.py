"""``codeswarm exec``: one Codex agent on a prompt, streamed (a fast command: launched before the
rest of codeswarm has loaded)."""
