"""``codeswarm coord`` with bad input: one line on stderr, exit 2, and nothing changed — not the
store, not a file (docs/security/input.md). In-process for the many flags, real processes for the
ones issue 10 found (a traceback, directories created, absurd values stored)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codeswarm.cli.coord.command import run
from codeswarm.coordination import Coord
from swarmkit import python_env

HUGE = "99999999999999999999"  # over 2**63 - 1


def files(top: Path) -> dict[str, bytes | None]:
    """Every file under ``top`` with its bytes (directories: None). The WAL index (``-shm``) is
    left out: SQLite readers write their read marks there."""
    return {
        str(p.relative_to(top)): None if p.is_dir() else p.read_bytes()
        for p in sorted(top.rglob("*"))
        if not p.name.endswith("-shm")
    }


def store(db: Path, root: Path) -> dict[str, Any]:
    with Coord.open(str(db), root=str(root)) as c:
        return {
            "agents": [a.to_dict() for a in c.agents(all=True)],
            "leases": [x.to_dict() for x in c.leases()],
            "tasks": [t.to_dict() for t in c.tasks()],
            "kv": [e.to_dict() for e in c.kv_list()],
            "events": [e.to_dict() for e in c.events(limit=10_000)],
        }


class Scope:
    """A project with a store holding some state: agent ``a`` with a lease, two tasks, a key,
    a message."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.top = tmp_path
        self.root = tmp_path / "proj"
        (self.root / "src").mkdir(parents=True, exist_ok=True)
        (tmp_path / "state").mkdir()
        self.db = tmp_path / "state" / "coord.db"
        self.capsys = capsys
        for line in (["register", "a"], ["--as", "a", "lease", "src/"], ["task", "add", "one"],
                     ["task", "add", "two", "--depends-on", "1"], ["kv", "set", "k", "v"],
                     ["send", "a", "hi"]):  # fmt: skip
            assert self.run(*line)[0] == 0
        self.capsys.readouterr()

    def run(self, *args: str) -> tuple[int, str, str]:
        rc = run(["--db", str(self.db), "--scope", str(self.root), *args])
        out, err = self.capsys.readouterr()
        return rc, out, err

    def refused(self, *args: str, words: str, code: int = 2) -> str:
        """Run a bad line: exit ``code``, one line naming ``words``, nothing on stdout, and the
        store and every file as they were."""
        before_files, before_store = files(self.top), store(self.db, self.root)
        rc, out, err = self.run(*args)
        assert (rc, out) == (code, ""), (rc, out, err)
        assert err.startswith("codeswarm: error: ") and err.count("\n") == 1, err
        assert words in err, err
        assert len(err) < 400 and "Traceback" not in err
        assert files(self.top) == before_files
        assert store(self.db, self.root) == before_store
        return err


@pytest.fixture
def scope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Scope:
    monkeypatch.delenv("CODESWARM_AGENT_ID", raising=False)
    monkeypatch.delenv("CODESWARM_DB", raising=False)
    (tmp_path / "proj").mkdir()
    monkeypatch.chdir(tmp_path / "proj")
    return Scope(tmp_path, capsys)


BAD: list[tuple[str, list[str], str]] = [
    # leases
    ("ttl-huge", ["lease", "x", "--ttl", "1e308"], "--ttl must be between 1 and 604800 seconds"),
    ("ttl-tiny", ["lease", "x", "--ttl", "1e-300"], "--ttl must be between 1 and"),
    ("ttl-zero", ["lease", "x", "--ttl", "0"], "--ttl must be"),
    ("ttl-negative", ["lease", "x", "--ttl", "-1"], "--ttl must be"),
    ("ttl-nan", ["lease", "x", "--ttl", "nan"], "not nan"),
    ("ttl-inf", ["lease", "x", "--ttl", "inf"], "not inf"),
    ("ttl-word", ["lease", "x", "--ttl", "soon"], "expects a number of seconds"),
    ("ttl-twice", ["lease", "x", "--ttl", "5", "--ttl", "6"], "--ttl given twice"),
    ("lease-wait-negative", ["lease", "x", "--wait", "-1"], "--wait must be between 0 and 3600"),
    ("lease-wait-nan", ["lease", "x", "--wait", "nan"], "--wait must be"),
    ("lease-wait-long", ["lease", "x", "--wait", "1e9"], "--wait must be"),
    ("path-100k", ["lease", "d/" * 50_000], "PATH_MAX"),
    ("path-segment", ["lease", "src/" + "y" * 256], "NAME_MAX"),
    ("release-long", ["release", "q" * 5000], "PATH_MAX"),
    ("renew-long", ["renew", "q" * 5000], "PATH_MAX"),
    ("check-long", ["check", "q" * 5000], "PATH_MAX"),
    ("leases-long", ["leases", "--path", "q" * 5000], "PATH_MAX"),
    # agents
    ("pid-negative", ["register", "b", "--pid", "-1"], "--pid must be between 1 and"),
    ("pid-huge", ["register", "b", "--pid", HUGE], "--pid must be"),
    ("pid-word", ["register", "b", "--pid", "me"], "expects a whole number"),
    ("lease-s-huge", ["register", "b", "--lease-s", "1e308"], "--lease-s must be"),
    ("lease-s-tiny", ["register", "b", "--lease-s", "0.1"], "--lease-s must be"),
    ("name", ["register", "b c"], "invalid agent name"),
    ("as-empty", ["heartbeat", "--as="], "--as needs a value"),
    ("as-generation-huge", ["heartbeat", "--as", f"a#{HUGE}"], "invalid agent ref"),
    ("db-empty", ["agents", "--db="], "--db needs a value"),
    ("scope-empty", ["agents", "--scope="], "--scope needs a value"),
    ("scope-missing", ["agents", "--scope", "/nonexistent/scope"], "does not exist"),
    # tasks
    ("priority-huge", ["task", "add", "t", "--priority", HUGE], "--priority must be"),
    ("parent-zero", ["task", "add", "t", "--parent", "0"], "invalid task id"),
    ("depends-on-word", ["task", "add", "t", "--depends-on", "x"], "invalid task id"),
    ("type-empty", ["task", "add", "t", "--type", ""], "type must not be empty"),
    ("file-long", ["task", "add", "t", "--file", "z" * 5000], "PATH_MAX"),
    ("changed-long", ["task", "done", "1", "--changed", "z" * 5000], "PATH_MAX"),
    ("claim-huge", ["task", "claim", HUGE], "invalid task id"),
    ("claim-digits", ["task", "claim", "²"], "invalid task id"),
    ("claim-negative", ["task", "claim", "-3"], "invalid task id"),
    ("claim-version", ["task", "claim", "1", "--version", "-1"], "--version must be between 0"),
    ("depend-zero", ["task", "depend", "2", "0"], "invalid task id"),
    ("show-word", ["task", "show", "one"], "invalid task id"),
    ("claim-next-type", ["task", "claim-next", "--type", "t" * 600], "limit is"),
    # kv
    ("expect-version-negative", ["kv", "set", "k", "x", "--expect-version", "-3"], "must be"),
    ("expect-version-huge", ["kv", "del", "k", "--expect-version", HUGE], "must be"),
    ("cas-word", ["kv", "cas", "k", "one", "x"], "EXPECTED_VERSION expects a whole number"),
    # messages
    ("reply-to-huge", ["send", "a", "hi", "--reply-to", HUGE], "invalid message id"),
    ("inbox-limit-negative", ["inbox", "--limit", "-1"], "--limit must be between 1 and 1000"),
    ("inbox-limit-zero", ["inbox", "--limit", "0"], "--limit must be"),
    ("inbox-limit-big", ["inbox", "--limit", "1001"], "--limit must be"),
    ("inbox-wait-negative", ["inbox", "--wait", "-1"], "--wait must be"),
    ("ack-zero", ["ack", "0"], "invalid message id"),
    ("ack-word", ["ack", "1", "x"], "invalid message id"),
    # events
    ("events-limit-zero", ["events", "--limit", "0"], "--limit must be between 1 and 10000"),
    ("events-limit-big", ["events", "--limit", "10001"], "--limit must be"),
    ("events-since-negative", ["events", "--since", "-1"], "--since must be between 0"),
    ("events-since-huge", ["events", "--since", HUGE], "--since must be"),
    ("events-wait-negative", ["events", "--wait", "-1"], "--wait must be"),
    ("events-kind-lines", ["events", "--kind", "a\nb"], "kind must be one line"),
    # words that were not UTF-8 (Python gives each such byte as a lone surrogate)
    ("value-not-utf8", ["kv", "set", "k", "\udcff"], "not valid UTF-8"),
    ("path-not-utf8", ["lease", "x\udcff"], "not valid UTF-8"),
    ("message-not-utf8", ["send", "a", "hi\udcff"], "not valid UTF-8"),
    ("note-not-utf8", ["task", "progress", "1", "\udcff"], "not valid UTF-8"),
]


@pytest.mark.parametrize(("case", "args", "words"), BAD, ids=[b[0] for b in BAD])
def test_refused_in_one_line_and_nothing_changed(
    scope: Scope, case: str, args: list[str], words: str
) -> None:
    scope.refused("--as", "a", *args, words=words)


def test_the_check_sees_a_change(scope: Scope) -> None:
    """The "nothing changed" check can fail: a good line changes the store."""
    with pytest.raises(AssertionError):
        scope.refused("--as", "a", "lease", "docs/", words="")


def test_a_database_flag_that_names_no_database(scope: Scope) -> None:
    notes = scope.top / "notes.txt"
    notes.write_text("hello\n")
    (scope.top / "afile").write_text("x")
    for db, words in [
        (notes, "is not a SQLite database"),
        (scope.top / "no" / "such" / "x.db", "/no/such does not exist"),
        (scope.top / "afile" / "x.db", "afile is not a directory"),
        (scope.top, "is a directory"),
    ]:
        scope.refused("--db", str(db), "agents", words=words)


def _coord(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeswarm", "coord", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_what_issue_10_found_as_real_processes(tmp_path: Path) -> None:
    """A traceback, directories created, and absurd values stored, each now one line, exit 2,
    and nothing changed."""
    root = tmp_path / "proj"
    root.mkdir()
    db = tmp_path / "coord.db"
    env = python_env(CODESWARM_DB=str(db), CODESWARM_SCOPE=str(root), CODESWARM_AGENT_ID="a")
    assert _coord(["register", "a"], env, root).returncode == 0
    assert _coord(["lease", "held"], env, root).returncode == 0
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    cases = [
        (["--db", str(notes), "agents"], "not a SQLite database"),
        (["--db", str(tmp_path / "nonexistent" / "dir" / "x.db"), "agents"], "does not exist"),
        (["lease", "p" * 100 + "/" + "d/" * 50_000], "PATH_MAX"),
        (["lease", "x", "--ttl", "1e308"], "--ttl must be"),
        (["lease", "x", "--ttl", "1e-300"], "--ttl must be"),
        (["lease", "x", "--wait", "-1"], "--wait must be"),
        (["inbox", "--limit", "-1"], "--limit must be"),
    ]
    for args, words in cases:
        before = files(tmp_path)
        done = _coord(args, env, root)
        assert (done.returncode, done.stdout) == (2, ""), (args[:3], done.stderr)
        assert done.stderr.startswith("codeswarm: error: ") and done.stderr.count("\n") == 1
        assert words in done.stderr and "Traceback" not in done.stderr
        assert files(tmp_path) == before, args[:3]
    assert not (tmp_path / "nonexistent").exists()
    leases = store(db, root)["leases"]
    assert [x["path"] for x in leases] == ["held"]
    assert os.path.getsize(notes) == len("not a database\n")
