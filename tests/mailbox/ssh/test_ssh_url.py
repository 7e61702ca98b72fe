"""ssh:// URLs, the remote command line, and open_transport: no sshd needed."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from codeswarm.core.errors import UsageError
from codeswarm.mailbox import LocalTransport, SshTransport, SshUrl, open_transport


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ssh://login1/scratch/me/ws", SshUrl("login1", "/scratch/me/ws")),
        ("ssh://me@login1:2222/scratch/ws/", SshUrl("login1", "/scratch/ws", "me", 2222)),
        ("ssh://me@login1/~/ws", SshUrl("login1", "~/ws", "me")),
        ("ssh://[::1]:22/ws", SshUrl("::1", "/ws", None, 22)),
        ("ssh://h/a%20b", SshUrl("h", "/a b")),
        ("ssh://h/ws?python=/opt/py/bin/python3", SshUrl("h", "/ws", python="/opt/py/bin/python3")),
    ],
)
def test_parse(url: str, expected: SshUrl) -> None:
    assert SshUrl.parse(url) == expected
    assert SshUrl.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("/scratch/ws", "not an ssh URL"),
        ("http://h/ws", "not an ssh URL"),
        ("ssh:///ws", "no host"),
        ("ssh://-oProxyCommand=x/ws", "no host"),
        ("ssh://h", "no remote path"),
        ("ssh://h/", "no remote path"),
        ("ssh://h:99999/ws", "bad ssh URL"),
        ("ssh://h:port/ws", "bad ssh URL"),
        ("ssh://me:secret@h/ws", "no passwords"),
        ("ssh://h/ws?pyton=x", "the only query parameter is python"),
        ("ssh://h/ws#frag", "unexpected #frag"),
    ],
)
def test_bad_urls_are_one_line_usage_errors(url: str, why: str) -> None:
    with pytest.raises(UsageError) as info:
        SshUrl.parse(url)
    assert why in str(info.value) and "\n" not in str(info.value)


def test_the_remote_command_prefers_the_workspace_venv() -> None:
    t = SshTransport("ssh://h/scratch/my ws", swarm="demo")
    assert t.run_dir == "/scratch/my ws/runs/demo"
    cmd = t.remote_command()
    words = shlex.split(cmd)
    assert words[:3] == ["exec", "sh", "-c"] and len(words) == 4
    script = words[3]
    assert "'/scratch/my ws'/.venv/bin/python -P -m codeswarm.mailbox.serve" in script
    assert "exec python3 -P -m codeswarm.mailbox.serve" in script
    assert "--run-dir '/scratch/my ws/runs/demo'" in script


def test_the_remote_command_with_a_python_and_a_home_path() -> None:
    t = SshTransport("ssh://h/~/ws?python=/opt/py/bin/python3", rotate_bytes=None, create=False)
    cmd = t.remote_command()
    assert cmd.startswith("/opt/py/bin/python3 -P -m codeswarm.mailbox.serve ")
    assert cmd.endswith('--run-dir "$HOME"/ws')
    assert "--rotate-bytes none" in cmd and "--no-create" in cmd
    assert (
        SshTransport("ssh://h/ws", python="py -X utf8").remote_command().startswith("py -X utf8 ")
    )


def test_ssh_argv() -> None:
    t = SshTransport(
        "ssh://me@h:2200/ws",
        identity_file="/k/id",
        known_hosts="/k/known",
        host_key_checking="yes",
        ssh_options=("-J", "bastion"),
    )
    argv = t.ssh_argv()
    assert argv[:3] == ["ssh", "-J", "bastion"]  # first, so that they win
    assert "BatchMode=yes" in argv and "IdentitiesOnly=yes" in argv
    assert 'UserKnownHostsFile="/k/known"' in argv and "StrictHostKeyChecking=yes" in argv
    assert argv[argv.index("-p") + 1] == "2200" and argv[argv.index("-l") + 1] == "me"
    assert argv[-3:-1] == ["--", "h"] and argv[-1] == t.remote_command()
    assert "BatchMode=yes" not in SshTransport("ssh://h/ws", interactive=True).ssh_argv()


async def test_open_transport(tmp_path: Path) -> None:
    local = open_transport(tmp_path / "ws", swarm="demo")
    assert isinstance(local, LocalTransport)
    assert local.layout.run_dir == tmp_path / "ws" / "runs" / "demo"
    assert (tmp_path / "ws" / "runs" / "demo" / "mailbox" / "inbox").is_dir()
    await local.aclose()
    plain = open_transport(str(tmp_path / "run"))
    assert isinstance(plain, LocalTransport) and plain.layout.run_dir == tmp_path / "run"
    await plain.aclose()
    remote = open_transport("ssh://me@h/ws", swarm="demo", python="/p")
    assert isinstance(remote, SshTransport) and remote.run_dir == "/ws/runs/demo"
    assert remote.python == "/p"
    await remote.aclose()
    with pytest.raises(UsageError):
        open_transport("ssh://h", swarm="demo")
