"""``codeswarm install openclaw``: the codeswarm skill into a fresh HOME's OpenClaw state
(``~/.openclaw/skills/codeswarm``, or ``$OPENCLAW_STATE_DIR/skills/codeswarm``), idempotent,
atomic, and taken out again leaving only what the person made. (That the real OpenClaw then
offers it to its model, eligible, is checked by test_openclaw_e2e.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from openclaw_local import person_env

from codeswarm.core.errors import UsageError
from codeswarm.openclaw import install as skill_install

SHIPPED = (files("codeswarm.openclaw") / "skill" / "SKILL.md").read_bytes()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm", "install", "openclaw", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), and every directory (-> b"/")."""
    out = {}
    for path in sorted(root.rglob("*")):
        out[path.relative_to(root).as_posix()] = b"/" if path.is_dir() else path.read_bytes()
    return out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return person_env(tmp_path)


def test_install_dry_run_idempotence_and_uninstall(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["HOME"])
    target = home / ".openclaw" / "skills" / "codeswarm"

    dry = cli(env, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"(dry run) create    {target}/SKILL.md" in dry.stdout
    assert tree(home) == {}  # nothing written

    first = cli(env)
    assert first.returncode == 0, first.stderr
    assert f"create    {target}/SKILL.md" in first.stdout
    assert "1 file(s) changed" in first.stdout
    assert (target / "SKILL.md").read_bytes() == SHIPPED
    manifest = json.loads((target / ".codeswarm-install.json").read_text())
    assert set(manifest["files"]) == {"SKILL.md"}
    assert not [p for p in (home / ".openclaw").iterdir() if p.name.startswith(".codeswarm")]

    inode = (target / "SKILL.md").stat().st_ino
    again = cli(env)
    assert again.returncode == 0, again.stderr
    assert f"unchanged {target}/SKILL.md" in again.stdout and "0 file(s) changed" in again.stdout
    assert (target / "SKILL.md").stat().st_ino == inode  # not even rewritten

    before = tree(home)
    dry_out = cli(env, "--uninstall", "--dry-run")
    assert dry_out.returncode == 0 and f"(dry run) remove    {target}/SKILL.md" in dry_out.stdout
    assert tree(home) == before

    out = cli(env, "--uninstall")
    assert out.returncode == 0, out.stderr
    assert f"remove    {target}/SKILL.md" in out.stdout
    assert tree(home) == {}  # the state directory and skills/ it made are gone too
    assert cli(env, "--uninstall").returncode == 0  # nothing left to do: fine


def test_uninstall_keeps_what_the_person_made(env: dict[str, str], tmp_path: Path) -> None:
    state = tmp_path / "claw-state"
    (state / "skills" / "weather").mkdir(parents=True)
    (state / "skills" / "weather" / "SKILL.md").write_text("---\nname: weather\n---\n")
    env["OPENCLAW_STATE_DIR"] = str(state)
    target = state / "skills" / "codeswarm"
    assert cli(env).returncode == 0
    assert (target / "SKILL.md").read_bytes() == SHIPPED
    notes = target / "notes.md"
    notes.write_text("my own notes\n")

    (target / "SKILL.md").write_text("edited\n")  # an install puts codeswarm's back ...
    redo = cli(env)
    assert f"update    {target}/SKILL.md" in redo.stdout
    assert (target / "SKILL.md").read_bytes() == SHIPPED
    assert notes.read_text() == "my own notes\n"  # ... and keeps the person's files

    (target / "SKILL.md").write_text("edited again\n")
    out = cli(env, "--uninstall")
    assert out.returncode == 0, out.stderr
    assert f"keep      {target}/SKILL.md" in out.stdout
    assert tree(target) == {"SKILL.md": b"edited again\n", "notes.md": b"my own notes\n"}
    assert (state / "skills" / "weather" / "SKILL.md").exists()  # other skills: untouched


def test_a_skill_codeswarm_did_not_install_is_left_alone(
    env: dict[str, str], tmp_path: Path
) -> None:
    target = Path(env["HOME"]) / ".openclaw" / "skills" / "codeswarm"
    target.mkdir(parents=True)
    (target / "SKILL.md").write_text("someone else's\n")
    for args in ((), ("--uninstall",)):
        done = cli(env, *args)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and str(target) in done.stderr
        assert tree(target) == {"SKILL.md": b"someone else's\n"}
    bad = cli(env, "--scope", "project")
    assert bad.returncode == 2 and "per user" in bad.stderr


def test_a_failed_install_leaves_the_old_copy_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state" / "skills" / "codeswarm"
    skill_install.install(target=target)
    (target / "SKILL.md").write_text("old\n")
    before = tree(tmp_path)

    def broken(self: Path, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", broken)
    with pytest.raises(UsageError, match="No space left on device"):
        skill_install.install(target=target)
    assert tree(tmp_path) == before  # no half copy, no staging directory left behind
