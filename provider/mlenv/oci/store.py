"""Where images live: the `Store` protocol every publish, base-image read and cache lookup goes
through; `open_store` picks the remote registry or the OCI layout directory for a reference, and
`open_base_store` reads a Docker Hub base through the registry mirrors when $MLENV_REGISTRY_MIRRORS names any."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from mlenv.definition.reference import ImageRef, is_docker_hub
from mlenv.oci.auth import Credentials
from mlenv.oci.layout import LayoutStore
from mlenv.oci.registry import RegistryStore


class Store(Protocol):
    """One repository's blobs and manifests. Manifests are put by digest first and by tag last, so a
    tag never points at a partial image."""

    @property
    def name(self) -> str: ...  # for messages: host/repository or oci:PATH

    def close(self) -> None: ...
    def has_blob(self, digest: str) -> bool: ...
    def get_blob(self, digest: str) -> bytes: ...
    def save_blob(self, digest: str, target: Path) -> Path: ...  # verified by its digest
    def mount_blob(self, digest: str, from_repository: str) -> bool: ...
    def put_blob_file(self, digest: str, path: Path) -> None: ...
    def put_blob_bytes(self, digest: str, data: bytes) -> None: ...
    def get_manifest(self, reference: str) -> tuple[bytes, str] | None: ...
    def has_manifest(self, reference: str) -> bool: ...
    def put_manifest(self, reference: str, data: bytes, media_type: str) -> None: ...
    def list_tags(self) -> list[str]: ...
    def get_referrers(self, digest: str) -> list[dict] | None: ...  # None: no referrers API, read the fallback tag


def open_store(ref: ImageRef, credentials: Credentials | None = None) -> Store:
    if ref.is_layout:
        return LayoutStore(ref.path)
    return RegistryStore(ref.host, ref.path, credentials)


def open_base_store(ref: ImageRef, credentials: Credentials | None = None):
    """A store to pull from (never to push to): Docker Hub's repositories read through its mirrors."""
    from mlenv.oci.mirrors import registry_mirrors

    mirrors = registry_mirrors() if is_docker_hub(ref.host) else ()
    if not mirrors:
        return open_store(ref, credentials)
    from mlenv.oci.mirrors import MirroredStore

    return MirroredStore(ref.path, credentials, mirrors)
