"""Publish an image: every blob first (skip what exists, mount what the registry already holds,
upload the rest), then the manifest by digest, and only then the tag, so a failure at any point
leaves no tag pointing at a partial image."""

from __future__ import annotations

from dataclasses import dataclass

from mlenv.diagnostics import progress
from mlenv.digests import digest_of
from mlenv.oci.base_image import BaseImage, fetch_blob
from mlenv.oci.layers import Layer
from mlenv.oci.mediatypes import OCI_MANIFEST


@dataclass
class PublishReport:
    digest: str
    bytes_pushed: int
    blobs_uploaded: int
    blobs_mounted: int
    blobs_present: int


def publish(target, *, base: BaseImage | None, base_store, layers: list[Layer], config: bytes, manifest: bytes, tag: str) -> PublishReport:
    report = PublishReport(digest_of(manifest), 0, 0, 0, 0)
    start = target.bytes_pushed
    for layer in base.layers if base else ():
        _publish_base_layer(target, base, base_store, layer["digest"], report)
    for layer in layers:
        if target.has_blob(layer.digest):
            report.blobs_present += 1
        else:
            target.put_blob_file(layer.digest, layer.path)
            report.blobs_uploaded += 1
            progress.add(progress.PUSHED, layer.size)
    config_digest = digest_of(config)
    if not target.has_blob(config_digest):
        target.put_blob_bytes(config_digest, config)
    target.put_manifest(report.digest, manifest, OCI_MANIFEST)
    target.put_manifest(tag, manifest, OCI_MANIFEST)
    report.bytes_pushed = target.bytes_pushed - start
    return report


def _publish_base_layer(target, base: BaseImage, base_store, digest: str, report: PublishReport) -> None:
    if target.has_blob(digest):
        report.blobs_present += 1
    elif _same_registry(target, base) and target.mount_blob(digest, base.ref.path):
        report.blobs_mounted += 1
    else:
        target.put_blob_file(digest, fetch_blob(base_store, digest))
        report.blobs_uploaded += 1
        progress.add(progress.PUSHED, next(layer["size"] for layer in base.layers if layer["digest"] == digest))


def _same_registry(target, base: BaseImage) -> bool:
    return not base.ref.is_layout and getattr(target, "host", None) == base.ref.host
