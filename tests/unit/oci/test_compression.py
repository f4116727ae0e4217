"""Layer compressors: the bytes depend on the tar alone, never on the thread count, the write sizes
or the run; a compressor change never reuses a layer packed the other way."""

import gzip
import hashlib
import io
import tarfile

import pytest
import zstandard

from mlenv.builders.pip_layers import _install_wheel
from mlenv.diagnostics.errors import BuildError
from mlenv.oci.compression import GZIP, ZSTD, compressor_for, default_threads
from mlenv.oci.layers import LayerJob, cached_layer, write_tree
from mlenv.oci.mediatypes import OCI_LAYER_GZIP, OCI_LAYER_ZSTD
from mlenv.oci.tree import LayerTree

NUMPY = "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


@pytest.fixture(scope="module")
def numpy_tree(wheelhouse):
    """The layer tree of a real wheel: about 60 MB of tar, big members read again from the wheel."""
    tree = LayerTree()
    _install_wheel(wheelhouse / NUMPY, tree, "3.11")
    return tree


@pytest.mark.parametrize("compressor", [GZIP, ZSTD], ids=lambda c: c.name)
def test_one_or_four_threads_and_a_second_run_give_one_digest(numpy_tree, compressor, tmp_path):
    packed = [write_tree(numpy_tree, tmp_path / f"{threads}-{run}", compressor, threads)
              for threads, run in ((1, 0), (4, 0), (4, 1), (2, 2))]
    assert len(set(packed)) == 1
    digest, diff_id, size = packed[0]
    assert size > 10 * 2**20 and diff_id != digest


def test_gzip_and_zstd_hold_the_same_tar_with_no_time_or_name(numpy_tree, tmp_path):
    gz = write_tree(numpy_tree, tmp_path / "l.tar.gz", GZIP, 2)
    zst = write_tree(numpy_tree, tmp_path / "l.tar.zst", ZSTD, 2)
    raw = gzip.decompress((tmp_path / "l.tar.gz").read_bytes())
    assert zstandard.ZstdDecompressor().decompressobj().decompress((tmp_path / "l.tar.zst").read_bytes()) == raw
    assert gz[1] == zst[1] == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert zst[2] < gz[2]  # zstd -3 is smaller than ISA-L's gzip
    # and neither header carries a time, a name, a content size or a checksum
    header = (tmp_path / "l.tar.gz").read_bytes()[:10]
    assert header[:4] == b"\x1f\x8b\x08\x00" and header[4:8] == b"\0\0\0\0"  # deflate, no flags (no name), mtime 0
    frame = zstandard.get_frame_parameters((tmp_path / "l.tar.zst").read_bytes()[:18])
    assert (frame.content_size, frame.dict_id, frame.has_checksum) == (zstandard.CONTENTSIZE_UNKNOWN, 0, False)


@pytest.mark.parametrize("compressor", [GZIP, ZSTD], ids=lambda c: c.name)
def test_write_sizes_never_show_in_the_bytes(compressor):
    data = hashlib.sha256(b"seed").digest() * 200_000 + bytes(range(256)) * 30_000  # ~14 MB: several blocks
    outputs = set()
    for chunk, threads in ((1000, 1), (65536, 3), (3_333_333, 2)):
        target = io.BytesIO()
        with compressor.writer(target, threads) as stream:
            for start in range(0, len(data), chunk):
                stream.write(data[start:start + chunk])
        outputs.add(target.getvalue())
    assert len(outputs) == 1


def test_a_layer_packed_one_way_is_never_reused_as_the_other(tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "f").write_bytes(b"hello\n" * 1000)
    job = LayerJob("same-key", "test", lambda tree: tree.add_file("opt/f", tmp_path / "f"))
    gz, zst = cached_layer(job, compressor=GZIP), cached_layer(job, compressor=ZSTD)
    assert (gz.media_type, zst.media_type) == (OCI_LAYER_GZIP, OCI_LAYER_ZSTD)
    assert gz.path.parent != zst.path.parent and gz.digest != zst.digest and gz.diff_id == zst.diff_id
    assert cached_layer(job, compressor=ZSTD) == zst  # and each is reused as itself
    with zstandard.open(zst.path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        assert [m.name for m in tar] == ["opt", "opt/f"]


def test_the_compressor_settings_are_in_its_cache_id():
    assert GZIP.cache_id.startswith("gzip/isal-") and "level=2" in GZIP.cache_id and "block=1048576" in GZIP.cache_id
    assert ZSTD.cache_id.startswith("zstd/zstandard-") and "libzstd-" in ZSTD.cache_id
    assert compressor_for(None) is GZIP and compressor_for("zstd") is ZSTD


def test_pack_workers_setting(monkeypatch):
    monkeypatch.setenv("MLENV_PACK_WORKERS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("MLENV_PACK_WORKERS", "")
    assert default_threads() >= 1
    monkeypatch.setenv("MLENV_PACK_WORKERS", "lots")
    with pytest.raises(BuildError) as raised:
        default_threads()
    assert raised.value.where == "MLENV_PACK_WORKERS" and "lots" in str(raised.value) and "1 to 1024" in str(raised.value)
