"""The script format of the scripted model: loading, validation, and per-agent playback.

A script maps agents to lists of entries; each model request consumes one entry. The format is
documented in ``docs/scripted-model.md``; this module is its single source of truth.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final

import msgspec

from codeswarm.core.errors import ScriptError
from codeswarm.core.swarm import agent_rank

WILDCARD: Final = "*"
"""The agents key that serves every agent without a list of its own."""

EXHAUSTED_TEXT: Final = "(script exhausted)"
"""What an agent whose list is used up answers to every further request."""

DEFAULT_MCP_SERVER: Final = "codeswarm"
"""The MCP server a ``tool`` entry calls when it names none."""

_NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
_NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]

_TOP_LEVEL_KEYS: Final = frozenset({"agents", "roles", "note", "description"})
_CALL_KEYS: Final = ("exec", "patch", "tool", "edit", "write", "read", "call")
_ACTION_KEYS: Final = ("text", "reasoning", *_CALL_KEYS, "fail", "http_status", "cut")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")


class Usage(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """Token usage reported for one model request, passed through to Codex exactly."""

    input_tokens: _NonNegInt
    output_tokens: _NonNegInt
    cached_input_tokens: _NonNegInt = 0
    reasoning_tokens: _NonNegInt = 0
    total_tokens: _NonNegInt | None = None
    """Defaults to ``input_tokens + output_tokens``."""


class ExecCall(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """The object form of ``exec``: the arguments of Codex's ``exec_command`` tool."""

    cmd: str
    workdir: str | None = None
    justification: str | None = None
    sandbox_permissions: str | None = None


class EditCall(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """``edit``: Claude Code's ``Edit`` tool (for Codex: an ``apply_patch`` of whole lines)."""

    file_path: str
    old_string: str
    new_string: str
    replace_all: bool = False


class WriteCall(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """``write``: Claude Code's ``Write`` tool (for Codex: an ``apply_patch`` adding the file)."""

    file_path: str
    content: str


class ClientCall(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """``call``: any tool of the client by its own name, with its input as given."""

    name: str
    input: dict[str, Any] = msgspec.field(default_factory=dict)


class Entry(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """One scripted answer to one model request. See ``docs/scripted-model.md`` for every key."""

    text: str | None = None
    reasoning: str | None = None
    exec: str | ExecCall | None = None
    patch: str | None = None
    tool: str | None = None
    server: str | None = None
    arguments: dict[str, Any] | str | None = None
    edit: EditCall | None = None
    write: WriteCall | None = None
    read: str | None = None
    call: ClientCall | None = None
    fail: str | None = None
    http_status: Annotated[int, msgspec.Meta(ge=400, le=599)] | None = None
    body: Any = None
    cut: bool = False
    usage: Usage | None = None
    when: str | None = None
    repeat: bool = False
    delay: _NonNegFloat = 0.0
    hold: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    delta_delay: _NonNegFloat = 0.0
    chunk: Annotated[int, msgspec.Meta(ge=1)] | None = None
    note: str | None = None

    @property
    def exec_call(self) -> ExecCall | None:
        """``exec`` in its object form, whichever form the script used."""
        if isinstance(self.exec, str):
            return ExecCall(cmd=self.exec)
        return self.exec

    @property
    def mcp_call(self) -> tuple[str, str] | None:
        """``(server, tool)`` of a ``tool`` entry, resolving the ``"server/tool"`` form."""
        if self.tool is None:
            return None
        server, sep, name = self.tool.partition("/")
        if sep:
            return server, name
        return self.server or DEFAULT_MCP_SERVER, self.tool

    @property
    def arguments_json(self) -> str:
        """The tool's arguments as the JSON text Codex expects (``{}`` when none)."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments or {}, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain JSON data, without keys left at their defaults."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        for f in msgspec.structs.fields(self):  # omit_defaults misses e.g. delay=0 given as 0
            if f.name in out and out[f.name] == f.default:
                del out[f.name]
        return out


EXHAUSTED_ENTRY: Final = Entry(text=EXHAUSTED_TEXT)


class Script:
    """A validated script: for each agents key, its entries. Immutable once built.

    Build one with :func:`load_script` or :meth:`Script.from_obj`; both raise
    :class:`~codeswarm.core.errors.ScriptError` with one line naming the source and the entry.
    """

    def __init__(
        self,
        agents: Mapping[str, Sequence[Entry]],
        *,
        source: str = "<script>",
        roles: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.roles: dict[str, str] = dict(roles or {})
        """Agent key (id, rank or ``"*"``, as for ``agents``) → the agent's role in a swarm."""
        self.agents: dict[str, tuple[Entry, ...]] = {k: tuple(v) for k, v in agents.items()}
        self.patterns: dict[str, re.Pattern[str]] = {}
        for key, entries in self.agents.items():
            for i, entry in enumerate(entries):
                if entry.when is not None and entry.when not in self.patterns:
                    try:
                        self.patterns[entry.when] = re.compile(entry.when)
                    except re.error as exc:
                        where = f"{source}: agents.{_quote(key)}[{i}]"
                        raise ScriptError(f"{where}: when: bad regular expression: {exc}") from None

    @classmethod
    def from_obj(cls, obj: object, *, source: str = "<script>") -> Script:
        """Validate decoded JSON/YAML data. Raises ScriptError on the first problem found."""
        if not isinstance(obj, Mapping):
            raise ScriptError(
                f"{source}: expected a mapping with an 'agents' key, got {_kind(obj)}"
            )
        for key in obj:
            if key not in _TOP_LEVEL_KEYS:
                raise ScriptError(f"{source}: unknown top-level key {str(key)!r}")
        if "agents" not in obj:
            raise ScriptError(f"{source}: missing top-level key 'agents'")
        raw_agents = obj["agents"]
        if not isinstance(raw_agents, Mapping):
            raise ScriptError(f"{source}: agents: expected a mapping, got {_kind(raw_agents)}")
        agents: dict[str, list[Entry]] = {}
        for raw_key, raw_list in raw_agents.items():
            if isinstance(raw_key, bool) or not isinstance(raw_key, str | int):
                raise ScriptError(f"{source}: agents: key {raw_key!r} is not a string")
            key = str(raw_key)  # YAML reads `0:` as an int; it means rank "0"
            where = f"{source}: agents.{_quote(key)}"
            if not isinstance(raw_list, list):
                raise ScriptError(f"{where}: expected a list of entries, got {_kind(raw_list)}")
            agents[key] = [_entry(raw, f"{where}[{i}]") for i, raw in enumerate(raw_list)]
        return cls(agents, source=source, roles=_roles(obj.get("roles"), source))

    def role_for(self, agent: str) -> str | None:
        """The role the script gives ``agent`` (by exact id, then rank, then ``"*"``), or None."""
        rank = agent_rank(agent)
        for key in (agent, None if rank is None else str(rank), WILDCARD):
            if key is not None and key in self.roles:
                return self.roles[key]
        return None

    def entries_for(self, agent: str) -> tuple[str | None, tuple[Entry, ...]]:
        """The list serving ``agent``: by exact id, then by rank, then ``"*"``.

        Returns the agents key used (None when nothing matched) and its entries.
        """
        rank = agent_rank(agent)
        for key in (agent, None if rank is None else str(rank), WILDCARD):
            if key is not None and key in self.agents:
                return key, self.agents[key]
        return None, ()

    def playback(self, agent: str) -> Playback:
        """A fresh cursor over the entries serving ``agent``."""
        key, entries = self.entries_for(agent)
        return Playback(self, agent, key, entries)


class Playback:
    """One agent's cursor over its entries; each :meth:`pick` consumes one model request."""

    def __init__(
        self, script: Script, agent: str, key: str | None, entries: tuple[Entry, ...]
    ) -> None:
        self.agent = agent
        self.key = key
        """The agents key whose list this plays (None: no list, always exhausted)."""
        self._script = script
        self._entries = entries
        self._used: set[int] = set()
        self._next = 0

    def pick(self, prompt: str) -> tuple[int | None, Entry]:
        """The entry answering a request whose latest user message is ``prompt``.

        A ``when`` entry that matches and is not used up wins (first in list order); otherwise
        the next unused entry without ``when``. Returns its index in the list, or ``(None,
        EXHAUSTED_ENTRY)`` when nothing is left.
        """
        for i, entry in enumerate(self._entries):
            if entry.when is None or i in self._used:
                continue
            if self._script.patterns[entry.when].search(prompt):
                if not entry.repeat:
                    self._used.add(i)
                return i, entry
        while self._next < len(self._entries):
            i = self._next
            self._next += 1
            if self._entries[i].when is None:
                self._used.add(i)
                return i, self._entries[i]
        return None, EXHAUSTED_ENTRY

    @property
    def remaining(self) -> int:
        """How many entries without ``when`` are still to be played."""
        return sum(1 for e in self._entries[self._next :] if e.when is None)


# user-role messages Codex writes itself (context, not the person's prompt)
_CONTEXT_PREFIXES: Final = (
    "<environment_context>",
    "<user_instructions>",
    "<INSTRUCTIONS>",
    "# AGENTS.md instructions",
    "<turn_aborted>",
    "<user_shell_command>",
    "<subagent_notification>",
    "<skill>",
)


def latest_user_text(body: object) -> str:
    """The text of the latest user message in a Responses, Messages or Chat Completions request
    body (``""`` if none).

    Skips the user-role context messages Codex adds itself (``<environment_context>``, AGENTS.md
    instructions, ...), in a Messages request the user messages that only carry tool results
    and Claude Code's ``<system-reminder>`` blocks, and in a Chat Completions request OpenClaw's
    internal-context message (it ends every request), so ``when`` patterns see what the person
    or the orchestrator wrote (the same text across the tool-call round trips of one turn).
    """
    if isinstance(body, Mapping) and "messages" in body and "input" not in body:
        return _latest_message_text(body.get("messages"))
    items = body.get("input") if isinstance(body, Mapping) else None
    if isinstance(items, str):
        return items
    if not isinstance(items, list):
        return ""
    for item in reversed(items):
        if not isinstance(item, Mapping) or item.get("role") != "user":
            continue
        if item.get("type", "message") != "message":
            continue
        text = _content_text(item.get("content"))
        if not text.lstrip().startswith(_CONTEXT_PREFIXES):
            return text
    return ""


def _latest_message_text(messages: object) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            if content.lstrip().startswith(_CLIENT_CONTEXT_PREFIXES):
                continue
            return content
        if not isinstance(content, list):
            continue
        texts = [
            b["text"]
            for b in content
            if isinstance(b, Mapping) and b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        texts = [t for t in texts if not t.lstrip().startswith(_CLIENT_CONTEXT_PREFIXES)]
        if texts:
            return "\n".join(texts)
    return ""


# user-role text the client writes itself: Claude Code's reminders, OpenClaw's internal context
_CLIENT_CONTEXT_PREFIXES: Final = ("<system-reminder>", "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>")


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = [p.get("text") for p in content if isinstance(p, Mapping)]
    return "\n".join(p for p in parts if isinstance(p, str))


def load_script(path: str | os.PathLike[str]) -> Script:
    """Read and validate a script file: YAML for ``.yaml``/``.yml``, JSON otherwise.

    Raises ScriptError (one line, naming the file) when it cannot be read or is invalid.
    """
    p = Path(path)
    source = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise ScriptError(f"{source}: is a directory, not a script file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"{source}: cannot read: {exc}") from exc
    obj: object
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml  # only YAML scripts pay for it

        try:
            obj = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ScriptError(f"{source}: invalid YAML{at}: {problem}") from exc
    else:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScriptError(
                f"{source}: invalid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
            ) from exc
    return Script.from_obj(obj, source=source)


def _entry(raw: object, where: str) -> Entry:
    """Validate one entry; ``where`` prefixes every error (file and position)."""
    if isinstance(raw, str):
        raw = {"text": raw}  # shorthand: a bare string is a text answer
    if not isinstance(raw, Mapping):
        raise ScriptError(f"{where}: expected an entry (a mapping or a string), got {_kind(raw)}")
    for key in raw:
        if not isinstance(key, str):
            raise ScriptError(f"{where}: key {key!r} is not a string")
    try:
        entry = msgspec.convert(raw, Entry)
    except msgspec.ValidationError as exc:
        raise ScriptError(f"{where}: {_explain(str(exc))}") from None
    problem = _check(entry)
    if problem:
        raise ScriptError(f"{where}: {problem}")
    return entry


def _check(e: Entry) -> str | None:
    """What is wrong with an entry that has the right types, or None."""
    given = [k for k in _ACTION_KEYS if getattr(e, k) not in (None, False)]
    calls = [k for k in _CALL_KEYS if getattr(e, k) is not None]
    if not given:
        return "entry does nothing: give one of " + ", ".join(_ACTION_KEYS)
    if len(calls) > 1:
        return f"{' and '.join(repr(k) for k in calls)} cannot be combined (one call per entry)"
    if e.http_status is not None:
        others = [k for k in given if k != "http_status"]
        others += [k for k in ("usage", "chunk") if getattr(e, k) is not None]
        if others:
            return (
                f"'http_status' answers without a stream; it cannot be combined with {others[0]!r}"
            )
    elif e.body is not None:
        return "'body' needs 'http_status'"
    if e.fail is not None and e.cut:
        return "'fail' and 'cut' cannot be combined"
    for ending in ("fail", "cut"):
        if getattr(e, ending) not in (None, False) and calls:
            return f"{ending!r} cannot be combined with {calls[0]!r}"
    if e.tool is None:
        for key in ("server", "arguments"):
            if getattr(e, key) is not None:
                return f"{key!r} needs 'tool'"
    else:
        problem = _check_tool(e)
        if problem:
            return problem
    if e.exec_call is not None and not e.exec_call.cmd.strip():
        return "exec: empty command"
    paths = {
        "edit": None if e.edit is None else e.edit.file_path,
        "write": None if e.write is None else e.write.file_path,
        "read": e.read,
    }
    for key, path in paths.items():
        if path is not None and not path.strip():
            return f"{key}: empty file path"
    if e.call is not None and not _TOOL_NAME.match(e.call.name):
        return f"call: not a tool name: {e.call.name!r}"
    if e.repeat and e.when is None:
        return "'repeat' needs 'when'"
    if e.repeat and calls:
        # the follow-up request after the call carries the same user message: it would match again
        return f"'repeat' cannot be combined with {calls[0]!r} (it would answer its own tool output forever)"
    if e.when is not None:
        try:
            re.compile(e.when)
        except re.error as exc:
            return f"when: bad regular expression {e.when!r}: {exc}"
    return None


def _check_tool(e: Entry) -> str | None:
    assert e.tool is not None
    if "/" in e.tool and e.server is not None:
        return "give the server either in 'server' or as 'tool': 'server/tool', not both"
    server, name = e.mcp_call or ("", "")
    if not server or not name or "/" in name:
        return f"tool: expected 'name' or 'server/name', got {e.tool!r}"
    if isinstance(e.arguments, str):
        try:
            parsed = json.loads(e.arguments)
        except json.JSONDecodeError as exc:
            return f"arguments: not valid JSON: {exc.msg}"
        if not isinstance(parsed, dict):
            return "arguments: expected a JSON object"
    return None


_UNKNOWN = re.compile(r"Object contains unknown field `(.*)`", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(.*)`", re.DOTALL)
_AT = re.compile(r"^(.*) - at `\$(.*)`$", re.DOTALL)


def _explain(msg: str) -> str:
    """Rephrase a msgspec validation message as ``path: problem`` in the script's words."""
    path = ""
    m = _AT.match(msg)
    if m:
        msg, path = m.group(1), m.group(2).lstrip(".")
    if u := _UNKNOWN.fullmatch(msg):
        msg = f"unknown key {u.group(1)!r}"
    elif u := _MISSING.fullmatch(msg):
        msg = f"missing key {u.group(1)!r}"
    else:
        msg = msg.replace(" | null", "").replace("`", "")
        msg = msg[:1].lower() + msg[1:]
    said = f"{path}: {msg}" if path else msg
    return said.replace("\r", "\\r").replace("\n", "\\n")  # one line, whatever the keys


def _quote(key: str) -> str:
    return key if _IDENT.match(key) else json.dumps(key, ensure_ascii=False)


def _kind(obj: object) -> str:
    if obj is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(obj), type(obj).__name__
    )


def _roles(raw: object, source: str) -> dict[str, str]:
    """The ``roles`` mapping: agent key → a role (one line, at most 64 characters)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ScriptError(f"{source}: roles: expected a mapping, got {_kind(raw)}")
    out: dict[str, str] = {}
    for key, role in raw.items():
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise ScriptError(f"{source}: roles: key {key!r} is not a string")
        if not isinstance(role, str) or not role.strip() or "\n" in role or len(role) > 64:
            raise ScriptError(f"{source}: roles.{_quote(str(key))}: a role is one line of 1 to "
                              f"64 characters, got {role!r}")  # fmt: skip
        out[str(key)] = role.strip()
    return out
