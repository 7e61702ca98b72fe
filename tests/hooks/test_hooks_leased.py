"""Leases hold on files, not on spellings, and writes no parser saw are undone: the hook entry
point run as Codex runs it (a process per event) against a real store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hookkit import coord, denied, hook

PATCH = "*** Begin Patch\n*** Update File: {}\n@@\n-a\n+b\n*** End Patch\n"


def patch_call(path: str, call: str = "1") -> dict[str, Any]:
    return {
        "tool_name": "apply_patch",
        "tool_use_id": call,
        "tool_input": {"command": PATCH.format(path)},
    }


def shell_call(command: str, call: str = "1") -> dict[str, Any]:
    return {"tool_name": "Bash", "tool_use_id": call, "tool_input": {"command": command}}


def hold(repo: Path, path: str, agent: str = "A") -> None:
    from codeswarm.core.errors import NotFoundError

    with coord(repo) as c:
        try:
            me = c.agent(agent)
        except NotFoundError:
            me = c.register(agent)
        c.lease(me, path, note="mine")


def pre(repo: Path, call: dict[str, Any], agent: str = "B", **env: str) -> dict[str, Any] | None:
    return hook(repo, "codex", "pre-tool-use", call, CODESWARM_AGENT_ID=agent, **env)[0]


def post(repo: Path, call: dict[str, Any], agent: str = "B", **env: str) -> dict[str, Any] | None:
    payload = {**call, "tool_response": "ok"}
    return hook(repo, "codex", "post-tool-use", payload, CODESWARM_AGENT_ID=agent, **env)[0]


def events(repo: Path, kind: str) -> list[Any]:
    with coord(repo) as c:
        return c.events(kind=kind)


# -- identity: symlinks and hard links ----------------------------------------------------------


def test_a_symlink_outside_the_tree_to_a_leased_file_is_denied(repo: Path, tmp_path: Path) -> None:
    hold(repo, "src/x.py")
    link = tmp_path / "elsewhere" / "x"
    link.parent.mkdir()
    link.symlink_to(repo / "src" / "x.py")
    reason = denied(pre(repo, patch_call(str(link))))
    assert reason and "src/x.py" in reason and "A#1" in reason and str(link) in reason
    reason = denied(pre(repo, shell_call(f"echo hi > {link}")))
    assert reason and "src/x.py" in reason
    rows = events(repo, "lease.denied")
    assert [(e.agent, e.subject, e.data["tool"]) for e in rows] == [
        ("B#1", "src/x.py", "apply_patch"),
        ("B#1", "src/x.py", "Bash"),
    ]


def test_a_symlink_inside_the_tree_is_denied_and_never_auto_leased(repo: Path) -> None:
    hold(repo, "src/x.py")
    (repo / "alias.py").symlink_to("src/x.py")
    out = pre(repo, patch_call("alias.py"), CODESWARM_LEASES_AUTO="1")
    assert "src/x.py" in (denied(out) or "")
    with coord(repo) as c:
        assert [(le.path, le.holder) for le in c.leases()] == [("src/x.py", "A#1")]


def test_a_hard_link_inside_or_outside_the_tree_is_denied_and_never_auto_leased(
    repo: Path, tmp_path: Path
) -> None:
    hold(repo, "src/x.py")
    inside = repo / "copy.py"
    outside = tmp_path / "outside.py"
    os.link(repo / "src" / "x.py", inside)
    os.link(repo / "src" / "x.py", outside)
    for path in ("copy.py", str(outside)):
        reason = denied(pre(repo, patch_call(path), CODESWARM_LEASES_AUTO="1"))
        assert reason and "hard link to src/x.py" in reason and "A#1" in reason, path
        reason = denied(pre(repo, shell_call(f"sed -i s/a/b/ {path}")))
        assert reason and "hard link to src/x.py" in reason, path
    with coord(repo) as c:
        assert [le.path for le in c.leases()] == ["src/x.py"]  # no auto lease on a link
    # a hard link to a file under a leased directory is covered too
    hold(repo, "lib/", agent="C")
    (repo / "lib").mkdir()
    (repo / "lib" / "z.py").write_text("a\n")
    os.link(repo / "lib" / "z.py", repo / "z-link.py")
    assert "hard link to lib/z.py" in (denied(pre(repo, patch_call("z-link.py"))) or "")


def test_a_free_file_with_hard_links_is_not_denied(repo: Path) -> None:
    os.link(repo / "src" / "y.py", repo / "y-link.py")
    hold(repo, "src/x.py")
    assert pre(repo, patch_call("y-link.py")) is None


# -- content: writes no parser saw are undone ---------------------------------------------------


def test_a_same_size_write_that_puts_the_mtime_back_is_undone(repo: Path) -> None:
    hold(repo, "src/x.py")
    target = repo / "src" / "x.py"
    call = shell_call("python3 fix.py")
    assert pre(repo, call) is None
    st = os.stat(target)
    target.write_text("b\n")  # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = post(repo, call)
    assert out is not None and out["decision"] == "block" and "undone" in out["reason"]
    assert target.read_text() == "a\n"
    (ev,) = events(repo, "lease.restored")
    assert ev.agent == "B#1" and ev.subject == "src/x.py" and ev.data["holder"] == "A#1"


def test_deleted_replaced_and_created_files_are_put_back(repo: Path) -> None:
    hold(repo, "src/x.py")
    hold(repo, "gen/", agent="C")
    (repo / "gen").mkdir()
    (repo / "gen" / "a.txt").write_text("holder's\n")
    (repo / "src" / "x.py").chmod(0o640)
    call = shell_call("./build.sh")
    assert pre(repo, call) is None
    (repo / "src" / "x.py").unlink()
    (repo / "src" / "x.py").symlink_to("/etc/hostname")  # replaced by a link
    (repo / "gen" / "a.txt").unlink()
    (repo / "gen" / "new.txt").write_text("planted\n")
    out = post(repo, call)
    assert out is not None and "undone" in out["reason"]
    x = repo / "src" / "x.py"
    assert not x.is_symlink() and x.read_text() == "a\n" and (x.stat().st_mode & 0o777) == 0o640
    assert (repo / "gen" / "a.txt").read_text() == "holder's\n"
    assert not (repo / "gen" / "new.txt").exists()
    assert sorted(e.subject for e in events(repo, "lease.restored")) == [
        "gen/a.txt",
        "gen/new.txt",
        "src/x.py",
    ]


def test_leased_files_under_build_and_dist_in_a_huge_tree_are_watched(repo: Path) -> None:
    for d in ("build", "dist"):
        (repo / d).mkdir()
        (repo / d / "out.bin").write_bytes(b"holder")
        hold(repo, f"{d}/out.bin")
    bulk = repo / "bulk"
    bulk.mkdir()
    for i in range(50_001):  # more files than the old picture ever looked at
        (bulk / f"{i}").touch()
    call = shell_call("make")
    assert pre(repo, call) is None
    for d in ("build", "dist"):
        (repo / d / "out.bin").write_bytes(b"attack")
    out = post(repo, call)
    assert out is not None and "build/out.bin" in out["reason"] and "dist/out.bin" in out["reason"]
    assert (repo / "build" / "out.bin").read_bytes() == b"holder"
    assert (repo / "dist" / "out.bin").read_bytes() == b"holder"


def test_a_patch_is_checked_again_after_it_ran(repo: Path) -> None:
    hold(repo, "src/x.py")
    call = patch_call("src/y.py")
    assert pre(repo, call) is None
    (repo / "src" / "x.py").write_text("smuggled\n")  # what a parser mismatch would let through
    out = post(repo, call)
    assert out is not None and "src/x.py" in out["reason"]
    assert (repo / "src" / "x.py").read_text() == "a\n"
    (ev,) = events(repo, "lease.violated")
    assert ev.data["tool"] == "apply_patch" and ev.data["restored"] is True


def test_the_displaced_bytes_are_kept_and_named(repo: Path) -> None:
    hold(repo, "src/x.py")
    call = shell_call("python3 fix.py")
    pre(repo, call)
    (repo / "src" / "x.py").write_text("someone's edit\n")
    post(repo, call)
    (ev,) = events(repo, "lease.restored")
    kept = repo.parent / "state-home" / "codeswarm" / "hooks" / "blobs" / ev.data["after"][2:]
    assert kept.read_text() == "someone's edit\n"


def test_a_file_released_during_the_call_is_left_alone(repo: Path) -> None:
    hold(repo, "src/x.py")
    call = shell_call("python3 fix.py")
    pre(repo, call)
    (repo / "src" / "x.py").write_text("b\n")
    with coord(repo) as c:
        c.release("A", "src/x.py")
    assert post(repo, call) is None
    assert (repo / "src" / "x.py").read_text() == "b\n"


# -- the holder's own writes are never undone ----------------------------------------------------


def test_the_holders_write_during_the_call_is_not_undone(repo: Path) -> None:
    hold(repo, "src/x.py")
    attack = shell_call("sleep 5", call="att")
    assert pre(repo, attack) is None
    holder = shell_call("python3 edit.py", call="own")
    assert pre(repo, holder, agent="A") is None  # the holder is at work
    (repo / "src" / "x.py").write_text("the holder's edit\n")
    out = post(repo, attack)  # the holder's call has not ended yet
    assert out is not None and "was working at the same time" in out["reason"]
    assert (repo / "src" / "x.py").read_text() == "the holder's edit\n"
    assert post(repo, holder, agent="A") is None
    (ev,) = events(repo, "lease.violated")
    assert ev.agent == "B#1" and ev.data["restored"] is False
    assert not events(repo, "lease.restored")


def test_a_holders_call_that_ended_during_the_peers_call_still_counts(repo: Path) -> None:
    hold(repo, "src/x.py")
    attack = shell_call("sleep 5", call="att")
    pre(repo, attack)
    holder = shell_call("python3 edit.py", call="own")
    pre(repo, holder, agent="A")
    (repo / "src" / "x.py").write_text("the holder's edit\n")
    post(repo, holder, agent="A")
    post(repo, attack)
    assert (repo / "src" / "x.py").read_text() == "the holder's edit\n"


def test_a_holders_patch_of_another_file_does_not_shield_a_peers_write(repo: Path) -> None:
    hold(repo, "src/x.py")
    hold(repo, "src/y.py")
    attack = shell_call("python3 fix.py", call="att")
    pre(repo, attack)
    holder = patch_call("src/y.py", call="own")
    assert pre(repo, holder, agent="A") is None
    (repo / "src" / "x.py").write_text("attack\n")
    out = post(repo, attack)
    assert out is not None and "undone" in out["reason"]
    assert (repo / "src" / "x.py").read_text() == "a\n"


def test_the_holders_turn_end_closes_its_calls(repo: Path) -> None:
    hold(repo, "src/x.py")
    holder = shell_call("python3 edit.py", call="own")
    pre(repo, holder, agent="A")  # a call Codex never ran: no PostToolUse
    hook(repo, "codex", "stop", {"stop_hook_active": False}, CODESWARM_AGENT_ID="A")
    attack = shell_call("python3 fix.py", call="att")
    pre(repo, attack)
    (repo / "src" / "x.py").write_text("attack\n")
    post(repo, attack)
    assert (repo / "src" / "x.py").read_text() == "a\n"


# -- the scratch directory ------------------------------------------------------------------------


def test_the_scratch_directory_is_private_and_a_planted_one_is_refused(
    repo: Path, tmp_path: Path
) -> None:
    hold(repo, "src/x.py")
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    call = shell_call("python3 fix.py")
    assert pre(repo, call, CODESWARM_RUN_DIR=str(run)) is None
    scratch = run / "hooks"
    assert (scratch.stat().st_mode & 0o777) == 0o700 and scratch.stat().st_uid == os.geteuid()
    assert list((scratch / "calls").iterdir())  # the snapshot is there, not in /tmp

    decoy = tmp_path / "decoy"
    decoy.mkdir(mode=0o700)
    for plant in ("symlink", "mode", "owner"):
        run = tmp_path / f"run-{plant}"
        run.mkdir(mode=0o700)
        if plant == "symlink":
            (run / "hooks").symlink_to(decoy)
        else:
            (run / "hooks").mkdir(mode=0o700)
            if plant == "mode":
                (run / "hooks").chmod(0o755)
            else:
                os.chown(run / "hooks", 65534, 65534)  # the tests run as root (CI too)
        out, proc = hook(repo, "codex", "pre-tool-use", call, CODESWARM_AGENT_ID="B",
                         CODESWARM_RUN_DIR=str(run))  # fmt: skip
        assert "refusing" in proc.stderr and "refusing" in (out or {}).get("systemMessage", "")
        out, _ = hook(repo, "codex", "pre-tool-use", call, CODESWARM_AGENT_ID="B",
                      CODESWARM_RUN_DIR=str(run), CODESWARM_HOOKS_FAIL="closed")  # fmt: skip
        assert "refusing" in (denied(out) or ""), plant
    assert not list(decoy.iterdir())  # nothing was written through the link


def test_a_call_without_a_post_tool_use_is_checked_at_the_end_of_the_turn(repo: Path) -> None:
    hold(repo, "src/x.py")
    call = shell_call("apply_patch <<'EOF' …", call="heredoc")  # Codex runs no PostToolUse
    assert pre(repo, call) is None
    (repo / "src" / "x.py").write_text("attack\n")
    stop = {"stop_hook_active": False}
    out, _ = hook(repo, "codex", "stop", stop, CODESWARM_AGENT_ID="B")
    assert out is not None and out["decision"] == "block" and "undone" in out["reason"]
    assert (repo / "src" / "x.py").read_text() == "a\n"
    (ev,) = events(repo, "lease.restored")
    assert ev.agent == "B#1" and ev.data["tool_use_id"] == "heredoc"
    assert hook(repo, "codex", "stop", stop, CODESWARM_AGENT_ID="B")[0] is None  # done once
