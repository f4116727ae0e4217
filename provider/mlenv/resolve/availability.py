"""Why a version cannot be installed on the target, said the way a user can act on: which CPython
versions its wheels cover, which Python it requires, whether only an sdist exists; and which
version pip would pick for a requirement, so a resolver that fell back to an older version or a
pre-release is caught instead of building something else than asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.version import Version

from mlenv.resolve.index_files import IndexFile, files_of
from mlenv.resolve.target import PythonFacts

_CPYTHON = re.compile(r"cp3(\d+)$")


@dataclass(frozen=True)
class Verdict:
    """What one version offers the target: a wheel that installs, an sdist to build, or why neither."""

    wheel: IndexFile | None
    sdist: IndexFile | None
    reason: str  # empty when a wheel installs


def verdict(name: str, version: Version, files: list[IndexFile], python: PythonFacts, target_tags: list[Tag]) -> Verdict:
    own = files_of(files, version)
    accepted = set(target_tags)
    wheels = [f for f in own if not f.is_sdist]
    fitting = [f for f in wheels if f.tags & accepted]
    installable = [f for f in fitting if f.allows_python(python.version)]
    sdist = next((f for f in own if f.is_sdist and f.allows_python(python.version)), None)
    if installable:
        return Verdict(installable[0], sdist, "")
    pin = f"{name}=={version}"
    if fitting:
        reason = f"{pin} requires Python {fitting[0].requires_python}, the base image has {python.version}"
    elif cpython_range(wheels):
        reason = f"{pin} has wheels for CPython {cpython_range(wheels)}, the base image has {python.version}"
    elif wheels:
        platforms = sorted({t.platform for f in wheels for t in f.tags})
        reason = f"{pin} has wheels only for {', '.join(platforms)}, not for Linux x86_64 with glibc {python.glibc}"
    elif sdist:
        reason = f"{pin} publishes no wheel, only a source distribution"
    else:
        reason = f"{pin} has no file for Python {python.version}"
    return Verdict(None, sdist, reason)


def cpython_range(wheels: list[IndexFile]) -> str | None:
    """"3.8–3.10" for wheels tagged cp38, cp39 and cp310 (abi3 wheels: "3.8 and newer"); None for
    wheels that name no CPython version (pure Python, or another interpreter)."""
    minors, abi3 = set(), set()
    for wheel in wheels:
        for tag in wheel.tags:
            match = _CPYTHON.match(tag.interpreter)
            if match:
                (abi3 if tag.abi == "abi3" else minors).add(int(match.group(1)))
    if abi3:
        return f"3.{min(abi3)} and newer (abi3)" if not minors else f"3.{min(minors | abi3)}–3.{max(minors)} and abi3"
    if not minors:
        return None
    low, high = min(minors), max(minors)
    return f"3.{low}" if low == high else f"3.{low}–3.{high}"


def pip_choice(requirement: Requirement, files: list[IndexFile]) -> Version | None:
    """The newest version on the index the requirement allows, pre-releases only when it asks for
    one or nothing else matches: the version pip would try to install."""
    versions = sorted({f.version for f in files}, reverse=True)
    return next(iter(requirement.specifier.filter(versions)), None)
