"""Curated environments: `mlenv:<name>@latest` or `mlenv:<name>:<version>`.

The reference syntax and its errors are fixed here; the curated definitions themselves ship later,
so the catalogue is empty and every well-formed reference is reported as not (yet) available.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from mlenv.diagnostics.errors import SpecError

NAMESPACE = "mlenv:"
_REFERENCE = re.compile(r"^mlenv:(?P<name>[a-z0-9][a-z0-9._-]*)(?:@(?P<label>[a-z]+)|:(?P<version>[0-9][0-9A-Za-z.+-]*))\Z")
LABELS = ("latest",)
CATALOGUE: dict[str, dict[str, dict]] = {}  # name → version → definition mapping
SYNTAX = "mlenv:<name>@latest or mlenv:<name>:<version>, e.g. mlenv:sklearn-1.5@latest"


@dataclass(frozen=True)
class CuratedRef:
    name: str
    version: str | None  # None: the label decides
    label: str | None


def parse_curated(value: Any) -> CuratedRef:
    if not isinstance(value, str) or not value.startswith(NAMESPACE):
        raise SpecError("curated", "not a curated environment reference", f"write {SYNTAX}", value)
    found = _REFERENCE.match(value)
    if not found:
        raise SpecError("curated", "malformed curated environment reference", f"write {SYNTAX} (lowercase name)", value)
    if found["label"] and found["label"] not in LABELS:
        raise SpecError("curated", f"unknown label '@{found['label']}'", f"use @latest, or pin a version with mlenv:{found['name']}:<version>", value)
    return CuratedRef(found["name"], found["version"], found["label"])


def resolve_curated(value: Any) -> dict:
    """The definition mapping a curated reference stands for."""
    ref = parse_curated(value)
    if not CATALOGUE:
        raise SpecError("curated", "curated environments are not shipped yet: this release has none, so the reference names nothing to build",
                        "define the environment yourself: image plus pip, conda_file or a requirements file", value)
    versions = CATALOGUE.get(ref.name)
    if versions is None:
        close = difflib.get_close_matches(ref.name, list(CATALOGUE), n=1)
        known = f"did you mean mlenv:{close[0]}?" if close else f"use one of {', '.join(sorted(CATALOGUE))}"
        raise SpecError("curated", f"no curated environment named '{ref.name}'", known, value)
    version = ref.version or max(versions, key=_version_key)
    if version not in versions:
        raise SpecError("curated", f"mlenv:{ref.name} has no version {version}", f"use one of {', '.join(sorted(versions, key=_version_key))} or @latest", value)
    return versions[version]


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+-]", version))
