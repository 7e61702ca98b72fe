"""The holder writes while an attacker's command runs (docs/security/hooks.md, "the holder's own
writes are never undone"). The attacker writes the leased file, then waits on a file-based
handshake; the victim, through its own agent turn, writes its file; then the attacker's command
ends and its PostToolUse finds the file changed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from arena_helpers import exec_step
from lease_checks import PWNED, VICTIMS, intact, undone

from swarmkit import wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

HOLDERS = "the holder's update\n"


def waiting_attack(handshake: Path, write: str) -> dict[str, Any]:
    """Write ``write`` (a relative path) with Python, say so, wait until the test says go."""
    return exec_step(
        f"python3 -c \"open('{write}', 'w').write('{PWNED}')\" && touch {handshake}/attacked && "
        f"while [ ! -e {handshake}/go ]; do sleep 0.05; done"
    )


def during_attack(arena, handshake: Path, victim_prompt: str) -> None:  # type: ignore[no-untyped-def]
    """Run the attack; once it has written and waits, run the victim's turn to its end; then
    let the attack finish."""
    done: dict[str, Any] = {}
    t = threading.Thread(target=lambda: done.update(out=arena.run_attack()), daemon=True)
    t.start()
    wait_until(lambda: (handshake / "attacked").exists(), timeout=120, what="the attacker's write")
    arena.swarm.cli("send", "t", "0", victim_prompt, "--wait", timeout=300)
    (handshake / "go").touch()
    t.join(timeout=300)
    assert "out" in done, "the attacker's turn did not end"


def test_the_holders_own_write_during_the_attack_is_not_undone(arena) -> None:  # type: ignore[no-untyped-def]
    """The holder overwrites its file with a shell command while the attacker's command runs:
    its content stays; the attacker is told the file changed while its holder was at work, and
    the audit log records the attempt (not undone)."""
    handshake = Path(arena.repo).parent / "handshake"
    handshake.mkdir()
    arena.files("src/a.py")
    arena.up(
        [waiting_attack(handshake, "src/a.py")],
        victim=[{"when": "update a", "exec": f'printf "{HOLDERS}" > src/a.py'}],
    )
    arena.hold("src/a.py")
    during_attack(arena, handshake, "update a")
    intact(arena, "src/a.py", content=HOLDERS)
    told = arena.told()
    assert "src/a.py" in told and "working at the same time" in told, told[-3000:]
    rows = [e for e in arena.audit("lease.violated") if e["agent"].startswith("t_1#")]
    assert [(e["subject"], e["data"]["restored"]) for e in rows] == [("src/a.py", False)]
    assert arena.audit("lease.restored") == []


def test_a_holders_patch_of_another_file_does_not_shield_the_attack(arena) -> None:  # type: ignore[no-untyped-def]
    """The holder patches ``src/b.py`` while the attacker's command writes ``src/a.py``: the
    holder's patch could not have written ``a.py``, so the attacker's write is undone (and the
    holder's patch of ``b.py`` kept)."""
    handshake = Path(arena.repo).parent / "handshake"
    handshake.mkdir()
    arena.files("src/a.py", "src/b.py")
    patch_b = (
        "*** Begin Patch\n*** Update File: src/b.py\n@@\n-victim's work\n"
        f"+{HOLDERS.strip()}\n*** End Patch\n"
    )
    arena.up(
        [waiting_attack(handshake, "src/a.py")],
        victim=[{"when": "update b", "patch": patch_b}],
    )
    arena.hold("src/a.py", "src/b.py")
    during_attack(arena, handshake, "update b")
    intact(arena, "src/a.py", content=VICTIMS)
    intact(arena, "src/b.py", content=HOLDERS)
    undone(arena, "src/a.py")
