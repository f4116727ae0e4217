"""Reading a layer (or rootfs) tar however it is compressed: none, gzip, bzip2, xz, or zstd
(`application/vnd.oci.image.layer.v1.tar+zstd`, what podman and buildah can push), which `tarfile`
cannot read before Python 3.14: the `zstandard` library reads it. Told apart by the first bytes, not
by a media type or a file name, so a blob described wrongly is still read."""

from __future__ import annotations

import bz2
import gzip
import lzma
import tarfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import zstandard


def _zstd(raw: BinaryIO):
    """Every frame read, not only the first (zstd:chunked writes many)."""
    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)


_OPENERS = ((b"\x28\xb5\x2f\xfd", _zstd), (b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
            (b"BZh", bz2.BZ2File), (b"\xfd7zXZ\x00", lzma.LZMAFile))
# What reading a damaged archive, or one compressed some other way, raises.
READ_ERRORS = (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zstandard.ZstdError)


@contextmanager
def uncompressed(path: Path) -> Iterator[BinaryIO]:
    """The plain tar's bytes as a stream."""
    with path.open("rb") as handle:
        head = handle.read(6)
        handle.seek(0)
        opener = next((opener for magic, opener in _OPENERS if head.startswith(magic)), None)
        if opener is None:
            yield handle
            return
        with opener(handle) as reader:
            yield reader


@contextmanager
def open_tar(path: Path) -> Iterator[tarfile.TarFile]:
    """The tar at `path`, read as a stream, whatever its compression."""
    with uncompressed(path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        yield tar

