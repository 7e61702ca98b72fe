"""The one ssh command-line builder (mailbox.sshurl): the argv, and the remote command as a real
shell runs it."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from codeswarm.mailbox.sshurl import SshUrl, remote_python, shell_path, ssh_argv


def test_ssh_argv_puts_the_persons_options_first_and_the_host_last() -> None:
    url = SshUrl.parse("ssh://me@h:2200/ws")
    argv = ssh_argv(url, "CMD", options=["-J", "bastion"], settings=["-o", "X=1"])
    assert argv == [
        "ssh", "-J", "bastion", "-T", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
        "-o", "X=1", "-p", "2200", "-l", "me", "--", "h", "CMD",
    ]  # fmt: skip
    plain = ssh_argv(SshUrl.parse("ssh://h/ws"), "CMD", ssh=("myssh",), tty=True, batch=False)
    assert plain == ["myssh", "-t", "-o", "LogLevel=ERROR", "--", "h", "CMD"]


def run_remote(command: str, home: Path) -> str:
    """What the far host's login shell does with the command (here: sh, locally)."""
    env = {**os.environ, "HOME": str(home)}
    out = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_remote_python_prefers_the_workspace_venv_and_exports_env(tmp_path: Path) -> None:
    ws = tmp_path / "my ws"
    (ws / ".venv" / "bin").mkdir(parents=True)
    fake = ws / ".venv" / "bin" / "python"
    fake.write_text('#!/bin/sh\necho "venv $CODESWARM_STATE_DIR $*"\n')
    fake.chmod(0o755)
    words = shell_path(str(ws))
    cmd = remote_python(None, words, "-m codeswarm 'a b'", env={"CODESWARM_STATE_DIR": words})
    assert run_remote(cmd, tmp_path) == f"venv {ws} -m codeswarm a b\n"


def test_remote_python_falls_back_to_python3_and_honours_a_home_path(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()  # no .venv there
    args = "-c " + shlex.quote("import os, sys; print(os.environ['X'], sys.argv[1:])") + " 1"
    cmd = remote_python(None, shell_path("~/ws"), args, env={"X": shell_path("~/ws")})
    assert run_remote(cmd, tmp_path) == f"{tmp_path}/ws ['1']\n"


def test_remote_python_given_is_one_plain_command_unless_env_is_set(tmp_path: Path) -> None:
    assert remote_python("py -X utf8", "ws", "-m m") == "py -X utf8 -m m"
    args = "-c " + shlex.quote("import os; print(os.environ['X'])")
    cmd = remote_python("python3 -I", "ws", args, env={"X": "'a b'"})
    assert cmd.startswith("exec sh -c ")
    assert run_remote(cmd, tmp_path) == "a b\n"
