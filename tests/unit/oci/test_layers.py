"""Layers: packed byte-for-byte reproducibly."""

import io
import os
import tarfile
import time
import gzip

from mlenv.oci.layers import write_layer


def _members(path):
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}, tar


def test_same_tree_gives_same_digest_whatever_mtime_and_umask(tmp_path):
    digests = []
    for attempt, umask in enumerate((0o022, 0o077)):
        root = tmp_path / f"root{attempt}"
        old = os.umask(umask)
        try:
            (root / "a" / "__pycache__").mkdir(parents=True)
            (root / "a" / "m.py").write_text("x = 1\n")
            (root / "a" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"junk")
            (root / "run").write_text("#!/bin/sh\n")
            os.chmod(root / "run", 0o700)
        finally:
            os.umask(old)
        os.utime(root / "a" / "m.py", (attempt * 1000, attempt * 1000))
        digests.append(write_layer(root, tmp_path / f"l{attempt}.tar.gz")[:2])
    assert digests[0] == digests[1]
    members, _ = _members(tmp_path / "l0.tar.gz")
    assert sorted(members) == ["a", "a/m.py", "run"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, 0, "", "")}
    assert (members["run"].mode, members["a/m.py"].mode, members["a"].mode) == (0o755, 0o644, 0o755)
    with open(tmp_path / "l0.tar.gz", "rb") as handle:
        assert handle.read(10)[4:8] == b"\0\0\0\0"  # gzip header mtime


def test_diff_id_is_the_uncompressed_digest(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "f").write_text("hello")
    digest, diff_id, size = write_layer(tmp_path / "root", tmp_path / "l.tar.gz")
    import hashlib

    raw = gzip.decompress((tmp_path / "l.tar.gz").read_bytes())
    assert diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert size == (tmp_path / "l.tar.gz").stat().st_size


def _job(fills: list) -> "LayerJob":
    from mlenv.oci.layers import LayerJob

    def fill(tree):
        fills.append(1)
        tree.add_file("opt/env/data.bin", bytes(range(256)) * 1200)

    return LayerJob("stamp-test-key", "test layer", fill)


def test_a_cached_layer_is_reused_without_hashing_it_and_rebuilt_once_changed(tmp_path, monkeypatch):
    """The packer stamps the file it wrote (cache.py): a reuse reads the stamp, not 300 kB again; a
    layer file changed afterwards (same size, a byte flipped) is hashed, caught and packed again."""
    from mlenv import cache
    from mlenv.cache import warnings_to
    from mlenv.oci.layers import cached_layer

    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))
    fills, hashed = [], []
    first = cached_layer(_job(fills))
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda path: hashed.append(path) or real(path))
    assert cached_layer(_job(fills)) == first and fills == [1] and hashed == []
    data = bytearray(first.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    time.sleep(0.05)  # past the kernel's coarse clock tick: the write gets a time of its own
    with first.path.open("r+b") as handle:  # in place: the same inode
        handle.write(bytes(data))
    lines: list[str] = []
    with warnings_to(lines.append):
        again = cached_layer(_job(fills))
    assert fills == [1, 1] and len(hashed) == 1, "hashed (the stamp no longer matches), then packed again"
    assert again == first and again.path.read_bytes() != bytes(data), "the same layer as before the damage"
    assert len(lines) == 1 and "is damaged" in lines[0]
