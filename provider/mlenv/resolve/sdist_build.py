"""Pure-Python source distributions (and git checkouts) built into wheels on the host, the way a
user's `pip wheel --no-deps` would, but reproducibly: `uv build` in an isolated environment whose
build backend comes from the same index, SOURCE_DATE_EPOCH fixed, and the result cached by the
sdist's sha256 (a checkout: by its URL and commit), so two builds give the same wheel, byte for byte.

Nothing is compiled on the host: compiled code built here would match the host, not the image. An
sdist with C, C++, Cython, Fortran or Rust sources is refused before it is built, the compiler is
replaced by a program that does not exist during the build, and a wheel that still comes out
platform-specific is refused too; each time with the Docker builder or a conda package as the fix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from packaging.utils import parse_wheel_filename

from mlenv.digests import sha256_hex
from mlenv.cache import cache_root
from mlenv.resolve.index import IndexSettings

SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a wheel (a zip) can record
NO_COMPILER = "mlenv-no-compiler"  # CC and CXX during a build: any compile fails, naming it
COMPILED_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".f", ".f90", ".rs", ".cu")
COMPILED_FILES = ("Cargo.toml", "CMakeLists.txt", "meson.build")
COMPILED_BACKENDS = re.compile(r"build-backend\s*=\s*[\"'](maturin|mesonpy|scikit_build_core|setuptools_rust)")


class SourceBuildError(Exception):
    """A source distribution that cannot become a pure wheel here; `line` is the log line that says
    why (matched by the diagnostics catalogue), `output` the build's own output."""

    def __init__(self, line: str, output: str = ""):
        super().__init__(line)
        self.line, self.output = line, output


def wheel_from_sdist(pin: str, sdist: Path, sdist_sha256: str, index: IndexSettings) -> Path:
    """The wheel built from a downloaded sdist archive (`pin` is name==version, for messages)."""
    cached = _cached(sdist_sha256)
    if cached:
        return cached
    names, read = _archive(sdist)
    _refuse_compiled(pin, names, read)
    return _build(pin, sdist, sdist_sha256, index)


def wheel_from_git(pin: str, url: str, commit: str, subdirectory: str | None, index: IndexSettings) -> Path:
    """The wheel built from a git repository at one commit (`url` without the `git+` prefix)."""
    key = sha256_hex(f"git\0{url}\0{commit}\0{subdirectory or ''}".encode())
    cached = _cached(key)
    if cached:
        return cached
    with tempfile.TemporaryDirectory(prefix="mlenv-git-") as work:
        checkout = Path(work) / "src"
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        for command in (["git", "clone", "--quiet", "--no-checkout", url, str(checkout)],
                        ["git", "-C", str(checkout), "checkout", "--quiet", commit]):
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
            if done.returncode:
                raise SourceBuildError(f"fetching {pin} from git failed: {done.stderr.strip().splitlines()[-1:] or ['no output']}", done.stderr)
        tree = checkout / (subdirectory or "")
        names = [str(p.relative_to(tree)) for p in tree.rglob("*") if ".git" not in p.relative_to(tree).parts]
        _refuse_compiled(pin, names, lambda name: (tree / name).read_text(errors="replace"))
        return _build(pin, tree, key, index)


def _cached(key: str) -> Path | None:
    folder = cache_root() / "built" / key[:2] / key
    found = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    return found[0] if found else None


def _archive(sdist: Path):
    """The member names of an sdist (without its top folder) and a reader for one of them."""
    if sdist.name.endswith(".zip"):
        archive = zipfile.ZipFile(sdist)
        members = {n.split("/", 1)[1]: n for n in archive.namelist() if "/" in n}
        return list(members), lambda name: archive.read(members[name]).decode(errors="replace")
    archive = tarfile.open(sdist)
    members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if "/" in m.name and m.isfile()}
    return list(members), lambda name: archive.extractfile(members[name]).read().decode(errors="replace")


def _refuse_compiled(pin: str, names: list[str], read) -> None:
    compiled = sorted(n for n in names if n.endswith(COMPILED_SUFFIXES) or n.rsplit("/", 1)[-1] in COMPILED_FILES)
    why = f"it holds {compiled[0]}" + (f" and {len(compiled) - 1} more compiled sources" if len(compiled) > 1 else "") if compiled else ""
    if not why and "setup.py" in names and re.search(r"\bext_modules\b|\bExtension\(", read("setup.py")):
        why = "its setup.py declares C extensions (ext_modules)"
    if not why and "pyproject.toml" in names and COMPILED_BACKENDS.search(read("pyproject.toml")):
        why = f"its build backend is {COMPILED_BACKENDS.search(read('pyproject.toml')).group(1)}"
    if why:
        raise SourceBuildError(f"{pin}: its source distribution needs a compiler ({why})")


def _build(pin: str, source: Path, key: str, index: IndexSettings) -> Path:
    from uv import find_uv_bin

    with tempfile.TemporaryDirectory(prefix="mlenv-build-") as work:
        out = Path(work) / "out"
        command = [find_uv_bin(), "build", "--wheel", str(source), "--out-dir", str(out), "--no-config", "--quiet",
                   "--python", sys.executable, "--cache-dir", str(cache_root() / "uv"), *index_options(index)]
        done = subprocess.run(command, capture_output=True, text=True, env=build_env(index), cwd=work, timeout=1800)
        output = done.stdout + done.stderr
        if done.returncode:
            if NO_COMPILER in output:
                raise SourceBuildError(f"{pin}: its source distribution needs a compiler (its build ran one)", output)
            raise SourceBuildError(f"building {pin} from its source distribution failed", output)
        wheel = next(out.glob("*.whl"))
        if any(tag.abi != "none" or tag.platform != "any" for tag in parse_wheel_filename(wheel.name)[3]):
            raise SourceBuildError(f"{pin}: its source distribution needs a compiler (it built {wheel.name})", output)
        folder = cache_root() / "built" / key[:2] / key
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{wheel.name}.partial"
        shutil.copyfile(wheel, partial)
        os.replace(partial, folder / wheel.name)
        return folder / wheel.name


def index_options(index: IndexSettings) -> list[str]:
    """The index, extra indexes and find-links as uv's options."""
    options = ["--index-url", index.index_url] if index.index_url else []
    for extra in index.extra_index_urls:
        options += ["--extra-index-url", extra]
    for location in index.find_links:
        options += ["--find-links", location]
    return options


def build_env(index: IndexSettings) -> dict[str, str]:
    """The machine's environment without its pip/uv index settings (ours are given explicitly),
    with the fixed timestamp and no compiler."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_INDEX", "UV_EXTRA_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS"))}
    env.update(SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, CC=NO_COMPILER, CXX=NO_COMPILER)
    if index.ca_file:
        env["SSL_CERT_FILE"] = index.ca_file
    return env
