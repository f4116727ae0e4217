"""Layer compressors whose bytes are a function of the uncompressed stream and their fixed settings.

The default is gzip from ISA-L (python-isal) at a fixed level, compressed in fixed-size blocks that
each start from the previous block's last 32 KiB (as pigz does): blocks can be compressed on several
threads, and the thread count never shows in the bytes. The header has mtime 0 and no file name. The
opt-in zstd (`compression: zstd`) runs libzstd in its worker mode with a fixed level, no checksum,
content size or dictionary id: its bytes do not depend on the worker count either. The input is cut
into blocks of one size before either library sees it, so how the tar writer happens to split its
writes never shows either. Each compressor's `cache_id` (library, version, level, block size) is part
of every layer cache key: a layer packed one way is never reused as if packed another.
"""

from __future__ import annotations

import io
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from mlenv.diagnostics.errors import BuildError
from mlenv.oci.mediatypes import OCI_LAYER_GZIP, OCI_LAYER_ZSTD

BLOCK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Compressor:
    name: str           # what a definition's `compression:` names
    media_type: str
    suffix: str         # of the cached layer file
    level: int

    @property
    def cache_id(self) -> str:
        """Everything that decides the compressed bytes besides the input."""
        return f"{self.name}/{_library(self.name)}/level={self.level}/block={BLOCK_SIZE}"

    @contextmanager
    def writer(self, raw: BinaryIO, threads: int) -> Iterator[BinaryIO]:
        """A stream that compresses into `raw` on `threads` threads (any number: the same bytes)."""
        threads = max(1, threads)
        if self.name == "gzip":
            from isal import igzip_threaded

            inner = igzip_threaded.open(raw, "wb", compresslevel=self.level, threads=threads, block_size=BLOCK_SIZE)
        else:
            import zstandard

            options = zstandard.ZstdCompressor(level=self.level, threads=threads, write_checksum=False,
                                               write_content_size=False, write_dict_id=False)
            inner = options.stream_writer(raw, closefd=False)
        blocks = _FixedBlocks(inner)
        try:
            yield blocks
            blocks.close()
        finally:
            inner.close()


GZIP = Compressor("gzip", OCI_LAYER_GZIP, ".tar.gz", level=2)  # ISA-L level 2: ~20 times zlib -6 on one core, 15 % bigger
ZSTD = Compressor("zstd", OCI_LAYER_ZSTD, ".tar.zst", level=3)
COMPRESSORS = {c.name: c for c in (GZIP, ZSTD)}


def compressor_for(name: str | None) -> Compressor:
    """The compressor a definition asks for (`compression:`), gzip when it names none."""
    return COMPRESSORS[name or "gzip"]


def default_threads() -> int:
    """$MLENV_PACK_WORKERS, else the CPUs this process may run on: how many layers are packed at once
    (shared by them when fewer are packed). Never part of a layer's bytes."""
    setting = os.environ.get("MLENV_PACK_WORKERS", "").strip()
    if not setting:
        return len(os.sched_getaffinity(0)) or 1
    if not setting.isdigit() or not 0 < int(setting) <= 1024:
        raise BuildError("MLENV_PACK_WORKERS", "is not a number of workers", "give a whole number from 1 to 1024, or unset it for the CPU count",
                         value=setting[:40])
    return int(setting)


def _library(name: str) -> str:
    if name == "gzip":
        from isal import __version__
        return f"isal-{__version__}"
    import zstandard
    return f"zstandard-{zstandard.__version__}-libzstd-{'.'.join(map(str, zstandard.ZSTD_VERSION))}"


class _FixedBlocks(io.RawIOBase):
    """Hands `inner` exactly BLOCK_SIZE bytes per write (the last write shorter), whatever sizes it is
    written in: the block boundaries, and so the compressed bytes, depend on the stream alone."""

    def __init__(self, inner):
        self.inner, self.pending = inner, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.pending += data
        while len(self.pending) >= BLOCK_SIZE:
            self.inner.write(bytes(self.pending[:BLOCK_SIZE]))
            del self.pending[:BLOCK_SIZE]
        return len(data)

    def close(self) -> None:
        if not self.closed and self.pending:
            self.inner.write(bytes(self.pending))
            self.pending.clear()
        super().close()
