"""Parse and validate an environment definition into one typed model.

Sources here: our environment YAML and Python keyword arguments (the same fields). The full set of
sources (Azure ML YAML, conda files, Docker contexts) widens this module later; everything downstream
only ever sees `EnvironmentSpec`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement

from .errors import SpecError

KNOWN_FIELDS = ("name", "description", "image", "pip", "variables")
METADATA_FIELDS = ("name", "description")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IMAGE_REF = re.compile(r"^(oci:.+|[a-z0-9][a-z0-9._:/@-]*)$", re.IGNORECASE)


@dataclass(frozen=True)
class EnvironmentSpec:
    """A validated definition. `pip` holds parsed PEP 508 requirements, in the user's order."""

    image: str
    pip: tuple[Requirement, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    name: str = ""
    description: str = ""


def load_file(path: str | Path) -> EnvironmentSpec:
    """Read an environment YAML file; a `pip:` string names a requirements file beside it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError("file", f"cannot read the environment file: {err.strerror}", "pass the path of an existing YAML file", str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError("file", f"{path} is not valid YAML{where}", "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise SpecError("file", f"{path} must hold a mapping of fields", f"write fields such as {', '.join(KNOWN_FIELDS)}")
    return from_mapping(data, base_dir=path.parent)


def from_mapping(data: dict[str, Any], base_dir: Path | None = None) -> EnvironmentSpec:
    """Validate a mapping (parsed YAML or keyword arguments) into an `EnvironmentSpec`."""
    _reject_unknown_fields(data)
    pip = data.get("pip") or []
    if isinstance(pip, str):
        pip = read_requirements_file(Path(base_dir or ".") / pip)
    return EnvironmentSpec(
        image=_parse_image(data.get("image")),
        pip=_parse_pip(pip),
        variables=_parse_variables(data.get("variables") or {}),
        name=_parse_text("name", data.get("name")),
        description=_parse_text("description", data.get("description")),
    )


def _reject_unknown_fields(data: dict[str, Any]) -> None:
    for key in data:
        if key not in KNOWN_FIELDS:
            close = difflib.get_close_matches(str(key), KNOWN_FIELDS, n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"known fields are {', '.join(KNOWN_FIELDS)}"
            raise SpecError(str(key), "unknown field", fix)


def _parse_image(value: Any) -> str:
    if not value:
        raise SpecError("image", "a base image is required", "set image to a reference such as registry.example/base/python:3.11")
    if not isinstance(value, str) or not _IMAGE_REF.match(value.strip()):
        raise SpecError("image", "not an image reference", "use host/repository:tag, host/repository@sha256:..., or oci:PATH[:tag]", value)
    return value.strip()


def _parse_pip(value: Any) -> tuple[Requirement, ...]:
    if not isinstance(value, (list, tuple)):
        raise SpecError("pip", "must be a list of requirements or the path of a requirements file", "write pip: [numpy==1.26.4, requests] or pip: requirements.txt", value)
    requirements = []
    for index, line in enumerate(value):
        requirements.append(parse_requirement(f"pip[{index}]", line))
    _reject_duplicates(requirements)
    return tuple(requirements)


def parse_requirement(where: str, line: Any) -> Requirement:
    """One PEP 508 requirement; URLs and local paths belong to a later builder feature."""
    if not isinstance(line, str) or not line.strip():
        raise SpecError(where, "a requirement must be a non-empty string", "write it as name, name==version or name>=x,<y", line)
    try:
        requirement = Requirement(line.strip())
    except InvalidRequirement as err:
        raise SpecError(where, f"invalid requirement: {err}", "write it as name, name==version or name>=x,<y (PEP 508)", line) from None
    if requirement.url:
        raise SpecError(where, "direct URL requirements are not supported yet", "publish the wheel to your index and pin it by version", line)
    return requirement


def _reject_duplicates(requirements: list[Requirement]) -> None:
    from packaging.utils import canonicalize_name

    seen: dict[str, str] = {}
    for requirement in requirements:
        key = canonicalize_name(requirement.name)
        if key in seen and not requirement.marker:
            raise SpecError("pip", f"{requirement.name} is listed twice ({seen[key]!r} and {str(requirement)!r})", "merge them into one requirement")
        seen[key] = str(requirement)


def read_requirements_file(path: Path) -> list[str]:
    """Plain requirement lines; options (-r, --index-url…) are rejected until the full parser lands."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise SpecError("pip", f"cannot read requirements file: {err.strerror}", "give a path relative to the environment file", str(path)) from None
    requirements = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise SpecError(f"pip ({path.name}:{number})", "requirements-file options are not supported yet", "list the requirements directly and set the index with PIP_INDEX_URL", line)
        requirements.append(line)
    return requirements


def _parse_variables(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SpecError("variables", "must be a mapping of NAME: value", "write variables: {OMP_NUM_THREADS: \"1\"}", value)
    variables = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _VARIABLE_NAME.match(key):
            raise SpecError(f"variables.{key}", "not a valid environment variable name", "use letters, digits and _ , not starting with a digit", key)
        if key in ("PATH", "VIRTUAL_ENV"):
            raise SpecError(f"variables.{key}", "is set by the builder (the environment's venv comes first on PATH)", "remove it; put extra directories in another variable")
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise SpecError(f"variables.{key}", "values must be strings or numbers", "quote the value", item)
        variables[key] = str(item)
    return variables


def _parse_text(where: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SpecError(where, "must be a string", "quote the value", value)
    return value
