"""Parsing a ``codeswarm coord`` command line, by hand: argparse alone costs ~5 ms, about a
quarter of the whole command.

A line is the options that go anywhere (:class:`Line`), a command name, then that command's
positionals and options (:meth:`Command.parse`). Every mistake raises :class:`UsageError`, and
every value is checked against its bounds (:mod:`codeswarm.coordination.bounds`) here, before
the store is opened: a refused line touches nothing.
"""

from __future__ import annotations

from codeswarm.coordination.bounds import Range, check_path
from codeswarm.coordination.models import record_id, split_ref

TYPE_CHECKING = False  # not `typing` at run time: agents run this on every step
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from codeswarm.coordination import Coord
    from codeswarm.coordination.leases import LeaseOps

    Handler = Callable[["Call"], Any]

if TYPE_CHECKING:
    from codeswarm.core import errors
else:  # (loaded on the way to an error: ._errors)
    from codeswarm.coordination._errors import errors

GLOBAL_OPTIONS = {"--as": "agent", "--db": "db", "--scope": "scope", "--project": "project"}
"""The options that take a value and go anywhere on the line (besides ``--json``)."""


class Kind:
    """What an option or positional takes: its METAVAR in the usage line, how a word becomes
    the value (raising :class:`UsageError`), and whether the option may repeat."""

    __slots__ = ("convert", "metavar", "repeat")

    def __init__(
        self, metavar: str, convert: Callable[[str, str], Any], *, repeat: bool = False
    ) -> None:
        self.metavar = metavar
        self.convert = convert
        """``convert(what, word)``: ``what`` names the option in the error."""
        self.repeat = repeat

    @classmethod
    def number(cls, bounds: Range) -> Kind:
        """A number within ``bounds`` (seconds, or a whole number)."""
        return cls("N" if bounds.integer else "SECONDS", bounds.parse)


def _text(what: str, word: str) -> str:
    return word


def _path(what: str, word: str) -> str:
    return check_path(word)


def _task_id(what: str, word: str) -> int:
    return record_id("task", word)


def _message_id(what: str, word: str) -> int:
    return record_id("message", word)


TEXT = Kind("TEXT", _text)
TEXTS = Kind("TEXT", _text, repeat=True)
PATH = Kind("PATH", _path)
PATHS = Kind("PATH", _path, repeat=True)
TASK_ID = Kind("ID", _task_id)
TASK_IDS = Kind("ID", _task_id, repeat=True)
MESSAGE_ID = Kind("ID", _message_id)
FLAG = "flag"


class Line:
    """A command line with its global options taken out: ``words`` is the command and its own
    arguments."""

    def __init__(self, argv: list[str]) -> None:
        self.as_json = False
        self.agent: str | None = None
        self.db: str | None = None
        self.scope: str | None = None
        self.project: str | None = None
        self.words: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            opt, eq, value = arg.partition("=")
            if arg == "--json":
                self.as_json = True
            elif opt in GLOBAL_OPTIONS:
                if not eq:
                    if i >= len(argv):
                        raise errors.UsageError(f"{opt} needs a value")
                    value = argv[i]
                    i += 1
                if not value:  # never a silent fall back to $CODESWARM_AGENT_ID or a default
                    raise errors.UsageError(f"{opt} needs a value, not an empty string")
                if opt == "--as":
                    split_ref(value)
                setattr(self, GLOBAL_OPTIONS[opt], value)
            else:
                self.words.append(arg)


class Call:
    """One parsed command: positionals, options, and the open store."""

    def __init__(
        self, args: dict[str, Any], *, as_json: bool, agent: str | None, cwd: str | None = None
    ) -> None:
        self.args = args
        self.as_json = as_json
        self._agent = agent
        self.cwd = cwd
        """What relative paths are relative to (None: the scope root)."""
        self.coord: Coord
        self.leases: LeaseOps
        """The store as :attr:`coord`, for the lease commands: it is all they need, and
        alone (:data:`~.handlers.LEASE_COMMANDS`) it loads a fraction of the service."""

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    @property
    def agent(self) -> str:
        if not self._agent:
            raise errors.UsageError(
                "no agent: pass --as AGENT or set CODESWARM_AGENT_ID "
                "('codeswarm coord register NAME' prints one)"
            )
        return self._agent

    @property
    def maybe_agent(self) -> str | None:
        return self._agent or None


class Command:
    """A subcommand: its positionals (``name``, ``name?`` optional, ``name...`` one or more,
    ``name*`` any number; converted by the :class:`Kind` ``positional_kinds`` gives the name,
    else kept as text) and options (:data:`FLAG` or a :class:`Kind`)."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        positionals: tuple[str, ...] = (),
        options: dict[str, Kind | str] | None = None,
        help: str = "",
        positional_kinds: dict[str, Kind] | None = None,
    ) -> None:
        self.name = name
        self.handler = handler
        self.positionals = positionals
        self.options = options or {}
        self.help = help
        self.positional_kinds = positional_kinds or {}

    def usage(self) -> str:
        pos = " ".join(p.upper() for p in self.positionals)
        opts = " ".join(
            f"[{o}]" if not isinstance(kind, Kind) else f"[{o} {kind.metavar}]"
            for o, kind in self.options.items()
        )
        return f"usage: codeswarm coord {self.name} {pos} {opts}".rstrip() + f"\n\n{self.help}\n"

    def parse(self, argv: list[str]) -> dict[str, Any]:
        """The command's arguments by name (options without ``--``, dashes as underscores)."""
        out: dict[str, Any] = {}
        for opt, spec in self.options.items():
            if isinstance(spec, Kind):
                out[_key(opt)] = [] if spec.repeat else None
            else:
                out[_key(opt)] = False
        rest: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                rest += argv[i:]
                break
            if not arg.startswith("--") or arg == "-":
                rest.append(arg)
                continue
            opt, eq, value = arg.partition("=")
            found = self.options.get(opt)
            if found is None:
                raise errors.UsageError(f"{self.name}: unknown option {opt} (see --help)")
            if not isinstance(found, Kind):
                if eq:
                    raise errors.UsageError(f"{self.name}: {opt} takes no value")
                out[_key(opt)] = True
                continue
            if not eq:
                if i >= len(argv):
                    raise errors.UsageError(f"{self.name}: {opt} needs a value")
                value = argv[i]
                i += 1
            converted = found.convert(f"{self.name}: {opt}", value)
            if found.repeat:
                out[_key(opt)].append(converted)
            elif out[_key(opt)] is not None:
                raise errors.UsageError(f"{self.name}: {opt} given twice")
            else:
                out[_key(opt)] = converted
        for pos in self.positionals:
            key = pos.rstrip("?.*")
            conv = self.positional_kinds.get(key)
            what = f"{self.name}: {key.upper()}"
            if pos.endswith(("...", "*")):
                if not rest and pos.endswith("..."):
                    raise errors.UsageError(f"{self.name}: missing {key.upper()}")
                out[key] = rest if conv is None else [conv.convert(what, w) for w in rest]
                rest = []
            elif rest:
                word = rest.pop(0)
                out[key] = word if conv is None else conv.convert(what, word)
            elif pos.endswith("?"):
                out[key] = None
            else:
                raise errors.UsageError(f"{self.name}: missing {key.upper()} (see --help)")
        if rest:
            raise errors.UsageError(f"{self.name}: unexpected argument {rest[0]!r}")
        return out


def _key(opt: str) -> str:
    return opt[2:].replace("-", "_")
