"""Bytecode in the pip layers (builders/bytecode.py): unchecked-hash .pyc, the same bytes from fresh
processes on real wheels (numpy, requests), the compiler in the lock and the layer's cache key."""

import hashlib
import subprocess
import sys
import tarfile

import pytest

from mlenv.builders.bytecode import NONE, Compiler, bytecode_decision, find_compiler
from mlenv.builders.pip_layers import _install_wheel, package_job
from mlenv.definition.model import ENV_PREFIX
from mlenv.oci.layers import cached_layer
from mlenv.oci.tree import LayerTree
from mlenv.resolve.lock import Lock, lock_hash
from mlenv.resolve.pip_lock import LockedWheel
from mlenv.resolve.target import PythonFacts

VERSION = "%d.%d" % sys.version_info[:2]
SITE = f"{ENV_PREFIX}/lib/python{VERSION}/site-packages"


@pytest.fixture(scope="module")
def compiler() -> Compiler:
    found = find_compiler(VERSION)
    assert found, f"python{VERSION} must be on PATH for these tests (the venv running them has it)"
    return found


def compiled_tree(wheelhouse, tmp_path, compiler, names) -> dict[str, bytes]:
    """The layer's tree with its bytecode, also written out below tmp_path/root; the .pyc files by path."""
    tree = LayerTree()
    for name in names:
        _install_wheel(next(wheelhouse.glob(f"{name}-*.whl")), tree, VERSION)
    compiler.compile_tree(tree, SITE)
    root = tmp_path / "root"
    for path, entry in tree.entries.items():
        if entry.kind == "file":
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(tree.read(entry))
    return {p: tree.read(e) for p, e in sorted(tree.entries.items()) if p.endswith(".pyc")}


def test_compiling_twice_in_fresh_processes_gives_identical_bytes(wheelhouse, tmp_path, compiler):
    first = compiled_tree(wheelhouse, tmp_path / "a", compiler, ["requests", "numpy"])
    second = compiled_tree(wheelhouse, tmp_path / "b", compiler, ["requests", "numpy"])
    assert len(first) > 100 and any("/numpy/__pycache__/" in p for p in first) and any("/requests/__pycache__/" in p for p in first)
    assert first == second  # another staging folder, another process: the same bytes


def test_the_pyc_files_are_unchecked_hash_and_name_the_image_path(wheelhouse, tmp_path, compiler):
    files = compiled_tree(wheelhouse, tmp_path, compiler, ["requests"])
    path, data = next((p, d) for p, d in files.items() if p.endswith("requests/__pycache__/api.cpython-%d%d.pyc" % sys.version_info[:2]))
    assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, check_source off
    assert f"{SITE}/requests/api.py".encode() in data and str(tmp_path).encode() not in data


def test_python_imports_from_the_bytecode_without_rewriting_it(wheelhouse, tmp_path, compiler):
    files = compiled_tree(wheelhouse, tmp_path, compiler, ["six"])
    site = tmp_path / "root" / SITE.lstrip("/")
    done = subprocess.run([compiler.path, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import six; print(six.__cached__)", str(site)],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip().endswith(".pyc")
    assert {p: (tmp_path / "root" / p).read_bytes() for p in files} == files


def test_the_layer_keeps_bytecode_and_its_key_names_the_compiler(wheelhouse, tmp_path, compiler):
    wheel = next(wheelhouse.glob("six-1.16.0-*.whl"))
    locked = LockedWheel("six", "1.16.0", wheel.name, "u", hashlib.sha256(wheel.read_bytes()).hexdigest(), wheel.stat().st_size)
    plain = cached_layer(package_job([locked], {"six": wheel}, VERSION))
    compiled = cached_layer(package_job([locked], {"six": wheel}, VERSION, compiler=compiler))
    other = cached_layer(package_job([locked], {"six": wheel}, VERSION, compiler=Compiler(compiler.path, compiler.version + "+other")))
    assert plain.digest != compiled.digest and compiled.path != other.path  # the decision is in the cache key
    with tarfile.open(compiled.path) as tar:
        assert any(n.endswith(".pyc") and "__pycache__" in n for n in tar.getnames())
    with tarfile.open(plain.path) as tar:
        assert not any("__pycache__" in n for n in tar.getnames())


def test_no_interpreter_of_that_version_means_no_bytecode_said_in_the_log():
    lines = []
    assert bytecode_decision("3.99", lines.append) is None
    assert lines == ["bytecode: none (no python3.99 on this machine's PATH; install it to ship bytecode)"]


def test_the_compiler_version_is_in_the_lock_hash():
    python = PythonFacts("3.11", "/usr/bin/python3.11", "2.36")
    hashes = {lock_hash(Lock("sha256:" + "0" * 64, python, (), None, bytecode)) for bytecode in (None, NONE, "CPython 3.11.2", "CPython 3.11.7")}
    assert len(hashes) == 4


def test_the_bytecode_waits_on_disk_for_the_tar_and_goes_with_the_tree(wheelhouse, compiler):
    """A layer's .pyc files (and the sources staged to compile them) are not held in memory: the tree
    reads them from its scratch folder when the tar is written, and closing the tree removes it."""
    from pathlib import Path

    with LayerTree() as tree:
        _install_wheel(next(wheelhouse.glob("requests-*.whl")), tree, VERSION)
        compiler.compile_tree(tree, SITE)
        kept = [e.content for p, e in tree.entries.items() if p.endswith((".pyc", ".py"))]
        assert len(kept) > 20 and all(isinstance(content, Path) and content.is_file() for content in kept)
        assert not any(isinstance(e.content, bytes) for p, e in tree.entries.items() if p.endswith((".pyc", ".py")))
    assert not any(content.exists() for content in kept)


def test_the_compiler_is_the_interpreter_itself_not_the_shim_that_found_it(tmp_path, monkeypatch):
    """A version manager's shim on PATH (pyenv's picks the interpreter by folder): it is run once, from
    "/" as the compiling is, and the layers are compiled by the interpreter it chose."""
    real = find_compiler(VERSION)
    shim = tmp_path / f"python{VERSION}"
    shim.write_text(f"#!/bin/sh\npwd >> {tmp_path / 'ran-in'}\nexec {real.path} \"$@\"\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    found = find_compiler(VERSION)
    assert found == Compiler(real.path, real.version) and found.path != str(shim)
    assert (tmp_path / "ran-in").read_text() == "/\n"
