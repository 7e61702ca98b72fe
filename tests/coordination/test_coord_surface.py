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


def test_every_public_name_loads_on_first_use() -> None:
    """The face is lazy (PEP 562): in a fresh process, each name of ``__all__`` imports, and
    is the very object its module defines."""
    code = (
        "import sys, codeswarm.coordination as c\n"
        "from codeswarm.coordination import _WHERE\n"
        "assert set(_WHERE) == set(c.__all__), sorted(set(_WHERE) ^ set(c.__all__))\n"
        "for name in c.__all__:\n"
        "    exec(f'from codeswarm.coordination import {name} as got')\n"
        "    module = sys.modules['codeswarm.' + _WHERE[name]]\n"
        "    assert got is getattr(module, name) is getattr(c, name), name\n"
        "try:\n"
        "    c.nothing_here\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([PYTHON, "-c", code], env=python_env(), capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == "module 'codeswarm.coordination' has no attribute 'nothing_here'"


def test_leases_alone_load_no_other_part_of_the_service() -> None:
    """``coord lease`` and ``status`` open the store as a ``LeaseOps`` (every lease method
    :class:`Coord` has, the same code): tasks, delegation, kv, messages, audit stay unloaded."""
    code = (
        "import sys\n"
        "from codeswarm.coordination import bounds, models\n"
        "from codeswarm.coordination.leases import LeaseOps\n"
        "from codeswarm.coordination import Coord\n"
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('codeswarm.coord')"
        " and m.count('.') == 2))\n"
    )
    before = code.replace("from codeswarm.coordination import Coord\n", "")
    for source, more in ((before, set()), (code, {"agents", "audit", "delegation", "feed", "kv",
                                                  "messages", "service", "tasks"})):  # fmt: skip
        done = subprocess.run([PYTHON, "-c", source], env=python_env(), capture_output=True,
                              text=True, check=True)  # fmt: skip
        loaded = set(eval(done.stdout))  # our own repr, printed just now
        light = {"_base", "_errors", "_json", "bounds", "clock", "held", "leases", "models",
                 "paths", "rows"}  # fmt: skip
        assert loaded == light | more
    from codeswarm.coordination import Coord
    from codeswarm.coordination.leases import LeaseOps

    assert issubclass(Coord, LeaseOps)
    above = Coord.__mro__[: Coord.__mro__.index(LeaseOps)]  # Coord and the parts before it
    for name in ("lease", "release", "release_all", "renew", "leases", "lease_paths",
                 "conflicts", "open", "close", "__enter__", "__exit__", "__init__", "_grant",
                 "_live", "_held", "_conflict", "_begin", "_begin_as", "_sweep", "_reclaim",
                 "_refusal", "_event", "_text"):  # fmt: skip
        assert hasattr(LeaseOps, name), name
        assert not [k for k in above if name in vars(k)], name  # nothing overrides them


def test_errors_load_on_the_way_to_the_first_one() -> None:
    """The lease path names its errors through ``coordination._errors``: the very classes of
    ``codeswarm.core.errors``, which loads only when one is raised (or caught)."""
    code = (
        "import sys\n"
        "from codeswarm.coordination import bounds\n"
        "from codeswarm.coordination.leases import LeaseOps\n"
        "print('codeswarm.core.errors' in sys.modules)\n"
        "try:\n"
        "    bounds.check_path('a' * 5000)\n"
        "except Exception as exc:\n"
        "    from codeswarm.core import errors\n"
        "    print(type(exc) is errors.TooLargeError, 'codeswarm.core.errors' in sys.modules)\n"
    )
    done = subprocess.run([PYTHON, "-c", code], env=python_env(), capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.split() == ["False", "True", "True"]
    from codeswarm.coordination._errors import errors
    from codeswarm.core import errors as real

    assert errors.LeaseConflictError is real.LeaseConflictError
