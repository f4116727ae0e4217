"""When wheels alone do not give what pip would install: the source distributions to build, and the
explanations when nothing can be built.

uv resolves with wheels only, so it never builds anything on its own. Two things then send us to
the index's listing (index_files.py) for the package in question:

- uv failed because a version has no usable wheel: its sdist is built into a pure wheel (if it is
  one) and offered to uv through a local --find-links folder; otherwise the failure says exactly
  why (wheels only for older CPythons, an sdist that needs a compiler);
- uv succeeded, but a requirement locked below the version pip would pick for it (the newest the
  requirement allows, pre-releases only when asked): uv fell back to what has a wheel. That
  version's sdist is built if it can be; otherwise the build fails, naming the version pip would
  install and why it cannot be installed here, instead of building something else than asked for.

Each explanation is a log line the diagnostics catalogue matches, so a saved log diagnoses again.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.diagnostics.diagnose import explain
from mlenv.diagnostics.errors import ResolveError
from mlenv.definition.requirement_syntax import has_exact_pin
from mlenv.resolve.availability import pip_choice, verdict
from mlenv.resolve.index import IndexSettings
from mlenv.resolve.index_files import IndexFile, project_files
from mlenv.resolve.sdist_build import SourceBuildError, wheel_from_sdist
from mlenv.resolve.target import PythonFacts

_NO_WHEEL = re.compile(r"([A-Za-z0-9._-]+)==(\S+?),? has no (?:usable wheels|wheels with a matching)")


@dataclass(frozen=True)
class BuiltSdist:
    """An index sdist built into a wheel: offered to uv as a local file, locked with its origin."""

    path: Path
    source: str  # the sdist's file name#sha256 (not its URL: which mirror served it is no part of the lock)


@dataclass(frozen=True)
class Target:
    python: PythonFacts
    tags: list[Tag]
    index: IndexSettings
    build: bool  # False: explain only (preview), never build


def after_failure(stderr: str, target: Target) -> list[BuiltSdist]:
    """The sdists that let uv's failed resolution succeed; raises the explained failure when none can be built."""
    built, lines, outputs = [], [], []
    for name, version in dict.fromkeys(_NO_WHEEL.findall(stderr)):
        files = project_files(target.index, name)
        found = verdict(name, Version(version), files, target.python, target.tags)
        if found.sdist and target.build:
            try:
                built.append(_build(f"{canonicalize_name(name)}=={version}", found.sdist, target.index))
                continue
            except SourceBuildError as err:
                lines.append(err.line)
                outputs.append(err.output)
        if found.reason and not found.reason.endswith("only a source distribution"):
            lines.append(found.reason)
    if built and not lines:
        return built
    raise explain("\n".join([stderr, *lines, *outputs]), "pip", target.index.secrets(), kind=ResolveError)


def after_lock(requirements: tuple[Requirement, ...], locked: dict[str, str], target: Target, built: set[str]) -> list[BuiltSdist]:
    """Sdists of the versions pip would pick where uv locked an older version; [] when nothing fell back."""
    candidates = [r for r in requirements if not has_exact_pin(r) and canonicalize_name(r.name) in locked]
    with ThreadPoolExecutor(max_workers=4) as pool:
        listings = list(pool.map(lambda r: project_files(target.index, r.name), candidates))
    more = []
    for requirement, files in zip(candidates, listings):
        name = canonicalize_name(requirement.name)
        fix = _fell_back(requirement, Version(locked[name]), files, target, built)
        if fix is not None:
            more.append(fix)
    return more


def _fell_back(requirement: Requirement, locked: Version, files: list[IndexFile], target: Target, built: set[str]) -> BuiltSdist | None:
    name = canonicalize_name(requirement.name)
    wanted = pip_choice(requirement, files)
    if wanted is None or wanted <= locked:
        return None
    found = verdict(name, wanted, files, target.python, target.tags)
    if found.wheel or (found.sdist and _source(found.sdist) in built):  # installable: something else held it back
        return None
    reason, output = found.reason, ""
    if found.sdist and target.build:
        try:
            return _build(f"{name}=={wanted}", found.sdist, target.index)
        except SourceBuildError as err:
            reason, output = err.line, err.output
    pre = ", a pre-release" if locked.is_prerelease and not wanted.is_prerelease else ""
    line = f"{name} would resolve to {locked}{pre}, but pip would pick {name}=={wanted}: {reason}"
    raise explain(f"{line}\n{output}", "pip", target.index.secrets(), kind=ResolveError)


def _build(pin: str, sdist: IndexFile, index: IndexSettings) -> BuiltSdist:
    from mlenv.resolve.wheel_download import fetch_file

    if not sdist.sha256:
        raise SourceBuildError(f"building {pin} from its source distribution failed: the index gives no sha256 for {sdist.filename}")
    path = fetch_file(sdist.url, sdist.filename, sdist.sha256, index)
    return BuiltSdist(wheel_from_sdist(pin, path, sdist.sha256, index), _source(sdist))


def _source(sdist: IndexFile) -> str:
    return f"{sdist.filename}#sha256={sdist.sha256}"
