"""Curated environments: `mlenv:<name>@latest` or `mlenv:<name>:<version>`.

The catalogue ships in the package as data (`curated_envs/`): `catalogue.yml` says what each name is
(a summary, the packages its image must import, the Azure ML curated environments it stands in for),
and `<name>/<version>.yml` is each version, a definition in our own YAML, every package pinned. A
version never changes once shipped; a new one is a new file, and `@latest` is the highest number.

A reference resolves when the definition is loaded: the spec is the version's own definition, with
`curated` set to the version it resolved to (`mlenv:sklearn-1.5:1`), so `@latest` and the version it
names hash alike and build one image, and a new version shipped under `@latest` is a new hash (a
rebuild that `pulumi preview` shows). Metadata (name, description, tags…) may be given beside the
reference; anything that changes the image may not.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlenv.definition.model import METADATA_FIELDS
from mlenv.diagnostics.errors import SpecError

NAMESPACE = "mlenv:"
AZUREML_NAMESPACE = "azureml:"
FOLDER = Path(__file__).with_name("curated_envs")
INDEX = "catalogue.yml"
SITE_ENV = "MLENV_CURATED_DIR"
_REFERENCE = re.compile(r"^mlenv:(?P<name>[a-z0-9][a-z0-9._-]*)(?:@(?P<label>[a-z]+)|:(?P<version>[0-9]+))\Z")
_AZUREML_NAME = re.compile(r"^azureml:(?:/*registries/[^/]+/environments/)?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")
_AZUREML_PREFIX = re.compile(r"^(azureml|microsoft)-", re.IGNORECASE)
LABELS = ("latest",)
SYNTAX = "mlenv:<name>@latest or mlenv:<name>:<version>, e.g. mlenv:sklearn-1.5@latest"
ALLOWED_BESIDE = (*METADATA_FIELDS, "curated", "$schema")


@dataclass(frozen=True)
class CuratedRef:
    name: str
    version: str | None  # None: the label decides
    label: str | None


@dataclass(frozen=True)
class Entry:
    """One curated name: what it is, the versions shipped, and the catalogue folder holding them."""

    name: str
    summary: str
    imports: tuple[str, ...]
    azureml: tuple[str, ...]
    versions: tuple[str, ...]  # ascending
    folder: Path

    @property
    def latest(self) -> str:
        return self.versions[-1]

    def path(self, version: str) -> Path:
        return self.folder / self.name / f"{version}.yml"


# --- the catalogue ---------------------------------------------------------------------------------

def folders() -> tuple[Path, ...]:
    """The shipped catalogue, then a site's own ($MLENV_CURATED_DIR: folders in the same layout,
    separated by the path separator), whose names join the shipped ones."""
    site = os.environ.get(SITE_ENV, "")
    return (FOLDER, *(Path(p) for p in site.split(os.pathsep) if p))


def names() -> tuple[str, ...]:
    """The curated names, from the folders alone (cheap: the reserved-name rule asks on every load)."""
    return tuple(sorted({name for folder in folders() for name in _names_in(folder)}))


def _names_in(folder: Path) -> tuple[str, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and any(q.stem.isdigit() for q in p.glob("*.yml"))))


def catalogue() -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for folder in folders():
        for name, found in _catalogue(folder, _stamp(folder)).items():
            if name in entries:
                raise SpecError(SITE_ENV, f"{folder} defines mlenv:{name}, which {entries[name].folder} already has",
                                "rename it in your own catalogue: a curated name means one thing", str(folder))
            entries[name] = found
    return dict(sorted(entries.items()))


def _stamp(folder: Path) -> tuple[int, ...]:
    """When the folder and its name folders last changed: a long-running provider sees a version
    file added to a site catalogue, and reads nothing again until then."""
    if not folder.is_dir():
        return ()
    return tuple(p.stat().st_mtime_ns for p in (folder, *sorted(folder.iterdir())) if p.is_dir() or p.name == INDEX)


@lru_cache(maxsize=8)
def _catalogue(folder: Path, stamp: tuple[int, ...] = ()) -> dict[str, Entry]:
    from mlenv.definition.bounds import safe_load

    index = safe_load((folder / INDEX).read_text(encoding="utf-8")) if (folder / INDEX).is_file() else {}
    entries = {}
    for name in _names_in(folder):
        about = (index or {}).get(name) or {}
        versions = sorted((p.stem for p in (folder / name).glob("*.yml") if p.stem.isdigit()), key=int)
        entries[name] = Entry(name, str(about.get("summary", "")), tuple(about.get("imports") or ()),
                              tuple(about.get("azureml") or ()), tuple(versions), folder)
    return entries


def entry(name: str, value: Any) -> Entry:
    found = catalogue().get(name)
    if found is not None:
        return found
    known = sorted(catalogue())
    close = difflib.get_close_matches(name, known, n=1)
    fix = f"did you mean mlenv:{close[0]}@latest?" if close else f"use one of {', '.join(known)} (mlenv curated list)"
    raise SpecError("curated", f"no curated environment named '{name}'", fix, value)


# --- references ------------------------------------------------------------------------------------

def parse_curated(value: Any) -> CuratedRef:
    if isinstance(value, str) and value.startswith(AZUREML_NAMESPACE):
        raise azureml_reference(value)
    if not isinstance(value, str) or not value.startswith(NAMESPACE):
        raise SpecError("curated", "not a curated environment reference", f"write {SYNTAX}", value)
    found = _REFERENCE.match(value)
    if not found:
        raise SpecError("curated", "malformed curated environment reference", f"write {SYNTAX} (lowercase name, whole-number version)", value)
    if found["label"] and found["label"] not in LABELS:
        raise SpecError("curated", f"unknown label '@{found['label']}'", f"use @latest, or pin a version with mlenv:{found['name']}:<version>", value)
    return CuratedRef(found["name"], found["version"], found["label"])


def resolve(value: Any) -> tuple[Entry, str]:
    """The curated name and the version a reference stands for."""
    ref = parse_curated(value)
    known = entry(ref.name, value)
    version = ref.version or known.latest
    if version not in known.versions:
        raise SpecError("curated", f"mlenv:{ref.name} has no version {version}", f"use one of {', '.join(known.versions)} or @latest", value)
    return known, version


def curated_spec(data: dict):
    """The EnvironmentSpec a mapping with `curated:` stands for: the version's definition, with the
    metadata given beside the reference."""
    from mlenv.definition import confine, fields
    from mlenv.definition.sources import load_source

    value = data["curated"]
    besides = [key for key in data if key not in ALLOWED_BESIDE and data[key] not in (None, [], {}, "")]
    if besides:
        raise SpecError("curated", f"a curated environment cannot be combined with {', '.join(besides)}",
                        "use the curated reference alone (metadata such as name and tags may stay), or copy its definition "
                        "(mlenv curated show) and change that", value)
    known, version = resolve(value)
    with confine.separate_root():  # shipped (or site) data, read under its own folder's root
        spec = load_source(known.path(version))
    return replace(spec, curated=f"{NAMESPACE}{known.name}:{version}", from_file=False, origin="", **fields.metadata(data))


# --- Azure ML's curated environments -----------------------------------------------------------------

def counterpart(azureml_name: str) -> str | None:
    """Our curated environment for an Azure ML curated one, by its listed names, else by its family
    (the first word of the name: sklearn, pytorch, tensorflow, lightgbm, mlflow…)."""
    lowered = _AZUREML_PREFIX.sub("", azureml_name.lower())
    entries = catalogue().values()
    for known in entries:
        if lowered in {_AZUREML_PREFIX.sub("", n.lower()) for n in known.azureml}:
            return known.name
    family = re.split(r"[-_.]", lowered, maxsplit=1)[0]
    for known in entries:
        if family and any(re.split(r"[-_.]", _AZUREML_PREFIX.sub("", n.lower()), maxsplit=1)[0] == family for n in known.azureml):
            return known.name
    return None


def counterpart_hint(azureml_name: str) -> str:
    found = counterpart(azureml_name)
    return f"its counterpart here is mlenv:{found}@latest" if found else "mlenv curated list shows the curated environments here"


def azureml_reference(value: str) -> SpecError:
    """`azureml:AzureML-sklearn-1.0-…@latest` or `azureml://registries/azureml/environments/…`: Azure ML's
    curated environments live in Azure; ours are built into the user's registry."""
    found = _AZUREML_NAME.match(value)
    hint = counterpart_hint(found["name"]) if found else "mlenv curated list shows the curated environments here"
    return SpecError("curated", "an Azure ML environment reference: it names an asset in an Azure ML workspace or registry, which is not read here",
                     f"{hint}; or define the environment yourself", value)


def is_reference(text: str) -> bool:
    """A definition argument that is a curated reference rather than a path."""
    return text.startswith((NAMESPACE, AZUREML_NAMESPACE))
