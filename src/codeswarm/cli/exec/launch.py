"""The first milliseconds of ``codeswarm exec``: find Codex and start it, using the standard
library only, so that Codex boots while the rest of codeswarm loads (see exec_session)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeswarm.cli.toolchain_install import locate_or_install
from codeswarm.codex.launch import launch
from codeswarm.codex.toolchain import CodexBinary
from codeswarm.core.layers import user_codex_home
from codeswarm.mockmodel.overrides import codex_overrides

if TYPE_CHECKING:
    import socket

EXEC_AGENT = "exec_0"


class ExecOptions:
    """What ``codeswarm exec`` was asked to do (a plain class: no ``dataclasses`` import on the
    path that starts Codex)."""

    def __init__(
        self,
        prompt: str,
        cwd: Path,
        *,
        script: Path | None = None,
        model_provider: str | None = None,
        model: str | None = None,
        approval_policy: str | None = None,
        sandbox: str | None = None,
        approve: str = "workspace",
        json_out: bool = False,
        interactive: bool = False,
        raw_overrides: dict[str, str] | None = None,
        model_log: Path | None = None,
        retry_deadline: float | None = None,
    ) -> None:
        self.prompt = prompt
        self.cwd = cwd
        self.script = script
        self.model_provider = model_provider
        self.model = model
        self.approval_policy = approval_policy
        self.sandbox = sandbox
        self.approve = approve
        self.json_out = json_out
        self.interactive = interactive
        self.raw_overrides = raw_overrides or {}
        self.model_log = model_log
        self.retry_deadline = retry_deadline
        """Seconds a turn may only retry an unreachable model (None: the configured value)."""


class Launched:
    """A started Codex and what was set up for it; :meth:`cleanup` undoes all of it."""

    def __init__(
        self,
        binary: CodexBinary,
        popen: subprocess.Popen[bytes],
        codex_home: Path,
        sock: socket.socket | None = None,
        *,
        temp_home: bool = False,
    ) -> None:
        self.binary = binary
        self.popen = popen
        self.codex_home = codex_home
        self.sock = sock
        """The scripted model's listening socket (bound, not yet served)."""
        self.temp_home = temp_home

    def cleanup(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        if self.sock is not None:
            self.sock.close()
        if self.temp_home:
            shutil.rmtree(self.codex_home, ignore_errors=True)


def _listen_local() -> socket.socket:
    """A listening socket on 127.0.0.1 (a free port) for the scripted model, bound before the
    server is loaded so that Codex can be pointed at it at once."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def prelaunch(opts: ExecOptions) -> Launched:
    """Locate and start Codex for ``opts``. Raises ToolchainError/UsageError, leaving nothing."""
    binary = locate_or_install()  # installs the pinned Codex on first use
    overrides: dict[str, Any] = {}
    sock: socket.socket | None = None
    if opts.script is not None:
        if not opts.script.is_file():
            from codeswarm.core.errors import ScriptError

            raise ScriptError(f"{opts.script}: no such file")
        sock = _listen_local()
        port = sock.getsockname()[1]
        overrides = codex_overrides(f"http://127.0.0.1:{port}/agents/{EXEC_AGENT}/v1")
        import tempfile

        home = Path(tempfile.mkdtemp(prefix="codeswarm-home-"))
    else:
        home = user_codex_home()
        if opts.model_provider is not None:
            # the server's provider, not only the thread's: account/read answers for it
            overrides["model_provider"] = opts.model_provider
    try:
        popen = launch(
            binary,
            codex_home=home,
            cwd=opts.cwd,
            config=overrides,
            args=[a for k, v in opts.raw_overrides.items() for a in ("-c", f"{k}={v}")],
            seed_home=opts.script
            is not None,  # a throwaway home of ours: Codex's databases copied in
        )
    except BaseException:
        if sock is not None:
            sock.close()
        if opts.script is not None:
            shutil.rmtree(home, ignore_errors=True)
        raise
    return Launched(binary, popen, home, sock, temp_home=opts.script is not None)
