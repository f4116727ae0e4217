"""Publish an image: every blob first, several at a time (oci/uploads.py: skip what exists, mount what
a repository on the same registry holds, upload the rest), then the manifest by digest, and only then
the tag, so a failure at any point leaves no tag pointing at a partial image."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from mlenv.digests import digest_of
from mlenv.oci.base_image import BaseImage
from mlenv.oci.layers import Layer
from mlenv.oci.mediatypes import OCI_MANIFEST
from mlenv.oci.uploads import Blob, BlobUploads, base_blob, layer_blob


@dataclass
class PublishReport:
    digest: str
    bytes_pushed: int
    blobs_uploaded: int
    blobs_mounted: int
    blobs_present: int


def publish(target, *, base: BaseImage | None, base_store, layers: list[Layer], config: bytes, manifest: bytes, tag: str,
            uploads: BlobUploads | None = None) -> PublishReport:
    """`uploads`: the pool the builder already handed its layers to (the pipeline's); else one of its own."""
    with ExitStack() as own:
        uploads = uploads or own.enter_context(BlobUploads(target))
        blobs = [base_blob(target, base, base_store, layer) for layer in (base.layers if base else ())]
        blobs += [layer_blob(layer) for layer in layers] + [Blob(digest_of(config), len(config), data=config)]
        for blob in sorted(blobs, key=lambda blob: -blob.size):  # the biggest first, even to a worker that starts at once
            uploads.add(blob)
        uploads.wait()
        target.put_manifest(digest_of(manifest), manifest, OCI_MANIFEST)
        target.put_manifest(tag, manifest, OCI_MANIFEST)
        counts = uploads.counts
        return PublishReport(digest_of(manifest), target.bytes_pushed - uploads.start_bytes,
                             counts["uploaded"], counts["mounted"], counts["present"])

