"""What a definition's unpinned packages would lock to today, asked before anything is built: for the
warnings of `mlenv validate` and `pulumi preview` ("unpinned: it would lock to numpy==1.26.4 today").
pip packages are keyed by their normalized name, conda packages by `conda:NAME`.

The questions are asked once per run (answers are kept for the process: `mlenv validate a.yml b.yml`
that share packages asks once) and in parallel: pip's and conda's together, and when the joint pip
resolution cannot answer (one package without a wheel for this Python), each unpinned package's
newest version is asked of the index on its own, several at a time, so one bad package no longer
leaves the others without an answer."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

from mlenv.resolve.index import IndexSettings

PREVIEW_GLIBC = "2.39"  # the base image is not read in preview: assume a current one (Ubuntu 24.04)
LOOKUPS_AT_ONCE = 8

_answers: dict[str, dict[str, str]] = {}
_listings: dict[tuple[str, str], list] = {}
_lock = threading.Lock()


def locked_versions(spec, index: IndexSettings) -> dict[str, str]:
    """Both package managers' answers in one mapping; {} for a part whose index or channel cannot say."""
    key = _key(spec, index)
    with _lock:
        if key in _answers:
            return dict(_answers[key])
    with ThreadPoolExecutor(max_workers=2) as pool:
        pip, conda = pool.submit(pip_versions, spec, index), pool.submit(conda_versions, spec)
        answer = {**pip.result(), **conda.result()}
    with _lock:
        _answers[key] = answer
    return dict(answer)


def _key(spec, index: IndexSettings) -> str:
    """What the answer depends on: the hashed definition (packages, Python, channels) and the index."""
    from mlenv.digests import canonical_json
    from mlenv.identity.canonical import canonical_definition

    return hashlib.sha256(canonical_json([canonical_definition(spec), repr(index)])).hexdigest()


def pip_versions(spec, index: IndexSettings) -> dict[str, str]:
    """The joint resolution's answer; when it has none, each unpinned package on its own."""
    from mlenv.resolve.pip_lock import preview_versions

    return preview_versions(spec, index) or _newest_each(spec, index)


def _newest_each(spec, index: IndexSettings) -> dict[str, str]:
    """name → the newest version with a wheel for the definition's Python that each unpinned
    requirement allows, one index listing each, in parallel."""
    from packaging.utils import canonicalize_name

    from mlenv.definition.requirement_syntax import has_exact_pin

    wanted = [r for r in spec.pip.requirements if not has_exact_pin(r) and not r.url]
    if not wanted:
        return {}
    index = index.for_definition(spec.pip)
    with ThreadPoolExecutor(max_workers=LOOKUPS_AT_ONCE) as pool:
        listings = list(pool.map(lambda r: _listing(index, r.name), wanted))
    installable = _installable(spec)
    choices = {canonicalize_name(r.name): installable(r, files) for r, files in zip(wanted, listings)}
    return {name: str(version) for name, version in choices.items() if version is not None}


def _installable(spec):
    """requirement, files → the newest allowed version with a wheel for the target (as in the lock)."""
    import sys

    from mlenv.resolve.availability import verdict
    from mlenv.resolve.pip_lock import PythonFacts, target_tag_order

    version = spec.python.version or f"{sys.version_info.major}.{sys.version_info.minor}"
    python = PythonFacts(".".join(version.split(".")[:2]), "", "2.28")
    tags = list(target_tag_order(python))

    def choose(requirement, files):
        versions = sorted({f.version for f in files}, reverse=True)
        return next((v for v in requirement.specifier.filter(versions) if verdict(requirement.name, v, files, python, tags).wheel), None)
    return choose


def _listing(index: IndexSettings, name: str) -> list:
    """The index's files of one project, asked once per run; [] when the index cannot say."""
    import httpx

    from mlenv.resolve.index_files import project_files

    key = (repr(index), name)
    if key not in _listings:
        try:
            _listings[key] = project_files(index, name)
        except (httpx.HTTPError, OSError, ValueError):
            _listings[key] = []
    return _listings[key]


def conda_versions(spec) -> dict[str, str]:
    """A solve for a generic target, only when some conda package is unpinned."""
    from mlenv.definition.rules import unpinned_conda_names
    from mlenv.diagnostics.errors import BuildError

    if not unpinned_conda_names(spec):
        return {}
    from mlenv.resolve.conda_lock import solve
    from mlenv.resolve.conda_target import CondaTarget

    try:
        lock, _ = solve(spec.conda, CondaTarget.for_image(PREVIEW_GLIBC), python_version=spec.python.version)
    except BuildError:
        return {}
    return {f"conda:{record.name}": record.version for record in lock.records}
