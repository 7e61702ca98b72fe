"""core.sandbox: what an agent's sandbox can write, and the warnings `up` gives about it."""

from __future__ import annotations

from pathlib import Path

from codeswarm.core.sandbox import configured_table, exposures, writable_roots


def test_workspace_write_roots(tmp_path: Path) -> None:
    roots = writable_roots("workspace-write", str(tmp_path), {}, {"TMPDIR": "/var/tmp/mine"})
    assert roots == [tmp_path.resolve(), Path("/dev/shm"), Path("/tmp"), Path("/var/tmp/mine")]
    narrowed = {"exclude_slash_tmp": True, "exclude_tmpdir_env_var": True,
                "writable_roots": ["/srv/data", "relative/ignored"]}  # fmt: skip
    roots = writable_roots("workspace-write", str(tmp_path), narrowed, {"TMPDIR": "/var/tmp/x"})
    assert roots == [tmp_path.resolve(), Path("/dev/shm"), Path("/srv/data")]
    assert writable_roots("read-only", str(tmp_path), {}, {}) == []
    assert writable_roots("danger-full-access", str(tmp_path), {}, {}) is None


def test_exposures_name_what_is_in_reach_and_where(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".codeswarm").mkdir(parents=True)
    roots = writable_roots("workspace-write", str(repo), {}, {})
    guarded = {
        "the swarm's state": repo / ".codeswarm" / "runs" / "s",
        "the coordination store": Path("/var/tmp/elsewhere/coord.db"),
        "codeswarm's code": Path("/tmp/venv/lib/codeswarm"),
    }
    said = exposures(roots, "workspace-write", guarded)
    assert len(said) == 2
    assert said[0].startswith(f"the swarm's state ({repo}/.codeswarm/runs/s) is inside {repo},")
    assert "workspace-write sandbox can write" in said[0]
    assert said[1].startswith("codeswarm's code (/tmp/venv/lib/codeswarm) is inside /tmp,")
    guarded["the coordination store"] = repo / ".codeswarm" / "coord.db"  # one line per root
    (both, _) = exposures(roots, "workspace-write", guarded)
    assert both.startswith(f"the swarm's state ({repo}/.codeswarm/runs/s) and the coordination ")
    assert f"store ({repo}/.codeswarm/coord.db) are inside {repo}," in both
    assert exposures([], "read-only", guarded) == []
    (everything,) = exposures(None, "danger-full-access", guarded)
    assert "danger-full-access" in everything and "protects nothing" in everything


def test_a_link_into_a_writable_root_counts(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "state").mkdir(parents=True)
    link = Path("/var/tmp") / f"codeswarm-test-link-{tmp_path.name}"
    link.symlink_to(repo / "state")
    try:
        roots = writable_roots("workspace-write", str(repo), {}, {})
        assert len(exposures(roots, "workspace-write", {"the swarm's state": link})) == 1
    finally:
        link.unlink()


def test_configured_table_reads_the_file_then_the_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "config.toml"
    toml.write_text('[sandbox_workspace_write]\nwritable_roots = ["/a"]\nnetwork_access = true\n')
    name = "sandbox_workspace_write"
    assert configured_table(toml, {}, name) == {"writable_roots": ["/a"], "network_access": True}
    over = {f"{name}.writable_roots": '["/b"]', f"{name}.note": "not toml", "model": '"x"'}
    assert configured_table(toml, over, name) == {
        "writable_roots": ["/b"], "network_access": True, "note": "not toml",
    }  # fmt: skip
    assert configured_table(toml, {name: "{exclude_slash_tmp = true}"}, name) == {
        "exclude_slash_tmp": True
    }
    toml.write_text("[broken\n")
    assert configured_table(toml, {}, name) == {}
    assert configured_table(None, {}, name) == {}
