"""Turn a root filesystem tarball (e.g. from debootstrap) into a one-layer base image in any store.

How base images are made where there is no Docker Hub: `mlenv import-rootfs ROOTFS.tar REF`. The
tarball may itself be compressed (gzip, bzip2, xz, zstd); the layer is gzip, or zstd when asked.
"""

from __future__ import annotations

import gzip
import hashlib
import tempfile
from pathlib import Path

from mlenv.digests import file_digest
from mlenv.oci.image import CREATED, descriptor, to_json
from mlenv.oci.mediatypes import OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST
from mlenv.definition.reference import parse_reference
from mlenv.oci.store import open_store
from mlenv.oci.tar_streams import uncompressed

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def import_rootfs(tarball: str | Path, reference: str, credentials=None, *, zstd: bool = False) -> str:
    """Push the tarball as a base image tagged `reference`; returns the manifest digest. `zstd`: the
    layer compressed with zstd (`...tar+zstd`, as podman can push), not gzip."""
    ref = parse_reference(reference)
    with tempfile.TemporaryDirectory(prefix="mlenv-rootfs-") as work:
        layer = Path(work) / "layer.tar"
        diff_id = _compress(Path(tarball), layer, zstd=zstd)
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
            "layers": [{"mediaType": OCI_LAYER_ZSTD if zstd else OCI_LAYER_GZIP, "digest": digest, "size": layer.stat().st_size}],
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


def _compress(source: Path, target: Path, *, zstd: bool) -> str:
    """Compress the plain tar of `source` into `target`; returns its diff_id (sha256 of the plain tar)."""
    plain = hashlib.sha256()
    with uncompressed(source) as src, target.open("wb") as raw, _compressor(raw, zstd) as out:
        while chunk := src.read(1024 * 1024):
            plain.update(chunk)
            out.write(chunk)
    return "sha256:" + plain.hexdigest()


def _compressor(raw, zstd: bool):
    if not zstd:
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
    import zstandard

    return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
