"""Typed sections for `Environment(...)`, named after Azure ML's (v1) so definitions port as they are."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Optional, Sequence, Union

import pulumi


@dataclass
class RegistrySection:
    """Where the base image is pulled from. Pass the password as a secret (config.require_secret)."""

    address: Optional[str] = None
    username: Optional[pulumi.Input[str]] = None
    password: Optional[pulumi.Input[str]] = None


@dataclass
class PythonSection:
    version: Optional[str] = None
    user_managed_dependencies: bool = False
    interpreter_path: Optional[str] = None
    conda_dependencies: Optional[Any] = None  # a conda environment.yml path, or its mapping
    pip: Optional[Union[bool, str]] = None  # the venv's pip: None/True the newest, False none, "24.2" that version


@dataclass
class DockerSection:
    base_image: Optional[pulumi.Input[str]] = None
    base_dockerfile: Optional[str] = None  # Dockerfile text or path
    build_context: Optional[str] = None
    dockerfile_path: Optional[str] = None
    base_image_registry: Optional[RegistrySection] = None
    platform: Optional[str] = None
    steps: Optional[Sequence[str]] = None  # Dockerfile instructions run on top of the environment


@dataclass
class SparkSection:
    repositories: Optional[Sequence[str]] = None
    packages: Optional[Sequence[Any]] = None  # "group:artifact:version" or {group, artifact, version}
    precache_packages: bool = False


def section_mapping(section: Any) -> Any:
    """A section (or a plain mapping) as the definition schema's mapping; unset fields left out."""
    if section is None or isinstance(section, Mapping):
        return section
    out = {}
    for item in fields(section):
        value = getattr(section, item.name)
        if value is None or value is False and item.name in ("user_managed_dependencies", "precache_packages"):
            continue
        out[item.name] = section_mapping(value) if isinstance(value, RegistrySection) else value
    return out
