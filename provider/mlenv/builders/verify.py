"""`verify` for an image whose layers are files on disk (the daemonless builder's): loaded into the
Docker engine and the commands run there, before anything is published."""

from __future__ import annotations

from mlenv.builders.request import BuildRequest, ImageParts


def verify_parts(parts: ImageParts, config: bytes, request: BuildRequest) -> None:
    from mlenv.builders.docker.engine import engine, verify
    from mlenv.builders.docker.saved_image import load_image
    from mlenv.oci.base_image import fetch_blob

    client = engine()
    base_layers = parts.base.layers if parts.base else ()
    paths = [fetch_blob(parts.base_store, layer["digest"]) for layer in base_layers] + [layer.path for layer in parts.layers]
    image = load_image(client, config, paths, f"mlenv-verify:{request.definition_hash[:32]}")
    verify(client, image, request.spec.verify, request.log)
