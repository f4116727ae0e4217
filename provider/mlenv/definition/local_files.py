"""Local files a requirements line points at — private wheels and `--find-links` folders — read once,
when the definition is loaded. The model carries their digests; nothing after loading opens them to
hash them again (docs/HASHING.md says what the digests cover)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

PACKAGE_SUFFIXES = (".whl", ".tar.gz", ".zip")  # what pip picks from a links folder
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LinksFolder:
    """A local `--find-links` folder as it was read: the name and sha256 of each package file in it."""

    path: str  # absolute
    files: tuple[tuple[str, str], ...]  # (file name, sha256 hex), sorted by name

    @property
    def digest(self) -> str:
        """The folder's identity in the definition hash: its package files by name and content."""
        listing = "".join(f"{name}\0{sha256}\n" for name, sha256 in self.files)
        return "sha256:" + hashlib.sha256(listing.encode("utf-8", "surrogateescape")).hexdigest()


def read_links_folder(path: str) -> LinksFolder:
    """One listing of the folder and one read of each package file (symlinks followed); OSError
    when the folder or a file in it cannot be read."""
    with os.scandir(path) as listing:
        names = sorted(entry.name for entry in listing if entry.name.endswith(PACKAGE_SUFFIXES) and entry.is_file())
    return LinksFolder(path, tuple((name, file_digests(os.path.join(path, name), ("sha256",))["sha256"]) for name in names))


def file_digests(path: str, algorithms) -> dict[str, str]:
    """Hex digests of one file for several algorithms, from a single read; OSError when unreadable."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}
