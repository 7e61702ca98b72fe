"""Attacks on a leased file from the attacker's shell and patches (docs/security/hooks.md, "writes
the parser cannot see don't survive"): each write is refused before it runs (the shell parser
read it) or put back right after (the content check after every tool call)."""

from __future__ import annotations

import json

import pytest
from arena_helpers import exec_step, patch_step
from lease_checks import PWNED, VICTIMS, denied, denied_or_undone, intact, undone

pytestmark = [pytest.mark.codex, pytest.mark.slow]

LEASED = "src/a.py"


def attack(arena, *steps) -> None:  # type: ignore[no-untyped-def]
    """The victim holds ``src/a.py``; the attacker plays ``steps``."""
    arena.files(LEASED)
    arena.up(list(steps))
    arena.hold(LEASED)
    arena.run_attack()


def py(code: str) -> dict:  # type: ignore[type-arg]
    return exec_step(f'python3 -c "{code}"')


# -- what no parser reads: undone after ------------------------------------------------------------


def test_python_one_liner(arena) -> None:  # type: ignore[no-untyped-def]
    """``python3 -c "open('src/a.py', 'w').write('pwned')"``."""
    attack(arena, py(f"open('{LEASED}', 'w').write('{PWNED}')"))
    intact(arena, LEASED)
    undone(arena, LEASED)


def test_script_file_written_then_run(arena) -> None:  # type: ignore[no-untyped-def]
    """A script written to a free file, then run: the writing command names only the script."""
    attack(
        arena,
        exec_step(f"printf \"open('{LEASED}', 'w').write('{PWNED}')\\n\" > evil_script.py"),
        exec_step("python3 evil_script.py"),
    )
    assert (arena.repo / "evil_script.py").exists()
    intact(arena, LEASED)
    undone(arena, LEASED)


def test_relative_path_after_cd(arena) -> None:  # type: ignore[no-untyped-def]
    """``cd sub && echo pwned > ../src/a.py``: the redirect is relative to a directory the
    parser does not follow."""
    arena.files("sub/keep")
    attack(arena, exec_step(f"cd sub && echo {PWNED} > ../{LEASED}"))
    intact(arena, LEASED)
    denied_or_undone(arena, LEASED)


def test_variable_as_target(arena) -> None:  # type: ignore[no-untyped-def]
    """``F=src/a.py; echo pwned > $F``."""
    attack(arena, exec_step(f"F={LEASED}; echo {PWNED} > $F"))
    intact(arena, LEASED)
    undone(arena, LEASED)


def test_eval(arena) -> None:  # type: ignore[no-untyped-def]
    """``eval "echo pwned > src/a.py"``: the redirect is inside one quoted word."""
    attack(arena, exec_step(f'eval "echo {PWNED} > {LEASED}"'))
    intact(arena, LEASED)
    denied_or_undone(arena, LEASED)


def test_command_substitution(arena) -> None:  # type: ignore[no-untyped-def]
    """``echo pwned > $(echo src/a.py)``: the target is computed."""
    attack(arena, exec_step(f"echo {PWNED} > $(echo {LEASED})"))
    intact(arena, LEASED)
    denied_or_undone(arena, LEASED)


def test_same_size_write_that_puts_the_mtime_back(arena) -> None:  # type: ignore[no-untyped-def]
    """Bytes of the same length, then ``os.utime(ns=...)`` with the old times: size and mtime
    say nothing changed."""
    same = "x" * len(VICTIMS)
    code = (
        f"import os; st = os.stat('{LEASED}'); open('{LEASED}', 'w').write('{same}'); "
        f"os.utime('{LEASED}', ns=(st.st_atime_ns, st.st_mtime_ns))"
    )
    attack(arena, py(code))
    intact(arena, LEASED)
    undone(arena, LEASED)


def test_deleted_with_python(arena) -> None:  # type: ignore[no-untyped-def]
    """``os.remove('src/a.py')``."""
    attack(arena, py(f"import os; os.remove('{LEASED}')"))
    intact(arena, LEASED)
    undone(arena, LEASED)


def test_replaced_by_a_symlink(arena) -> None:  # type: ignore[no-untyped-def]
    """The leased file replaced by a symlink to another file (``os.symlink`` + ``os.replace``)."""
    arena.files("decoy.txt", content=PWNED)
    attack(arena, py(f"import os; os.symlink('../decoy.txt', 'tmp_link'); os.replace('tmp_link', '{LEASED}')"))  # fmt: skip
    assert not (arena.repo / LEASED).is_symlink()
    intact(arena, LEASED)
    undone(arena, LEASED)


def test_a_tree_of_more_than_50000_files(arena) -> None:  # type: ignore[no-untyped-def]
    """The project holds 50,001 more files (the old picture of the tree gave up past 50,000)."""
    bulk = arena.repo / "bulk"
    bulk.mkdir()
    for i in range(50_001):
        (bulk / str(i)).touch()
    attack(arena, py(f"open('{LEASED}', 'w').write('{PWNED}')"))
    intact(arena, LEASED)
    undone(arena, LEASED)


def test_leased_files_under_build_and_dist(arena) -> None:  # type: ignore[no-untyped-def]
    """``build/`` and ``dist/`` (the old picture never looked there)."""
    held = ("build/out.txt", "dist/pkg.txt")
    arena.files(*held)
    arena.up([py("; ".join(f"open('{rel}', 'w').write('{PWNED}')" for rel in held))])
    arena.hold(*held)
    arena.run_attack()
    intact(arena, *held)
    undone(arena, *held)


def test_planting_a_file_in_a_leased_directory(arena) -> None:  # type: ignore[no-untyped-def]
    """The victim leases ``gen/``; a new file appears in it."""
    arena.files("gen/a.txt")
    arena.up([py(f"open('gen/planted.txt', 'w').write('{PWNED}')")])
    arena.hold("gen/")
    arena.run_attack()
    assert not (arena.repo / "gen" / "planted.txt").exists()
    intact(arena, "gen/a.txt")
    undone(arena, "gen/planted.txt")


# -- what the parser reads: denied before ----------------------------------------------------------


def test_tee(arena) -> None:  # type: ignore[no-untyped-def]
    """``echo pwned | tee src/a.py``."""
    attack(arena, exec_step(f"echo {PWNED} | tee {LEASED}"))
    intact(arena, LEASED)
    denied(arena, LEASED)


def test_cp_over(arena) -> None:  # type: ignore[no-untyped-def]
    """``cp decoy.txt src/a.py``."""
    arena.files("decoy.txt", content=PWNED)
    attack(arena, exec_step(f"cp decoy.txt {LEASED}"))
    intact(arena, LEASED)
    denied(arena, LEASED)


def test_mv_over(arena) -> None:  # type: ignore[no-untyped-def]
    """``mv decoy.txt src/a.py``."""
    arena.files("decoy.txt", content=PWNED)
    attack(arena, exec_step(f"mv decoy.txt {LEASED}"))
    intact(arena, LEASED)
    denied(arena, LEASED)


def test_sed_in_place(arena) -> None:  # type: ignore[no-untyped-def]
    """``sed -i s/victim/pwned/ src/a.py``."""
    attack(arena, exec_step(f"sed -i s/victim/{PWNED}/ {LEASED}"))
    intact(arena, LEASED)
    denied(arena, LEASED)


def test_patch_deleting_the_leased_file(arena) -> None:  # type: ignore[no-untyped-def]
    """``*** Delete File: src/a.py``; then a patch of a free file goes through, and is checked
    again after it ran (its PostToolUse consumed the snapshot its PreToolUse took)."""
    free = "*** Begin Patch\n*** Add File: notes.txt\n+free\n*** End Patch\n"
    attack(
        arena,
        patch_step(f"*** Begin Patch\n*** Delete File: {LEASED}\n*** End Patch\n"),
        patch_step(free),
    )
    intact(arena, LEASED)
    denied(arena, LEASED)
    assert (arena.repo / "notes.txt").read_text() == "free\n"
    outbox = (arena.swarm.run_dir / "mailbox" / "outbox" / "t_1.jsonl").read_text()
    runs = [json.loads(line)["msg"] for line in outbox.splitlines() if '"hook/completed"' in line]
    events = [m["params"]["run"]["eventName"] for m in runs]
    assert events.count("preToolUse") == 2 and events.count("postToolUse") == 1, events
    calls = arena.swarm.run_dir / "hooks" / "calls"
    assert calls.is_dir() and not list(calls.iterdir())  # the snapshot was taken, and used
