"""Install wheels into the image's venv and pack deterministic layers.

Each wheel is installed with `installer` into a staging tree shaped like the image (/opt/env), then
packed into a tar that depends only on the wheel's bytes: sorted entries, PAX headers, mtime 0,
uid/gid 0 with empty names, normalized modes, gzip header mtime 0, no __pycache__. So the same lock
gives the same layer digests on any machine, and a changed pin changes only its own layer.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile

from mlenv.cache import cache_root
from mlenv.identity.hashing import BUILDER_VERSION
from mlenv.oci.image import ENV_PREFIX
from mlenv.resolve.pip_lock import LockedWheel

LAYER_BUDGET = 48  # our layers at most; Docker's overlay driver caps a whole image near 127
_GZIP_LEVEL = 6


@dataclass(frozen=True)
class Layer:
    path: Path          # the .tar.gz on local disk
    digest: str         # sha256 of the compressed bytes
    diff_id: str        # sha256 of the uncompressed tar
    size: int
    created_by: str     # for the image history: what this layer holds


def plan_layers(wheels: list[LockedWheel], budget: int = LAYER_BUDGET) -> list[list[LockedWheel]]:
    """One layer per package while they fit the budget; past it, the largest keep their own layer
    and the long tail shares one, so a big package's change still pushes only its own bytes."""
    by_size = sorted(wheels, key=lambda w: (-w.size, w.name))
    if len(by_size) <= budget:
        return [[w] for w in sorted(wheels, key=lambda w: w.name)]
    alone, tail = by_size[: budget - 1], sorted(by_size[budget - 1 :], key=lambda w: w.name)
    return [[w] for w in sorted(alone, key=lambda w: w.name)] + [tail]


def venv_layer(python_version: str, interpreter: str) -> Layer:
    """The venv skeleton: pyvenv.cfg and bin/python* pointing at the base image's interpreter."""
    key = _key("venv", python_version, interpreter)
    return _cached_layer(key, f"mlenv: venv {ENV_PREFIX} on {interpreter}", lambda root: _write_venv(root, python_version, interpreter))


def package_layer(group: list[LockedWheel], wheel_files: dict[str, Path], python_version: str) -> Layer:
    key = _key("packages", python_version, *(w.sha256 for w in group))
    created_by = "mlenv: pip install " + " ".join(w.pin for w in group)

    def populate(root: Path) -> None:
        for wheel in group:
            _install_wheel(wheel_files[wheel.name], root, python_version)

    return _cached_layer(key, created_by, populate)


def _key(*parts: str) -> str:
    return hashlib.sha256(json.dumps([BUILDER_VERSION, *parts]).encode()).hexdigest()


def _cached_layer(key: str, created_by: str, populate) -> Layer:
    folder = cache_root() / "layers" / key
    meta = folder / "layer.json"
    if meta.exists():
        data = json.loads(meta.read_text())
        return Layer(folder / "layer.tar.gz", data["digest"], data["diff_id"], data["size"], created_by)
    with tempfile.TemporaryDirectory(prefix="mlenv-stage-") as stage:
        populate(Path(stage))
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".layer-{os.getpid()}.tar.gz"
        digest, diff_id, size = write_layer(Path(stage), partial)
        os.replace(partial, folder / "layer.tar.gz")
    meta.write_text(json.dumps({"digest": digest, "diff_id": diff_id, "size": size}))
    return Layer(folder / "layer.tar.gz", digest, diff_id, size, created_by)


def _write_venv(root: Path, python_version: str, interpreter: str) -> None:
    env = root / ENV_PREFIX.lstrip("/")
    (env / "bin").mkdir(parents=True)
    (env / "lib" / f"python{python_version}" / "site-packages").mkdir(parents=True)
    home = os.path.dirname(interpreter)
    (env / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = false\nversion = {python_version}\nexecutable = {interpreter}\n")
    for name in ("python", "python3", f"python{python_version}"):
        os.symlink(interpreter, env / "bin" / name)


def _install_wheel(wheel: Path, root: Path, python_version: str) -> None:
    env = root / ENV_PREFIX.lstrip("/")
    site = env / "lib" / f"python{python_version}" / "site-packages"
    scheme = {
        "purelib": str(site),
        "platlib": str(site),
        "scripts": str(env / "bin"),
        "headers": str(env / "include" / "site" / f"python{python_version}"),
        "data": str(env),
    }
    destination = SchemeDictionaryDestination(scheme, interpreter=f"{ENV_PREFIX}/bin/python", script_kind="posix")
    with WheelFile.open(wheel) as source, warnings.catch_warnings():
        # installer skips __pycache__ files some wheels ship (numpy does): exactly what we want
        warnings.filterwarnings("ignore", message="Skip installing .*__pycache__", category=RuntimeWarning)
        install(source, destination, additional_metadata={"INSTALLER": b"mlenv\n"})


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
