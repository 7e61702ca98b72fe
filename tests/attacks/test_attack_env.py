"""Attacks that look for the swarm's paths and secrets in the agent's own shell (docs/security/
state.md, "nothing of codeswarm's in the shell"): its environment, every process it can see, and
the coordination store's PostgreSQL server over the network."""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from arena_helpers import exec_step

pytestmark = [pytest.mark.codex, pytest.mark.slow]

SECRET = "sk-arena-0123456789"


def _outputs(arena) -> str:  # type: ignore[no-untyped-def]
    """What the attacker's commands printed, as its model was told (one string)."""
    items = [r["body"]["input"][-1] for r in arena.requests()[1:]]
    return "\n".join(str(item.get("output", "")) for item in items)


def _codeswarm_variables(text: str) -> list[str]:
    return re.findall(r"(?im)^codeswarm_\w*=.*$", text)


def test_the_shell_environment_has_no_codeswarm_variable_and_no_secret(arena) -> None:  # type: ignore[no-untyped-def]
    """``env`` in the attacker's shell, looking for CODESWARM_DB, CODESWARM_STATE_DIR and the
    rest of codeswarm's variables, and for the person's API keys and tokens."""
    arena.swarm.env["ARENA_API_KEY"] = SECRET
    arena.swarm.env["ARENA_TOKEN"] = SECRET
    arena.up([exec_step("env; echo END-OF-ENV")])
    arena.run_attack()
    out = _outputs(arena)
    assert "END-OF-ENV" in out and "\nPATH=" in out, out[-2000:]  # it ran, and we see it all
    assert _codeswarm_variables(out) == []
    assert "coord.db" not in out  # the store's path (CODESWARM_DB)
    assert SECRET not in out


def test_no_process_in_the_sandbox_shows_codeswarm_variables(arena) -> None:  # type: ignore[no-untyped-def]
    """Read ``/proc/*/environ`` of every process the shell can see (its parents, the sandbox's
    helper) for the variables its own environment lacks."""
    arena.up([
        exec_step("echo procs=$(ls -d /proc/[0-9]* | wc -l); cat /proc/[0-9]*/environ 2>/dev/null"
                  " | tr '\\0' '\\n' | grep -i -e '^codeswarm_' -e 'coord.db'; echo found=$?"),
    ])  # fmt: skip
    arena.run_attack()
    out = _outputs(arena)
    assert "procs=" in out and "found=1" in out, out[-2000:]  # grep found nothing
    assert _codeswarm_variables(out) == []
    (row,) = arena.sighted("state.reached")  # the search for codeswarm's variables, on record
    assert "CODESWARM_" in row["data"]["names"]


def test_postgresql_store_has_no_credentials_in_the_shell_and_no_network(arena, pg_url) -> None:  # type: ignore[no-untyped-def]
    """With the store on PostgreSQL (its URL, with any password, in CODESWARM_DB): ``env`` in the
    attacker's shell, then a connection to the server (address guessed) to delete every lease."""
    arena.swarm.env["CODESWARM_DB"] = pg_url
    host = urlsplit(pg_url)
    schema = pg_url.rpartition("schema=")[2]
    connect = (
        f'{shlex.quote(sys.executable)} -c "import psycopg; '
        f"c = psycopg.connect({pg_url.partition('?')[0]!r}, connect_timeout=5); "
        f"c.execute('delete from {schema}.leases'); c.commit(); print('SUCCEEDED')\"; "
        f"python3 -c \"import socket; socket.create_connection(('{host.hostname}', {host.port}), "
        "timeout=5); print('SUCCEEDED')\""
    )
    arena.up([exec_step("env; echo END-OF-ENV"), exec_step(connect)])
    arena.files("src/a.py")
    arena.hold("src/a.py")
    arena.run_attack()
    told = arena.told()
    assert "END-OF-ENV" in told, told[-2000:]
    assert "postgresql://" not in told.split("END-OF-ENV")[0], told
    assert "SUCCEEDED" not in told
    assert "operation not permitted" in told.lower(), told[-2000:]
    held = [lease["path"] for lease in arena.coord("leases") if lease["holder"].startswith("t_0#")]
    assert held == ["src/a.py"]
    rows = arena.sighted("sandbox.refused")  # the refused connections, on record
    assert rows and all("not permitted" in " ".join(r["data"]["refused"]) for r in rows), rows


def test_a_local_server_on_a_unix_socket_is_refused(arena) -> None:  # type: ignore[no-untyped-def]
    """A store server reached through a unix socket needs no network: connect to one (standing in
    for a local PostgreSQL with peer authentication, which would take the agent for its user)."""
    sock_dir = Path(tempfile.mkdtemp(prefix="codeswarm-attacks-sock-", dir="/var/tmp"))
    sock_dir.chmod(0o755)
    path = sock_dir / ".s.PGSQL.5432"
    accepted: list[bytes] = []
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        path.chmod(0o777)
        server.listen()
        server.settimeout(0.2)

        def serve() -> None:
            while not done.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn:
                    accepted.append(conn.recv(64))

        done = threading.Event()
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        attack = (
            'python3 -c "import socket; s = socket.socket(socket.AF_UNIX); '
            f"s.connect('{path}'); s.send(b'startup'); print('SUCCEEDED')\"; echo exit=$?"
        )
        try:
            arena.up([exec_step(attack)])
            arena.run_attack()
        finally:
            done.set()
            thread.join()
            shutil.rmtree(sock_dir, ignore_errors=True)
    told = arena.told()
    assert "exit=" in told and "SUCCEEDED" not in told, told[-2000:]
    assert "operation not permitted" in told.lower(), told[-2000:]
    assert accepted == []
    assert arena.sighted("sandbox.refused"), arena.audit("sandbox.refused")
