"""The live view: a refreshing table in the terminal (rich), keys to sort, filter and quit.

Frames are collected in a background thread, so a slow endpoint never
freezes the keys; the terminal's mode is restored however the view ends
(``q``, Ctrl-C, an error).
"""

from __future__ import annotations

import os
import select as select_module
import sys
import termios
import threading
import tty
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rayobs.top._compute import SortBy, select
from rayobs.top._model import TopSnapshot
from rayobs.top._render import COLUMNS, cluster_text, endpoint_problems, row_cells
from rayobs.top._sources import Source

SORT_KEYS = {"c": SortBy.CALLS, "e": SortBy.ERRORS, "p": SortBy.P99, "i": SortBy.IN_FLIGHT}
_SORT_COLUMN = {
    SortBy.CALLS: "CALLS/S",
    SortBy.ERRORS: "ERR%",
    SortBy.P99: "P99",
    SortBy.IN_FLIGHT: "IN-FLT",
}
_NUMERIC = frozenset({"CALLS/S", "ERR%", "P50", "P95", "P99", "IN-FLT"})
HELP = "q quit · c/e/p/i sort by calls/errors/p99/in-flight · s next sort · / filter · Esc clear"


@dataclass
class ViewState:
    """What the keys change: pure, so the key handling is testable without a terminal."""

    sort: SortBy = SortBy.CALLS
    filter_text: str = ""
    editing: str | None = None  # the filter being typed, after "/"
    quit: bool = False
    _order: tuple[SortBy, ...] = field(default=tuple(SortBy), repr=False)

    def key(self, char: str) -> None:
        if self.editing is not None:
            if char in ("\r", "\n"):
                self.filter_text, self.editing = self.editing, None
            elif char == "\x1b":
                self.editing = None
            elif char in ("\x7f", "\b"):
                self.editing = self.editing[:-1]
            elif char.isprintable():
                self.editing += char
            return
        if char in ("q", "Q"):
            self.quit = True
        elif char in SORT_KEYS:
            self.sort = SORT_KEYS[char]
        elif char == "s":
            self.sort = self._order[(self._order.index(self.sort) + 1) % len(self._order)]
        elif char == "/":
            self.editing = self.filter_text
        elif char == "\x1b":
            self.filter_text = ""


def render(snapshot: TopSnapshot | None, state: ViewState, description: str) -> Group:
    """One screen: the cluster line, the table, the prompt."""
    if snapshot is None:
        return Group(Text(f"rayobs top · {description} · collecting…"), Text(HELP, style="dim"))
    shown = select(snapshot, state.sort, state.filter_text)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in COLUMNS:
        marked = f"{column}▼" if column == _SORT_COLUMN[state.sort] else column
        table.add_column(marked, no_wrap=True, justify="right" if column in _NUMERIC else "left")
    for row in shown.rows:
        style = "red" if row.error_ratio else None
        table.add_row(*row_cells(row), style=style)
    parts: list[Any] = [
        Text(f"rayobs top · {description} · sort {state.sort.value}", style="bold"),
        Text(cluster_text(snapshot.cluster, snapshot.window_s)),
    ]
    parts.extend(Text(f"no answer: {p}", style="yellow") for p in endpoint_problems(snapshot))
    parts.append(table)
    if not shown.rows:
        empty = "match" if state.filter_text else "seen"
        parts.append(Text(f"(no instrumented calls {empty})"))
    if state.editing is not None:
        parts.append(Text(f"filter: {state.editing}█"))
    else:
        shown_filter = f" · filter '{state.filter_text}'" if state.filter_text else ""
        parts.append(Text(HELP + shown_filter, style="dim"))
    return Group(*parts)


def run_live(source: Source, interval_s: float, state: ViewState) -> None:
    """Show frames from ``source`` every ``interval_s`` until ``q`` (or Ctrl-C)."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    latest: list[TopSnapshot] = []
    fresh = threading.Event()
    stop = threading.Event()

    def collect() -> None:
        while not stop.is_set():
            try:
                latest.append(source.frame())
                del latest[:-1]
                fresh.set()
            except Exception:  # a source that fails shows its last frame; keep trying
                pass
            stop.wait(interval_s)

    collector = threading.Thread(target=collect, name="rayobs-top-collect", daemon=True)
    console = Console()
    try:
        tty.setcbreak(fd)
        collector.start()
        frame = None
        with Live(
            render(None, state, source.description),
            console=console,
            screen=True,
            auto_refresh=False,
        ) as live:
            while not state.quit:
                ready, _, _ = select_module.select([fd], [], [], 0.1)
                changed = False
                if ready:
                    for char in os.read(fd, 64).decode("utf-8", errors="ignore"):
                        state.key(char)
                    changed = True
                if fresh.is_set():
                    fresh.clear()
                    frame = latest[-1]
                    changed = True
                if changed and not state.quit:
                    live.update(render(frame, state, source.description), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
