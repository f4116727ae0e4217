"""Resolve pip requirements for the target platform to exact wheels (name, version, file, sha256).

uv does the resolution (`uv pip compile` to a PEP 751 pylock.toml, wheels only, so it never builds
anything itself); we then pick, for each package, the single best wheel for the target's tags with
`packaging.tags`. Where wheels alone do not give what pip would install (a version with only an
sdist, a requirement that fell back to an older version), pip_sources.py builds the sdists it can
and uv resolves again with them; direct references are built by direct_refs.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import tomllib
from dataclasses import replace
from pathlib import Path

from packaging import tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mlenv.cache import cache_root
from mlenv.identity.canonical import canonical_requirement
from mlenv.diagnostics.diagnose import explain
from mlenv.diagnostics.errors import BuildError, ResolveError
from mlenv.resolve.index import IndexSettings, available_versions
from mlenv.definition.requirement_syntax import has_exact_pin
from mlenv.resolve.locked_wheel import LockedWheel, hash_checked
from mlenv.resolve.target import PythonFacts

__all__ = ["LockedWheel", "resolve", "preview_versions", "target_tag_order", "uv_platform"]

_UV_MANYLINUX = [17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40]
_ROUNDS = 8  # each round builds at least one more sdist; real chains are one or two long


class _UvFailed(Exception):
    def __init__(self, stderr: str):
        super().__init__(stderr)
        self.stderr = stderr


def resolve(pip, python: PythonFacts, index: IndexSettings, *, build_sources: bool = True, interpreter: str | None = None) -> list[LockedWheel]:
    """The exact wheel set for a `PipSpec` (requirements, private wheels, constraints, --hash
    values), sorted by name. `build_sources=False` (preview) never builds an sdist nor asks the
    index why a requirement fell back: it only locks what has wheels. `interpreter`: a host Python
    of the target's version for uv (else uv finds one on PATH); the lock is the same either way."""
    from mlenv.resolve import pip_sources

    if not pip.installs_anything:
        return []
    lines = [canonical_requirement(r) for r in pip.requirements] + [f"{w.name} @ {Path(w.path).as_uri()}" for w in pip.wheels]
    constraints = [canonical_requirement(r) for r in pip.constraints]
    sources = [canonicalize_name(r.name) for r in pip.requirements if r.url and not r.url.split("#")[0].endswith(".whl")]
    target = pip_sources.Target(python, list(target_tag_order(python)), index, build_sources)
    built: dict[str, pip_sources.BuiltSdist] = {}  # built wheel's file name -> where it came from
    for _ in range(_ROUNDS):
        try:
            pylock = _run_uv("\n".join(lines) + "\n", constraints, python, index, built=built, sources=sources, interpreter=interpreter)
        except _UvFailed as failed:
            text = failed.stderr + _versions_hint(failed.stderr, index, python.version)
            if not _add(built, pip_sources.after_failure(text, target)):  # built before, and uv still fails
                raise explain(text, "pip", index.secrets(), kind=ResolveError) from None
            continue
        wheels = [_locked(p, target.tags, dict(pip.hashes), built, index) for p in pylock.get("packages", [])]
        newer = pip_sources.after_lock(pip.requirements, {w.name: w.version for w in wheels}, target, {b.source for b in built.values()}) if build_sources else []
        if not _add(built, newer):
            return sorted(wheels, key=lambda w: w.name)
    raise ResolveError("pip", f"resolving still needed another source build after {_ROUNDS} rounds", "publish wheels of the sdist-only packages to your index")


def _add(built: dict, more: list) -> bool:
    """Whether `more` holds a wheel not built before (else another round would change nothing)."""
    new = [item for item in more if item.path.name not in built]
    built.update((item.path.name, item) for item in new)
    return bool(new)


def preview_versions(spec, index: IndexSettings) -> dict[str, str]:
    """What the definition's packages would lock to today (name → version), for the unpinned-package
    warning in preview; {} when the index cannot say. Resolved for the definition's Python pin, else
    this interpreter's version, and the base image's glibc is assumed to be 2.28+."""
    import sys
    from dataclasses import replace

    from mlenv.definition.rules import templated_requirements

    pip = replace(spec.pip, requirements=(*spec.pip.requirements, *templated_requirements(spec)))
    if not any(not has_exact_pin(r) for r in pip.requirements):
        return {}
    version = spec.python.version or f"{sys.version_info.major}.{sys.version_info.minor}"
    python = PythonFacts(".".join(version.split(".")[:2]), "", "2.28")
    try:
        return {w.name: w.version for w in resolve(pip, python, index.for_definition(pip), build_sources=False)}
    except (BuildError, OSError, subprocess.SubprocessError, ValueError, KeyError):
        return {}


def uv_platform(glibc: str) -> str:
    minor = int(glibc.split(".")[1]) if glibc.startswith("2.") else 17
    return f"x86_64-manylinux_2_{max(m for m in _UV_MANYLINUX if m <= max(minor, 17))}"


def target_tag_order(python: PythonFacts):
    """Wheel tags the target interpreter accepts, most specific first (what pip would prefer)."""
    major, minor = (int(p) for p in python.version.split("."))
    glibc_minor = int(python.glibc.split(".")[1])
    platforms = [f"manylinux_2_{m}_x86_64" for m in range(glibc_minor, 4, -1)]
    platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]
    yield from tags.cpython_tags((major, minor), platforms=platforms)
    yield from tags.compatible_tags((major, minor), interpreter=f"cp{major}{minor}", platforms=platforms)


def _locked(package: dict, target_tags: list[tags.Tag], allowed: dict, built: dict, index: IndexSettings) -> LockedWheel:
    """The wheel to install for one pylock entry: a direct reference (built if it is a source),
    else the best of its wheels for the target, pointed at the cache when it was built here."""
    from mlenv.resolve.direct_refs import is_direct, locked_direct

    if is_direct(package):
        return locked_direct(package, index, allowed.get(canonicalize_name(package["name"])))
    wheel = _best_wheel(package, target_tags, allowed)
    here = built.get(wheel.filename)
    return replace(wheel, url=here.path.as_uri(), source=here.source) if here and wheel.url.startswith("file:") else wheel


def _best_wheel(package: dict, target_tags: list[tags.Tag], allowed: dict) -> LockedWheel:
    name = canonicalize_name(package["name"])
    archive = package.get("archive")
    if archive and archive.get("path", "").endswith(".whl"):  # a private wheel, used as it is
        path = Path(archive["path"])
        return LockedWheel(name=name, version=package["version"], filename=path.name, url=path.as_uri(), sha256=archive["hashes"]["sha256"], size=path.stat().st_size)
    rank = {tag: index for index, tag in enumerate(target_tags)}
    best, best_rank = None, len(rank)
    for wheel in hash_checked(name, package.get("wheels", []), allowed.get(name)):
        filename = wheel["url"].rsplit("/", 1)[-1].split("#")[0]
        wheel_rank = min((rank.get(t, len(rank)) for t in parse_wheel_filename(filename)[3]), default=len(rank))
        if wheel_rank < best_rank:
            best, best_rank = (wheel, filename), wheel_rank
    if best is None:
        raise ResolveError("pip", f"{package['name']} {package.get('version', '')} has no wheel for the target (Linux x86_64, this Python)", f"pin a version of {package['name']} that publishes a manylinux or pure-Python wheel", rule="resolution.sdist-only")
    wheel, filename = best
    return LockedWheel(name=name, version=package["version"], filename=filename, url=wheel["url"], sha256=wheel["hashes"]["sha256"], size=int(wheel.get("size") or 0))


def _run_uv(lines: str, constraints: list[str], python: PythonFacts, index: IndexSettings, *, built: dict, sources: list[str],
            interpreter: str | None = None) -> dict:
    """uv's pylock for the lines, wheels only except for `sources` (direct references to an sdist or
    a git repository, which uv reads to learn their dependencies); `built`: wheels built by earlier rounds."""
    from uv import find_uv_bin

    from mlenv.resolve.sdist_build import build_env, index_options

    with tempfile.TemporaryDirectory(prefix="mlenv-lock-") as work:
        output = Path(work) / "pylock.toml"
        command = [
            find_uv_bin(), "pip", "compile", "-", "--format", "pylock.toml", "-o", str(output),
            "--python-version", python.version, "--python-platform", uv_platform(python.glibc),
            "--only-binary", ":all:", "--no-config", "--no-header", "--quiet",
            "--cache-dir", str(cache_root() / "uv"), *index_options(index),
        ]
        command += ["--python", interpreter] if interpreter else []
        for name in sources:
            command += ["--no-binary", name]
        if built:  # sdists built into wheels by an earlier round, offered as local files
            (Path(work) / "built").mkdir()
            for name, item in built.items():
                os.symlink(item.path, Path(work) / "built" / name)
            command += ["--find-links", str(Path(work) / "built")]
        if constraints:
            (Path(work) / "constraints.txt").write_text("\n".join(constraints) + "\n")
            command += ["--constraint", str(Path(work) / "constraints.txt")]
        done = subprocess.run(command, input=lines, capture_output=True, text=True, env=build_env(index), cwd=work, timeout=600)
        if done.returncode != 0:
            raise _UvFailed(done.stderr)
        return tomllib.loads(output.read_text())


_MISSING_VERSION = re.compile(r"there is no version of ([A-Za-z0-9._-]+)[=<>!~]")


def _versions_hint(stderr: str, index: IndexSettings, python_version: str) -> str:
    """uv does not list what exists when a pin is missing: ask the index, for the diagnosis."""
    hints = []
    for package in dict.fromkeys(_MISSING_VERSION.findall(stderr)):
        versions = sorted(available_versions(index, package, python_version), key=Version)
        if versions:
            hints.append(f"versions of {package} on the index: {', '.join(versions)}")
    return "\n" + "\n".join(hints) if hints else ""
