"""Versions of a named environment in one repository, with the repository as the only store.

Registries have no compare-and-swap, so a version is allocated the way Fischer's mutual exclusion
takes a lock, with tags as the shared registers (docs/VERSIONS.md has the argument):

1. list the tags; the definition hash already under the name reuses its version; otherwise the
   slot is one past the highest number anyone tagged or claimed;
2. claim it with a tag of its own (`NAME.vN.claim-HASH16` → the version record) — unless that took
   longer than half the settle time, which abandons the slot;
3. wait the settle time, list again: the version tag's definition, or else the smallest claimed
   hash, wins; the winner writes `NAME.vN`, the others go round again with the next slot.

Versions are immutable: a version tag is written once, by its winner, and never moved.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from mlenv.catalogue import tags as scheme
from mlenv.catalogue.small_manifests import EMPTY, EMPTY_TYPE, put_with_blobs
from mlenv.diagnostics.errors import SpecError, StoreError
from mlenv.digests import canonical_json, digest_of
from mlenv.oci.image import CREATED_AT, DEFINITION_HASH, descriptor
from mlenv.oci.mediatypes import OCI_MANIFEST

SETTLE_ENV = "MLENV_CATALOGUE_SETTLE"
DEFAULT_SETTLE = 2.0  # seconds between claiming a version and reading who won it
ATTEMPTS = 64
RECORD_TYPE = "application/vnd.mlenv.version.v1+json"
NAME_KEY, VERSION_KEY, IMAGE_KEY = "dev.mlenv.name", "dev.mlenv.version", "dev.mlenv.image-digest"


@dataclass(frozen=True)
class Version:
    name: str
    version: str
    digest: str
    definition_hash: str
    created: str = ""
    archived: bool = False
    labels: tuple[str, ...] = ()


@dataclass
class Slots:
    """One name's catalogue tags, by kind."""

    versions: set[str] = field(default_factory=set)
    claims: dict[str, set[str]] = field(default_factory=dict)  # version → claimed hash prefixes
    states: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)

    def next_number(self, definition_hash: str, again: str | None = None) -> str:
        """One past every number tagged or claimed; or `again`, a slot whose claim was too slow,
        while no one else claimed it."""
        if again and again not in self.versions and self.claims.get(again, set()) <= {definition_hash[:16]}:
            return again
        numbers = [int(v) for v in (*self.versions, *self.claims) if v.isdigit()]
        return str(max(numbers, default=0) + 1)


def scan(all_tags: list[str], name: str) -> Slots:
    slots = Slots()
    for tag in all_tags:
        parsed = scheme.parse(tag)
        if parsed is None or parsed.name != name:
            continue
        if parsed.kind == "version":
            slots.versions.add(parsed.version)
        elif parsed.kind == "claim":
            slots.claims.setdefault(parsed.version, set()).add(parsed.hash16)
        elif parsed.kind == "state":
            slots.states.add(parsed.version)
        else:
            slots.labels.add(parsed.label)
    return slots


def settle_seconds() -> float:
    raw = os.environ.get(SETTLE_ENV, "").strip()
    if not raw:
        return DEFAULT_SETTLE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise SpecError(SETTLE_ENV, "is not a number of seconds between 0 and 600", "set it to e.g. 1 (the default) or unset it", raw[:40])
    return value


def tagged(store, name: str, version: str) -> Version | None:
    """The version as its tag and record say (archived and labels not read here)."""
    found = store.get_manifest(scheme.version_tag(name, version))
    if found is None:
        return None
    definition_hash = _annotations(found[0]).get(DEFINITION_HASH, "")
    record = store.get_manifest(scheme.claim_tag(name, version, definition_hash))
    created = _annotations(record[0]).get(CREATED_AT, "") if record else ""
    return Version(name, version, digest_of(found[0]), definition_hash, created)


@dataclass(frozen=True)
class Plan:
    """What `register` would do, read from one listing of the tags (`pulumi preview` shows it)."""

    name: str
    version: str
    held: bool  # the version already holds this definition: nothing new is registered

    def __str__(self) -> str:
        return f"{self.name}:{self.version} already holds this definition" if self.held else f"will register {self.name}:{self.version}"


def plan(store, name: str, definition_hash: str, version: str | None = None) -> Plan:
    """The version `register` would give `definition_hash` now: one listing of the tags (and, only
    when several writers claimed the same version, a read of its tag to see which one won). An
    explicit version another definition holds is the error `register` would raise."""
    slots = scan(store.list_tags(), name)
    ours = definition_hash[:16]
    candidates = [version] if version is not None else sorted(slots.versions, key=scheme.version_key)
    for known in candidates:
        claims = slots.claims.get(known, set())
        if known in slots.versions and (claims == {ours} or (ours in claims and _tagged_hash(store, name, known) == definition_hash)):
            return Plan(name, known, held=True)
    if version is None:
        return Plan(name, slots.next_number(definition_hash), held=False)
    if version in slots.versions or slots.claims.get(version, set()) - {ours}:
        theirs = _tagged_hash(store, name, version) if version in slots.versions else _claimed_hash(store, name, version, min(slots.claims[version] - {ours}))
        if theirs != definition_hash:
            raise _conflict(name, version, definition_hash, theirs)
        return Plan(name, version, held=True)
    return Plan(name, version, held=False)


def _tagged_hash(store, name: str, version: str) -> str:
    return definition_hash_at(store, scheme.version_tag(name, version))


def definition_hash_at(store, reference: str) -> str:
    """The definition hash an image (by tag or digest) is annotated with; "" when none is found."""
    found = store.get_manifest(reference)
    return _annotations(found[0]).get(DEFINITION_HASH, "") if found else ""


def register(store, name: str, *, digest: str, definition_hash: str, version: str | None = None) -> Version:
    """The version of `definition_hash` under `name`: the one it has, or a new one (`version`, or the
    next number). The same name and version with another definition is an error naming both."""
    scheme.check_name(name)
    if version is not None:
        scheme.check_version(version)
    # An anonymous name is its definition's hash: every writer of it writes that one definition, so
    # no other writer can take its version 1 and there is nothing to wait for.
    settle, slow = (0.0 if scheme.is_anonymous(name) else settle_seconds()), None
    for _ in range(ATTEMPTS):
        started = time.monotonic()
        slots = scan(store.list_tags(), name)
        done, slot = _known_or_slot(store, name, slots, definition_hash, version, again=slow)
        if done:
            return done
        _claim(store, name, slot, definition_hash=definition_hash, digest=digest)
        if settle and time.monotonic() - started > settle / 2:
            slow = None if version else slot  # too slow for the others to be sure to see it: claim again, or the next slot
            continue
        time.sleep(settle)
        won = _decide(store, name, slot, definition_hash, version)
        if won:
            return won
    raise StoreError("catalogue", f"{store.name}: no version of {name} could be taken in {ATTEMPTS} rounds (other writers kept winning, or the registry is slower than {SETTLE_ENV}/2)",
                     f"run it again, or raise {SETTLE_ENV} (now {settle}s)")


def _known_or_slot(store, name: str, slots: Slots, definition_hash: str, version: str | None, *, again: str | None = None) -> tuple[Version | None, str]:
    """The version already registered for this request, or the slot to claim (a slot someone else
    claimed is never claimed: that is what keeps two winners apart)."""
    if version is not None:
        existing = tagged(store, name, version) if version in slots.versions else None
        if existing:
            return _same_or_conflict(existing, definition_hash), version
        others = slots.claims.get(version, set()) - {definition_hash[:16]}
        if others:
            raise _conflict(name, version, definition_hash, _claimed_hash(store, name, version, min(others)))
        return None, version
    for known in sorted(slots.versions, key=scheme.version_key):
        if definition_hash[:16] in slots.claims.get(known, ()):
            existing = tagged(store, name, known)
            if existing and existing.definition_hash == definition_hash:
                return existing, known
    return None, slots.next_number(definition_hash, again)


def _decide(store, name: str, slot: str, definition_hash: str, version: str | None) -> Version | None:
    """After the settle time: ours when the slot's tag holds our definition, or when it is untagged
    and ours is the smallest claim; a lost explicit version is the conflict error."""
    slots = scan(store.list_tags(), name)
    existing = tagged(store, name, slot) if slot in slots.versions else None
    if existing is None and min(slots.claims.get(slot, {definition_hash[:16]})) == definition_hash[:16]:
        record = store.get_manifest(scheme.claim_tag(name, slot, definition_hash))
        image = store.get_manifest(_annotations(record[0])[IMAGE_KEY]) if record else None
        if image is None:
            raise StoreError("catalogue", f"{store.name}: the image of {name}:{slot} vanished while it was being registered",
                             "build it again: the build pushes the image before registering it")
        store.put_manifest(scheme.version_tag(name, slot), image[0], image[1] or OCI_MANIFEST)
        return tagged(store, name, slot)
    if existing is not None and existing.definition_hash == definition_hash:
        return existing
    if version is not None:
        other = existing.definition_hash if existing else _claimed_hash(store, name, slot, min(slots.claims[slot]))
        raise _conflict(name, slot, definition_hash, other)
    return None


def _claim(store, name: str, slot: str, *, definition_hash: str, digest: str) -> None:
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    annotations = {NAME_KEY: name, VERSION_KEY: slot, DEFINITION_HASH: definition_hash, IMAGE_KEY: digest, CREATED_AT: created}
    put_marker(store, scheme.claim_tag(name, slot, definition_hash), RECORD_TYPE, annotations)


def put_marker(store, tag: str, artifact_type: str, annotations: dict[str, str]) -> None:
    """A small artifact (empty config, no layers) carrying `annotations`, under `tag`."""
    manifest = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                               "config": descriptor(EMPTY_TYPE, EMPTY), "layers": [], "annotations": annotations}, ensure_ascii=True)
    put_with_blobs(store, (digest_of(manifest), tag), manifest, (EMPTY,))


def _same_or_conflict(existing: Version, definition_hash: str) -> Version:
    if existing.definition_hash != definition_hash:
        raise _conflict(existing.name, existing.version, definition_hash, existing.definition_hash)
    return existing


def _claimed_hash(store, name: str, slot: str, hash16: str) -> str:
    record = store.get_manifest(f"{scheme.version_tag(name, slot)}.claim-{hash16}")
    return _annotations(record[0]).get(DEFINITION_HASH, hash16) if record else hash16


def _conflict(name: str, version: str, ours: str, theirs: str) -> SpecError:
    return SpecError("version", f"{name}:{version} already holds definition {theirs}; this definition is {ours}, and versions are immutable",
                     "leave version out to get the next number, or give a new version", version)


def _annotations(manifest: bytes) -> dict:
    try:
        annotations = json.loads(manifest).get("annotations") or {}
    except (ValueError, AttributeError):
        return {}
    return annotations if isinstance(annotations, dict) else {}


def with_labels(found: Version, labels: tuple[str, ...], archived: bool) -> Version:
    return replace(found, labels=labels, archived=archived)
