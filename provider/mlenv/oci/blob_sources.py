"""Where our blobs already are: per blob digest, the repositories (registry host + path) it was pushed
to or found in, kept in the cache (`blob-sources/sha256/HEX.json`, the last KEEP repositories).

Publishing asks it for a repository on the target's host to mount a blob from instead of uploading
it again (docker does the same from its own records). The registry's answer decides, so a stale
record (the blob since deleted, the repository gone, no pull right on it) costs one declined mount,
and is then forgotten. A record lost to two processes writing at once only means an upload.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from mlenv.cache import cache_root, warn, write_atomically

KEEP = 8  # repositories remembered per blob, the most recent first
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_lock = threading.Lock()  # one read-modify-write at a time in this process


def repositories_on(host: str, digest: str) -> list[str]:
    """The recorded repositories on `host` holding `digest`, the most recent first."""
    return [path for where, path in _read(digest) if where == host]


def remember(digest: str, host: str, repository: str) -> None:
    _update(digest, lambda entries: [[host, repository]] + [e for e in entries if e != [host, repository]])


def forget(digest: str, host: str, repository: str) -> None:
    _update(digest, lambda entries: [e for e in entries if e != [host, repository]])


def _record(digest: str) -> Path | None:
    if not _DIGEST.fullmatch(digest):
        return None  # not a digest we name files after
    return cache_root() / "blob-sources" / "sha256" / f"{digest[7:]}.json"


def _read(digest: str) -> list[list[str]]:
    path = _record(digest)
    if path is None or not path.is_file():
        return []
    try:
        entries = json.loads(path.read_bytes())
        if isinstance(entries, list) and all(isinstance(e, list) and len(e) == 2 and all(isinstance(p, str) for p in e) for e in entries):
            return entries
    except (OSError, ValueError):
        pass
    warn(f"the cached record of where blob {digest[:19]}… was pushed ({path}) is damaged: it is written again")
    return []


def _update(digest: str, change) -> None:
    path = _record(digest)
    if path is None:
        return
    with _lock:
        before = _read(digest)
        after = change(before)[:KEEP]
        if after != before:
            write_atomically(path, json.dumps(after).encode())
