"""Running `mlenv` as a user does, in a subprocess, and writing the files it reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MLENV = [sys.executable, "-m", "mlenv.cli"]


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*MLENV, *args], capture_output=True, text=True, cwd=cwd)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
