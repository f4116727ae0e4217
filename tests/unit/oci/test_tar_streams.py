"""A layer or rootfs tar is read whatever its compression, told apart by its first bytes."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import tarfile

import pytest
import zstandard

from mlenv.oci.rootfs import import_rootfs
from mlenv.oci.tar_streams import READ_ERRORS, open_tar, uncompressed


def plain_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("usr/bin/python3.11", b"#!elf"), ("var/lib/dpkg/status", b"Package: libc6\nVersion: 2.36-9\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zstd_frames(data: bytes) -> bytes:
    """Two zstd frames, as zstd:chunked writes many: both must be read."""
    half = len(data) // 2
    compressor = zstandard.ZstdCompressor()
    return compressor.compress(data[:half]) + compressor.compress(data[half:])


COMPRESSIONS = {"none": lambda d: d, "gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress,
                "zstd": lambda d: zstandard.ZstdCompressor().compress(d), "zstd-frames": zstd_frames}


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_compression_reads_as_the_same_tar(tmp_path, compression):
    path = tmp_path / "layer"
    path.write_bytes(COMPRESSIONS[compression](plain_tar()))
    with uncompressed(path) as stream:
        assert stream.read() == plain_tar()
    with open_tar(path) as tar:
        assert [member.name for member in tar] == ["usr/bin/python3.11", "var/lib/dpkg/status"]


def test_damaged_zstd_raises_a_read_error_the_callers_catch(tmp_path):
    path = tmp_path / "layer"
    path.write_bytes(zstandard.ZstdCompressor().compress(plain_tar())[:40] + b"\0" * 64)
    with pytest.raises(READ_ERRORS):
        with open_tar(path) as tar:
            list(tar)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_compressed_rootfs_imports_with_the_plain_tars_diff_id(tmp_path, compression):
    """`mlenv import-rootfs` takes a .tar.gz or .tar.zst as well: the diff_id is the plain tar's."""
    plain, packed = tmp_path / "rootfs.tar", tmp_path / "rootfs.tar.packed"
    plain.write_bytes(plain_tar())
    packed.write_bytes(COMPRESSIONS[compression](plain_tar()))
    diff_ids = []
    for source, zstd in ((plain, False), (packed, compression == "zstd")):
        layout = tmp_path / f"layout-{source.name}"
        import_rootfs(source, f"oci:{layout}:base", zstd=zstd)
        index = json.loads((layout / "index.json").read_text())
        manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
        config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_text())
        assert manifest["layers"][0]["mediaType"].endswith("+zstd" if zstd else "+gzip")
        diff_ids.append(config["rootfs"]["diff_ids"][0])
    assert diff_ids[0] == diff_ids[1] == "sha256:" + hashlib.sha256(plain_tar()).hexdigest()
