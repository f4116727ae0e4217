"""Local files a requirements line points at — private wheels and `--find-links` folders — read once,
when the definition is loaded. The model carries their digests; nothing after loading opens them to
hash them again (docs/HASHING.md says what the digests cover)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlenv.digests import digest_of, sha256_file

PACKAGE_SUFFIXES = (".whl", ".tar.gz", ".zip")  # what pip picks from a links folder


@dataclass(frozen=True)
class LinksFolder:
    """A local `--find-links` folder as it was read: the name and sha256 of each package file in it."""

    path: str  # absolute
    files: tuple[tuple[str, str], ...]  # (file name, sha256 hex), sorted by name

    @property
    def digest(self) -> str:
        """The folder's identity in the definition hash: its package files by name and content."""
        listing = "".join(f"{name}\0{sha256}\n" for name, sha256 in self.files)
        return digest_of(listing.encode("utf-8", "surrogateescape"))


def read_links_folder(path: str) -> LinksFolder:
    """One listing of the folder and one read of each package file (symlinks followed); OSError
    when the folder or a file in it cannot be read."""
    with os.scandir(path) as listing:
        names = sorted(entry.name for entry in listing if entry.name.endswith(PACKAGE_SUFFIXES) and entry.is_file())
    return LinksFolder(path, tuple((name, sha256_file(os.path.join(path, name))) for name in names))



def confined_links_folder(path: str, where: str, written: str) -> LinksFolder:
    """`read_links_folder` of a folder inside the definition's roots, each package file in it too
    (a wheel symlinked from elsewhere would otherwise be pushed into a layer)."""
    from mlenv.definition import confine

    confine.check(path, where, written)
    folder = read_links_folder(path)
    for name, _ in folder.files:
        confine.check(os.path.join(path, name), where, f"{written}/{name}")
    return folder
