"""The catalogue's small manifests (markers, the definition artifact) and their few-byte blobs.

Every writer shares some of those blobs (the empty config `{}`), and Distribution can answer a HEAD
for such a blob with 200 and then refuse a manifest naming it as unknown while another writer's
upload of the same bytes is being committed (seen with eight writers at once). So each blob is put
whatever a HEAD says (a few bytes; a PUT of the same bytes is harmless) and a manifest refused for
an unknown blob is tried again after a pause.
"""

from __future__ import annotations

import time

from mlenv.diagnostics.errors import RegistryError
from mlenv.digests import digest_of
from mlenv.oci.mediatypes import OCI_MANIFEST

EMPTY_TYPE, EMPTY = "application/vnd.oci.empty.v1+json", b"{}"  # the OCI empty descriptor: an artifact's config


def put_with_blobs(store, references: tuple[str, ...], manifest: bytes, blobs: tuple[bytes, ...]) -> None:
    """Put the blobs, then the manifest under each reference in turn (its digest, then a tag)."""
    for blob in blobs:
        store.put_blob_bytes(digest_of(blob), blob)
    for reference in references:
        _put_manifest(store, reference, manifest)


def _put_manifest(store, reference: str, manifest: bytes, attempts: int = 5) -> None:
    for attempt in range(attempts):
        try:
            store.put_manifest(reference, manifest, OCI_MANIFEST)
            return
        except RegistryError as error:
            if "BLOB_UNKNOWN" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.25 * (attempt + 1))
