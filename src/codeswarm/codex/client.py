"""The ``codex app-server`` client: one child process, one JSON-RPC connection, typed helpers.

::

    async with await AppServer.spawn(binary, codex_home=home, cwd=repo) as codex:
        thread = await codex.thread_start(cwd=repo)
        turn = await codex.turn_start(thread.id, "hello")
        async for msg in turn:          # every notification of the turn, in order
            ...
        print(turn.result.text)

Server→client requests are answered through the approval policy (see :mod:`.approval`); methods
that are not approvals get a JSON-RPC error. When the process dies, every pending call fails at
once with :class:`ProcessExitedError` (pid, exit code, last stderr line).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeswarm import __version__
from codeswarm.codex.approval import (
    ApprovalPolicy,
    DeclineAll,
    build_request,
    wire_reply,
)
from codeswarm.codex.launch import launch
from codeswarm.codex.rpc import RpcConnection, RpcStatistics
from codeswarm.codex.subscription import Message, Predicate, Subscription
from codeswarm.codex.toolchain import CodexBinary
from codeswarm.codex.transport import STDIN_CLOSE_GRACE, ProcessTransport, Transport
from codeswarm.codex.turn import TurnHandle, message_thread_id
from codeswarm.core.errors import MethodNotSupportedError, ProtocolError
from codeswarm.core.resource import AsyncResource

CLIENT_NAME = "codeswarm"


def text_input(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "text_elements": []}]


@dataclass(frozen=True)
class Thread:
    id: str
    path: str | None
    model: str | None
    raw: dict[str, Any]


def _thread(result: Any, method: str) -> Thread:
    if not isinstance(result, dict) or not isinstance(result.get("thread"), dict):
        raise ProtocolError(f"{method}: reply has no thread")
    thread = result["thread"]
    if not isinstance(thread.get("id"), str):
        raise ProtocolError(f"{method}: thread has no id")
    model = result.get("model")
    path = thread.get("path")
    return Thread(
        thread["id"],
        path if isinstance(path, str) else None,
        model if isinstance(model, str) else None,
        result,
    )


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


if TYPE_CHECKING:
    from typing import TypedDict, Unpack

    from codeswarm.codex.launch import LaunchOptions

    class ThreadSettings(TypedDict, total=False):
        """What a thread runs with, for ``thread/start`` and ``thread/resume`` (None: Codex's
        own setting)."""

        cwd: Path | str | None
        model: str | None
        model_provider: str | None
        approval_policy: str | None
        sandbox: str | None
        config: Mapping[str, Any] | None
        developer_instructions: str | None


_THREAD_WIRE = {
    "cwd": "cwd",
    "model": "model",
    "model_provider": "modelProvider",
    "approval_policy": "approvalPolicy",
    "sandbox": "sandbox",
    "config": "config",
    "developer_instructions": "developerInstructions",
}


def _thread_params(settings: ThreadSettings, **wire: Any) -> dict[str, Any]:
    """The request parameters: ``wire`` (already wire names) and ``settings`` (renamed)."""
    params: dict[str, Any] = {**wire}
    for key, value in settings.items():
        if key == "cwd" and value is not None:
            value = str(value)
        elif key == "config" and isinstance(value, Mapping):
            value = dict(value) or None
        params[_THREAD_WIRE[key]] = value
    return _drop_none(params)


class AppServer(AsyncResource):
    """A connection to one ``codex app-server``. Use :meth:`spawn`, or wrap any transport."""

    def __init__(self, transport: Transport, approval: ApprovalPolicy | None = None) -> None:
        self.transport = transport
        self.approval: ApprovalPolicy = approval if approval is not None else DeclineAll()
        self.rpc = RpcConnection(transport, self._on_server_request)
        self._items: dict[str, dict[str, Any]] = {}
        self._item_sub = self.rpc.subscribe(
            lambda m: m.get("method") in ("item/started", "item/completed"), requests=False
        )
        self.server_info: dict[str, Any] = {}
        self.rpc.start()

    @classmethod
    async def spawn(
        cls,
        binary: CodexBinary | Sequence[str],
        *,
        codex_home: Path,
        approval: ApprovalPolicy | None = None,
        stderr_log: Path | None = None,
        initialize: bool = True,
        **options: Unpack[LaunchOptions],
    ) -> AppServer:
        """Start ``codex app-server`` with ``CODEX_HOME=codex_home`` and handshake.

        ``options`` (``cwd``, ``config``, ``env``, ``args``) are :func:`launch`'s: ``config``
        becomes ``-c key=value`` overrides; ``binary`` may also be a plain argv (for fakes).
        Raises :class:`UsageError` if it cannot start, a :class:`CodexError` if the handshake
        fails.
        """
        popen = launch(binary, codex_home=codex_home, **options)
        return await cls.adopt(
            popen, approval=approval, stderr_log=stderr_log, initialize=initialize
        )

    @classmethod
    async def adopt(
        cls,
        popen: subprocess.Popen[bytes],
        *,
        approval: ApprovalPolicy | None = None,
        stderr_log: Path | None = None,
        initialize: bool = True,
    ) -> AppServer:
        """Connect to a process started by :func:`codeswarm.codex.launch.launch` (and handshake
        unless ``initialize=False``). On failure the process is closed."""
        try:
            transport = await ProcessTransport.adopt(popen, stderr_log=stderr_log)
        except BaseException:
            popen.kill()
            popen.wait()
            raise
        server = cls(transport, approval)
        if initialize:
            try:
                await server.initialize()
            except BaseException:
                await server.aclose()
                raise
        return server

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.transport.pid if isinstance(self.transport, ProcessTransport) else None

    def statistics(self) -> RpcStatistics:
        return self.rpc.statistics()

    async def aclose(self, grace: float = STDIN_CLOSE_GRACE) -> None:
        """Close stdin, wait ``grace``, terminate, kill. Safe to call twice."""
        self.rpc.close_nowait()
        if isinstance(self.transport, ProcessTransport):
            await self.transport.aclose(grace)
        await self.rpc.aclose()

    # -- generic --------------------------------------------------------------------------------
    async def request(self, method: str, params: Any = None) -> Any:
        return await self.rpc.request(method, params)

    def subscribe(
        self, predicate: Predicate | None = None, *, requests: bool = True
    ) -> Subscription:
        """Every notification (and server request) from now on, in order; see :class:`Subscription`."""
        return self.rpc.subscribe(predicate, requests=requests)

    # -- server → client requests ---------------------------------------------------------------
    def _track_items(self) -> None:
        while (msg := self._item_sub.get_nowait()) is not None:
            item = (msg.get("params") or {}).get("item")
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if msg.get("method") == "item/started":
                self._items[item["id"]] = item
            else:
                self._items.pop(item["id"], None)

    async def _on_server_request(self, msg: Message) -> Any:
        self._track_items()
        request = build_request(msg, self._items)
        if request is None:
            raise MethodNotSupportedError(str(msg.get("method")))
        decision = await self.approval.decide(request)
        return wire_reply(request, decision)

    # -- the protocol -----------------------------------------------------------------------------
    async def initialize(
        self, *, experimental_api: bool = True, opt_out: Sequence[str] = ()
    ) -> dict[str, Any]:
        caps: dict[str, Any] = {"experimentalApi": experimental_api}
        if opt_out:
            caps["optOutNotificationMethods"] = list(opt_out)
        result = await self.rpc.request(
            "initialize",
            {
                "clientInfo": {"name": CLIENT_NAME, "title": "codeswarm", "version": __version__},
                "capabilities": caps,
            },
        )
        await self.rpc.notify("initialized")
        self.server_info = result if isinstance(result, dict) else {}
        return self.server_info

    async def thread_start(
        self,
        *,
        base_instructions: str | None = None,
        ephemeral: bool | None = None,
        **settings: Unpack[ThreadSettings],
    ) -> Thread:
        params = _thread_params(settings, baseInstructions=base_instructions, ephemeral=ephemeral)
        return _thread(await self.rpc.request("thread/start", params), "thread/start")

    async def thread_resume(self, thread_id: str, **settings: Unpack[ThreadSettings]) -> Thread:
        params = _thread_params(settings, threadId=thread_id, excludeTurns=True)
        return _thread(await self.rpc.request("thread/resume", params), "thread/resume")

    async def turn_start(
        self,
        thread_id: str,
        text: str | None = None,
        *,
        input: list[dict[str, Any]] | None = None,
        **overrides: Any,
    ) -> TurnHandle:
        """Start a turn and return its handle. The handle's subscription exists before the
        request is sent, so no notification of the turn can be missed."""
        if (text is None) == (input is None):
            raise TypeError("give exactly one of text or input")
        items = input if input is not None else text_input(text or "")
        sub = self.rpc.subscribe(lambda m: message_thread_id(m) == thread_id)
        try:
            result = await self.rpc.request(
                "turn/start", {"threadId": thread_id, "input": items, **_drop_none(overrides)}
            )
            turn = result.get("turn") if isinstance(result, dict) else None
            if not isinstance(turn, dict) or not isinstance(turn.get("id"), str):
                raise ProtocolError("turn/start: reply has no turn id")
        except BaseException:
            sub.close()
            raise
        turn_id: str = turn["id"]

        async def interrupt() -> None:
            await self.turn_interrupt(thread_id, turn_id)

        return TurnHandle(thread_id, turn_id, sub, interrupt)

    async def turn_steer(self, thread_id: str, turn_id: str, text: str) -> Any:
        """Add input to the running turn ``turn_id``."""
        return await self.rpc.request(
            "turn/steer",
            {"threadId": thread_id, "input": text_input(text), "expectedTurnId": turn_id},
        )

    async def turn_interrupt(self, thread_id: str, turn_id: str) -> None:
        await self.rpc.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id})

    async def hooks_list(self, cwds: Sequence[Path | str]) -> list[dict[str, Any]]:
        result = await self.rpc.request("hooks/list", {"cwds": [str(c) for c in cwds]})
        data = result.get("data") if isinstance(result, dict) else None
        return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []

    async def config_batch_write(
        self, edits: Sequence[dict[str, Any]], *, reload_user_config: bool = True
    ) -> Any:
        return await self.rpc.request(
            "config/batchWrite", {"edits": list(edits), "reloadUserConfig": reload_user_config}
        )

    async def trust_hooks(
        self, cwds: Sequence[Path | str], *, within: Path | str | None = None
    ) -> list[str]:
        """Trust every hook Codex lists for ``cwds`` that is not trusted at its current hash;
        with ``within``, only the hooks defined in files under that directory (a hook's key
        starts with the absolute path of the file defining it): a project's own
        ``.codex/hooks.json``, which anyone who can write the project may change, stays
        untrusted.

        Returns the keys newly trusted. A hook that is not trusted never runs."""
        prefix = None if within is None else str(within).rstrip("/") + "/"
        edits: list[dict[str, Any]] = []
        for entry in await self.hooks_list(cwds):
            for hook in _hook_entries(entry):
                key, current = hook.get("key"), hook.get("currentHash")
                if not isinstance(key, str) or not isinstance(current, str):
                    continue
                if prefix is not None and not key.startswith(prefix):
                    continue
                if hook.get("trustStatus") in ("trusted", "managed") or hook.get("isManaged"):
                    continue
                edits.append(
                    {
                        "keyPath": f'hooks.state."{key}"',
                        "value": {"trusted_hash": current},
                        "mergeStrategy": "upsert",
                    }
                )
        if edits:
            await self.config_batch_write(edits)
        return [str(e["keyPath"]) for e in edits]


def _hook_entries(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """``hooks/list`` data entries either are hooks or hold a list of them (per cwd)."""
    if "key" in entry:
        return [entry]
    for name in ("hooks", "entries"):
        inner = entry.get(name)
        if isinstance(inner, list):
            return [h for h in inner if isinstance(h, dict)]
    return []
