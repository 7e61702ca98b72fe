"""The public faces of codeswarm.coordination and codeswarm.mcp, and what importing coord costs."""

from __future__ import annotations

import subprocess

import codeswarm.coordination
from swarmkit import PYTHON, python_env


def test_coord_surface() -> None:
    assert set(codeswarm.coordination.__all__) == {
        "BROADCAST", "DEFAULT_LEASE_S", "TASK_STATUSES", "Agent", "AuditEvent", "ChangeFeed",
        "Clock", "Coord", "KvEntry", "Lease", "Limits", "ManualClock", "Message", "Store",
        "SystemClock", "Task", "TaskNote", "Tx", "open_store", "resolve_root", "resolve_url",
    }  # fmt: skip
    for name in codeswarm.coordination.__all__:
        assert hasattr(codeswarm.coordination, name), name


def test_mcp_surface() -> None:
    import codeswarm.mcp

    assert set(codeswarm.mcp.__all__) == {"SERVER_NAME", "Identity", "build_server", "run", "serve"}


def test_importing_coord_loads_no_heavy_module() -> None:
    code = (
        "import sys, codeswarm.coordination\n"
        "from codeswarm.coordination import open_store\n"
        "heavy = ['typer', 'click', 'rich', 'msgspec', 'psycopg', 'mcp', 'pydantic', 'json',"
        " 'argparse', 'asyncio', 'dataclasses', 'sqlite3', 'fnmatch']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([PYTHON, "-c", code], env=python_env(), capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"
