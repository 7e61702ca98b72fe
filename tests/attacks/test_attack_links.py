"""Attacks on a leased file through another name for it (docs/security/hooks.md, "identity by
file"): symlinks and hard links, inside the project or outside it (``/tmp``, which the sandbox
may write). Leases are checked on the real path and on the file's (device, inode)."""

from __future__ import annotations

from pathlib import Path

import pytest
from arena_helpers import exec_step, patch_step
from lease_checks import PWNED, denied, intact, undone

pytestmark = [pytest.mark.codex, pytest.mark.slow]

LEASED = "src/a.py"


def update(path: str) -> str:
    return (
        f"*** Begin Patch\n*** Update File: {path}\n@@\n-victim's work\n+{PWNED}\n*** End Patch\n"
    )


def outside(arena) -> Path:  # type: ignore[no-untyped-def]
    """A directory outside the project that the sandbox can write (under /tmp)."""
    d = Path(arena.repo).parent / "outside"
    d.mkdir(exist_ok=True)
    return d


def test_patch_through_a_symlink_outside_the_tree(arena) -> None:  # type: ignore[no-untyped-def]
    """``ln -s $PWD/src/a.py /tmp/…/x``, then ``*** Update File: /tmp/…/x``."""
    link = outside(arena) / "x"
    arena.files(LEASED)
    arena.up([exec_step(f"ln -s {arena.repo / LEASED} {link}"), patch_step(update(str(link)))])
    arena.hold(LEASED)
    arena.run_attack()
    assert link.is_symlink()  # the link was made: the patch through it was refused
    intact(arena, LEASED)
    denied(arena, LEASED)


def test_shell_write_through_a_symlink_outside_the_tree(arena) -> None:  # type: ignore[no-untyped-def]
    """The link made first, then ``echo pwned > /tmp/…/x``: the redirect's real path is the
    leased file."""
    link = outside(arena) / "x"
    arena.files(LEASED)
    arena.up(
        [exec_step(f"ln -s {arena.repo / LEASED} {link}"), exec_step(f"echo {PWNED} > {link}")]
    )
    arena.hold(LEASED)
    arena.run_attack()
    intact(arena, LEASED)
    denied(arena, LEASED)


def test_symlink_made_and_written_in_one_command(arena) -> None:  # type: ignore[no-untyped-def]
    """``ln -s … /tmp/…/y && echo pwned > /tmp/…/y``: before it ran the link did not exist, so
    only the content check after the command can see it."""
    link = outside(arena) / "y"
    arena.files(LEASED)
    arena.up([exec_step(f"ln -s {arena.repo / LEASED} {link} && echo {PWNED} > {link}")])
    arena.hold(LEASED)
    arena.run_attack()
    intact(arena, LEASED)
    undone(arena, LEASED)


def test_patch_through_a_symlink_inside_the_tree(arena) -> None:  # type: ignore[no-untyped-def]
    """``ln -s src/a.py a_alias.py``, then a patch of ``a_alias.py`` (which must not get an automatic
    lease either)."""
    arena.files(LEASED)
    arena.up([exec_step("ln -s src/a.py a_alias.py"), patch_step(update("a_alias.py"))])
    arena.hold(LEASED)
    arena.run_attack()
    assert (arena.repo / "a_alias.py").is_symlink()
    intact(arena, LEASED)
    denied(arena, LEASED)
    assert [(le["path"], le["holder"][:4]) for le in arena.coord("leases")] == [(LEASED, "t_0#")]


def test_patch_through_a_hard_link_inside_the_tree(arena) -> None:  # type: ignore[no-untyped-def]
    """``ln src/a.py a_hardlink.py`` (same inode), then a patch of ``a_hardlink.py``: no automatic lease on
    the link, no write through it."""
    arena.files(LEASED)
    arena.up([exec_step("ln src/a.py a_hardlink.py"), patch_step(update("a_hardlink.py"))])
    arena.hold(LEASED)
    arena.run_attack()
    assert (arena.repo / "a_hardlink.py").stat().st_ino == (arena.repo / LEASED).stat().st_ino
    intact(arena, LEASED)
    denied(arena, LEASED)
    assert "hard link" in arena.told()
    assert [(le["path"], le["holder"][:4]) for le in arena.coord("leases")] == [(LEASED, "t_0#")]


def _outside_hard_link(arena) -> Path:  # type: ignore[no-untyped-def]
    """A hard link to the leased file in /tmp. The sandbox cannot make one (the project and /tmp
    are separate mounts inside it: "Invalid cross-device link"), so it is there before: left by
    a build, a backup, the person."""
    link = outside(arena) / "hl"
    arena.files(LEASED)
    link.hardlink_to(arena.repo / LEASED)
    return link


def test_patch_through_a_hard_link_outside_the_tree(arena) -> None:  # type: ignore[no-untyped-def]
    """``*** Update File: /tmp/…/hl`` where ``hl`` is a hard link to the leased file."""
    link = _outside_hard_link(arena)
    arena.up([patch_step(update(str(link)))])
    arena.hold(LEASED)
    arena.run_attack()
    intact(arena, LEASED)
    denied(arena, LEASED)
    assert "hard link" in arena.told()


def test_shell_write_through_a_hard_link_outside_the_tree(arena) -> None:  # type: ignore[no-untyped-def]
    """``printf pwned > /tmp/…/hl`` (a redirect the parser reads: the target's inode is the
    leased file's)."""
    link = _outside_hard_link(arena)
    arena.up([exec_step(f"printf {PWNED} > {link}")])
    arena.hold(LEASED)
    arena.run_attack()
    intact(arena, LEASED)
    denied(arena, LEASED)


def test_python_write_through_a_hard_link_outside_the_tree(arena) -> None:  # type: ignore[no-untyped-def]
    """A Python one-liner writes through the link: no parser sees it; the content check after
    the command puts the holder's file back."""
    link = _outside_hard_link(arena)
    arena.up([exec_step(f"python3 -c \"open('{link}', 'r+').write('{PWNED}')\"")])
    arena.hold(LEASED)
    arena.run_attack()
    intact(arena, LEASED)
    undone(arena, LEASED)


def test_python_write_through_a_hard_link_inside_the_tree(arena) -> None:  # type: ignore[no-untyped-def]
    """``ln src/a.py a_hl.py && python3 -c "open('a_hl.py', 'r+').write('pwned')"``: the link
    made and written in one command."""
    arena.files(LEASED)
    code = f"open('a_hl.py', 'r+').write('{PWNED}')"
    arena.up([exec_step(f'ln {LEASED} a_hl.py && python3 -c "{code}"')])
    arena.hold(LEASED)
    arena.run_attack()
    intact(arena, LEASED)
    undone(arena, LEASED)
