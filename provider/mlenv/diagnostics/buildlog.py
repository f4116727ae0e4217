"""The full log of one build: every progress line and tool output, redacted, saved on failure so the
error can point at it (and `mlenv diagnose` can read it again later)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

from mlenv.cache import cache_root
from mlenv.diagnostics.redact import redact


class BuildLog:
    def __init__(self, label: str, echo: Callable[[str], None] = lambda line: None, secrets: Iterable[str] = ()):
        self.label, self.echo, self.secrets = label, echo, [s for s in secrets if s]
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        line = redact(line, self.secrets)
        self.lines.append(line)
        self.echo(line)

    def add_output(self, text: str) -> None:
        """A tool's raw output (uv's stderr, a build log): kept in the file, not echoed."""
        self.lines += redact(text, self.secrets).splitlines()

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def save(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = cache_root() / "logs" / f"{stamp}-{self.label}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text(), encoding="utf-8")
        return path
