"""The catalogue as users see it: names, versions with their labels and archived state, a label or
version resolved, labels moved or removed, versions archived and restored. Nothing here deletes
anything: archiving writes a state tag, restoring writes it again, a label is a tag that moves, and
a removed label's tag points at a small marker instead of an image (Distribution cannot delete a
tag without deleting its image)."""

from __future__ import annotations

import json

from mlenv.catalogue import tags as scheme
from mlenv.catalogue.versions import Slots, Version, put_marker, scan, tagged, with_labels
from mlenv.diagnostics.errors import SpecError
from mlenv.digests import digest_of
from mlenv.oci.mediatypes import OCI_MANIFEST

STATE_TYPE = "application/vnd.mlenv.state.v1+json"
ARCHIVED_KEY = "dev.mlenv.archived"
REMOVED_TYPE = "application/vnd.mlenv.label-removed.v1+json"
REMOVED_KEY = "dev.mlenv.removed-label"


def names(store) -> list[str]:
    """The names with at least one version that is not archived; not the anonymous ones (the
    environments without a name, readable by their anon-… name)."""
    all_tags = store.list_tags()
    found = sorted({parsed.name for parsed in map(scheme.parse, all_tags) if parsed and parsed.kind == "version" and not scheme.is_anonymous(parsed.name)})
    return [name for name in found if any(not v.archived for v in versions(store, name, all_tags))]


def versions(store, name: str, all_tags: list[str] | None = None) -> list[Version]:
    """Every version of `name`, oldest first, archived ones included (marked), with its labels;
    `latest` is the highest version that is not archived."""
    slots = scan(store.list_tags() if all_tags is None else all_tags, name)
    found = [v for v in (tagged(store, name, number) for number in sorted(slots.versions, key=scheme.version_key)) if v]
    archived = {v.version for v in found if v.version in slots.states and _is_archived(store, name, v.version)}
    by_label = _labels(store, name, slots, found)
    latest = next((v.version for v in reversed(found) if v.version not in archived), None)
    return [with_labels(v, tuple(sorted(by_label.get(v.version, ()))) + ((scheme.LATEST,) if v.version == latest else ()), v.version in archived)
            for v in found]


def _labels(store, name: str, slots: Slots, found: list[Version]) -> dict[str, list[str]]:
    """label → the highest version holding the image it points at (a label tag names an image, so
    `docker pull REPO:NAME.prod` works)."""
    by_version: dict[str, list[str]] = {}
    for label in sorted(slots.labels - {scheme.LATEST}):
        manifest = store.get_manifest(scheme.label_tag(name, label))
        holders = [v for v in found if manifest and v.digest == digest_of(manifest[0])]
        if holders:
            by_version.setdefault(holders[-1].version, []).append(label)
    return by_version


def _is_archived(store, name: str, version: str) -> bool:
    found = store.get_manifest(scheme.state_tag(name, version))
    try:
        return bool(found) and json.loads(found[0]).get("annotations", {}).get(ARCHIVED_KEY) == "true"
    except (ValueError, AttributeError):
        return False


def resolve(store, name: str, *, version: str | None = None, label: str | None = None) -> Version:
    """`NAME:VERSION` (archived versions too: they stay pullable) or `NAME@LABEL`."""
    scheme.check_name(name)
    known = versions(store, name)
    if not known:
        raise SpecError("name", f"{store.name} has no versions of {name}", f"build a definition named {name} into it first (mlenv build FILE --registry ...)", name)
    if version is not None:
        chosen = [v for v in known if v.version == version]
        fix = f"use one of {', '.join(v.version for v in known)}"
        where, value = "version", version
    else:
        chosen = [v for v in known if (label or scheme.LATEST) in v.labels]
        fix = f"use one of {', '.join(sorted({x for v in known for x in v.labels})) or 'no label yet: set one with mlenv label'}"
        where, value = "label", label or scheme.LATEST
    if not chosen:
        raise SpecError(where, f"{name} has no {where} {value} in {store.name}", fix, value)
    return chosen[-1]


def set_label(store, name: str, version: str, label: str) -> Version:
    """Point `label` at a version (moving it from wherever it was)."""
    scheme.check_label(label)
    chosen = resolve(store, name, version=version)
    _point(store, name, (label,), chosen.digest)
    return resolve(store, name, version=version)


def _point(store, name: str, labels: tuple[str, ...], digest: str) -> None:
    image = store.get_manifest(digest) if labels else None
    for label in labels if image else ():
        store.put_manifest(scheme.label_tag(name, label), image[0], image[1] or OCI_MANIFEST)


def registered(store, name: str, version: str, labels: tuple[str, ...] = ()) -> Version:
    """After a build registered `version`: `labels` pointed at it, `NAME.latest` moved, and the
    version as it now stands — reading the versions once (twice when labels were set), so a cache
    hit costs a few requests."""
    for label in labels:
        scheme.check_label(label)
    known = versions(store, name)
    chosen = next((v for v in known if v.version == version), None) or resolve(store, name, version=version)  # gone: resolve says so
    if labels:
        _point(store, name, labels, chosen.digest)
        known = versions(store, name)
    move_latest(store, name, known)
    return next((v for v in known if v.version == version), chosen)


def remove_label(store, name: str, label: str, *, version: str | None = None) -> Version:
    """Take `label` off the version it names (off `version` only, when given); `latest` is mlenv's."""
    if label == scheme.LATEST:
        raise SpecError("label", "latest cannot be removed: mlenv keeps it on the highest version that is not archived",
                        f"archive that version to move latest off it (mlenv archive REPO {name}:VERSION)", label)
    scheme.check_label(label)
    holder = resolve(store, name, label=label)
    if version is not None and holder.version != version:
        raise SpecError("label", f"{name}@{label} is {name}:{holder.version}, not {name}:{version}",
                        f"remove it from {name}:{holder.version}, or leave the version out", label)
    _unpoint(store, name, label)
    return resolve(store, name, version=holder.version)


def release_labels(store, name: str, labels: tuple[str, ...], digest: str) -> list[str]:
    """Remove each of `labels` that still points at `digest` (what a Pulumi resource set and no
    longer asks for); one that someone moved since is theirs now and stays. The labels removed."""
    released = []
    for label in labels:
        found = store.get_manifest(scheme.label_tag(name, label)) if label != scheme.LATEST else None
        if found and digest_of(found[0]) == digest:
            _unpoint(store, name, label)
            released.append(label)
    return released


def _unpoint(store, name: str, label: str) -> None:
    put_marker(store, scheme.label_tag(name, label), REMOVED_TYPE, {REMOVED_KEY: label})


def set_archived(store, name: str, version: str, archived: bool) -> Version:
    """Archive (leaves list and latest; still pullable by version and digest) or restore."""
    resolve(store, name, version=version)
    put_marker(store, scheme.state_tag(name, version), STATE_TYPE, {ARCHIVED_KEY: "true" if archived else "false"})
    move_latest(store, name)
    return resolve(store, name, version=version)


def move_latest(store, name: str, known: list[Version] | None = None) -> None:
    """Write `NAME.latest` at the highest version that is not archived, for `docker pull`; mlenv
    itself computes latest from the versions, so a writer that loses this race misleads no one."""
    current = next((v for v in reversed(versions(store, name) if known is None else known) if scheme.LATEST in v.labels), None)
    if current is None:
        return
    tag = scheme.label_tag(name, scheme.LATEST)
    there = store.get_manifest(tag)
    if there is None or digest_of(there[0]) != current.digest:
        _point(store, name, (scheme.LATEST,), current.digest)
