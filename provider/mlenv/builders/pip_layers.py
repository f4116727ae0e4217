"""The pip half of the daemonless builder: the venv skeleton and each wheel installed into the image's
venv (ENV_PREFIX), packed as deterministic layers (oci/layers.py).

Each wheel is installed with `installer` into a staging tree shaped like the image, then packed into a
layer that depends only on the wheel's bytes, so a changed pin changes only its own layer.

Two wheels may ship the same file (a namespace package's `backports/__init__.py`). As in pip, the
package installed later wins: inside a shared layer it overwrites the earlier one's file, and across
layers the upper layer's file is the one the image shows, so "later" is one order either way, the
layer plan's. Identical files say nothing; different ones are a warning naming both packages.
"""

from __future__ import annotations

import configparser
import os
import warnings
import zipfile
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile

from mlenv.builders.bytecode import Compiler
from mlenv.builders.venv import write_activate_scripts
from mlenv.digests import cache_key
from mlenv.definition.model import ENV_PREFIX
from mlenv.identity.hashing import BUILDER_VERSION
from mlenv.oci.layers import Layer, cached_layer
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


def venv_layer(python_version: str, interpreter: str) -> Layer:
    """The venv skeleton: pyvenv.cfg and bin/python* pointing at the base image's interpreter."""
    key = _key("venv", python_version, interpreter)
    return cached_layer(key, f"mlenv: venv {ENV_PREFIX} on {interpreter}", lambda root: _write_venv(root, python_version, interpreter))


def package_layer(group: list[LockedWheel], wheel_files: dict[str, Path], python_version: str, *, compiler: Compiler | None = None) -> Layer:
    """A group's layer; with a compiler, its bytecode too (builders/bytecode.py), which the key names."""
    key = _key("packages", python_version, *(w.sha256 for w in group), *([f"bytecode {compiler.version}"] if compiler else []))
    created_by = "mlenv: pip install " + " ".join(w.pin for w in group)

    def populate(root: Path) -> None:
        for wheel in group:
            _install_wheel(wheel_files[wheel.name], root, python_version)
        if compiler:
            site = f"{ENV_PREFIX}/lib/python{python_version}/site-packages"
            compiler.compile(root / site.lstrip("/"), site)

    return cached_layer(key, created_by, populate, bytecode=compiler is not None)


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


def _write_venv(root: Path, python_version: str, interpreter: str) -> None:
    env = root / ENV_PREFIX.lstrip("/")
    (env / "bin").mkdir(parents=True)
    (env / "lib" / f"python{python_version}" / "site-packages").mkdir(parents=True)
    home = os.path.dirname(interpreter)
    (env / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = false\nversion = {python_version}\nexecutable = {interpreter}\n")
    for name in ("python", "python3", f"python{python_version}"):
        os.symlink(interpreter, env / "bin" / name)
    write_activate_scripts(env / "bin")


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
    destination = SchemeDictionaryDestination(scheme, interpreter=f"{ENV_PREFIX}/bin/python", script_kind="posix",
                                              overwrite_existing=True)  # a file another wheel of this layer shipped: the later wins
    with WheelFile.open(wheel) as source, warnings.catch_warnings():
        # installer skips __pycache__ files some wheels ship (numpy does): exactly what we want
        warnings.filterwarnings("ignore", message="Skip installing .*__pycache__", category=RuntimeWarning)
        install(source, destination, additional_metadata={"INSTALLER": b"mlenv\n"})
