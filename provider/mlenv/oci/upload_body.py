"""The pieces of a blob upload that are not HTTP: a request body streamed from a file, and the state
of one upload session kept across the retries of its operation (so an interrupted chunked upload can
continue where the registry says it stands, instead of from byte 0)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

PIECE = 1024 * 1024  # bytes read from disk at a time: the most of a blob an upload holds in memory


@dataclass(frozen=True)
class FileRange:
    """`length` bytes of a file from `offset`, read a PIECE at a time each time it is iterated: a
    request body that never holds a chunk whole and can be sent again (after a 401 challenge).
    Not a generator object itself, so httpx iterates it afresh on every send."""

    path: Path
    offset: int
    length: int

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            left = self.length
            while left > 0:
                piece = handle.read(min(PIECE, left))
                if not piece:
                    raise OSError(f"{self.path} ended {left} bytes early: it changed while it was uploaded")
                left -= len(piece)
                yield piece


@dataclass
class UploadSession:
    """One blob's chunked upload: its URL, how many bytes the registry confirmed, and whether the last
    attempt broke off mid-way (only then is resuming worth a GET)."""

    location: str = ""
    offset: int = 0
    interrupted: bool = False

    def start(self, location: str) -> None:
        self.location, self.offset, self.interrupted = location, 0, False


_RANGE = re.compile(r"(?:bytes=)?0-(\d+)")


def confirmed_offset(range_header: str, known: int) -> int | None:
    """The next byte to send, from the Range a registry reports for an upload session ("0-LAST");
    None when it reports none. Distribution says "0-0" for an empty session too: with nothing
    confirmed before, that is 0."""
    found = _RANGE.fullmatch(range_header.strip())
    if not found:
        return None
    last = int(found[1])
    return 0 if last == 0 and known == 0 else last + 1
