"""A layer's entries held in memory (paths, modes, and where each file's content is: a wheel's member,
a file on disk, or the few bytes made in memory), so a layer is written without a staging tree on
disk and its tree stays small however big the layer. Files a builder makes on the way (the bytecode)
live in a scratch folder of the tree's own, removed when the tree is closed.

The tar it writes is the one a staging tree of the same files gave: entries sorted by path, PAX
format, mtime 0, uid/gid 0 with empty names, directories 0755, symlinks 0777, files 0755 when
executable else 0644, each parent directory an entry of its own, no __pycache__.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO


@dataclass(frozen=True, slots=True)
class ZipMember:
    """A file's content as a member of a zip (a wheel) on disk: read from it when the tar is written."""
    archive: Path
    name: str


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str                                   # "file", "dir" or "symlink"
    executable: bool = False
    size: int = 0
    content: bytes | Path | ZipMember = b""     # a file's bytes, or where to read them
    target: str = ""                            # a symlink's


class LayerTree:
    """The files of one layer by path (relative, posix): a later file at a path replaces the earlier."""

    def __init__(self):
        self.entries: dict[str, Entry] = {}
        self._resources = ExitStack()  # the scratch folders, and the wheels `read` opened
        self._zips: dict[Path, zipfile.ZipFile] = {}

    def __enter__(self) -> "LayerTree":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Remove the scratch folders and close the wheels read: once the tar is written, neither is needed."""
        self._resources.close()
        self._zips.clear()

    def scratch_dir(self, prefix: str) -> Path:
        """A new folder that lives as long as the tree: files added from it are read when the tar is
        written, not held in memory."""
        return Path(self._resources.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))

    def add_file(self, path: str, content: bytes | Path | ZipMember, *, size: int | None = None, executable: bool = False) -> None:
        if size is None:
            size = len(content) if isinstance(content, bytes) else Path(content).stat().st_size
        self._put(path, Entry("file", executable, size, content))

    def add_dir(self, path: str) -> None:
        self._put(path, Entry("dir"))

    def add_symlink(self, path: str, target: str) -> None:
        self._put(path, Entry("symlink", target=target))

    def add_directory(self, root: Path) -> None:
        """Every entry below root (a tree on disk, __pycache__ left out), at its path relative to root."""
        for directory, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in dirnames + filenames:
                path = Path(directory) / name
                relative = path.relative_to(root).as_posix()
                if path.is_symlink():
                    self.add_symlink(relative, os.readlink(path))
                elif path.is_dir():
                    self.add_dir(relative)
                else:
                    self.add_file(relative, path, executable=bool(path.stat().st_mode & 0o100))

    def read(self, entry: Entry) -> bytes:
        """A file entry's content, wherever it is kept (a wheel is opened once, not per member)."""
        if isinstance(entry.content, bytes):
            return entry.content
        with _open(entry.content, self._zips, self._resources) as handle:
            return handle.read()

    def _put(self, path: str, entry: Entry) -> None:
        path = PurePosixPath(path).as_posix().lstrip("/")
        for parent in reversed(PurePosixPath(path).parents[:-1]):
            if parent.as_posix() not in self.entries:
                self.entries[parent.as_posix()] = Entry("dir")
        self.entries[path] = entry

    def write_tar(self, stream: BinaryIO) -> None:
        """The deterministic tar of these entries into stream."""
        with ExitStack() as open_zips, tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            zips: dict[Path, zipfile.ZipFile] = {}
            for path in sorted(self.entries):
                entry = self.entries[path]
                info = _tarinfo(path, entry)
                if entry.kind != "file":
                    tar.addfile(info)
                elif isinstance(entry.content, bytes):
                    tar.addfile(info, io.BytesIO(entry.content))
                else:
                    with _open(entry.content, zips, open_zips) as handle:
                        tar.addfile(info, handle)


def _tarinfo(path: str, entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if entry.kind == "dir":
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif entry.kind == "symlink":
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.target
    else:
        info.mode, info.size = (0o755 if entry.executable else 0o644), entry.size
    return info


def _open(content: Path | ZipMember, zips: dict, open_zips: ExitStack):
    if isinstance(content, ZipMember):
        if content.archive not in zips:
            zips[content.archive] = open_zips.enter_context(zipfile.ZipFile(content.archive))
        return zips[content.archive].open(content.name)
    return open(content, "rb")
