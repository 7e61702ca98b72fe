"""Whether Codex can reach its model at all: a login the configured provider needs.

Codex starts, and even accepts turns, without a login; the turns then retry forever (notes:
codex-facts-more §8). ``account/read {refreshToken: false}`` tells without touching the network:
``{account: null, requiresOpenaiAuth: true}`` means the provider needs an OpenAI login and there
is none. ``OPENAI_API_KEY`` / ``CODEX_API_KEY`` in the environment do not count (Codex does not
send them either), only a stored login (``codex login``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codeswarm.core.errors import RpcError

if TYPE_CHECKING:
    from codeswarm.codex.client import AppServer

FIX = (
    "run 'codex login' (or 'codex login --with-api-key'), or use another provider "
    "('--model-provider mock --script FILE' for the scripted model)"
)
"""What a person does about a missing login."""


def login_missing(account: Any) -> bool:
    """True when an ``account/read`` result says the provider needs a login and has none."""
    return (
        isinstance(account, dict)
        and account.get("requiresOpenaiAuth") is True
        and account.get("account") is None
    )


def no_login_message(codex_home: object) -> str:
    """The one line that says there is no login, where it was looked for, and the fix."""
    return (
        f"no Codex login: the model provider needs an OpenAI login and {codex_home} has none; {FIX}"
    )


async def login_problem(codex: AppServer, codex_home: object) -> str | None:
    """One line naming the cause and the fix when ``codex`` has no login its provider needs;
    None when it has one, or needs none. A Codex that does not know ``account/read`` cannot
    tell: None."""
    try:
        account = await codex.request("account/read", {"refreshToken": False})
    except RpcError:
        return None
    return no_login_message(codex_home) if login_missing(account) else None


def start_failure(codex: AppServer) -> str | None:
    """Codex's own reason for exiting at start ("Model provider `x` not found", a bad ``-c``
    value), from the last lines of its stderr; None when it gave none."""
    from codeswarm.codex.transport import ProcessTransport

    if not isinstance(codex.transport, ProcessTransport):
        return None
    for line in codex.transport.stderr_tail():
        text = line.strip()
        if text.startswith("Error: "):
            return text[len("Error: ") :]
    return None
