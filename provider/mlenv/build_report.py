"""What `mlenv build` prints: its lines, kept in order so that a replay (replay.py) can print them
again, and the result, which a build and a replay write the same way."""

from __future__ import annotations

import json
import sys


class Transcript:
    """Lines written to standard output ("out") and standard error ("err"), remembered in order."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def out(self, line: str) -> None:
        self.write("out", line)

    def err(self, line: str) -> None:
        self.write("err", line)

    def write(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))
        print_line(stream, line)


def print_line(stream: str, line: str) -> None:
    """One line of a transcript to its stream: "out" (standard output) or "err" (standard error)."""
    print(line, file=sys.stdout if stream == "out" else sys.stderr)


def result_text(outputs: dict, seconds: float, as_json: bool) -> str:
    """The last thing `mlenv build` prints: the outputs as JSON, or the image reference and what was done."""
    if as_json:
        return json.dumps({**outputs, "seconds": round(seconds, 3)}, indent=2)
    done = "cache hit, nothing built or pushed" if outputs["cache_hit"] else f"built, {outputs['bytes_pushed']} bytes pushed"
    text = f"{outputs['image_ref']}\n  {done} in {seconds:.2f}s"
    if outputs["image_ref"].startswith("oci:"):  # skopeo and podman take no digest in a layout reference
        text += f"\n  for skopeo, podman: {outputs['tag_ref']}"
    return text
