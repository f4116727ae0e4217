"""Turn a root filesystem tarball (e.g. from debootstrap) into a one-layer base image in any store.

How base images are made where there is no Docker Hub: `mlenv import-rootfs ROOTFS.tar REF`.
"""

from __future__ import annotations

import gzip
import hashlib
import tempfile
from pathlib import Path

from mlenv.digests import file_digest
from mlenv.oci.image import CREATED, descriptor, to_json
from mlenv.oci.mediatypes import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from mlenv.definition.reference import parse_reference
from mlenv.oci.store import open_store

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def import_rootfs(tarball: str | Path, reference: str, credentials=None) -> str:
    """Push the tarball as a base image tagged `reference`; returns the manifest digest."""
    ref = parse_reference(reference)
    with tempfile.TemporaryDirectory(prefix="mlenv-rootfs-") as work:
        layer = Path(work) / "layer.tar.gz"
        diff_id = _compress(Path(tarball), layer)
        digest = file_digest(layer)
        config = to_json({
            "created": CREATED, "architecture": "amd64", "os": "linux",
            "config": {"Env": [DEFAULT_PATH], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": CREATED, "created_by": f"mlenv import-rootfs {Path(tarball).name}"}],
        })
        manifest = to_json({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": layer.stat().st_size}],
        })
        store = open_store(ref, credentials)
        try:
            if not store.has_blob(digest):
                store.put_blob_file(digest, layer)
            store.put_blob_bytes(descriptor("", config)["digest"], config)
            manifest_digest = descriptor("", manifest)["digest"]
            store.put_manifest(manifest_digest, manifest, OCI_MANIFEST)
            store.put_manifest(ref.tag or "latest", manifest, OCI_MANIFEST)
        finally:
            store.close()
    return manifest_digest


def _compress(source: Path, target: Path) -> str:
    uncompressed = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as out:
            while chunk := src.read(1024 * 1024):
                uncompressed.update(chunk)
                out.write(chunk)
    return "sha256:" + uncompressed.hexdigest()
