"""Resolve pip requirements for the target platform to exact wheels (name, version, file, sha256).

uv does the resolution (`uv pip compile` to a PEP 751 pylock.toml, wheels only); we then pick, for
each package, the single best wheel for the target's tags with `packaging.tags`.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging import tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mlenv.cache import cache_root
from mlenv.identity.canonical import canonical_requirement
from mlenv.diagnostics.errors import BuildError, ResolveError
from mlenv.diagnostics.diagnose import explain
from mlenv.resolve.index import IndexSettings, available_versions
from mlenv.definition.requirement_syntax import has_exact_pin
from mlenv.resolve.target import PythonFacts

_UV_MANYLINUX = [17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40]


@dataclass(frozen=True)
class LockedWheel:
    name: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


def resolve(pip, python: PythonFacts, index: IndexSettings) -> list[LockedWheel]:
    """The exact wheel set for a `PipSpec` (requirements, private wheels, constraints, --hash
    values), sorted by name."""
    if not pip.installs_anything:
        return []
    lines = [canonical_requirement(r) for r in pip.requirements] + [f"{w.name} @ {Path(w.path).as_uri()}" for w in pip.wheels]
    constraints = [canonical_requirement(r) for r in pip.constraints]
    pylock = _run_uv("\n".join(lines) + "\n", constraints, python, index)
    target_tags = list(target_tag_order(python))
    allowed = dict(pip.hashes)
    return sorted((_best_wheel(p, target_tags, allowed) for p in pylock.get("packages", [])), key=lambda w: w.name)


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
        return {w.name: w.version for w in resolve(pip, python, index.for_definition(pip))}
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


def _best_wheel(package: dict, target_tags: list[tags.Tag], allowed: dict) -> LockedWheel:
    name = canonicalize_name(package["name"])
    archive = package.get("archive")
    if archive and archive.get("path", "").endswith(".whl"):  # a private wheel, used as it is
        path = Path(archive["path"])
        return LockedWheel(name=name, version=package["version"], filename=path.name, url=path.as_uri(), sha256=archive["hashes"]["sha256"], size=path.stat().st_size)
    rank = {tag: index for index, tag in enumerate(target_tags)}
    best, best_rank = None, len(rank)
    for wheel in _hash_checked(name, package.get("wheels", []), allowed.get(name)):
        filename = wheel["url"].rsplit("/", 1)[-1].split("#")[0]
        wheel_rank = min((rank.get(t, len(rank)) for t in parse_wheel_filename(filename)[3]), default=len(rank))
        if wheel_rank < best_rank:
            best, best_rank = (wheel, filename), wheel_rank
    if best is None:
        raise ResolveError("pip", f"{package['name']} {package.get('version', '')} has no wheel for the target (Linux x86_64, this Python)", f"pin a version of {package['name']} that publishes a manylinux or pure-Python wheel", rule="resolution.sdist-only")
    wheel, filename = best
    return LockedWheel(name=name, version=package["version"], filename=filename, url=wheel["url"], sha256=wheel["hashes"]["sha256"], size=int(wheel.get("size") or 0))


def _hash_checked(name: str, wheels: list[dict], hashes: tuple[str, ...] | None) -> list[dict]:
    """Only the files a `--hash=` pin allows, as pip's hash-checking mode does."""
    if not hashes:
        return wheels
    sha256 = {h.split(":", 1)[1] for h in hashes if h.startswith("sha256:")}
    if not sha256:
        raise ResolveError(f"pip.{name}", "only sha384/sha512 hashes are given, and the lock records sha256", "add the sha256 hashes (pip-compile --generate-hashes writes them)", sorted(hashes))
    matching = [w for w in wheels if w.get("hashes", {}).get("sha256") in sha256]
    if not matching:
        found = ", ".join(w.get("hashes", {}).get("sha256", "?")[:16] + "…" for w in wheels)
        raise ResolveError(f"pip.{name}", f"no file of {name} on the index matches its --hash values (the index offers {found})",
                         "regenerate the hashes from the index you build against, or check that the index serves the files you reviewed", rule="resolution.hash-mismatch")
    return matching


def _run_uv(lines: str, constraints: list[str], python: PythonFacts, index: IndexSettings) -> dict:
    from uv import find_uv_bin

    with tempfile.TemporaryDirectory(prefix="mlenv-lock-") as work:
        output = Path(work) / "pylock.toml"
        command = [
            find_uv_bin(), "pip", "compile", "-", "--format", "pylock.toml", "-o", str(output),
            "--python-version", python.version, "--python-platform", uv_platform(python.glibc),
            "--only-binary", ":all:", "--no-config", "--no-header", "--quiet",
            "--cache-dir", str(cache_root() / "uv"),
        ]
        if index.index_url:
            command += ["--index-url", index.index_url]
        for extra in index.extra_index_urls:
            command += ["--extra-index-url", extra]
        for location in index.find_links:
            command += ["--find-links", location]
        if constraints:
            (Path(work) / "constraints.txt").write_text("\n".join(constraints) + "\n")
            command += ["--constraint", str(Path(work) / "constraints.txt")]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_INDEX", "UV_EXTRA_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS"))}
        if index.ca_file:
            env["SSL_CERT_FILE"] = index.ca_file
        done = subprocess.run(command, input=lines, capture_output=True, text=True, env=env, cwd=work, timeout=600)
        if done.returncode != 0:
            raise explain(done.stderr + _versions_hint(done.stderr, index, python.version), "pip", index.secrets(), kind=ResolveError)
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
