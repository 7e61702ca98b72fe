"""Showing many agents' events on one terminal: one colour per agent, text by whole lines."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from codeswarm.core import events as ev
from codeswarm.core.events import Event

COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan",
           "bright_magenta", "bright_green", "bright_yellow")  # fmt: skip


class FleetRenderer:
    """Assistant text is streamed a whole line at a time (deltas of several agents would
    otherwise interleave mid-word), prefixed with the agent; other events as short lines."""

    def __init__(self, console: Console | None = None, *, agents: list[str] | None = None) -> None:
        self.console = console or Console(highlight=False)
        self._colour: dict[str, str] = {}
        for a in agents or ():
            self.colour(a)
        self._width = max((len(a) for a in agents or ()), default=8)
        self._partial: dict[str, str] = {}

    def colour(self, agent: str) -> str:
        if agent not in self._colour:
            self._colour[agent] = COLOURS[len(self._colour) % len(COLOURS)]
        return self._colour[agent]

    def _say(self, agent: str, markup: str) -> None:
        c = self.colour(agent)
        self._width = max(self._width, len(agent))
        # soft wrap: the terminal wraps long lines; no hard breaks inside the agent's words
        self.console.print(f"[{c}]{escape(agent):>{self._width}}[/] │ {markup}", soft_wrap=True)

    def _flush_lines(self, agent: str, final: bool) -> None:
        buf = self._partial.get(agent, "")
        *lines, rest = buf.split("\n")
        if final and rest:
            lines.append(rest)
            rest = ""
        for line in lines:
            self._say(agent, escape(line))
        self._partial[agent] = rest

    def __call__(self, event: Event) -> None:
        agent = str(event.get("agent"))
        kind = event["type"]
        if kind == ev.MESSAGE_DELTA:
            self._partial[agent] = self._partial.get(agent, "") + str(event.get("delta") or "")
            self._flush_lines(agent, final=False)
        elif kind == ev.MESSAGE_COMPLETED:
            if not self._partial.get(agent) and event.get("text"):
                self._partial[agent] = str(event["text"])
            self._flush_lines(agent, final=True)
            self._partial[agent] = ""
        elif kind == ev.COMMAND_STARTED:
            self._say(agent, f"[dim]$ {escape(str(event.get('command') or ''))}[/]")
        elif kind == ev.COMMAND_COMPLETED and event.get("status") != "completed":
            self._say(agent, f"[red]  ↳ {event.get('status')} (exit {event.get('exit_code')})[/]")
        elif kind == ev.FILE_CHANGED:
            for ch in event.get("changes") or ():
                self._say(agent, f"[dim]  {ch.get('kind')} {escape(str(ch.get('path')))}[/]")
        elif kind == ev.TOOL_STARTED:
            self._say(agent, f"[dim]⚙ {event.get('server')}/{event.get('tool')}[/]")
        elif kind == ev.APPROVAL_REQUESTED:
            what = event.get("command") or event.get("kind")
            self._say(
                agent,
                f"[bold yellow]? approval #{event.get('request_id')}: {escape(str(what))}[/]",
            )
        elif kind == ev.TURN_COMPLETED and event.get("status") != "completed":
            self._say(
                agent,
                f"[red]turn {event.get('status')}: {escape(str(event.get('error') or ''))}[/]",
            )
        elif kind == ev.ERROR:
            self._say(agent, f"[red]error: {escape(str(event.get('message')))}[/]")
        elif kind == ev.AGENT_READY:
            self._say(agent, "[dim]ready[/]")
        elif kind == ev.AGENT_RESTARTED:
            self._say(agent, f"[yellow]restarted ({escape(str(event.get('reason')))})[/]")
        elif kind == ev.AGENT_FAILED:
            self._say(agent, f"[red]failed: {escape(str(event.get('reason')))}[/]")
        elif kind == ev.AGENT_STOPPED:
            self._say(agent, "[dim]stopped[/]")


def usage_table(fleet_json: dict[str, Any], width: int = 100) -> Any:
    """A Rich table of every agent's state, turns and tokens, with the totals (and, under an
    agent budget, each agent's spending against it, a reached budget marked); the last message
    gets what is left of ``width``. The swarm's budget is in the table's caption."""
    from rich.table import Table

    budgets = fleet_json.get("budgets") or {}
    limit = budgets.get("agent")

    def spend(a: dict[str, Any]) -> str:
        tok = a["tokens"]
        reached = {b.get("state") for b in (a.get("budget") or {}).values()}
        mark = " exceeded" if "exceeded" in reached else " warning" if reached else ""
        return f"{tok['input'] + tok['output']:,}/{limit:,}{mark}"

    def cells(a: dict[str, Any]) -> list[str]:
        tok = a["tokens"]
        row = [a["id"], a.get("role") or "", a["state"], str(a["turns"]), f"{tok['input']:,}",
               f"{tok['output']:,}", f"{tok['total']:,}"]  # fmt: skip
        return [*row, spend(a)] if limit else row

    tot = fleet_json["tokens"]
    totals = ["total", "", "", "", f"{tot['input']:,}", f"{tot['output']:,}", f"{tot['total']:,}"]
    columns = [("agent", "left"), ("role", "left"), ("state", "left"), ("turns", "right"),
               ("input", "right"), ("output", "right"), ("total", "right")]  # fmt: skip
    if limit:
        totals.append("")
        columns.append(("budget", "right"))
    fixed = [len(h) for h, _ in columns]
    for row in [*(cells(a) for a in fleet_json["agents"]), totals]:
        fixed = [max(w, len(c)) for w, c in zip(fixed, row, strict=True)]
    left = max(12, width - sum(fixed) - 3 * len(fixed) - 4)

    caption = None
    if budgets.get("swarm"):
        share = budgets["spent"] / budgets["swarm"]
        caption = f"swarm budget: {budgets['spent']:,} of {budgets['swarm']:,} tokens ({share:.0%})"
    t = Table(title=f"swarm {fleet_json['swarm']}", title_justify="left", caption=caption,
              caption_justify="left")  # fmt: skip
    for (col, justify), w in zip(columns, fixed, strict=True):
        t.add_column(col, justify=justify, no_wrap=True, min_width=w)  # type: ignore[arg-type]
    t.add_column("last message", no_wrap=True, overflow="ellipsis", max_width=left)
    for a in fleet_json["agents"]:
        held = ", ".join(le["path"] for le in a.get("leases") or ())
        message = (a["last_message"] or "").replace("\n", " ")
        t.add_row(*cells(a), escape(f"[holds {held}] {message}" if held else message))
    t.add_section()
    t.add_row(*totals, "")
    return t


def approval_lines(fleet_json: dict[str, Any]) -> list[str]:
    """One line (Rich markup) per approval request an agent waits on, with its request id and
    the command that answers it."""
    out = []
    for a in fleet_json["agents"]:
        for req in a.get("pending_approvals") or ():
            rid = req.get("request_id")
            what = req.get("command") or req.get("kind") or "a request"
            out.append(
                f"[bold yellow]{escape(a['id'])} waits for approval #{escape(str(rid))}[/]: "
                f"{escape(str(what))}  [dim](codeswarm approve {escape(fleet_json['swarm'])} "
                f"{escape(a['id'])} {escape(str(rid))} {escape('[--decline]')})[/]"
            )
    return out
