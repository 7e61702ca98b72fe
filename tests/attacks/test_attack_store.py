"""Attacks on the coordination store itself from the agent's own shell (docs/security/state.md,
"the store out of reach"). The store lives where the sandbox cannot write; the attacker learns its
path by guessing (the tests template it into the script: a hostile agent could guess it too)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from arena_helpers import exec_step

pytestmark = [pytest.mark.codex, pytest.mark.slow]

DELETE_LEASES = (
    'python3 -c "import os, sqlite3, glob\n'
    "dbs = [os.environ.get('CODESWARM_DB', '')] + glob.glob('/var/tmp/codeswarm-attacks-*/state/coord.db')\n"
    "for d in filter(None, dbs):\n"
    "    try:\n"
    "        sqlite3.connect(d).execute('delete from leases').connection.commit()\n"
    "        print('deleted every lease in', d)\n"
    "    except Exception as e:\n"
    '        print(d, e)"'
)
"""Every store it can guess, each tried on its own (a store another arena left behind, which
no process holds open, fails differently: \"unable to open database file\")."""
CODESWARM = f"{shlex.quote(sys.executable)} -m codeswarm"
"""How the attacker runs codeswarm: the venv's python by its absolute path (PATH may not have it)."""


def _denied(told: str) -> bool:
    told = told.lower()
    return "readonly" in told or "read-only" in told


def _refused_on_record(arena) -> None:  # type: ignore[no-untyped-def]
    """The sandbox's refusal is in the audit log, the attacker as the actor."""
    rows = arena.sighted("sandbox.refused")
    assert rows and all(r["data"]["refused"] for r in rows), arena.audit("sandbox.refused")


def _victims_leases(arena) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(
        lease["path"] for lease in arena.coord("leases") if lease["holder"].startswith("t_0#")
    )


def _blamed_on_victim(arena, kind: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return [e for e in arena.audit(kind) if str(e.get("agent")).startswith("t_0#")]


def test_deleting_every_lease_with_sqlite_from_the_agents_shell_fails(arena) -> None:  # type: ignore[no-untyped-def]
    """python's sqlite3 opens the store (found by $CODESWARM_DB or a guessed path) and deletes
    every lease."""
    arena.files("src/a.py", "src/b.py")
    arena.up([exec_step(DELETE_LEASES)])
    arena.hold("src/a.py", "src/b.py")
    arena.run_attack()
    held = sorted(lease["path"] for lease in arena.coord("leases"))
    assert held == ["src/a.py", "src/b.py"]
    told = arena.told().lower()
    assert "readonly" in told or "read-only" in told, told[-2000:]
    _refused_on_record(arena)


def test_deleting_every_lease_with_the_sqlite3_cli_fails(arena) -> None:  # type: ignore[no-untyped-def]
    """The sqlite3 command-line shell on the store's path: ``delete from leases``."""
    arena.files("src/a.py", "src/b.py")
    db = arena.swarm.state / "coord.db"
    arena.up([exec_step(f"sqlite3 {shlex.quote(str(db))} 'delete from leases; select changes();'")])
    arena.hold("src/a.py", "src/b.py")
    arena.run_attack()
    assert _victims_leases(arena) == ["src/a.py", "src/b.py"]
    assert _denied(arena.told()), arena.told()[-2000:]
    _refused_on_record(arena)


def test_removing_or_replacing_the_store_file_fails(arena) -> None:  # type: ignore[no-untyped-def]
    """Delete the store's WAL, delete the store, rename it away, or copy a fresh empty database
    over it (with python: Codex itself refuses ``rm -f`` before the sandbox is asked)."""
    arena.files("src/a.py")
    db = str(arena.swarm.state / "coord.db")
    arena.up(
        [
            exec_step(f"""python3 - <<'PY'
import os, shutil, sqlite3
d = {db!r}
sqlite3.connect("x.db").close()
for name, op in [("wal", lambda: os.remove(d + "-wal")), ("remove", lambda: os.remove(d)),
                 ("rename", lambda: os.rename(d, d + ".gone")),
                 ("replace", lambda: shutil.copyfile("x.db", d))]:
    try:
        op()
        print("SUCCEEDED", name)
    except OSError as exc:
        print("denied", name, exc)
PY""")
        ]
    )
    arena.hold("src/a.py")
    arena.run_attack()
    assert _victims_leases(arena) == ["src/a.py"]
    told = arena.told()
    assert _denied(told) and "SUCCEEDED" not in told, told[-2000:]
    _refused_on_record(arena)


def test_codeswarm_coord_as_the_victim_cannot_release_its_lease(arena) -> None:  # type: ignore[no-untyped-def]
    """``codeswarm coord --as t_0 release F --db <the store>`` from the attacker's shell: acting
    as the victim through the coordination CLI itself."""
    arena.files("src/a.py")
    db = shlex.quote(str(arena.swarm.state / "coord.db"))
    arena.up([exec_step(f"{CODESWARM} coord --as t_0 --db {db} release src/a.py; echo exit=$?")])
    arena.hold("src/a.py")
    arena.run_attack()
    assert _victims_leases(arena) == ["src/a.py"]
    told = arena.told()
    assert _denied(told) and "exit=0" not in told, told[-2000:]
    _refused_on_record(arena)
    assert _blamed_on_victim(arena, "lease.released") == []


def test_codeswarm_coord_as_the_victim_with_discovered_defaults_fails(arena) -> None:  # type: ignore[no-untyped-def]
    """The same without ``--db``: codeswarm looks for the store the way it would for a person (the
    environment has no CODESWARM_* to point it at the swarm's)."""
    arena.files("src/a.py")
    arena.up([exec_step(f"{CODESWARM} coord --as t_0 release src/a.py; echo exit=$?")])
    arena.hold("src/a.py")
    arena.run_attack()
    assert _victims_leases(arena) == ["src/a.py"]
    told = arena.told()
    assert "exit=0" not in told and "exit=" in told, told[-2000:]
    assert _denied(told), told[-2000:]  # it cannot even create a store of its own
    _refused_on_record(arena)
    assert _blamed_on_victim(arena, "lease.released") == []


def test_registering_the_victims_name_again_fails(arena) -> None:  # type: ignore[no-untyped-def]
    """``codeswarm coord register t_0``: a new generation of the victim's name would fence the
    real one out of its own leases."""
    arena.files("src/a.py")
    db = shlex.quote(str(arena.swarm.state / "coord.db"))
    arena.up([exec_step(f"{CODESWARM} coord --db {db} register t_0; echo exit=$?")])
    arena.hold("src/a.py")
    agents = [a for a in arena.coord("agents") if a["name"] == "t_0"]
    registered = _blamed_on_victim(arena, "agent.registered")
    arena.run_attack()
    assert [a for a in arena.coord("agents") if a["name"] == "t_0"] == agents
    assert _victims_leases(arena) == ["src/a.py"]
    told = arena.told()
    assert _denied(told) and "exit=0" not in told, told[-2000:]
    _refused_on_record(arena)
    assert _blamed_on_victim(arena, "agent.registered") == registered


def test_the_state_directory_default_is_out_of_reach(arena_default_state) -> None:  # type: ignore[no-untyped-def]
    """No CODESWARM_STATE_DIR: the swarm's state goes to its default place (the person's XDG
    state directory, keyed by project); the attacker finds the store there and deletes every
    lease."""
    arena = arena_default_state
    arena.files("src/a.py", "src/b.py")
    every_store = f"{arena.swarm.state.parent}/*/coord.db"  # (no spaces: a mkdtemp name)
    arena.up([
        exec_step(f"for d in {every_store}; do "
                  "sqlite3 \"$d\" 'delete from leases; select changes();'; done"),
    ])  # fmt: skip
    assert Path(arena.swarm.state, "project").read_text().strip() == str(arena.repo.resolve())
    arena.hold("src/a.py", "src/b.py")
    arena.run_attack()
    assert _victims_leases(arena) == ["src/a.py", "src/b.py"]
    assert _denied(arena.told()), arena.told()[-2000:]
    _refused_on_record(arena)
