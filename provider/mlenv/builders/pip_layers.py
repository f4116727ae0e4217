"""The pip half of the daemonless builder: the venv skeleton and each wheel installed into the image's
venv (ENV_PREFIX), packed as deterministic layers (oci/layers.py).

Each wheel is installed with `installer` into a layer's tree held in memory (oci/tree.py: the paths,
and for each file the wheel member to read again when the tar is written, or the few bytes installer
made: RECORD, INSTALLER, entry-point scripts), so no staging tree is written to disk and a tree holds
no file of the wheel in memory; the layer depends only on the wheel's bytes, so a changed pin
changes only its own layer. Its tar is the one installing into a staging tree gave.

Two wheels may ship the same file (a namespace package's `backports/__init__.py`). As in pip, the
package installed later wins: inside a shared layer it overwrites the earlier one's file, and across
layers the upper layer's file is the one the image shows, so "later" is one order either way, the
layer plan's. Identical files say nothing; different ones are a warning naming both packages.
"""

from __future__ import annotations

import configparser
import io
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.records import Hash, RecordEntry
from installer.scripts import Script
from installer.sources import WheelFile
from installer.utils import Scheme, copyfileobj_with_hashing

from mlenv.builders.bytecode import Compiler
from mlenv.builders.venv import activate_scripts
from mlenv.digests import cache_key
from mlenv.definition.model import ENV_PREFIX
from mlenv.identity.hashing import BUILDER_VERSION
from mlenv.oci.layers import LayerJob
from mlenv.oci.tree import LayerTree, ZipMember
from mlenv.resolve.pip_lock import LockedWheel

LAYER_BUDGET = 48  # our layers at most; Docker's overlay driver caps a whole image near 127


def plan_layers(wheels: list[LockedWheel], budget: int = LAYER_BUDGET) -> list[list[LockedWheel]]:
    """One layer per package while they fit the budget; past it, the largest keep their own layer
    and the long tail shares one, so a big package's change still pushes only its own bytes. Any
    package with `name` and `size` (a wheel, a conda record) is planned the same way."""
    by_size = sorted(wheels, key=lambda w: (-w.size, w.name))
    if len(by_size) <= budget:
        return [[w] for w in sorted(wheels, key=lambda w: w.name)]
    alone, tail = by_size[: budget - 1], sorted(by_size[budget - 1 :], key=lambda w: w.name)
    return [[w] for w in sorted(alone, key=lambda w: w.name)] + [tail]


def pip_jobs(groups: list[list[LockedWheel]], wheel_files: dict[str, Path], python, *, venv: bool = True,
             compiler: Compiler | None = None) -> list[LayerJob]:
    """The layers of the locked wheels, to pack (oci/layers.py `pack_layers`): the venv skeleton (not
    for a conda environment, whose prefix is the environment), then the wheels in their planned groups."""
    jobs = [venv_job(python.version, python.interpreter)] if venv else []
    return jobs + [package_job(group, wheel_files, python.version, compiler=compiler) for group in groups]


def venv_job(python_version: str, interpreter: str) -> LayerJob:
    """The venv skeleton: pyvenv.cfg and bin/python* pointing at the base image's interpreter."""
    return LayerJob(_key("venv", python_version, interpreter), f"mlenv: venv {ENV_PREFIX} on {interpreter}",
                    lambda tree: _write_venv(tree, python_version, interpreter))


def package_job(group: list[LockedWheel], wheel_files: dict[str, Path], python_version: str, *, compiler: Compiler | None = None) -> LayerJob:
    """A group's layer; with a compiler, its bytecode too (builders/bytecode.py), which the key names."""
    site = f"{ENV_PREFIX}/lib/python{python_version}/site-packages"

    def fill(tree: LayerTree) -> None:
        for wheel in group:
            _install_wheel(wheel_files[wheel.name], tree, python_version)
        if compiler:
            compiler.compile_tree(tree, site)

    key = _key("packages", python_version, *(w.sha256 for w in group), *([f"bytecode {compiler.version}"] if compiler else []))
    return LayerJob(key, "mlenv: pip install " + " ".join(w.pin for w in group), fill, weight=sum(w.size for w in group))


def overlap_warnings(groups: list[list[LockedWheel]], wheel_files: dict[str, Path]) -> list[str]:
    """One line per file that two packages install with different content, naming both and the
    one kept (the later, in layer order)."""
    owners: dict[str, tuple[str, tuple]] = {}  # installed path -> (pin, content fingerprint)
    found = []
    for wheel in (w for group in groups for w in group):
        for path, fingerprint in _installed_files(wheel_files[wheel.name]):
            before = owners.get(path)
            if before and before[1] != fingerprint:
                found.append(f"{before[0]} and {wheel.pin} both install {path} with different content: "
                             f"{wheel.pin}'s is kept (the later package wins, as in pip)")
            owners[path] = (wheel.pin, fingerprint)
    return found


def _installed_files(wheel: Path):
    """(where the file lands, relative to the venv's site-packages or prefix; its CRC and size) for
    each file of a wheel, and each console script installer will write."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            top, _, rest = name.partition("/")
            if info.is_dir() or top.endswith(".dist-info"):
                continue
            if top.endswith(".data"):
                scheme, _, rest = rest.partition("/")
                name = {"scripts": f"bin/{rest}", "data": rest, "headers": f"include/{rest}"}.get(scheme, rest)
            yield name, (info.CRC, info.file_size)
        entry_points = next((n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")), None)
        if entry_points:
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            parser.optionxform = str
            parser.read_string(archive.read(entry_points).decode())
            for section in ("console_scripts", "gui_scripts"):
                for script, target in (parser.items(section) if parser.has_section(section) else []):
                    yield f"bin/{script}", ("entry point", target.strip())


def _key(*parts: str) -> str:
    return cache_key([BUILDER_VERSION, *parts])


def _write_venv(tree: LayerTree, python_version: str, interpreter: str) -> None:
    env = ENV_PREFIX.lstrip("/")
    tree.add_dir(f"{env}/bin")
    tree.add_dir(f"{env}/lib/python{python_version}/site-packages")
    home = os.path.dirname(interpreter)
    tree.add_file(f"{env}/pyvenv.cfg", f"home = {home}\ninclude-system-site-packages = false\nversion = {python_version}\nexecutable = {interpreter}\n".encode())
    for name in ("python", "python3", f"python{python_version}"):
        tree.add_symlink(f"{env}/bin/{name}", interpreter)
    for name, text in activate_scripts().items():
        tree.add_file(f"{env}/bin/{name}", text.encode())


def _install_wheel(wheel: Path, tree: LayerTree, python_version: str) -> None:
    site = f"{ENV_PREFIX}/lib/python{python_version}/site-packages"
    scheme = {
        "purelib": site,
        "platlib": site,
        "scripts": f"{ENV_PREFIX}/bin",
        "headers": f"{ENV_PREFIX}/include/site/python{python_version}",
        "data": ENV_PREFIX,
    }
    destination = _TreeDestination(scheme, interpreter=f"{ENV_PREFIX}/bin/python", script_kind="posix",
                                   overwrite_existing=True, tree=tree, wheel=wheel)  # a file another wheel of this layer shipped: the later wins
    with WheelFile.open(wheel) as source, warnings.catch_warnings():
        # installer skips __pycache__ files some wheels ship (numpy does): exactly what we want
        warnings.filterwarnings("ignore", message="Skip installing .*__pycache__", category=RuntimeWarning)
        install(source, destination, additional_metadata={"INSTALLER": b"mlenv\n"})


@dataclass
class _TreeDestination(SchemeDictionaryDestination):
    """installer's destination writing into a LayerTree instead of the file system: the same paths,
    RECORD, INSTALLER and entry-point scripts (shebang and all) as installing into a folder."""

    tree: LayerTree | None = None
    wheel: Path | None = None

    def write_to_fs(self, scheme: Scheme, path: str, stream, is_executable: bool) -> RecordEntry:
        rereadable = isinstance(stream, zipfile.ZipExtFile)  # a member of the wheel, not a file installer made
        kept = _Hashed() if rereadable else io.BytesIO()
        digest, size = copyfileobj_with_hashing(stream, kept, self.hash_algorithm)
        content = ZipMember(self.wheel, stream.name) if rereadable else kept.getvalue()
        self.tree.add_file(str(self._path_with_destdir(scheme, path)), content, size=size, executable=is_executable)
        return RecordEntry(path, Hash(self.hash_algorithm, digest), size)

    def write_script(self, name: str, module: str, attr: str, section) -> RecordEntry:
        script_name, data = Script(name, module, attr, section).generate(self.interpreter, self.script_kind)
        with io.BytesIO(data) as stream:
            return self.write_to_fs(Scheme("scripts"), script_name, stream, is_executable=True)


class _Hashed:
    """Where a wheel member's bytes go once hashed for RECORD: nowhere. The tar reads the member again
    from the wheel, so a layer's tree holds no file of the wheel in memory, only what installer made."""

    def write(self, chunk: bytes) -> int:
        return len(chunk)
