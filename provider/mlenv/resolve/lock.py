"""The lock: what a build resolved (the base image's digest, its Python, the exact wheels), and the
lock hash over it, one implementation for every builder (rules in docs/HASHING.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from mlenv.digests import canonical_json, sha256_hex
from mlenv.resolve.pip_lock import LockedWheel
from mlenv.resolve.target import PythonFacts


class CondaPart(Protocol):
    """A conda lock, as the lock hash and the packages list need it."""

    records: Sequence  # each with a `pin`

    def identity(self) -> dict: ...


@dataclass(frozen=True)
class Lock:
    base_digest: str | None        # None: a Dockerfile whose final FROM mlenv cannot read
    python: PythonFacts | None     # None: nothing installed by mlenv (user-managed, or a Dockerfile)
    wheels: tuple[LockedWheel, ...] = ()
    conda: CondaPart | None = None  # left out of the hash when None, so pip-only lock hashes stay put
    bytecode: str | None = None    # who compiled the wheels' bytecode ("CPython 3.11.7", or "none"); None: not this builder's business

    @property
    def packages(self) -> list[str]:
        """The outputs' `packages`: conda records first (they hold the interpreter), then wheels."""
        conda = [record.pin for record in self.conda.records] if self.conda else []
        return conda + [wheel.pin for wheel in self.wheels]


def lock_hash(lock: Lock) -> str:
    return sha256_hex(lock_bytes(lock))


def lock_bytes(lock: Lock) -> bytes:
    """What the lock hash covers, as bytes: the image carries them (catalogue/artifact.py), so their
    sha256 is the image's lock hash."""
    payload = {
        "base": lock.base_digest,
        "python": lock.python.version if lock.python else None,
        "wheels": [[w.name, w.version, w.filename, w.sha256, *([w.source] if w.source else [])] for w in lock.wheels],
    }
    if lock.conda is not None:
        payload["conda"] = lock.conda.identity()
    if lock.bytecode is not None:  # the compiler's exact version can change the layers' bytes
        payload["bytecode"] = lock.bytecode
    return canonical_json(payload, ensure_ascii=True)
