"""What a build is doing, family by family, for a person: a live table on a terminal, plain lines otherwise.

Exporters report progress as lines (`[intent] epoch 3/8: loss 0.19`); the board reads the family from each
line, keeps the latest as that family's step and estimates what is left: a family's typical build time
(`Pipeline.build_seconds`, measured on 2 cores), scaled by how fast this machine built the families already
done. Families build one after another, so a family's ETA is what is left of it and of those before it.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any

_STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\] ")
_LINE = re.compile(r"^(?:\[\d\d:\d\d:\d\d\] )?\[(?P<family>[\w-]+)\] (?P<text>.*)$")


# Seconds of build at the typical pace that the measured pace is averaged with.
PRIOR_S = 60.0


class Phase(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    LOADING = "loading"  # built, being loaded into Triton (`finfer serve` only)
    DONE = "done"
    FAILED = "failed"


@dataclass
class FamilyProgress:
    family: str
    expected_s: float
    phase: Phase = Phase.QUEUED
    step: str = ""
    started: float | None = None
    finished: float | None = None

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or now) - self.started


def split_line(line: str) -> tuple[str, str] | None:
    """(family, text) of an exporter's progress line; None for any other line."""
    match = _LINE.match(line.strip())
    return (match.group("family"), match.group("text")) if match else None


def clock(seconds: float) -> str:
    """A duration as a person reads it: 42 s, 3 min 05 s."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


class Board:
    """Every family of one build, in build order; safe to read from another thread (the live display)."""

    def __init__(self, expected_s: dict[str, float], now: Callable[[], float] = time.monotonic) -> None:
        self.families = {family: FamilyProgress(family, seconds) for family, seconds in expected_s.items()}
        self.now = now
        self._lock = threading.Lock()

    def start(self, family: str) -> None:
        with self._lock:
            entry = self.families[family]
            entry.phase, entry.started = Phase.BUILDING, self.now()

    def feed(self, line: str) -> tuple[str, str] | None:
        """Take one progress line: it becomes its family's step. Returns (family, text), None if not a family's."""
        parsed = split_line(line)
        if parsed is None or parsed[0] not in self.families:
            return None
        with self._lock:
            entry = self.families[parsed[0]]
            if entry.phase is Phase.QUEUED:
                entry.phase, entry.started = Phase.BUILDING, self.now()
            entry.step = parsed[1]
        return parsed

    def set(self, family: str, phase: Phase, step: str | None = None) -> None:
        with self._lock:
            entry = self.families[family]
            entry.phase = phase
            if step is not None:
                entry.step = step
            if phase in (Phase.LOADING, Phase.DONE, Phase.FAILED) and entry.finished is None:
                entry.finished = self.now()

    def pace(self) -> float:
        """How much longer than typical this machine takes: built time over typical time of the families built,
        with a minute of typical pace mixed in, so that a family of a few seconds does not rescale a long one."""
        done = [f for f in self.families.values() if f.finished is not None and f.phase is not Phase.FAILED]
        spent = sum(f.elapsed(self.now()) for f in done)
        expected = sum(f.expected_s for f in done)
        return min(max((spent + PRIOR_S) / (expected + PRIOR_S), 0.25), 4.0)

    def _left_s(self, entry: FamilyProgress, pace: float, now: float) -> float:
        if entry.phase is Phase.QUEUED:
            return entry.expected_s * pace
        if entry.phase is Phase.BUILDING:
            # A build past its estimate is "nearly done", never a negative or frozen ETA.
            planned = entry.expected_s * pace
            return max(planned - entry.elapsed(now), 0.1 * planned)
        return 0.0

    def eta_s(self, family: str) -> float:
        """Seconds until `family` is built: what is left of it and of every family built before it."""
        with self._lock:
            now, pace, left = self.now(), self.pace(), 0.0
            for name, entry in self.families.items():
                left += self._left_s(entry, pace, now)
                if name == family:
                    return left
        raise KeyError(family)

    def left_s(self) -> float:
        """Seconds until every family is built."""
        return self.eta_s(next(reversed(self.families))) if self.families else 0.0

    def waiting(self) -> list[str]:
        return [f.family for f in self.families.values() if f.phase in (Phase.QUEUED, Phase.BUILDING, Phase.LOADING)]

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(family, phase, time spent, ETA, step), for a table."""
        out = []
        for entry in list(self.families.values()):
            waiting = entry.phase in (Phase.QUEUED, Phase.BUILDING)
            spent = clock(entry.elapsed(self.now())) if entry.started is not None else ""
            eta = clock(self.eta_s(entry.family)) if waiting else ""
            out.append((entry.family, str(entry.phase), spent, eta, entry.step))
        return out


class Display:
    """Shows a board: on a terminal, a table redrawn in place while other output scrolls above it (rich's
    Live); elsewhere (a log, CI), each progress line as it comes, plain."""

    def __init__(self, board: Board, stream: IO[str] | None = None, live: bool | None = None) -> None:
        self.board = board
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._live: Any = None

    def __enter__(self) -> Display:
        self.open()
        return self

    def open(self) -> None:
        if self.live and self.board.families and self._live is None:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                get_renderable=self._table,
                console=Console(file=self.stream),
                refresh_per_second=2,
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._live.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        for column in ("family", "state", "time", "ETA", "step"):
            # One line a family, however long its step: the table is read at a glance.
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        styles = {"done": "green", "failed": "red", "building": "yellow", "loading": "cyan", "queued": "dim"}
        for family, phase, spent, eta, step in self.board.rows():
            table.add_row(family, f"[{styles[phase]}]{phase}[/]", spent, eta, step)
        return table

    def progress(self, line: str) -> None:
        """One progress line from a build: the table takes it on a terminal; otherwise it is printed."""
        self.board.feed(line)
        if not self.live:
            self.note(line)

    def note(self, message: str) -> None:
        """A line to keep (above the table on a terminal)."""
        text = message if _STAMP.match(message) else f"[{time.strftime('%H:%M:%S')}] {message}"
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)


def summary(board: Board, families: Sequence[str]) -> str:
    """`intent, ocr and application left, about 7 min 20 s`: what a start-up line says is still building."""
    if not families:
        return "nothing left to build"
    names = ", ".join(families[:-1]) + (" and " if len(families) > 1 else "") + families[-1]
    return f"{names} left to build, about {clock(board.eta_s(families[-1]))}"
