"""Layers: installed like pip would, packed byte-for-byte reproducibly."""

import io
import os
import tarfile
import gzip

from mlenv.oci.layers import ENV_PREFIX, _install_wheel, plan_layers, write_layer
from mlenv.resolve.pip_lock import LockedWheel
from testbed.wheelmaker import make_wheel


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


def test_wheel_installs_into_the_venv_with_scripts_pointing_at_it(tmp_path):
    wheel = make_wheel(tmp_path, "hello", "1.0", {"hello/__init__.py": "def main():\n    print('hi')\n"}, scripts={"hello": "hello:main"})
    root = tmp_path / "root"
    _install_wheel(wheel, root, "3.11")
    env = root / ENV_PREFIX.lstrip("/")
    assert (env / "lib/python3.11/site-packages/hello/__init__.py").exists()
    assert (env / "lib/python3.11/site-packages/hello-1.0.dist-info/INSTALLER").read_text() == "mlenv\n"
    script = (env / "bin" / "hello").read_text()
    assert script.startswith(f"#!{ENV_PREFIX}/bin/python\n")
    assert os.access(env / "bin" / "hello", os.X_OK)


def _wheel(name, size):
    return LockedWheel(name, "1", f"{name}-1-py3-none-any.whl", "u", name, size)


def test_each_package_has_its_own_layer_within_budget():
    wheels = [_wheel(n, s) for n, s in (("b", 5), ("a", 1), ("c", 9))]
    assert [[w.name for w in g] for g in plan_layers(wheels, budget=3)] == [["a"], ["b"], ["c"]]


def test_over_budget_the_small_tail_shares_one_layer():
    wheels = [_wheel(n, s) for n, s in (("big", 900), ("mid", 500), ("t1", 3), ("t2", 2), ("t3", 1))]
    groups = [[w.name for w in g] for g in plan_layers(wheels, budget=3)]
    assert groups == [["big"], ["mid"], ["t1", "t2", "t3"]]
