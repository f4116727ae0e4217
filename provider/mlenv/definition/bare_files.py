"""Bare files as whole definitions: a conda environment file (`channels:` + `dependencies:`) and a
requirements.txt, on the base image given with `--image` / $MLENV_BASE_IMAGE (in Pulumi, `image=`).

Each means exactly what our YAML means with that file beside it (`image: X` + `conda_file: FILE` or
`pip: FILE`), so both have one hash. Without a base image the rules say which two settings give one.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlenv.definition.conda_file import FIELDS as CONDA_FIELDS, parse_conda_mapping
from mlenv.definition.model import EnvironmentSpec
from mlenv.diagnostics.errors import SpecError

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


_CONDA_LIST_LINE = re.compile(r"^[A-Za-z0-9_.-]+=[^=\s]+=[^=\s]+$")  # numpy=1.26.3=py311hdab7c0b_0


def requirements_file(path: Path) -> EnvironmentSpec:
    from dataclasses import replace

    from mlenv.definition.load import from_mapping

    _refuse_conda_package_list(path)

    return replace(from_mapping({"pip": path.name}, base_dir=path.parent, from_file=True), source=REQUIREMENTS_SOURCE)


def _refuse_conda_package_list(path: Path) -> None:
    """`conda list --export` output (name=version=build lines) is no requirements file: say what it is."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if lines and all(_CONDA_LIST_LINE.match(line) for line in lines):
        raise SpecError("file", f"{path.name} is a conda package list (conda list --export, read by conda create --file), "
                        "not an environment file: its builds are for one machine's platform",
                        "write an environment file instead: conda env export --from-history > environment.yml", lines[0])
