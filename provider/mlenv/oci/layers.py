"""Deterministic layers: a tree packed into a compressed tar that depends only on its content.

Sorted entries, PAX headers, mtime 0, uid/gid 0 with empty names, normalized modes, no __pycache__
(oci/tree.py), compressed by a compressor whose bytes depend on the tar alone (oci/compression.py):
the same tree gives the same layer digest on any machine. A builder describes each layer as a
LayerJob (a cache key it derives from what decides the layer's bytes, and how to fill the tree);
`pack_layers` packs a build's jobs on a pool of threads, the biggest first, and gives the layers in
the builder's order, so the image is the same for any worker count. Packed layers are kept in the
cache under the builder's key and the compressor's `cache_id`.
"""

from __future__ import annotations

import contextvars
import gzip
import hashlib
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlenv.cache import cache_root, has_sha256, partial_file, scratch_dir, stamp_sha256, warn, write_atomically
from mlenv.diagnostics import progress
from mlenv.digests import cache_key
from mlenv.oci.compression import GZIP, Compressor, default_threads
from mlenv.oci.mediatypes import OCI_LAYER_GZIP
from mlenv.oci.tree import LayerTree

_GZIP_LEVEL = 6  # gzip_to's: the Docker builder's saved layers, packed as before


@dataclass(frozen=True)
class Layer:
    path: Path          # the compressed tar on local disk
    digest: str         # sha256 of the compressed bytes
    diff_id: str        # sha256 of the uncompressed tar
    size: int
    created_by: str     # for the image history: what this layer holds
    media_type: str = OCI_LAYER_GZIP


@dataclass(frozen=True)
class LayerJob:
    key: str                            # a digest of everything that decides the tar's bytes
    created_by: str
    fill: Callable[[LayerTree], None]   # adds the layer's entries
    weight: int = 0                     # about how many bytes it packs: the heaviest start first


def pack_layers(jobs: list[LayerJob], *, compressor: Compressor = GZIP, workers: int | None = None,
                on_layer: Callable[[Layer], None] | None = None) -> list[Layer]:
    """Every job's layer, in the jobs' order, packed on `workers` threads ($MLENV_PACK_WORKERS, else
    the CPU count) heaviest first, so the longest layer does not start last. `on_layer` sees each
    layer as it is finished (in the calling thread, in the order they finish)."""
    workers = workers or default_threads()
    layers: list[Layer | None] = [None] * len(jobs)
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].weight)
    at_once = max(1, min(workers, len(jobs)))
    threads = max(1, workers // at_once)  # compression threads per layer: a lone big layer gets them all
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        futures = {pool.submit(contextvars.copy_context().run, cached_layer, jobs[i], compressor=compressor, threads=threads): i
                   for i in order}  # each in a copy of this context: cache warnings reach this build's log
        try:
            for future in as_completed(futures):
                layer = layers[futures[future]] = future.result()  # here a layer is finished
                if on_layer:
                    on_layer(layer)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return layers


def cached_layer(job: LayerJob, *, compressor: Compressor = GZIP, threads: int = 1) -> Layer:
    """The job's layer, packed once per key and compressor and kept in the cache: a rebuild of the
    same lock writes no tar again. A cached entry is checked (layer.json parses, the file has its
    size and digest: hashed again only when its stamp no longer matches, cache.py) and rebuilt, with a
    warning, when damaged."""
    folder = cache_root() / "layers" / cache_key([job.key, compressor.cache_id])
    found = _reuse(folder, job.created_by, compressor)
    if found:
        return found
    target = folder / ("layer" + compressor.suffix)
    with LayerTree() as tree, partial_file(scratch_dir()) as (partial, _):
        job.fill(tree)
        digest, diff_id, size = write_tree(tree, partial, compressor, threads)
        progress.add(progress.PACKED, size)
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
    stamp_sha256(target, digest.removeprefix("sha256:"))
    meta = {"digest": digest, "diff_id": diff_id, "size": size, "media_type": compressor.media_type}
    write_atomically(folder / "layer.json", json.dumps(meta).encode())
    return Layer(target, digest, diff_id, size, job.created_by, compressor.media_type)


def _reuse(folder: Path, created_by: str, compressor: Compressor = GZIP) -> Layer | None:
    """The cached layer if it is whole; None (after a warning) if it is damaged or half-written."""
    meta, packed = folder / "layer.json", folder / ("layer" + compressor.suffix)
    if not meta.exists():
        return None
    try:
        data = json.loads(meta.read_bytes())
        layer = Layer(packed, str(data["digest"]), str(data["diff_id"]), int(data["size"]), created_by, compressor.media_type)
    except (OSError, ValueError, KeyError, TypeError):
        return _damaged(folder, f"{meta.name} is not the JSON it should be")
    if not packed.is_file():
        return _damaged(folder, f"{packed.name} is missing")
    if packed.stat().st_size != layer.size or not has_sha256(packed, layer.digest.removeprefix("sha256:")):
        return _damaged(folder, f"{packed.name} does not match the digest in {meta.name}")
    return layer


def _damaged(folder: Path, reason: str) -> None:
    warn(f"the cached layer {folder} is damaged ({reason}): rebuilding it")
    return None


def write_tree(tree: LayerTree, target: Path, compressor: Compressor = GZIP, threads: int = 1) -> tuple[str, str, int]:
    """Pack a tree into target; returns (digest, diff_id, compressed size). `threads` never changes
    the bytes."""
    uncompressed = hashlib.sha256()
    compressed = _HashingWriter(target.open("wb"))
    try:
        with compressor.writer(compressed, threads) as stream:
            tree.write_tar(_TeeWriter(stream, uncompressed))
    finally:
        compressed.close()
    return "sha256:" + compressed.digest.hexdigest(), "sha256:" + uncompressed.hexdigest(), compressed.size


def write_layer(root: Path, target: Path, compressor: Compressor = GZIP, threads: int = 1) -> tuple[str, str, int]:
    """Pack a tree on disk (root) into target, as write_tree does its entries."""
    tree = LayerTree()
    tree.add_directory(root)
    return write_tree(tree, target, compressor, threads)


def gzip_to(target: Path, fill) -> tuple[str, int]:
    """Deterministic gzip (header mtime 0, fixed level) of what `fill(stream)` writes into target;
    returns the sha256 digest and size of the compressed bytes."""
    compressed = _HashingWriter(target.open("wb"))
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=_GZIP_LEVEL) as gz:
        fill(gz)
    compressed.close()
    return "sha256:" + compressed.digest.hexdigest(), compressed.size


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
