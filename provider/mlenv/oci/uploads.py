"""Blobs pushed several at a time, in the background: `BlobUploads` is the pool publishing feeds.

The pipeline opens it on the target store before the builder runs; the builder hands it the base
image as soon as it is resolved (`BuildRequest.on_base`) and each layer as soon as it is packed
(`BuildRequest.on_layer`), so pushing overlaps resolving and packing; `publish` adds what is left
(the config, and what a builder did not hand over) and waits. Each blob is skipped when the target
has it, mounted when a repository on the same host holds it (the base's own repository, or one the
cache records it in: blob_sources.py), uploaded otherwise; the biggest waiting blob goes first. The
first failure stops the queued blobs and is raised by `wait`, so nothing is tagged.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import queue
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlenv.diagnostics import progress
from mlenv.diagnostics.errors import RegistryError
from mlenv.oci import blob_sources
from mlenv.oci.base_image import fetch_blob

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
MOUNT_TRIES = 3  # recorded repositories tried per blob before it is uploaded


def push_concurrency() -> int:
    """$MLENV_PUSH_CONCURRENCY: how many blobs are pushed at once (default 4, 1 to 32)."""
    raw = os.environ.get("MLENV_PUSH_CONCURRENCY", "").strip()
    if not raw:
        return DEFAULT_CONCURRENCY
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_CONCURRENCY:
        raise RegistryError("MLENV_PUSH_CONCURRENCY", "is not a number of blobs to push at once",
                            f"give a whole number from 1 to {MAX_CONCURRENCY} (1 pushes one blob at a time)", value=raw[:40])
    return int(raw)


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    file: Callable[[], Path] | None = None   # where its bytes are (a base layer: downloaded first)
    data: bytes | None = None                # or the bytes themselves (the config)
    sources: tuple[str, ...] = ()            # repositories on the target's host known to hold it


def base_blob(target, base, base_store, layer: dict) -> Blob:
    """A base layer: mounted from the base's repository when it is on the target's registry, else
    downloaded (once, into the cache) and uploaded."""
    digest = layer["digest"]
    same_registry = not base.ref.is_layout and getattr(target, "host", None) == base.ref.host
    return Blob(digest, int(layer.get("size", 0)), file=lambda: fetch_blob(base_store, digest),
                sources=(base.ref.path,) if same_registry else ())


def layer_blob(layer) -> Blob:
    """One of our packed layers (oci/layers.py's Layer), as a blob to push."""
    return Blob(layer.digest, layer.size, file=lambda: layer.path)


class BlobUploads:
    """A bounded pool of threads pushing blobs to one store; use it as a context manager."""

    def __init__(self, target, concurrency: int | None = None):
        self.target = target
        self.counts: Counter[str] = Counter()  # uploaded / mounted / present
        self.start_bytes = target.bytes_pushed
        self._workers = concurrency or push_concurrency()
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._error: Exception | None = None
        self._stopping = False

    def base(self, base, base_store) -> None:
        """The builder's hook (BuildRequest.on_base): push the base's layers while it resolves and packs."""
        for layer in sorted(base.layers, key=lambda layer: -int(layer.get("size", 0))):
            self.add(base_blob(self.target, base, base_store, layer))

    def layer(self, layer):
        """The builder's hook (BuildRequest.on_layer): push this packed layer; gives it back."""
        self.add(layer_blob(layer))
        return layer

    def add(self, blob: Blob) -> None:
        """Queue a blob (once per digest); safe from any thread."""
        with self._lock:
            if blob.digest in self._seen or self._stopping:
                return
            self._seen.add(blob.digest)
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name=f"mlenv-push-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        # each task runs in a copy of the caller's context: cache warnings reach this build's log
        self._queue.put((-blob.size, next(self._order), contextvars.copy_context(), blob))

    def wait(self) -> None:
        """Until every queued blob is in the target; the first failure, raised."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self, wait: bool = True) -> None:
        """Drop what is still queued and stop the threads (once), after the running pushes end; with
        wait=False (the build failed) without waiting for them: they end with the stores, closed next."""
        with self._lock:
            self._stopping = True
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put((float("inf"), next(self._order), None, None))
        for thread in threads if wait else ():
            thread.join()

    def __enter__(self) -> BlobUploads:
        return self

    def __exit__(self, failure, *_details) -> None:
        self.close(wait=failure is None)

    def _work(self) -> None:
        while True:
            _, _, context, blob = self._queue.get()
            try:
                if blob is None:
                    return
                if self._error is None and not self._stopping:
                    context.run(self._push, blob)
            except Exception as error:  # the first failure is the build's; the queued rest are skipped
                with self._lock:
                    self._error = self._error or error
            finally:
                self._queue.task_done()

    def _push(self, blob: Blob) -> None:
        target = self.target
        if target.has_blob(blob.digest):
            outcome = "present"
        elif self._mounted(blob):
            outcome = "mounted"
        else:
            if blob.data is not None:
                target.put_blob_bytes(blob.digest, blob.data)
            else:
                target.put_blob_file(blob.digest, blob.file())
            outcome = "uploaded"
            progress.add(progress.PUSHED, blob.size)
        host = getattr(target, "host", None)
        if host:
            blob_sources.remember(blob.digest, host, target.repository)
        with self._lock:
            self.counts[outcome] += 1

    def _mounted(self, blob: Blob) -> bool:
        """A cross-repository mount from a repository on the target's host that holds the blob; the
        registry's answer decides (201 mounted; 202, 404, 405: upload). A recorded repository that
        declines is forgotten."""
        host = getattr(self.target, "host", None)
        if not host:
            return False  # an OCI layout: nothing to mount from
        recorded = blob_sources.repositories_on(host, blob.digest)
        candidates = [r for r in dict.fromkeys([*blob.sources, *recorded]) if r != self.target.repository]
        for repository in candidates[:MOUNT_TRIES]:
            if self.target.mount_blob(blob.digest, repository):
                return True
            if repository in recorded:
                blob_sources.forget(blob.digest, host, repository)
        return False
