"""Open the right store for a reference: a remote registry or an OCI layout directory; for a base
image on Docker Hub, through the registry mirrors when $MLENV_REGISTRY_MIRRORS names any."""

from __future__ import annotations

from mlenv.definition.reference import ImageRef, is_docker_hub
from mlenv.oci.auth import Credentials
from mlenv.oci.layout import LayoutStore
from mlenv.oci.registry import RegistryStore


def open_store(ref: ImageRef, credentials: Credentials | None = None) -> RegistryStore | LayoutStore:
    if ref.is_layout:
        return LayoutStore(ref.path)
    return RegistryStore(ref.host, ref.path, credentials)


def open_base_store(ref: ImageRef, credentials: Credentials | None = None):
    """A store to pull from (never to push to): Docker Hub's repositories read through its mirrors."""
    from mlenv.settings import registry_mirrors

    mirrors = registry_mirrors() if is_docker_hub(ref.host) else ()
    if not mirrors:
        return open_store(ref, credentials)
    from mlenv.oci.mirrors import MirroredStore

    return MirroredStore(ref.path, credentials, mirrors)
