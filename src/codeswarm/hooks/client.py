"""The hook process (``python -m codeswarm.hooks CLIENT EVENT``, run by file as
``codeswarm.hooks.ENTRY``): one hook call of Codex or Claude Code.

Reads the event's JSON on stdin, prints the answer (if any) as JSON on stdout, exits 0. A fleet
agent's hook asks its agent's decision service (:mod:`codeswarm.hooks.service`, in the worker)
over a unix socket, after checking that whoever listens there is one of its own ancestors (the
agent's worker): that fast path imports nothing but ``_socket`` (``os`` and ``sys`` are loaded
at start-up anyway) and forwards the bytes. Without a service to answer (none, refused, gone
mid-call) the hook decides itself (:mod:`codeswarm.hooks.call`), as it always did: the
fail-open / fail-closed policy and every guarantee are the same either way.

``__main__`` runs this module by its top-level name (the hooks' directory is the script's
``sys.path[0]``): an import is served from the bytecode cache, where a script is compiled on
every run (≈ 1.4 ms, a tenth of the interpreter's start). So nothing of codeswarm is imported
here, not even the package.
"""

import os
import sys

SOCKET_TIMEOUT_S = 10.0
"""How long the hook waits for its service before it decides itself (hooks time out at 30 s)."""
_EVENTS = ("session-start", "pre-tool-use", "post-tool-use", "stop", "user-prompt-submit",
           "session-end")  # fmt: skip
"""codeswarm.hooks.call.EVENTS, spelled out: nothing of codeswarm is imported on the fast path
(a test pins that they agree)."""


def service_path(run_dir: str, agent: str) -> str:
    """Where the agent's decision service listens: ``<run dir>/agents/<agent>/hooks.sock``
    (``codeswarm.hooks.service.socket_path``; RunDir.agent_dir; a test pins that they agree)."""
    return run_dir + "/agents/" + agent + "/hooks.sock"


def _is_ancestor(pid: int) -> bool:
    """Whether ``pid`` is one of this process's ancestors (the worker, above Codex)."""
    parent = os.getppid()
    for _ in range(8):
        if parent == pid:
            return True
        if parent <= 1:
            return False
        try:
            with open(f"/proc/{parent}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return False
        parent = int(stat[stat.rfind(b")") + 2 :].split()[1])
    return False


def ask_service(client: str, event: str, data: bytes) -> bytes | None:
    """The service's answer (stdout bytes, NUL, stderr bytes), or None: no service for this
    hook (not a fleet agent's), or none that answered."""
    env = os.environ
    run_dir, agent = env.get("CODESWARM_RUN_DIR"), env.get("CODESWARM_AGENT_ID")
    if not run_dir or not agent or "/" in agent:
        return None
    path = service_path(run_dir, agent)
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    fd = -1
    try:
        sock.settimeout(SOCKET_TIMEOUT_S)
        if len(path.encode()) > 100:  # sun_path holds 107 bytes: go through the directory
            fd = os.open(path.rpartition("/")[0], os.O_RDONLY | os.O_DIRECTORY)
            path = f"/proc/self/fd/{fd}/hooks.sock"
        sock.connect(path)
        cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        if not _is_ancestor(int.from_bytes(cred[:4], sys.byteorder)):
            return None  # not our agent's worker: whoever put a socket there is not asked
        cwd = os.getcwd().encode(errors="surrogateescape")
        sock.sendall(b"\0".join((client.encode(), event.encode(), cwd, data)))
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None  # no service, refused, timed out: decide here
    finally:
        sock.close()
        if fd >= 0:
            os.close(fd)
    answer = b"".join(chunks)
    return answer if b"\0" in answer else None  # cut short: it did not decide


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("codex", "claude") or args[1] not in _EVENTS:
        print(
            f"usage: python -m codeswarm.hooks {{codex|claude}} {{{'|'.join(_EVENTS)}}}",
            file=sys.stderr,
        )
        return 2
    client, event = args
    data = sys.stdin.buffer.read()
    answer = ask_service(client, event, data)
    if answer is not None:
        out, _, err = answer.partition(b"\0")
    else:
        from codeswarm.hooks.call import decide

        out, text = decide(client, event, data, os.environ)
        err = text.encode(errors="replace")
    if err:
        sys.stderr.buffer.write(err)
        sys.stderr.flush()
    if out:
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    return 0
