"""Deterministic layers: a tree packed into a tar.gz that depends only on its content.

Sorted entries, PAX headers, mtime 0, uid/gid 0 with empty names, normalized modes, gzip header
mtime 0, no __pycache__: the same tree gives the same layer digest on any machine. Built layers are
kept in the cache by a key their builder derives from what decides their bytes (builders/pip_layers.py).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from mlenv.cache import cache_root, partial_dir, partial_file, scratch_dir, warn, write_atomically
from mlenv.diagnostics import progress
from mlenv.digests import file_digest

_GZIP_LEVEL = 6


@dataclass(frozen=True)
class Layer:
    path: Path          # the .tar.gz on local disk
    digest: str         # sha256 of the compressed bytes
    diff_id: str        # sha256 of the uncompressed tar
    size: int
    created_by: str     # for the image history: what this layer holds


def cached_layer(key: str, created_by: str, populate) -> Layer:
    """The layer `populate(root)` fills, packed once per key (a digest of everything that decides its
    bytes) and kept in the cache: a rebuild of the same lock writes no tar again. A cached entry is
    checked (layer.json parses, the tar.gz has its digest) and rebuilt, with a warning, when damaged."""
    folder = cache_root() / "layers" / key
    found = _reuse(folder, created_by)
    if found:
        return found
    with partial_dir(scratch_dir()) as stage:
        populate(stage)
        with partial_file(scratch_dir()) as (partial, _):
            digest, diff_id, size = write_layer(stage, partial)
            progress.add(progress.PACKED, size)
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(partial, folder / "layer.tar.gz")
    write_atomically(folder / "layer.json", json.dumps({"digest": digest, "diff_id": diff_id, "size": size}).encode())
    return Layer(folder / "layer.tar.gz", digest, diff_id, size, created_by)


def _reuse(folder: Path, created_by: str) -> Layer | None:
    """The cached layer if it is whole; None (after a warning) if it is damaged or half-written."""
    meta, tar = folder / "layer.json", folder / "layer.tar.gz"
    if not meta.exists():
        return None
    try:
        data = json.loads(meta.read_bytes())
        layer = Layer(tar, str(data["digest"]), str(data["diff_id"]), int(data["size"]), created_by)
    except (OSError, ValueError, KeyError, TypeError):
        return _damaged(folder, f"{meta.name} is not the JSON it should be")
    if not tar.is_file():
        return _damaged(folder, f"{tar.name} is missing")
    if tar.stat().st_size != layer.size or file_digest(tar) != layer.digest:
        return _damaged(folder, f"{tar.name} does not match the digest in {meta.name}")
    return layer


def _damaged(folder: Path, reason: str) -> None:
    warn(f"the cached layer {folder} is damaged ({reason}): rebuilding it")
    return None


def write_layer(root: Path, target: Path) -> tuple[str, str, int]:
    """Pack root into a deterministic tar.gz; returns (digest, diff_id, compressed size)."""
    uncompressed = hashlib.sha256()

    def fill(gz) -> None:
        with tarfile.open(fileobj=_TeeWriter(gz, uncompressed), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for path in _walk_sorted(root):
                _add(tar, root, path)

    digest, size = gzip_to(target, fill)
    return digest, "sha256:" + uncompressed.hexdigest(), size


def gzip_to(target: Path, fill) -> tuple[str, int]:
    """Deterministic gzip (header mtime 0, fixed level) of what `fill(stream)` writes into target;
    returns the sha256 digest and size of the compressed bytes."""
    compressed = _HashingWriter(target.open("wb"))
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=_GZIP_LEVEL) as gz:
        fill(gz)
    compressed.close()
    return "sha256:" + compressed.digest.hexdigest(), compressed.size


def _walk_sorted(root: Path) -> list[Path]:
    """Every entry below root (directories included, __pycache__ excluded), sorted by path."""
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        found += [Path(directory) / name for name in dirnames + filenames]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _add(tar: tarfile.TarFile, root: Path, path: Path) -> None:
    info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    info.pax_headers = {}
    if info.isdir():
        info.mode = 0o755
    elif info.issym():
        info.mode = 0o777
    else:
        info.mode = 0o755 if info.mode & stat.S_IXUSR else 0o644
    if info.isfile():
        with path.open("rb") as handle:
            tar.addfile(info, handle)
    else:
        tar.addfile(info)


class _HashingWriter(io.RawIOBase):
    def __init__(self, handle):
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def close(self) -> None:
        if not self.closed:
            self.handle.close()
        super().close()


class _TeeWriter(io.RawIOBase):
    def __init__(self, handle, digest):
        self.handle, self.digest = handle, digest

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.digest.update(data)
        return self.handle.write(data)
