"""Normalize a spec so that definitions meaning the same thing serialize to the same JSON.

Rules (documented with their reasons in docs/HASHING.md): PEP 503 names, sorted extras, canonical
specifier versions, packages sorted (pip resolves a set, order carries no meaning), variables sorted,
metadata (name, description) left out.
"""

from __future__ import annotations

import json

from packaging.requirements import Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import canonicalize_name, canonicalize_version

from .spec import EnvironmentSpec

TARGET_PLATFORM = "linux/amd64"


def canonical_requirement(requirement: Requirement) -> str:
    """`NumPy [B,a] >= 1.26.04` → `numpy[a,b]>=1.26.4`."""
    text = canonicalize_name(requirement.name)
    if requirement.extras:
        text += "[" + ",".join(sorted(canonicalize_name(e) for e in requirement.extras)) + "]"
    text += str(SpecifierSet(",".join(_canonical_specifier(s) for s in requirement.specifier)))
    if requirement.marker:
        text += f"; {requirement.marker}"
    return text


def _canonical_specifier(specifier: Specifier) -> str:
    if specifier.version.endswith(".*") or specifier.operator == "===":
        return str(specifier)
    return specifier.operator + canonicalize_version(specifier.version, strip_trailing_zero=False)


def canonical_definition(spec: EnvironmentSpec) -> dict:
    """The hashed part of a definition, as plain JSON-ready data."""
    return {
        "image": spec.image,
        "pip": sorted(canonical_requirement(r) for r in spec.pip),
        "variables": dict(sorted(spec.variables.items())),
        "platform": TARGET_PLATFORM,
    }


def canonical_json(data: object) -> bytes:
    """Byte-stable JSON: sorted keys, no whitespace, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
