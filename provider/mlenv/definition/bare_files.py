"""Bare files as whole definitions: a conda environment file (`channels:` + `dependencies:`) and a
requirements.txt, on the base image given with `--image` / $MLENV_BASE_IMAGE (in Pulumi, `image=`).

Each means exactly what our YAML means with that file beside it (`image: X` + `conda_file: FILE` or
`pip: FILE`), so both have one hash. Without a base image the rules say which two settings give one.
"""

from __future__ import annotations

from pathlib import Path

from mlenv.definition.conda_file import FIELDS as CONDA_FIELDS, parse_conda_mapping
from mlenv.definition.model import EnvironmentSpec

CONDA_SOURCE = "a conda environment file"
REQUIREMENTS_SOURCE = "a requirements file"


def is_conda_env(data: dict) -> bool:
    """conda's keys only, and the two that make it a conda file (`name`/`variables` alone are ours too)."""
    from mlenv.definition.load import TOP_FIELDS

    ours_only = set(TOP_FIELDS) - set(CONDA_FIELDS)
    return bool({"channels", "dependencies"} & set(data)) and not (ours_only & set(data))


def conda_env_file(path: Path, data: dict) -> EnvironmentSpec:
    """The file's mapping, parsed where conda files are (errors name `conda_file (FILE)`)."""
    from dataclasses import replace

    from mlenv.definition.load import from_mapping

    conda = parse_conda_mapping(data, where=f"conda_file ({path.name})")
    return replace(from_mapping({"conda_file": conda}, base_dir=path.parent, from_file=True), source=CONDA_SOURCE)


def requirements_file(path: Path) -> EnvironmentSpec:
    from dataclasses import replace

    from mlenv.definition.load import from_mapping

    return replace(from_mapping({"pip": path.name}, base_dir=path.parent, from_file=True), source=REQUIREMENTS_SOURCE)
