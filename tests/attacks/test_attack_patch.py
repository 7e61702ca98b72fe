"""Attacks through apply_patch on a file a peer leases: patches our parser could read otherwise
than Codex applies them (docs/security/patch.md). Each is denied before Codex applies any of
it: the files unchanged, the attacker's model told who holds the file, and a ``lease.denied``
row in the audit log with the attacker as the actor. (One variant Codex refuses on its own,
before any hook runs: see its docstring.)"""

from __future__ import annotations

from typing import Any

import pytest
from arena_helpers import exec_step, patch_step
from lease_checks import denied, intact

from codeswarm.codex.patch import affected_paths

pytestmark = [pytest.mark.codex, pytest.mark.slow]

VICTIM = "src/a.py"
FREE = "src/free.py"
ORIGINAL = "victim's work\n *** End Patch\n"
"""Both files' content: the free file has a line the smuggled context can match."""
STEAL = "@@\n-victim's work\n+attacker's work\n"


def attack(arena: Any, patch: str, *, shell: bool = False) -> None:
    """The victim holds ``VICTIM``; the attacker's model sends ``patch`` (to its shell: a
    command). Nothing may change."""
    arena.files(VICTIM, FREE, content=ORIGINAL)
    arena.up([exec_step(patch) if shell else patch_step(patch)])
    arena.hold(VICTIM)
    arena.run_attack()
    intact(arena, VICTIM, FREE, content=ORIGINAL)


def test_patch_smuggled_past_a_context_line_that_says_end_patch(arena: Any) -> None:
    """Issue 10 item 1: a first ``*** Update File:`` on a free file whose hunk has the context
    line `` *** End Patch``, then a second ``*** Update File:`` on the victim's leased file. Codex
    reads the marker as context and applies both sections; the old parser stopped at it."""
    attack(
        arena,
        f"*** Begin Patch\n*** Update File: {FREE}\n@@\n victim's work\n *** End Patch\n+x\n"
        f"*** Update File: {VICTIM}\n{STEAL}*** End Patch",
    )
    denied(arena, VICTIM)


def test_patch_smuggled_after_an_indented_end_patch_in_an_add(arena: Any) -> None:
    """An indented ``*** End Patch`` inside an Add hunk (Codex takes it for the end), then an
    update of the leased file. Codex itself refuses the text (nothing may follow End Patch)
    before any hook runs, and tells the model; there is no call for codeswarm to deny or audit.
    Had Codex accepted it, the hook would have denied it: the leased path is reported."""
    patch = (
        "*** Begin Patch\n*** Add File: src/new.py\n+x\n   *** End Patch\n"
        f"*** Update File: {VICTIM}\n{STEAL}*** End Patch"
    )
    assert VICTIM in affected_paths(patch)
    attack(arena, patch)
    assert not (arena.repo / "src/new.py").exists()
    assert "apply_patch verification failed" in arena.told(), arena.told()[-2000:]


def test_patch_renames_a_free_file_onto_a_leased_one(arena: Any) -> None:
    """``*** Move to:`` whose destination is the leased file (the rename overwrites it)."""
    attack(
        arena,
        f"*** Begin Patch\n*** Update File: {FREE}\n*** Move to: {VICTIM}\n{STEAL}*** End Patch",
    )
    denied(arena, VICTIM)


def test_patch_header_with_two_spaces_after_the_colon(arena: Any) -> None:
    """``*** Update File:  src/a.py``: Codex keeps the extra space in the name; a lenient reader
    would not. Reported either way."""
    attack(arena, f"*** Begin Patch\n*** Update File:  {VICTIM}\n{STEAL}*** End Patch")
    denied(arena, VICTIM)


def test_patch_path_with_a_tab_inside(arena: Any) -> None:
    """``*** Update File: src/a<TAB>.py``: Codex drops tabs (and carriage returns) from a path
    before it writes, so the update lands on ``src/a.py``."""
    attack(arena, f"*** Begin Patch\n*** Update File: src/a\t.py\n{STEAL}*** End Patch")
    denied(arena, VICTIM)


def test_patch_wrapped_in_a_heredoc(arena: Any) -> None:
    """The patch inside ``<<'EOF'`` … ``EOF`` (Codex unwraps it)."""
    attack(arena, f"<<'EOF'\n*** Begin Patch\n*** Update File: {VICTIM}\n{STEAL}*** End Patch\nEOF")
    denied(arena, VICTIM)


def test_patch_given_to_the_shell_as_an_apply_patch_heredoc(arena: Any) -> None:
    """``apply_patch <<'EOF' … EOF`` run as a shell command: Codex recognises it and applies the
    patch itself, with no PostToolUse after it (so nothing would undo it). The hook reads the
    command as a patch too."""
    attack(
        arena,
        f"apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: {VICTIM}\n{STEAL}*** End Patch\nEOF\n",
        shell=True,
    )
    denied(arena, VICTIM)


def test_patch_smuggled_in_a_shell_apply_patch_heredoc(arena: Any) -> None:
    """Both at once: the shell heredoc form, and the second section after a context line
    `` *** End Patch``."""
    attack(
        arena,
        f"apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: {FREE}\n@@\n victim's work\n"
        f" *** End Patch\n+x\n*** Update File: {VICTIM}\n{STEAL}*** End Patch\nEOF\n",
        shell=True,
    )
    denied(arena, VICTIM)
