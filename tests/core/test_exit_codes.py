"""The one error -> exit-code policy (``codeswarm.core.errors``): which error ends a process with
which code, one line on stderr, and ``CODESWARM_DEBUG`` for the traceback."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from codeswarm.core import errors
from codeswarm.core.errors import (
    ConflictError,
    NotFoundError,
    ProcessExitedError,
    ToolchainError,
    UsageError,
    debugging,
    exit_code,
    run_guarded,
)
from swarmkit import python_env

EXPECTED = {
    # 1: failure
    "CodeswarmError": 1,
    "ToolchainError": 1,
    "ToolchainMissingError": 1,
    "CodexError": 1,
    "ClosedError": 1,
    "ProcessExitedError": 1,
    "ClaudeExitedError": 1,
    "ProtocolError": 1,
    "RpcError": 1,
    "TurnFailedError": 1,
    "MethodNotSupportedError": 1,
    "CoordError": 1,
    "StoreUnavailableError": 1,
    "SchemaError": 1,
    "MailboxError": 1,
    "WriterBusyError": 1,
    "InvalidRecordError": 1,
    "RecordTooLargeError": 1,
    "StreamBrokenError": 1,
    "MailboxClosedError": 1,
    "SpillError": 1,
    "SlurmError": 1,
    "GitError": 1,
    "ApiError": 1,  # never ends a process: an HTTP response (its own status)
    "BadEventIdError": 1,
    "BadTypesError": 1,
    "FeedError": 1,
    "StopRequested": 1,  # internal, caught where raised
    # 2: bad input a person can fix
    "HookStateError": 2,
    "PurgeRefusedError": 2,
    "StorePathError": 2,
    "UsageError": 2,
    "ConfigError": 2,
    "ScriptError": 2,
    "PatchNotTranslatableError": 2,
    "CoordInputError": 2,
    "NotFoundError": 2,
    "PathEscapeError": 2,
    "DependencyCycleError": 2,
    "TooLargeError": 2,
    "MailboxPermissionError": 2,
    "MailboxNameError": 2,
    "MailboxInputError": 2,
    "SlurmRejectedError": 2,
    # 3: someone else got there first
    "ConflictError": 3,
    "LeaseConflictError": 3,
    "ClaimLostError": 3,
    "VersionMismatchError": 3,
    "FencedError": 3,
}


def _error_classes() -> dict[str, type[errors.CodeswarmError]]:
    return {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, errors.CodeswarmError)
    }


def test_every_error_class_has_a_decided_exit_code() -> None:
    # a new error class is a decision about its exit code: add it to EXPECTED
    assert set(_error_classes()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exit_code_of_each_error(name: str) -> None:
    cls = _error_classes()[name]
    assert exit_code(cls.__new__(cls)) == EXPECTED[name]


def test_exit_code_of_what_is_not_ours() -> None:
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(ValueError("a bug")) == 1


@pytest.mark.parametrize(("value", "on"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_debugging_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, on: bool
) -> None:
    monkeypatch.setenv("CODESWARM_DEBUG", value)
    assert debugging() is on
    monkeypatch.delenv("CODESWARM_DEBUG")
    assert debugging() is False


def _raise(exc: BaseException) -> int:
    raise exc


@pytest.fixture
def no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODESWARM_DEBUG", raising=False)


@pytest.mark.usefixtures("no_debug")
def test_run_guarded_returns_what_fn_returns(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_guarded(lambda: 0) == 0
    assert run_guarded(lambda: 1) == 1
    assert capsys.readouterr() == ("", "")


@pytest.mark.usefixtures("no_debug")
@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (UsageError("--x: bad"), 2, "codeswarm: error: --x: bad\n"),
        (NotFoundError("no task #9"), 2, "codeswarm: error: no task #9\n"),
        (ConflictError("x is held"), 3, "codeswarm: error: x is held\n"),
        (ToolchainError("no codex"), 1, "codeswarm: error: no codex\n"),
        (ProcessExitedError(7, 1, "boom"), 1, "codeswarm: error: codex app-server (pid 7) "
                                               "exited with code 1: boom\n"),
        (ToolchainError(" two\nlines \n"), 1, "codeswarm: error: two lines\n"),
        (ToolchainError(), 1, "codeswarm: error: ToolchainError\n"),
        (KeyboardInterrupt(), 130, "codeswarm: interrupted\n"),
    ],
)  # fmt: skip
def test_run_guarded_one_line_and_the_code(
    capsys: pytest.CaptureFixture[str], exc: BaseException, code: int, line: str
) -> None:
    assert run_guarded(lambda: _raise(exc)) == code
    assert capsys.readouterr() == ("", line)


@pytest.mark.usefixtures("no_debug")
def test_run_guarded_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_guarded(lambda: _raise(UsageError("bad")), "codeswarm worker") == 2
    assert capsys.readouterr().err == "codeswarm worker: error: bad\n"


@pytest.mark.usefixtures("no_debug")
def test_a_bug_propagates() -> None:
    with pytest.raises(ValueError, match="a bug"):
        run_guarded(lambda: _raise(ValueError("a bug")))


def test_debug_reraises_for_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CODESWARM_DEBUG", "1")
    for exc in (UsageError("bad"), ConflictError("held"), ToolchainError("no codex")):
        with pytest.raises(type(exc)):
            run_guarded(lambda exc=exc: _raise(exc))  # type: ignore[misc]
    assert capsys.readouterr().err == ""
    # Ctrl-C is not an error to debug: the same line and code either way
    assert run_guarded(lambda: _raise(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err == "codeswarm: interrupted\n"


def test_the_worker_entry_point_uses_the_policy(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "codeswarm.worker", "--run-dir", str(tmp_path / "none"),
            "--agent", "s_0"]  # fmt: skip
    done = subprocess.run(argv, env=python_env(), capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("codeswarm worker: error: no swarm 'none'")
    assert done.stderr.count("\n") == 1
    debug = subprocess.run(argv, env=python_env(CODESWARM_DEBUG="1"), capture_output=True,
                           text=True, timeout=60, check=False)  # fmt: skip
    assert debug.returncode == 1 and "Traceback" in debug.stderr
