"""The image carries its definition: an OCI artifact whose `subject` is the image, holding the
definition (the input form `mlenv build` reads) and the lock (the bytes the lock hash covers).

The image's own manifest and config are untouched, so its digest stays what the build made. The
artifact is found through the referrers API where the registry has one, else through the tag-schema
fallback (`sha256-<hex of the image digest>` → an index of the image's referrers), which is what
Distribution 2.8 and OCI layouts get. The artifact's bytes depend only on the definition and lock,
so writers of one image write the same artifact and the fallback index cannot lose it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mlenv.catalogue.tags import fallback_tag
from mlenv.catalogue.small_manifests import EMPTY, EMPTY_TYPE, put_with_blobs
from mlenv.diagnostics.errors import StoreError
from mlenv.digests import canonical_json, digest_of, sha256_hex
from mlenv.oci.image import LOCK_HASH, descriptor
from mlenv.oci.mediatypes import OCI_INDEX, OCI_MANIFEST

ARTIFACT_TYPE = "application/vnd.mlenv.environment.v1+json"
DEFINITION_TYPE = "application/vnd.mlenv.definition.v1+json"
LOCK_TYPE = "application/vnd.mlenv.lock.v1+json"


@dataclass(frozen=True)
class Carried:
    definition: dict  # the input form (identity/canonical.py to_mapping)
    lock: dict        # what the lock hash covers
    lock_hash: str
    artifact_digest: str


def attach(store, image_manifest: bytes, definition: dict, lock: bytes) -> str:
    """Push the artifact for the image (blobs, manifest by digest, then the fallback index)."""
    definition_blob = canonical_json(definition, ensure_ascii=True)
    blobs = (EMPTY, definition_blob, lock)
    manifest = canonical_json({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": descriptor(EMPTY_TYPE, EMPTY),
        "layers": [descriptor(DEFINITION_TYPE, definition_blob), descriptor(LOCK_TYPE, lock)],
        "subject": descriptor(OCI_MANIFEST, image_manifest),
        "annotations": {LOCK_HASH: sha256_hex(lock)},
    }, ensure_ascii=True)
    artifact_digest = digest_of(manifest)
    put_with_blobs(store, (artifact_digest,), manifest, blobs)
    _add_to_fallback(store, digest_of(image_manifest), {**descriptor(OCI_MANIFEST, manifest), "artifactType": ARTIFACT_TYPE})
    return artifact_digest




def _add_to_fallback(store, image_digest: str, entry: dict) -> None:
    listed = _fallback_entries(store, image_digest)
    if any(known["digest"] == entry["digest"] for known in listed):
        return
    entries = sorted([*listed, entry], key=lambda known: known["digest"])
    index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, ensure_ascii=True)
    store.put_manifest(fallback_tag(image_digest), index, OCI_INDEX)


def _fallback_entries(store, image_digest: str) -> list[dict]:
    found = store.get_manifest(fallback_tag(image_digest))
    if found is None:
        return []
    try:
        return [m for m in json.loads(found[0]).get("manifests", []) if isinstance(m, dict) and "digest" in m]
    except (ValueError, AttributeError):
        return []  # not an index: someone else's tag; ours replaces it


def carried(store, image_digest: str) -> Carried | None:
    """The definition and lock the image carries, or None when it carries none (built before mlenv
    attached them, or by another tool)."""
    listed = store.get_referrers(image_digest)
    if listed is None:
        listed = _fallback_entries(store, image_digest)
    for entry in listed:
        if entry.get("artifactType") == ARTIFACT_TYPE:
            return _read(store, entry["digest"], image_digest)
    return None


def _read(store, artifact_digest: str, image_digest: str) -> Carried:
    found = store.get_manifest(artifact_digest)
    damaged = StoreError("catalogue", f"the definition attached to {image_digest} in {store.name} is missing or damaged ({artifact_digest})",
                         "build the definition again into this repository: the build attaches it anew")
    if found is None:
        raise damaged
    try:
        manifest = json.loads(found[0])
        by_type = {layer["mediaType"]: layer["digest"] for layer in manifest["layers"]}
        definition = json.loads(store.get_blob(by_type[DEFINITION_TYPE]))
        lock_blob = store.get_blob(by_type[LOCK_TYPE])
        return Carried(definition=definition, lock=json.loads(lock_blob), lock_hash=sha256_hex(lock_blob), artifact_digest=artifact_digest)
    except (ValueError, KeyError, TypeError):
        raise damaged from None
