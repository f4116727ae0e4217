"""Digests and canonical JSON, one copy for every stage: what is hashed must be spelled one way, or
the same definition, lock or image would get two identities."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

_CHUNK = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digests(path: str | Path, algorithms) -> dict[str, str]:
    """Hex digests of one file for several algorithms (pip's --hash may name any), from a single read
    in chunks; OSError when the file cannot be read."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def sha256_file(path: str | Path) -> str:
    return file_digests(path, ("sha256",))["sha256"]


def digest_of(data: bytes) -> str:
    """An OCI content digest, `sha256:<hex>`."""
    return "sha256:" + sha256_hex(data)


def file_digest(path: str | Path) -> str:
    return "sha256:" + sha256_file(path)


def cache_key(parts: list) -> str:
    """A built layer's cache key: the hex sha256 of its parts as plain JSON (the spelling the layer
    cache has always used: a new one would turn every cached layer into a miss)."""
    return sha256_hex(json.dumps(parts).encode())


def canonical_json(data: object, *, ensure_ascii: bool = False) -> bytes:
    """Sorted keys, no whitespace: the same data gives the same bytes. The definition hash keeps
    non-ASCII text as UTF-8; lock hashes and image JSON escape it (`ensure_ascii=True`), as they
    always have, so their digests stay what they were."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=ensure_ascii).encode()
