"""Progress of a build's long work: packages downloaded, layers packed, blobs pushed, with bytes and
rates, told to a person without flooding them.

The stages call `add(stage, nbytes)` once per finished item, wherever they are (a worker thread
included); the shell that runs a build installs a `Progress` with `reporting`, which decides what
is shown: plain lines at most every few seconds and at each new stage (a log, `pulumi up`), or one
status line redrawn in place (`StatusLine`, a terminal). Without a reporter, `add` does nothing.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator, TextIO

DOWNLOADED, PACKED, PUSHED = "downloaded", "packed", "pushed"
_NOUNS = {DOWNLOADED: "packages", PACKED: "layers", PUSHED: "blobs"}


@dataclass
class _Tally:
    items: int = 0
    nbytes: int = 0
    first: float = 0.0
    last: float = 0.0

    def text(self, stage: str) -> str:
        seconds = self.last - self.first
        rate = f", {_size(self.nbytes / seconds)}/s" if seconds >= 0.5 else ""
        return f"{stage} {self.items} {_NOUNS.get(stage, 'items')} ({_size(self.nbytes)}{rate})"


class Progress:
    """Counts per stage; `emit` gets a line when a stage starts and at most every `every` seconds
    otherwise; `finish` gives `final` (default: `emit`) the summary."""

    def __init__(self, emit: Callable[[str], None], *, every: float = 5.0, final: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.emit, self.final, self.every, self.clock = emit, final or emit, every, clock
        self.started, self._shown = clock(), float("-inf")
        self.tallies: dict[str, _Tally] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, nbytes: int = 0) -> None:
        now = self.clock()
        with self._lock:
            tally = self.tallies.get(stage)
            new_stage = tally is None
            if new_stage:
                tally = self.tallies[stage] = _Tally(first=now)
            tally.items, tally.nbytes, tally.last = tally.items + 1, tally.nbytes + nbytes, now
            if not (new_stage or now - self._shown >= self.every):
                return
            self._shown, line = now, self.line()
        self.emit(line)

    def line(self) -> str:
        return "progress: " + "; ".join(tally.text(stage) for stage, tally in self.tallies.items())

    def finish(self) -> None:
        """The totals, once, if anything happened (a build that found everything cached says nothing)."""
        if self.tallies:
            self.final(f"done in {self.clock() - self.started:.1f}s: " + "; ".join(t.text(s) for s, t in self.tallies.items()))


_current: ContextVar[Progress | None] = ContextVar("mlenv_progress", default=None)
_active: list[Progress] = []  # every installed reporter, for worker threads, which do not inherit the context


@contextmanager
def reporting(progress: Progress) -> Iterator[Progress]:
    token = _current.set(progress)
    _active.append(progress)
    try:
        yield progress
    finally:
        _active.remove(progress)
        _current.reset(token)


def add(stage: str, nbytes: int = 0) -> None:
    """One item of `stage` finished. A worker thread (no context) reports to the one build running,
    and to none when several run at once (a provider building resources in parallel)."""
    progress = _current.get() or (_active[0] if len(_active) == 1 else None)
    if progress is not None:
        progress.add(stage, nbytes)


class StatusLine:
    """One line redrawn in place on a terminal; other output is written above it."""

    def __init__(self, stream: TextIO):
        self.stream, self.text = stream, ""
        self._lock = threading.Lock()

    def show(self, text: str) -> None:
        with self._lock:
            self.text = text
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()

    def above(self, write: Callable[[str], None]) -> Callable[[str], None]:
        """`write`, with the status line (while one is shown) cleared first and drawn again after."""
        def written(line: str) -> None:
            with self._lock:
                if self.text:  # none before the first status or after done (the catalogue's lines come then): nothing to clear
                    self.stream.write("\r\x1b[K")
                    self.stream.flush()
                write(line)
                if self.text:
                    self.stream.write(self.text)
                    self.stream.flush()
        return written

    def done(self, text: str) -> None:
        with self._lock:
            self.text = ""
            self.stream.write(f"\r\x1b[K{text}\n")
            self.stream.flush()


def _size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB"):
        if nbytes < 1000:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.2f} GB"
