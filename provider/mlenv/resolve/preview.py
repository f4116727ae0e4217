"""What a definition's unpinned packages would lock to today, asked before anything is built: for the
warnings of `mlenv validate` and `pulumi preview` ("unpinned: it would lock to numpy==1.26.4 today").
pip packages are keyed by their normalized name, conda packages by `conda:NAME`."""

from __future__ import annotations

from mlenv.resolve.index import IndexSettings

PREVIEW_GLIBC = "2.39"  # the base image is not read in preview: assume a current one (Ubuntu 24.04)


def locked_versions(spec, index: IndexSettings) -> dict[str, str]:
    """Both package managers' answers in one mapping; {} for a part whose index or channel cannot say."""
    from mlenv.resolve.pip_lock import preview_versions

    return {**preview_versions(spec, index), **conda_versions(spec)}


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
