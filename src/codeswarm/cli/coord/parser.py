"""Parsing a ``codeswarm coord`` command line, by hand: argparse alone costs ~5 ms, about a
quarter of the whole command.

A line is the options that go anywhere (:func:`parse_line`), a command name, then that command's
positionals and options (:meth:`Command.parse`). Every mistake raises :class:`UsageError`.
"""

from __future__ import annotations

from codeswarm.core.errors import UsageError

TYPE_CHECKING = False  # not `typing` at run time: agents run this on every step
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from codeswarm.coordination import Coord

    Handler = Callable[["Call"], Any]

GLOBAL_OPTIONS = {"--as": "agent", "--db": "db", "--scope": "scope"}
"""The options that take a value and go anywhere on the line (besides ``--json``)."""


class Line:
    """A command line with its global options taken out: ``words`` is the command and its own
    arguments."""

    def __init__(self, argv: list[str]) -> None:
        self.as_json = False
        self.agent: str | None = None
        self.db: str | None = None
        self.scope: str | None = None
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
                        raise UsageError(f"{opt} needs a value")
                    value = argv[i]
                    i += 1
                setattr(self, GLOBAL_OPTIONS[opt], value)
            else:
                self.words.append(arg)


class Call:
    """One parsed command: positionals, options, and the open store."""

    def __init__(self, args: dict[str, Any], *, as_json: bool, agent: str | None) -> None:
        self.args = args
        self.as_json = as_json
        self._agent = agent
        self.coord: Coord

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    @property
    def agent(self) -> str:
        if not self._agent:
            raise UsageError(
                "no agent: pass --as AGENT or set CODESWARM_AGENT_ID "
                "('codeswarm coord register NAME' prints one)"
            )
        return self._agent

    @property
    def maybe_agent(self) -> str | None:
        return self._agent or None


class Command:
    """A subcommand: its positionals (``name``, ``name?`` optional, ``name...`` one or more,
    ``name*`` any number) and options (``flag``, ``str``, ``int``, ``float``, ``list``)."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        positionals: tuple[str, ...] = (),
        options: dict[str, str] | None = None,
        help: str = "",
    ) -> None:
        self.name = name
        self.handler = handler
        self.positionals = positionals
        self.options = options or {}
        self.help = help

    def usage(self) -> str:
        pos = " ".join(p.upper() for p in self.positionals)
        opts = " ".join(
            f"[{o}]" if kind == "flag" else f"[{o} {kind.upper()}]"
            for o, kind in self.options.items()
        )
        return f"usage: codeswarm coord {self.name} {pos} {opts}".rstrip() + f"\n\n{self.help}\n"

    def parse(self, argv: list[str]) -> dict[str, Any]:
        """The command's arguments by name (options without ``--``, dashes as underscores)."""
        out: dict[str, Any] = {}
        for opt, kind in self.options.items():
            out[_key(opt)] = [] if kind == "list" else (False if kind == "flag" else None)
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
                raise UsageError(f"{self.name}: unknown option {opt} (see --help)")
            kind = found
            if kind == "flag":
                if eq:
                    raise UsageError(f"{self.name}: {opt} takes no value")
                out[_key(opt)] = True
                continue
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"{self.name}: {opt} needs a value")
                value = argv[i]
                i += 1
            converted = _convert(self.name, opt, kind, value)
            if kind == "list":
                out[_key(opt)].append(converted)
            else:
                out[_key(opt)] = converted
        for pos in self.positionals:
            key = pos.rstrip("?.*")
            if pos.endswith(("...", "*")):
                if not rest and pos.endswith("..."):
                    raise UsageError(f"{self.name}: missing {key.upper()}")
                out[key], rest = rest, []
            elif rest:
                out[key] = rest.pop(0)
            elif pos.endswith("?"):
                out[key] = None
            else:
                raise UsageError(f"{self.name}: missing {key.upper()} (see --help)")
        if rest:
            raise UsageError(f"{self.name}: unexpected argument {rest[0]!r}")
        return out


def _key(opt: str) -> str:
    return opt[2:].replace("-", "_")


def _convert(cmd: str, opt: str, kind: str, value: str) -> Any:
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        raise UsageError(f"{cmd}: {opt} expects a number, not {value!r}") from None
    return value
