"""The catalogue's tag scheme (docs/VERSIONS.md): every catalogue tag is `NAME.` followed by what it
is, and holds a dot; the hash tags (`mlenv-<hex>`) and the referrers fallback tags (`sha256-<hex>`)
never do, so the three can never collide. Names hold no dot, so a tag splits at its first one.

  NAME.vVERSION                   → the image (pullable: `docker pull REPO:train.v2`)
  NAME.vVERSION.claim-HASH16      → the version record a writer claimed the version with
  NAME.vVERSION.state             → archived or not (absent: not archived)
  NAME.LABEL                      → the image the label points at (`latest` is kept by mlenv), or a
                                    marker once the label is removed

A definition without a name is registered under `anon-<12 hex of its definition hash>`: a name
reserved for that, left out of `mlenv list`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlenv.diagnostics.errors import SpecError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
LABEL = re.compile(r"[a-z][a-z0-9_-]{0,31}")
VERSION = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9}){0,3}")
LATEST = "latest"
ANONYMOUS = re.compile(r"anon-[0-9a-f]{12}")
_REST = re.compile(r"v(?P<version>[0-9]{1,9}(?:\.[0-9]{1,9}){0,3})(?:\.(?P<kind>state|claim-(?P<hash>[0-9a-f]{16})))?")


@dataclass(frozen=True)
class CatalogueTag:
    name: str
    kind: str  # "version", "claim", "state" or "label"
    version: str = ""
    label: str = ""
    hash16: str = ""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SpecError("name", "cannot be a catalogue name: it must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit",
                        "rename the environment (e.g. train-gpu), or give it no name to register it under a name derived from its hash", name)
    return name


def check_given_name(name: str) -> str:
    """A name a definition (or `mlenv build --name`) gives: a catalogue name, and not one of the
    names reserved for environments without a name."""
    check_name(name)
    if is_anonymous(name):
        raise SpecError("name", "is reserved: anon-<12 hex digits> names the environments that have no name of their own",
                        "choose another name (e.g. train-gpu), or leave the name out to have this one derived from the hash", name)
    return name


def anonymous_name(definition_hash: str) -> str:
    """Where a definition without a name is registered (Azure ML registers such environments too,
    as anonymous ones: under one name with a hash as version; here versions are numbers, so the
    hash goes into the name and the version is 1)."""
    return f"anon-{definition_hash[:12]}"


def is_anonymous(name: str) -> bool:
    return bool(ANONYMOUS.fullmatch(name))


def check_label(label: str, *, moving_latest: bool = False) -> str:
    if not isinstance(label, str) or not LABEL.fullmatch(label) or re.fullmatch(r"v[0-9].*", label):
        raise SpecError("label", "is not a label: 1 to 32 lowercase letters, digits, '_' or '-', starting with a letter, and not v<digits> (a version)",
                        "use a label such as prod or staging", label)
    if label == LATEST and not moving_latest:
        raise SpecError("label", "latest is kept by mlenv: it always names the highest version that is not archived",
                        "use another label (prod, staging), or archive a version to move latest off it", label)
    return label


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise SpecError("version", "is not a catalogue version: numbers separated by dots (1, 2, 2024.1)",
                        "give a version such as 3, or none to get the next number", version)
    return version


def version_tag(name: str, version: str) -> str:
    return f"{name}.v{version}"


def claim_tag(name: str, version: str, definition_hash: str) -> str:
    return f"{name}.v{version}.claim-{definition_hash[:16]}"


def state_tag(name: str, version: str) -> str:
    return f"{name}.v{version}.state"


def label_tag(name: str, label: str) -> str:
    return f"{name}.{label}"


def fallback_tag(digest: str) -> str:
    """The referrers tag schema of the OCI distribution spec: `sha256:abc…` → `sha256-abc…`."""
    return digest.replace(":", "-", 1)


def parse(tag: str) -> CatalogueTag | None:
    """A catalogue tag's parts; None for any other tag (hash tags, fallback tags, a user's own)."""
    name, dot, rest = tag.partition(".")
    if not dot or not NAME.fullmatch(name):
        return None
    found = _REST.fullmatch(rest)
    if found:
        kind = "claim" if found["hash"] else found["kind"] or "version"
        return CatalogueTag(name, kind, version=found["version"], hash16=found["hash"] or "")
    if LABEL.fullmatch(rest):
        return CatalogueTag(name, "label", label=rest)
    return None


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
