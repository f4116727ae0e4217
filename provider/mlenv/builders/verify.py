"""`verify` for an image whose layers are files on disk (the daemonless builder's): loaded into the
Docker engine and the commands run there, before anything is published."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from mlenv.builders.request import BuildRequest, ImageParts
from mlenv.oci.mediatypes import OCI_LAYER_ZSTD


def verify_parts(parts: ImageParts, config: bytes, request: BuildRequest) -> None:
    from mlenv.builders.docker.engine import engine, verify
    from mlenv.builders.docker.saved_image import load_image
    from mlenv.oci.base_image import fetch_blob

    client = engine()
    base_layers = parts.base.layers if parts.base else ()
    with tempfile.TemporaryDirectory(prefix="mlenv-verify-") as scratch:
        paths = [fetch_blob(parts.base_store, layer["digest"]) for layer in base_layers] + [_loadable(layer, Path(scratch)) for layer in parts.layers]
        image = load_image(client, config, paths, f"mlenv-verify:{request.definition_hash[:32]}")
    verify(client, image, request.spec.verify, request.log)


def _loadable(layer, scratch: Path) -> Path:
    """The layer as a file `docker load` reads: a zstd layer as its plain tar (Docker before 23 reads
    no zstd), any other as it is."""
    if layer.media_type != OCI_LAYER_ZSTD:
        return layer.path
    import zstandard

    target = scratch / f"{layer.diff_id.split(':')[1]}.tar"
    with zstandard.open(layer.path, "rb") as source, target.open("wb") as plain:
        shutil.copyfileobj(source, plain, 1024 * 1024)
    return target
