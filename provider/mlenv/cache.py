"""The content-addressed cache under ~/.cache/mlenv (or $MLENV_CACHE_DIR): wheels, base-image blobs,
built layers and base-image facts, each keyed by a digest so an entry can never be stale."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path



def cache_dir() -> Path:
    """$MLENV_CACHE_DIR, else ~/.cache/mlenv (a machine setting: settings.py re-exports it)."""
    return Path(os.environ.get("MLENV_CACHE_DIR") or Path.home() / ".cache" / "mlenv")


def cache_root(override: str | Path | None = None) -> Path:
    root = Path(override) if override else cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(target: Path, chunks, expected_sha256: str | None = None) -> Path:
    """Write chunks to target via a temporary file; verify the sha256 before the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise ValueError(f"sha256 mismatch: expected {expected_sha256}, got {digest.hexdigest()}")
        os.replace(name, target)
    finally:
        if os.path.exists(name):
            os.unlink(name)
    return target
