"""What points Codex (``-c`` overrides) or Claude Code (environment) at a scripted model."""

from __future__ import annotations

from typing import Any, Final

from codeswarm.core.tomlfmt import config_flags
from codeswarm.core.tomlfmt import toml_value as _toml_value

MODEL: Final = "gpt-5.5"
"""The model slug the scripted model answers as: one from Codex's bundled catalog, so Codex
offers its full tool set (with an unknown slug it warns and drops apply_patch)."""

PROVIDER_ID: Final = "codeswarm-mock"
"""The ``model_provider`` name the overrides define."""

PROVIDER_NAME: Final = "codeswarm scripted model"


def codex_overrides(base_url: str) -> dict[str, Any]:
    """Codex config overrides (dotted keys, as for ``-c``) that make Codex use ``base_url``.

    No ``env_key``: Codex then sends no Authorization header and needs no login. Retries are off
    so a scripted failure is seen once, and plugins are off so Codex reaches for no outside host.
    """
    return {
        "model_provider": PROVIDER_ID,
        "model": MODEL,
        f"model_providers.{PROVIDER_ID}": {
            "name": PROVIDER_NAME,
            "base_url": base_url,
            "wire_api": "responses",
            "supports_websockets": False,
            "request_max_retries": 0,
            "stream_max_retries": 0,
        },
        "features.plugins": False,
    }


to_codex_flags = config_flags
"""``["-c", "key=<toml>", ...]`` for ``codex exec`` / ``codex app-server``, in the dict's order
(:func:`codeswarm.core.tomlfmt.config_flags`)."""
toml_value = _toml_value


DUMMY_API_KEY: Final = "sk-ant-codeswarm-scripted-model"
"""The API key Claude Code is given: it needs one to start; the scripted model ignores it."""


def claude_env(base_url: str) -> dict[str, str]:
    """Environment variables that make Claude Code use ``base_url`` and reach nothing else.

    With ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC`` and the three ``DISABLE_*`` variables the
    only connections Claude Code makes go to ``base_url`` (no telemetry, update check or error
    reports; measured). Give it a throwaway ``HOME`` (or ``CLAUDE_CONFIG_DIR``) as well.
    """
    return {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": DUMMY_API_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }


OPENCLAW_MODEL: Final = "scripted/scripted-model"
"""The ``agents.defaults.model.primary`` that picks the provider :func:`openclaw_models` adds."""


def openclaw_models(base_url: str) -> dict[str, Any]:
    """OpenClaw's ``models`` config section with one provider, ``scripted``, that speaks Chat
    Completions (``openai-completions``) to ``base_url``, and no model-catalog fetch. Pick it
    with ``agents.defaults.model.primary`` = :data:`OPENCLAW_MODEL` (docs/openclaw.md)."""
    provider, model = OPENCLAW_MODEL.split("/")
    return {
        "mode": "replace",
        "catalogRefresh": {"enabled": False},
        "providers": {
            provider: {
                "baseUrl": base_url,
                "apiKey": "sk-codeswarm-scripted-model",
                "api": "openai-completions",
                "models": [
                    {
                        "id": model,
                        "name": PROVIDER_NAME,
                        "reasoning": False,
                        "input": ["text"],
                        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                        "contextWindow": 128000,
                        "maxTokens": 4096,
                    }
                ],
            }
        },
    }
