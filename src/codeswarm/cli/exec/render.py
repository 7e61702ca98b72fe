"""Showing one agent's events in a terminal, and as JSONL."""

from __future__ import annotations

import sys
from typing import IO, Any

import orjson
from rich.console import Console
from rich.markup import escape

from codeswarm.core import events as ev
from codeswarm.core.events import Event


def fmt_tokens(n: int) -> str:
    return f"{n:,}"


class JsonRenderer:
    """One event per line on stdout, flushed at once (for pipes and other programs)."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout

    def __call__(self, event: Event) -> None:
        self._out.write(orjson.dumps(event).decode() + "\n")
        self._out.flush()


class TerminalRenderer:
    """Assistant text streamed as it arrives; commands, file changes, tools and errors as short
    dim lines; the token usage at the end of each turn."""

    def __init__(self, console: Console | None = None, *, show_output: bool = True) -> None:
        self.console = console or Console(highlight=False)
        self.show_output = show_output
        self._in_text = False
        self.usage: dict[str, Any] | None = None
        self._said: str | None = None  # the last error shown (a failed turn need not repeat it)

    def _end_text(self) -> None:
        if self._in_text:
            self.console.file.write("\n")
            self.console.file.flush()
            self._in_text = False

    def line(self, markup: str) -> None:
        self._end_text()
        self.console.print(markup, soft_wrap=True)  # one line, however long: greppable

    def __call__(self, event: Event) -> None:
        kind = event["type"]
        if kind == ev.MESSAGE_DELTA:
            # raw text, no markup parsing: the model's words reach the terminal untouched
            self.console.file.write(event.get("delta") or "")
            self.console.file.flush()
            self._in_text = True
        elif kind == ev.MESSAGE_COMPLETED:
            if not self._in_text and event.get("text"):
                self.console.file.write(str(event["text"]))
                self._in_text = True
            self._end_text()
        elif kind == ev.REASONING:
            self.line(f"[dim italic]{escape(str(event.get('text') or ''))}[/]")
        elif kind == ev.COMMAND_STARTED:
            self.line(f"[cyan]$ {escape(str(event.get('command') or ''))}[/]")
        elif kind == ev.COMMAND_COMPLETED:
            status, code = event.get("status"), event.get("exit_code")
            out = (event.get("output") or "").rstrip("\n")
            if out and self.show_output:
                shown = out if len(out) <= 2000 else out[:2000] + " …"
                self.line(f"[dim]{escape(shown)}[/]")
            if status == "declined":
                self.line("[yellow]  ↳ declined[/]")
            elif code not in (0, None) or status == "failed":
                self.line(f"[red]  ↳ exit {code}[/]")
        elif kind == ev.FILE_CHANGED:
            status = event.get("status")
            for change in event.get("changes") or ():
                path = change.get("path")
                what = change.get("kind")
                target = f" → {change['move_path']}" if change.get("move_path") else ""
                colour = {"add": "green", "delete": "red"}.get(str(what), "yellow")
                suffix = "" if status in (None, "completed") else f" [{status}]"
                self.line(f"[{colour}]  {what} {escape(str(path))}{escape(target)}{suffix}[/]")
        elif kind == ev.TOOL_STARTED:
            self.line(f"[magenta]⚙ {event.get('server')}/{event.get('tool')}[/]")
        elif kind == ev.TOOL_COMPLETED and event.get("status") not in ("completed", None):
            self.line(f"[red]  ↳ {escape(str(event.get('error') or event.get('status')))}[/]")
        elif kind == ev.APPROVAL_REQUESTED:
            pass  # the approval prompt speaks for itself
        elif kind == ev.USAGE_UPDATED:
            self.usage = event.get("total")
        elif kind == ev.ERROR and event.get("gave_up"):
            pass  # the failed turn that follows says why
        elif kind == ev.ERROR:
            retry = " (retrying)" if event.get("will_retry") else ""
            text = str(event.get("message"))
            details = event.get("details")
            if isinstance(details, str) and details and details not in text:
                text += f" ({details})"
            self.line(f"[red]error: {escape(' '.join(text.split()))}{retry}[/]")
            self._said = str(event.get("message"))
        elif kind == ev.TURN_COMPLETED:
            status = event.get("status")
            if status == "interrupted":
                self.line("[yellow]turn interrupted[/]")
            elif status == "failed" and event.get("error") and event["error"] == self._said:
                self.line("[red]turn failed (the error above)[/]")
            elif status == "failed":
                self.line(f"[red]turn failed: {escape(str(event.get('error') or ''))}[/]")
            self._end_text()

    def usage_line(self) -> None:
        u = self.usage
        if not u:
            return
        cached = u.get("cached_input_tokens") or 0
        self.line(
            f"[dim]tokens: input {fmt_tokens(u['input_tokens'])}"
            + (f" (cached {fmt_tokens(cached)})" if cached else "")
            + f" · output {fmt_tokens(u['output_tokens'])}"
            + f" · total {fmt_tokens(u['total_tokens'])}[/]"
        )
